"""ARM's documented per-subscription request limits as token buckets, and a pipeline policy that keeps to them.

Source: "Understand how Azure Resource Manager throttles requests", section "Regional throttling and token bucket
algorithm" — https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling
Since 2024 ARM applies its limits per region (of the ARM endpoint serving the caller) with a token bucket, per
subscription, per security principal and per operation type:

    scope          operations   bucket size   refill per second
    subscription   reads        250           25
    subscription   deletes      200           10
    subscription   writes       200           10

(the tenant-level limits are the same). A client that stays within the bucket is never throttled by ARM for it;
resource providers may throttle further (429 + Retry-After, honoured by the SDK's retry policy on top).

:class:`ArmLimitPolicy` sits after the retry policy in a client's pipeline, so every attempt — a retry, an LRO poll
(a read) — takes a token from its subscription's bucket for its operation type before it is sent.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.pipeline.policies import SansIOHTTPPolicy

SOURCE_URL = "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling"


@dataclass(frozen=True)
class Limit:
    bucket: int               # tokens available at once (a burst)
    refill_per_second: float  # tokens added back each second


ARM_SUBSCRIPTION_LIMITS: dict[str, Limit] = {
    "read": Limit(250, 25.0),
    "write": Limit(200, 10.0),
    "delete": Limit(200, 10.0),
}
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)


def operation_type(method: str) -> str:
    """ARM's operation types: GET/HEAD read, DELETE delete, everything else (PUT, PATCH, POST) write."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "read"
    return "delete" if method == "DELETE" else "write"


def subscription_of(url: str) -> str | None:
    m = _SUBSCRIPTION.search(url)
    return m.group(1).lower() if m else None


class TokenBucket:
    """A thread-safe token bucket; :meth:`take` waits (``sleep``) until a token is there and returns the wait."""

    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = limit
        self._clock, self._sleep = clock, sleep
        self._tokens = float(limit.bucket)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.limit.bucket), self._tokens + (now - self._at) * self.limit.refill_per_second)
        self._at = now

    def take(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                pause = (1 - self._tokens) / self.limit.refill_per_second
            self._sleep(pause)
            waited += pause


@dataclass
class SubscriptionBudget:
    """One bucket per (subscription, operation type), created on first use with ``limits``."""

    limits: dict[str, Limit] = field(default_factory=lambda: dict(ARM_SUBSCRIPTION_LIMITS))
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    taken: dict[tuple[str, str], int] = field(default_factory=dict)
    waited: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, subscription: str, operation: str) -> float:
        key = (subscription.lower(), operation)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.limits[operation], clock=self.clock, sleep=self.sleep)
        waited = bucket.take()
        with self._lock:
            self.taken[key] = self.taken.get(key, 0) + 1
            self.waited[key] = self.waited.get(key, 0.0) + waited
        return waited

    def minimum_seconds(self, operations: int, operation: str = "write") -> float:
        """The least time ``operations`` requests of one type in one subscription take within the limits."""
        limit = self.limits[operation]
        return max(0.0, (operations - limit.bucket) / limit.refill_per_second)


class ArmLimitPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Takes a token of the request's subscription and operation type before each attempt is sent."""

    def __init__(self, budget: SubscriptionBudget) -> None:
        self.budget = budget

    def on_request(self, request: Any) -> None:
        http = request.http_request
        sub = subscription_of(http.url)
        if sub is not None and "/_emulator/" not in http.url:
            self.budget.take(sub, operation_type(http.method))


__all__ = ["ARM_SUBSCRIPTION_LIMITS", "SOURCE_URL", "ArmLimitPolicy", "Limit", "SubscriptionBudget", "TokenBucket",
           "operation_type", "subscription_of"]
