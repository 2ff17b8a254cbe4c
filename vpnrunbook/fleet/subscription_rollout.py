"""Rollouts over several subscriptions: planned per subscription, each within ARM's per-subscription limits.

``rollout_by_subscription(session, targets, policy=...)`` splits the targets by subscription (an audit frame's
``subscription`` column, e.g. from :func:`vpnrunbook.fleet.resource_graph.audit_resource_graph`, or a mapping
subscription → targets), then runs one :class:`vpnrunbook.fleet.rollout.Rollout` per subscription — its own
session, state file and evidence record — with at most ``parallel_subscriptions`` subscriptions at a time. Every
request of a subscription's clients takes a token from that subscription's bucket for its operation type
(:mod:`vpnrunbook.fleet.write_limits`: ARM's documented limits, 200 writes with 10/s refill per subscription,
source: https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling),
so one subscription's rollout never spends another's budget and none is throttled by ARM for volume.

:func:`plan_by_subscription` is the dry plan: units and writes per subscription and the least time the writes
take within the limits.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.fleet.planfile import UNSET, RolloutItem, items_for
from vpnrunbook.fleet.rollout import DEFAULT_WORKERS, Rollout, RolloutResult
from vpnrunbook.fleet.write_limits import ArmLimitPolicy, SubscriptionBudget

DEFAULT_PARALLEL_SUBSCRIPTIONS = 4


def split_targets(targets: Any, *, default_subscription: str) -> dict[str, Any]:
    """{subscription: targets}: from a mapping as given, from a frame by its ``subscription`` column (rows
    without one: ``default_subscription``), anything else is the default subscription's."""
    if isinstance(targets, Mapping):
        return {str(k).lower(): v for k, v in targets.items()}
    if hasattr(targets, "columns") and "subscription" in targets.columns:
        out: dict[str, Any] = {}
        subs = targets["subscription"].fillna(default_subscription).astype(str).str.lower()
        for sub in sorted(set(subs)):
            out[sub] = targets[subs == sub]
        return out
    return {default_subscription.lower(): targets}


@dataclass
class SubscriptionPlan:
    subscription: str
    items: list[RolloutItem]

    @property
    def connections(self) -> int:
        return len(self.items)


@dataclass
class SubscriptionRolloutResult:
    """One :class:`RolloutResult` per subscription, and the requests each took from its budget."""

    by_subscription: dict[str, RolloutResult]
    budget: SubscriptionBudget
    plans: dict[str, SubscriptionPlan] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(r.complete and not r.stopped for r in self.by_subscription.values())

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for r in self.by_subscription.values():
            for k, v in r.counts.items():
                total[k] = total.get(k, 0) + v
        return total

    def requests_by_subscription(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (sub, op), n in self.budget.taken.items():
            out.setdefault(sub, {})[op] = n
        return out

    def summary(self) -> str:
        parts = [f"{sub}: {r.summary()}" for sub, r in self.by_subscription.items()]
        waited = sum(self.budget.waited.values())
        return (f"rollout over {len(self.by_subscription)} subscription(s) within ARM's per-subscription limits "
                f"(waited {waited:.1f} s for tokens)\n  " + "\n  ".join(parts))


def limited_session(session: Any, subscription: str, budget: SubscriptionBudget) -> Any:
    """A session for ``subscription`` (same target, credential, transport) whose clients keep to ``budget``."""
    from vpnrunbook.fleet.resource_graph import _client_kwargs

    connect_mod = importlib.import_module("vpnrunbook.azure.connect")
    network, resources = connect_mod._clients(session.credential, subscription, session.base_url,
                                              session.polling_interval, per_retry_policies=[ArmLimitPolicy(budget)],
                                              **_client_kwargs(session))
    return dataclasses.replace(session, network=network, resources=resources, subscription_id=subscription)


def plan_by_subscription(session: Any, targets: Any, policy: Any = UNSET, *,
                         dpd_timeout_seconds: int | None = None,
                         use_policy_based_traffic_selectors: bool | None = None) -> dict[str, SubscriptionPlan]:
    """The rollout items of each subscription (validated; nothing read or written)."""
    plans = {}
    for sub, sub_targets in split_targets(targets, default_subscription=session.subscription_id).items():
        items = items_for(sub_targets, policy, dpd_timeout_seconds=dpd_timeout_seconds,
                          use_policy_based_traffic_selectors=use_policy_based_traffic_selectors)
        if items:
            plans[sub] = SubscriptionPlan(sub, items)
    return plans


def rollout_by_subscription(session: Any, targets: Any, *, policy: Any = UNSET,
                            dpd_timeout_seconds: int | None = None,
                            use_policy_based_traffic_selectors: bool | None = None, apply: bool = True,
                            state_dir: str | Path | None = None, max_workers: int = DEFAULT_WORKERS,
                            parallel_subscriptions: int = DEFAULT_PARALLEL_SUBSCRIPTIONS,
                            budget: SubscriptionBudget | None = None, evidence: bool = True,
                            evidence_root: str | Path | None = None,
                            shared_reads: bool = True) -> SubscriptionRolloutResult:
    """Plan per subscription, then roll out each subscription within its ARM limits (see the module doc).
    ``state_dir``: one resumable state file per subscription there (``rollout-<subscription>.json``).
    ``shared_reads``: see :meth:`vpnrunbook.fleet.rollout.Rollout.run`."""
    if policy is None:
        policy = "default"
    budget = budget or SubscriptionBudget()
    plans = plan_by_subscription(session, targets, policy, dpd_timeout_seconds=dpd_timeout_seconds,
                                 use_policy_based_traffic_selectors=use_policy_based_traffic_selectors)

    def one(plan: SubscriptionPlan) -> tuple[str, RolloutResult]:
        sess = limited_session(session, plan.subscription, budget)
        state = Path(state_dir) / f"rollout-{plan.subscription}.json" if state_dir else None
        return plan.subscription, Rollout().run(sess, plan.items, apply=apply, state_file=state,
                                                max_workers=max_workers, evidence=evidence,
                                                evidence_root=evidence_root, shared_reads=shared_reads)

    workers = max(1, min(parallel_subscriptions, len(plans) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rollout-sub") as pool:
        results = dict(pool.map(one, list(plans.values())))
    return SubscriptionRolloutResult({s: results[s] for s in plans}, budget, plans)


__all__ = ["SubscriptionPlan", "SubscriptionRolloutResult", "limited_session", "plan_by_subscription",
           "rollout_by_subscription", "split_targets"]
