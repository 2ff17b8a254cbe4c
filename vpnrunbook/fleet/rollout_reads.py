"""The reads of a fleet rollout: list calls shared by its units instead of a GET per resource and per poll.

A rollout of 1,000 connections within ARM's limits is bound by reads, not writes: ARM refills a subscription's
read bucket at 25/s and its write bucket at 10/s, so more than 2.5 reads per write make the reads the bottleneck.
Through the operations layer alone a unit costs ~10 reads per write (the connection, its gateway and local
network gateway, the re-read before the write, the shared key, the LRO's status polls and final GET, the read-back
of the verify step). :class:`FleetReads` keeps what a rollout learns and serves the operations layer's GETs from
it — the operations layer is unchanged, it gets a session (:func:`unit_session`) whose network client reads:

* **from list calls**: each resource group's connections (the list the rollout made to pair VNet-to-VNet units),
  gateways and local network gateways are listed once, when the first unit needs them (again after
  :data:`SNAPSHOT_SECONDS`); a resource the list does not hold is read with a GET;
* **what the unit itself wrote**: the body its write ended with (the LRO's final state), and the shared key it
  read to send with its PUT, so the verify step reads nothing again;
* **the LRO's end by a list call too**: a written connection is done when its resource group's list shows it out
  of ``Updating`` with a new ETag; units waiting in the same resource group share one list call a round, and the
  first round waits as long as this rollout's writes took so far (at least the polling interval or the server's
  ``Retry-After``), so a write costs about one poll.

What stays exact: every PUT carries ``If-Match`` with the ETag the plan was made from, so a connection changed
since it was listed is refused by ARM (412 → ``conflict``), never overwritten; the two directions of a VNet-to-VNet
pair: the second is read fresh before the first is written (:meth:`UnitReads.read_fresh`), so a pair is not
half-written because of a change seen in time; after any failure the resources of the unit are read fresh.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

SNAPSHOT_SECONDS = 60.0    # a resource group's list is made again when older than this
LEARNED = 50               # how many finished writes the first poll's delay is learned from
SETTLING = ("Updating", "Creating", "Provisioning", "Accepted", "Running")
FAILED = ("Failed", "Canceled")
SEGMENTS = {"connection": "connections", "virtual_network_gateway": "virtualNetworkGateways",
            "local_network_gateway": "localNetworkGateways"}
_OPS = {"virtual_network_gateway_connections": "connection", "virtual_network_gateways": "virtual_network_gateway",
        "local_network_gateways": "local_network_gateway"}


def _key(rg: str, name: str) -> tuple[str, str]:
    return rg.lower(), name.lower()


class _Body(dict):  # type: ignore[type-arg]
    """A REST dict that answers ``as_dict()`` like the SDK's models (a copy, so callers never share it)."""

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self))


@dataclass
class _Listing:
    """One resource group's list of one resource type, and the rounds of waiters polling it."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    items: dict[str, dict[str, Any]] | None = None
    started: float = float("-inf")   # when the list in ``items`` was requested (monotonic)
    busy: bool = False               # a thread is listing (or waiting to list) now


class FleetReads:
    """What one rollout knows of its resource groups (thread-safe; one per rollout and session)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._lists: dict[tuple[str, str], _Listing] = {}
        self._durations: list[float] = []
        self.list_calls = 0

    # ---- lists -------------------------------------------------------------------------------------------
    def _listing(self, kind: str, rg: str) -> _Listing:
        with self._lock:
            return self._lists.setdefault((kind, rg.lower()), _Listing())

    def _list(self, kind: str, rg: str) -> dict[str, dict[str, Any]]:
        from vpnrunbook.fleet.audit import _list_pages

        with self._lock:
            self.list_calls += 1
        return {str(item.get("name", "")).lower(): item for item in _list_pages(self.session, rg, SEGMENTS[kind])}

    def seed(self, kind: str, rg: str, items: list[dict[str, Any]], started: float) -> None:
        """Keep a list the caller made (e.g. the rollout's pairing list), requested at ``started``."""
        listing = self._listing(kind, rg)
        with listing.lock:
            if started > listing.started:
                listing.items = {str(i.get("name", "")).lower(): i for i in items}
                listing.started = started

    def listed(self, kind: str, rg: str, name: str) -> dict[str, Any] | None:
        """The resource as its group's list shows it (listing the group when no recent list is kept); None when
        the list does not hold it or cannot be made (the caller then reads it with a GET)."""
        listing = self._listing(kind, rg)
        with listing.lock:
            while listing.busy:
                listing.lock.wait()
            if listing.items is None or time.monotonic() - listing.started > SNAPSHOT_SECONDS:
                listing.busy = True
            else:
                return listing.items.get(name.lower())
        started = time.monotonic()
        try:
            items: dict[str, dict[str, Any]] | None = self._list(kind, rg)
        except HttpResponseError:
            items = None
        with listing.lock:
            if items is not None:
                listing.items, listing.started = items, started
            listing.busy = False
            listing.lock.notify_all()
            return None if items is None else items.get(name.lower())

    def remember(self, kind: str, rg: str, name: str, body: dict[str, Any]) -> None:
        """A body read or written just now replaces the listed one."""
        listing = self._listing(kind, rg)
        with listing.lock:
            if listing.items is not None:
                listing.items = {**listing.items, name.lower(): body}

    def forget(self, kind: str, rg: str, name: str) -> None:
        """The next read of this resource is a GET (a failed or unknown write may have changed it)."""
        listing = self._listing(kind, rg)
        with listing.lock:
            if listing.items is not None and name.lower() in listing.items:
                listing.items = {k: v for k, v in listing.items.items() if k != name.lower()}

    # ---- the end of a write, by list calls ---------------------------------------------------------------------
    def first_delay(self, interval: float) -> float:
        """How long to wait before the first poll: as long as this rollout's writes took (median), at least
        ``interval``."""
        with self._lock:
            learned = statistics.median(self._durations) if self._durations else 0.0
        return max(interval, learned)

    def _learn(self, seconds: float) -> None:
        with self._lock:
            self._durations = (self._durations + [seconds])[-LEARNED:]

    def wait_done(self, kind: str, rg: str, name: str, *, etag_before: str | None, interval: float) -> dict[str, Any]:
        """Wait until the list of ``rg`` shows ``name`` settled after a write that replaced ``etag_before``;
        return its body. A list made after the write serves every waiter of the group (no waiter sleeps while
        holding the group's list: a plan reading the group meanwhile is not held up)."""
        listing = self._listing(kind, rg)
        written = time.monotonic()
        due = written + self.first_delay(interval)
        need_after = written     # only a list requested after this moment can show the write's end
        while True:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with listing.lock:
                while listing.busy:          # a list in flight: its answer may do
                    listing.lock.wait()
                if listing.started >= need_after and listing.items is not None:
                    body = listing.items.get(name.lower())
                    if body is None:
                        raise ResourceNotFoundError(f"{rg}/{name} is no longer listed after its write")
                    state = str((body.get("properties") or {}).get("provisioningState") or "")
                    if state not in SETTLING and (etag_before is None or body.get("etag") != etag_before):
                        self._learn(listing.started - written)
                        return body
                    need_after = listing.started + 1e-6
                    due = listing.started + interval
                    continue
                listing.busy = True
            started = time.monotonic()
            try:
                items = self._list(kind, rg)
            except BaseException:
                with listing.lock:  # another waiter lists next
                    listing.busy = False
                    listing.lock.notify_all()
                raise
            with listing.lock:
                listing.items, listing.started, listing.busy = items, started, False
                listing.lock.notify_all()


class UnitReads:
    """One unit's view: what it wrote and read fresh, over the rollout's :class:`FleetReads`."""

    def __init__(self, fleet: FleetReads) -> None:
        self.fleet = fleet
        self.known: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self.fresh: set[tuple[str, str, str]] = set()
        self.keys: dict[tuple[str, str], Any] = {}
        self.touched: set[tuple[str, str, str]] = set()

    def read_fresh(self, kind: str, rg: str, name: str) -> None:
        """The next read of this resource is a GET (then kept for the unit)."""
        k = (kind, *_key(rg, name))
        self.known.pop(k, None)
        self.fresh.add(k)

    def failed(self) -> None:
        """The unit ended in an error: what it touched is read fresh by anyone next."""
        for kind, rg, name in self.touched:
            self.fleet.forget(kind, rg, name)

    def succeeded(self) -> None:
        """The unit's writes ended: their final bodies replace the listed ones."""
        for (kind, rg, name), body in self.known.items():
            if (kind, rg, name) in self.touched and body is not None:
                self.fleet.remember(kind, rg, name, body)


class _Ops:
    """An SDK operations group (connections, gateways, local gateways) whose reads go through :class:`UnitReads`."""

    def __init__(self, real: Any, kind: str, unit: UnitReads, session: Any) -> None:
        self._real, self._kind, self._unit, self._session = real, kind, unit, session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def get(self, resource_group: str, name: str, *args: Any, **kwargs: Any) -> Any:
        k = (self._kind, *_key(resource_group, name))
        unit = self._unit
        if k in unit.known:
            body = unit.known[k]
            if body is None:
                raise ResourceNotFoundError(f"{resource_group}/{name} was not found")
            return _Body(copy.deepcopy(body))
        if k not in unit.fresh:
            listed = unit.fleet.listed(self._kind, resource_group, name)
            if listed is not None:
                return _Body(copy.deepcopy(listed))
        unit.fresh.discard(k)
        try:
            found = self._real.get(resource_group, name, *args, **kwargs)
        except ResourceNotFoundError:
            unit.known[k] = None
            raise
        body = found.as_dict() if hasattr(found, "as_dict") else dict(found)
        unit.known[k] = body
        return _Body(copy.deepcopy(body))

    def list(self, resource_group: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._unit.fleet.listed(self._kind, resource_group, "")  # makes (or reuses) the group's list
        listing = self._unit.fleet._listing(self._kind, resource_group)
        with listing.lock:
            items = None if listing.items is None else list(listing.items.values())
        if items is None:
            return iter(self._real.list(resource_group, *args, **kwargs))
        return iter([_Body(copy.deepcopy(i)) for i in items])

    def get_shared_key(self, resource_group: str, name: str, *args: Any, **kwargs: Any) -> Any:
        k = _key(resource_group, name)
        if k not in self._unit.keys:
            self._unit.keys[k] = self._real.get_shared_key(resource_group, name, *args, **kwargs)
        return self._unit.keys[k]

    def begin_create_or_update(self, resource_group: str, name: str, body: Any, *args: Any, **kwargs: Any) -> Any:
        """Send the PUT (no SDK polling); the returned poller waits for its end through the group's list."""
        k = (self._kind, *_key(resource_group, name))
        unit = self._unit
        unit.touched.add(k)
        unit.known.pop(k, None)
        unit.fresh.add(k)  # until the write's end is known, a read of it is a GET
        etag_before = (kwargs.get("headers") or {}).get("If-Match")
        seen: dict[str, Any] = {}

        def response_hook(response: Any) -> None:
            headers = response.http_response.headers
            seen.update({"retry_after": headers.get("Retry-After"), "operation": headers.get("Azure-AsyncOperation")})

        kwargs["polling"] = False
        kwargs.pop("polling_interval", None)
        kwargs["raw_response_hook"] = response_hook
        initial = self._real.begin_create_or_update(resource_group, name, body, *args, **kwargs).result()
        first = initial.as_dict() if hasattr(initial, "as_dict") else dict(initial or {})
        interval = float(getattr(self._session, "polling_interval", None) or 0.0)
        with contextlib.suppress(ValueError):
            interval = max(interval, float(seen.get("retry_after") or 0))
        return _ListPoller(self, resource_group, name, first, etag_before, max(interval, 0.05), seen.get("operation"))


class _ListPoller:
    """What ``begin_create_or_update`` returns here: ``result()`` waits for the write's end (list calls shared
    with the unit's neighbours) and returns the final body; a Failed end raises like the SDK's poller."""

    def __init__(self, ops: _Ops, rg: str, name: str, first: dict[str, Any], etag_before: str | None,
                 interval: float, operation_url: str | None) -> None:
        self.ops, self.rg, self.name, self.first = ops, rg, name, first
        self.etag_before, self.interval, self.operation_url = etag_before, interval, operation_url

    def result(self, timeout: float | None = None) -> _Body:
        unit, kind = self.ops._unit, self.ops._kind
        k = (kind, *_key(self.rg, self.name))
        state = str((self.first.get("properties") or {}).get("provisioningState") or "")
        body = self.first if state and state not in SETTLING else unit.fleet.wait_done(
            kind, self.rg, self.name, etag_before=self.etag_before, interval=self.interval)
        state = str((body.get("properties") or {}).get("provisioningState") or "")
        unit.known[k] = body
        unit.fresh.discard(k)
        if state in FAILED:
            raise HttpResponseError(message=self._failure(state))
        return _Body(copy.deepcopy(body))

    def _failure(self, state: str) -> str:
        """The operation's own error (one GET of its status URL, as the SDK's poller shows it)."""
        text = f"{self.rg}/{self.name}: the write ended provisioningState {state}"
        if not self.operation_url:
            return text
        from azure.core.rest import HttpRequest

        try:
            response = self.ops._session.network.send_request(HttpRequest("GET", self.operation_url))
            error = (response.json() or {}).get("error") or {}
        except (HttpResponseError, ValueError):
            return text
        code, message = error.get("code"), error.get("message")
        return f"({code}) {message}" if code or message else text


class _Network:
    """``session.network`` for one unit: the three operations groups a rollout reads go through :class:`_Ops`."""

    def __init__(self, real: Any, unit: UnitReads, session: Any) -> None:
        self._real = real
        self._groups = {attr: _Ops(getattr(real, attr), kind, unit, session) for attr, kind in _OPS.items()}

    def __getattr__(self, name: str) -> Any:
        groups = self.__dict__.get("_groups") or {}
        return groups[name] if name in groups else getattr(self.__dict__["_real"], name)


def unit_session(session: Any, fleet: FleetReads) -> tuple[Any, UnitReads]:
    """A copy of ``session`` for one unit of the rollout, reading through ``fleet``; and the unit's reads."""
    unit = UnitReads(fleet)
    return dataclasses.replace(session, network=_Network(session.network, unit, session)), unit


__all__ = ["FleetReads", "SNAPSHOT_SECONDS", "UnitReads", "unit_session"]
