"""Fleet rollout: one policy (or one per connection, from a plan file) to many connections.

Each connection goes through the operations layer — ``plan_connection_update`` then ``apply_plan`` (If-Match
on the ETag read for the plan), so a connection changed by someone else in between is reported as a
``conflict`` and never overwritten. A VNet-to-VNet connection is planned with its peer (the other direction)
and both are written in the same unit of work; when both directions are listed they become one unit.

* Bounded concurrency: ``max_workers`` units at a time (default 8).
* Throttling: the SDK's retry policy (on by default and bounded: azure-core retries a throttled request 3
  times) honours ``429`` + ``Retry-After``; a unit still throttled is queued again behind the others (at most
  :data:`THROTTLE_REQUEUES` times); what still fails is reported ``throttled`` and retried by the next run.
* Stoppable: Ctrl-C, ``stop()`` or a stop file (default ``<state file>.stop``) — units already running finish,
  the rest are ``not_started``.
* Resumable: a JSON state file records each finished unit with what it asked for; a rerun skips units that
  are done (``applied``/``unchanged``) for the same settings, without a request.
* Evidence: one record for the whole rollout under the evidence root (manifest with the per-connection
  outcome table and every planned change, ``outcomes.csv``, a ledger line), scrubbed of secrets.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError

from vpnrunbook.fleet.planfile import UNSET, RolloutItem, RolloutPlanError, items_for, load_plan
from vpnrunbook.fleet.rollout_reads import FleetReads, unit_session
from vpnrunbook.policy import rules

DEFAULT_WORKERS = 8
DONE = ("applied", "unchanged")
OUTCOMES = ("applied", "unchanged", "planned", "skipped", "conflict", "refused", "throttled", "failed",
            "not_started")
COLUMNS = ("resource_group", "connection", "peer", "outcome", "detail", "changes", "etag_before", "etag_after",
           "seconds", "source")
STATE_VERSION = 1
THROTTLE_REQUEUES = 2   # a unit still throttled after the SDK's own retries is queued again at most this often


@dataclass
class Unit:
    """One unit of work: a connection, or both directions of a VNet-to-VNet pair."""

    item: RolloutItem
    peer_key: str | None = None       # the other direction, when it is listed in the plan too
    peer_source: str = ""

    @property
    def key(self) -> str:
        return self.item.key


@dataclass
class Outcome:
    resource_group: str
    connection: str
    outcome: str
    detail: str = ""
    peer: str = ""
    changes: int = 0
    etag_before: str = ""
    etag_after: str = ""
    seconds: float = 0.0
    source: str = ""
    record: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass
class RolloutResult:
    """The per-connection outcome table (``frame``), counts, and where the state and evidence went."""

    frame: Any
    seconds: float
    stopped: bool
    apply: bool
    state_file: Path | None
    evidence_dir: Path | None = None
    max_workers: int = DEFAULT_WORKERS
    requests: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = {o: 0 for o in OUTCOMES}
        for value in self.frame["outcome"]:
            counts[str(value)] = counts.get(str(value), 0) + 1
        return counts

    @property
    def complete(self) -> bool:
        """Every unit is done (now or in an earlier run)."""
        return all(o in (*DONE, "skipped", "planned") for o in self.frame["outcome"])

    @property
    def outcome(self) -> str:
        return "succeeded" if self.complete and not self.stopped else "failed"

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        text = (f"rollout {'(plan only) ' if not self.apply else ''}of {len(self.frame)} connection(s) with "
                f"{self.max_workers} worker(s) in {self.seconds:.2f} s: {counts or 'nothing to do'}")
        if self.stopped:
            text += " — stopped; run again to continue"
        elif not self.complete:
            text += " — not complete; fix what failed and run again (done connections are skipped)"
        return text

    def to_record(self) -> dict[str, Any]:
        return {"step": "fleet rollout", "summary": self.summary(), "apply": self.apply, "stopped": self.stopped,
                "counts": self.counts, "seconds": round(self.seconds, 3),
                "state_file": str(self.state_file) if self.state_file else None,
                "evidence_dir": str(self.evidence_dir) if self.evidence_dir else None,
                "outcomes": json.loads(self.frame.to_json(orient="records"))}

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(self.summary())}</p>" + self.frame.to_html(index=False)


# ---- state file ---------------------------------------------------------------------------------------
class StateFile:
    """``{"version": 1, "units": {key: {"outcome", "desired", "at", "etag_after"}}}``, rewritten atomically."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.units: dict[str, dict[str, Any]] = {}
        if self.path and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise RolloutPlanError([rules.Problem("state_file", str(self.path), f"is not valid JSON ({exc})",
                                                      "a state file written by vpnrunbook rollout, or a new path",
                                                      "InvalidStateFile")], subject="rollout state") from None
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                raise RolloutPlanError([rules.Problem("state_file", str(self.path), "has an unknown format",
                                                      f"version {STATE_VERSION} state written by vpnrunbook rollout",
                                                      "InvalidStateFile")], subject="rollout state")
            self.units = dict(data.get("units") or {})

    def done(self, unit: Unit) -> dict[str, Any] | None:
        entry = self.units.get(unit.key)
        if entry and entry.get("outcome") in DONE and entry.get("desired") == unit.item.desired():
            return entry
        return None

    def mark(self, unit: Unit, outcome: Outcome) -> None:
        if self.path is None:
            return
        entry = {"outcome": outcome.outcome, "desired": unit.item.desired(), "etag_after": outcome.etag_after,
                 "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        with self._lock:
            self.units[unit.key] = entry
            if unit.peer_key:
                self.units[unit.peer_key] = {**entry, "with": unit.key}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"version": STATE_VERSION, "units": self.units}, indent=1, sort_keys=True),
                           encoding="utf-8")
            os.replace(tmp, self.path)


# ---- pairing ----------------------------------------------------------------------------------------------
def _pair_units(session: Any, items: Sequence[RolloutItem],
                fleet: FleetReads | None = None) -> tuple[list[Unit], list[rules.Problem]]:
    """Merge the two directions of a VNet-to-VNet pair into one unit (read with list endpoints; the lists are
    kept in ``fleet`` for the units' plans)."""
    from vpnrunbook.fleet.audit import _list_pages

    by_key = {it.key: it for it in items}
    problems: list[rules.Problem] = []
    groups = sorted({it.resource_group for it in items}, key=str.lower)
    listed: dict[str, list[dict[str, Any]]] = {}

    def read(rg: str) -> None:
        started = time.monotonic()
        try:
            listed[rg.lower()] = _list_pages(session, rg, "connections")
            if fleet is not None:
                fleet.seed("connection", rg, listed[rg.lower()], started)
        except HttpResponseError:
            listed[rg.lower()] = []   # reported per connection by the plan (resource group not found ...)

    with ThreadPoolExecutor(max_workers=DEFAULT_WORKERS) as pool:
        list(pool.map(read, groups))
    gw_pairs: dict[tuple[str, str], str] = {}
    for rg_conns in listed.values():
        for c in rg_conns:
            props = c.get("properties") or {}
            if props.get("connectionType") != "Vnet2Vnet":
                continue
            g1 = str((props.get("virtualNetworkGateway1") or {}).get("id", "")).lower()
            g2 = str((props.get("virtualNetworkGateway2") or {}).get("id", "")).lower()
            parts = str(c.get("id", "")).split("/")
            if len(parts) > 4:
                gw_pairs[(g1, g2)] = f"{parts[4]}/{c.get('name')}".lower()
    peer_of = {key: gw_pairs.get((g2, g1)) for (g1, g2), key in gw_pairs.items()}
    units: list[Unit] = []
    taken: set[str] = set()
    for it in items:
        if it.key in taken:
            continue
        taken.add(it.key)
        peer = peer_of.get(it.key)
        if peer and peer in by_key:
            other = by_key[peer]
            if other.desired() != it.desired():
                problems.append(rules.Problem(f"{other.source}: connection", other.connection,
                                              f"{other.resource_group}/{other.connection} and {it.source} "
                                              f"({it.resource_group}/{it.connection}) are the two directions of one "
                                              "VNet-to-VNet pair but ask for different settings",
                                              "the same policy and settings for both directions", "PairMismatch"))
            taken.add(peer)
            units.append(Unit(it, peer, other.source))
        else:
            units.append(Unit(it))
    return units, problems


# ---- one unit -----------------------------------------------------------------------------------------------
def _error_text(exc: BaseException) -> str:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None)
    msg = getattr(err, "message", None) or str(exc).splitlines()[0]
    return f"{code}: {msg}" if code else msg


def _run_unit(session: Any, unit: Unit, apply: bool, fleet: FleetReads | None = None) -> Outcome:
    """Plan and apply one unit. With ``fleet`` its reads go through the rollout's shared lists (see
    :mod:`vpnrunbook.fleet.rollout_reads`): the second direction of a pair is read fresh before the first is
    written; after a failure what the unit touched is read fresh by whoever reads it next."""
    from vpnrunbook.operations import ConcurrentChangeError, PrecheckError, apply_plan, plan_connection_update

    reads = None
    if fleet is not None:
        session, reads = unit_session(session, fleet)
    it = unit.item
    out = Outcome(it.resource_group, it.connection, "failed", source=it.source + (
        f" + {unit.peer_source}" if unit.peer_source else ""))
    started = time.perf_counter()
    kwargs: dict[str, Any] = {}
    if it.policy is not UNSET:
        kwargs["policy"] = it.policy
    try:
        plan = plan_connection_update(session, resource_group=it.resource_group, connection_name=it.connection,
                                      dpd_timeout_seconds=it.dpd_timeout_seconds,
                                      use_policy_based_traffic_selectors=it.use_policy_based_traffic_selectors,
                                      include_peer=True, **kwargs)
        ids = list(plan.resources)
        out.peer = ", ".join(rid.split("/")[-1] for rid in ids[1:])
        out.etag_before = " ".join(str(plan.etags.get(rid) or "") for rid in ids)
        out.changes = len(plan.changes)
        out.record = {"name": f"{it.resource_group}/{it.connection}", "step": plan.step,
                      "plan": plan.to_records(), "etags_before": dict(plan.etags), "applied": False}
        if plan.empty:
            out.outcome, out.detail = "unchanged", "already as desired"
            out.etag_after = out.etag_before
        elif not apply:
            out.outcome = "planned"
            out.detail = f"{len(plan.changes)} change(s) to {len(plan.writes)} connection(s); nothing written"
        else:
            if reads is not None:
                for w in plan.writes[1:]:  # If-Match guards the first write; this keeps a pair whole
                    reads.read_fresh(w.kind, w.resource_group, w.name)
            result = apply_plan(session, plan)
            out.outcome = "applied"
            out.detail = f"{len(plan.changes)} change(s) written to {len(plan.writes)} connection(s)"
            out.etag_after = " ".join(str((result.after.get(rid) or {}).get("etag") or "") for rid in ids)
            out.record.update({"applied": True, "etags_after": {rid: (result.after.get(rid) or {}).get("etag")
                                                                for rid in ids}})
    except ConcurrentChangeError as exc:
        out.outcome, out.detail = "conflict", str(exc)
    except PrecheckError as exc:
        out.outcome, out.detail = "refused", "; ".join(str(p) for p in exc.problems)
    except HttpResponseError as exc:
        status = getattr(exc, "status_code", None)
        out.outcome = "throttled" if status == 429 else ("conflict" if status == 412 else "failed")
        out.detail = _error_text(exc)
    except Exception as exc:  # noqa: BLE001 - one connection's failure must not stop the others
        out.outcome, out.detail = "failed", f"{type(exc).__name__}: {_error_text(exc)}"
    if reads is not None:
        if out.outcome in DONE or out.outcome == "planned":
            reads.succeeded()
        else:
            reads.failed()
    out.seconds = round(time.perf_counter() - started, 3)
    if out.record is not None:
        out.record.update({"outcome": out.outcome, "detail": out.detail})
    return out


# ---- the rollout ----------------------------------------------------------------------------------------------
class Rollout:
    """A rollout in progress; ``stop()`` (any thread) lets running units finish and starts no new one."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, session: Any, items: Sequence[RolloutItem], *, apply: bool = True,
            state_file: str | Path | None = None, stop_file: str | Path | None = None,
            max_workers: int = DEFAULT_WORKERS, evidence: bool = True, evidence_root: str | Path | None = None,
            progress: bool | Callable[[Outcome], None] = False, shared_reads: bool = True) -> RolloutResult:
        """``shared_reads=False``: every unit reads through its own GETs and SDK pollers (the operations layer
        alone; ~4x the reads) instead of the rollout's shared list calls."""
        import pandas as pd

        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= 64:
            raise RolloutPlanError([rules.Problem("max_workers", max_workers, f"{max_workers!r} is out of range",
                                                  "an integer from 1 to 64", "InvalidValue")],
                                   subject="rollout")
        if not items:
            raise RolloutPlanError([rules.Problem("items", 0, "no connection to update", "at least one connection",
                                                  "EmptyPlan")], subject="rollout")
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        state = StateFile(state_file)
        stop_path = Path(stop_file) if stop_file else (Path(str(state.path) + ".stop") if state.path else None)
        transport = getattr(session, "transport", None)
        before_requests = len(transport.requests) if transport is not None else None

        outcomes: list[Outcome] = []
        pending: list[Unit] = []
        # 1. what an earlier run finished is skipped without a request
        for it in items:
            entry = state.done(Unit(it))
            if entry is not None:
                outcomes.append(Outcome(it.resource_group, it.connection, "skipped",
                                        f"{entry['outcome']} in an earlier run ({entry.get('at')})",
                                        etag_after=str(entry.get("etag_after") or ""), source=it.source))
        todo = [it for it in items if state.done(Unit(it)) is None]
        fleet = FleetReads(session) if shared_reads else None
        units, problems = _pair_units(session, todo, fleet) if todo else ([], [])
        if problems:
            raise RolloutPlanError(problems, subject="rollout plan")
        pending = list(units)

        def stopped() -> bool:
            if stop_path is not None and stop_path.exists():
                self._stop.set()
            return self._stop.is_set()

        def work(unit: Unit) -> Outcome:
            if stopped():
                it = unit.item
                return Outcome(it.resource_group, it.connection, "not_started", "the rollout was stopped",
                               source=it.source)
            out = _run_unit(session, unit, apply, fleet)
            if apply and out.outcome in DONE:
                state.mark(unit, out)
            return out

        from vpnrunbook.evidence import journal

        # every unit's intent/outcome records go to the rollout's one evidence run (written at the end)
        with journal.run_scope("fleet-rollout") as scope:
            bar = _progress(len(pending)) if progress is True else None
            callback = progress if callable(progress) else None
            with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fleet-rollout") as pool:
                futures: set[Future[Outcome]] = set()
                running: dict[Future[Outcome], Unit] = {}
                tries: dict[str, int] = {}
                queue = list(pending)
                try:
                    while queue or futures:
                        while queue and len(futures) < max_workers and not self._stop.is_set():
                            unit = queue.pop(0)
                            # the worker writes its records into this rollout's run (its scope)
                            future = pool.submit(contextvars.copy_context().run, work, unit)
                            running[future] = unit
                            futures.add(future)
                        done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                        for f in done:
                            unit = running.pop(f)
                            out = f.result()
                            tries[unit.key] = tries.get(unit.key, 0) + 1
                            if out.outcome == "throttled" and tries[unit.key] <= THROTTLE_REQUEUES and apply:
                                queue.append(unit)   # the SDK's retries ran out: try once more, after the others
                                continue
                            if tries[unit.key] > 1:
                                out.detail += f" (attempt {tries[unit.key]})"
                            outcomes.append(out)
                            if bar is not None:
                                bar.update(1)
                            if callback is not None:
                                callback(out)
                        if stopped() and queue:
                            outcomes += [Outcome(u.item.resource_group, u.item.connection, "not_started",
                                                 "the rollout was stopped", source=u.item.source) for u in queue]
                            queue.clear()
                except KeyboardInterrupt:
                    self._stop.set()
                    outcomes += [Outcome(u.item.resource_group, u.item.connection, "not_started",
                                         "interrupted (Ctrl-C)", source=u.item.source) for u in queue]
                    queue.clear()
                    for f in list(running):  # running units finish: a VNet-to-VNet pair is never left half-written
                        outcomes.append(f.result())
            if bar is not None:
                bar.close()
            order = {it.key: n for n, it in enumerate(items)}
            outcomes.sort(key=lambda o: order.get(f"{o.resource_group}/{o.connection}".lower(), len(order)))
            frame = pd.DataFrame([o.row() for o in outcomes], columns=list(COLUMNS))
            after_requests = len(transport.requests) if transport is not None else None
            result = RolloutResult(frame, time.perf_counter() - started, self._stop.is_set(), apply, state.path,
                                   None, max_workers,
                                   None if before_requests is None else after_requests - before_requests)
            if evidence or scope.run_id is not None:  # changes made: their run is always written
                result.evidence_dir = write_evidence(result, [o.record for o in outcomes if o.record],
                                                     started_at=started_at, session=session, root=evidence_root,
                                                     scope=scope)
            return result


def _progress(total: int) -> Any:
    try:
        from vpnrunbook.ui import progress
    except ImportError:
        return None
    return progress(total, "rollout", unit="conn")


def rollout(session: Any, targets: Any = None, *, policy: Any = UNSET, plan_file: str | Path | None = None,
            dpd_timeout_seconds: int | None = None, use_policy_based_traffic_selectors: bool | None = None,
            apply: bool = True, state_file: str | Path | None = None, stop_file: str | Path | None = None,
            max_workers: int = DEFAULT_WORKERS, evidence: bool = True, evidence_root: str | Path | None = None,
            progress: bool | Callable[[Outcome], None] = False) -> RolloutResult:
    """Apply ``policy`` (IpsecIkePolicy, preset name, 'default'/None for Azure's defaults, YAML file, mapping) to
    ``targets`` ((rg, connection) pairs, 'rg/connection' strings or an audit DataFrame), or the per-connection
    policies of ``plan_file`` (CSV/YAML; ``policy`` then fills rows without one). See the module docstring."""
    if policy is None:
        policy = "default"
    if plan_file is not None:
        if targets is not None:
            raise RolloutPlanError([rules.Problem("targets", "given", "targets and plan_file were both given",
                                                  "either targets (with policy) or plan_file", "InvalidArgument")],
                                   subject="rollout")
        items = load_plan(plan_file, policy=policy)
    else:
        items = items_for(targets if targets is not None else [], policy, dpd_timeout_seconds=dpd_timeout_seconds,
                          use_policy_based_traffic_selectors=use_policy_based_traffic_selectors)
    return Rollout().run(session, items, apply=apply, state_file=state_file, stop_file=stop_file,
                         max_workers=max_workers, evidence=evidence, evidence_root=evidence_root, progress=progress)


# ---- evidence ------------------------------------------------------------------------------------------------
def write_evidence(result: RolloutResult, records: list[dict[str, Any]], *, started_at: dt.datetime, session: Any,
                   root: str | Path | None = None, scope: Any = None) -> Path:
    """One evidence run for the rollout: outcomes.csv (the outcome table), manifest.json and a ledger line.

    The manifest names each thing once (see docs/rollout-evidence.md): ``plans`` — each distinct change set
    (field, current → desired) with the connections that share it; ``units`` — a row per unit (connection,
    outcome, its plans, the status read back, the ledger seq of its intent and outcome); ``change_record`` — what
    the ledger's intent/outcome lines say, grouped (:func:`vpnrunbook.evidence.record.grouped`); ``journal`` —
    the run's ledger lines by count, seq range and SHA-256. The ledger holds every unit's full record, signed.
    ``scope``: the rollout's change-journal run (its folder is this run's)."""
    from vpnrunbook.evidence import journal, ledger, record
    from vpnrunbook.evidence import rundir as ev
    from vpnrunbook.evidence.scrub import Scrubber, secrets_in_state_dir

    ended = dt.datetime.now(dt.UTC)
    own = scope is not None and scope.owner != "runner" and scope.run_id is not None
    base = scope.root if own else ev.evidence_root(root)
    run_dir = scope.run_dir if own else ev.new_run_dir(base, "fleet-rollout", started_at)
    # the run the units' intent/outcome lines went to: the rollout's own, or the runner's when a notebook ran it
    journal_base, journal_run = (scope.root, scope.run_id) if scope is not None and scope.run_id is not None \
        else (base, run_dir.name)
    scrubber = Scrubber(secrets_in_state_dir())
    from vpnrunbook.render import csv_frame

    csv_text = scrubber.text(csv_frame(result.frame).to_csv(index=False))   # formula prefixes neutralized
    ev.write_once(run_dir, "outcomes.csv", csv_text)
    since = scope.since if scope is not None and scope.run_id is not None else None
    lines = [(raw, e) for _, raw, e in ledger.read_naming(journal_base, journal_run, since=since)
             if e is not None and e.get("run_id") == journal_run and journal.kind_of(e) in journal.JOURNAL_KINDS]
    entries = [e for _, e in lines]
    plans = record.group_plans([(label, rows) for rec in records for label, rows in _by_resource(rec)])
    manifest = {
        "schema": ev.SCHEMA, "run_id": run_dir.name, "step": "fleet-rollout",
        "outcome": result.outcome, "apply": result.apply, "stopped": result.stopped,
        "target": getattr(session, "target", None), "subscription": getattr(session, "subscription_id", None),
        "started": ev.iso(started_at), "ended": ev.iso(ended),
        "duration_seconds": round((ended - started_at).total_seconds(), 3),
        "operator": ev.operator(), "versions": ev.versions(), "max_workers": result.max_workers,
        "state_file": str(result.state_file) if result.state_file else None,
        "summary": result.summary(), "counts": result.counts,
        # grouped from the records themselves, as every door's manifest names it (record.change_of: the rows)
        "change_record": record.grouped(entries, plans),
        "journal": journal_summary(lines, journal_run),
        "plans": plans,
        "units": unit_rows(result.frame, records, plans, entries),
    }
    manifest = scrubber.data(manifest)
    manifest["scrubbed_occurrences"] = scrubber.count
    manifest["files"] = {"outcomes.csv": ledger.sha256_file(run_dir / "outcomes.csv")}
    # one plan / unit a line: readable, without indent's ~40 % of a 1,000-unit manifest
    text = _manifest_text(manifest)
    if scrubber.contains_secret(text):
        raise RuntimeError("secret value survived scrubbing; rollout evidence not written")
    ev.write_once(run_dir, ev.MANIFEST_FILE, text)
    ledger.append(base, {"kind": "run", "run_id": run_dir.name, "step": "fleet-rollout", "outcome": manifest["outcome"],
                         "apply": result.apply, "target": manifest["target"], "started": manifest["started"],
                         "ended": manifest["ended"], "operator": ev.operator_label(manifest["operator"]),
                         "manifest_sha256": ledger.sha256_file(run_dir / ev.MANIFEST_FILE)})
    if own:
        scope.closed = True
    from vpnrunbook.evidence import index

    index.refresh(base)
    return run_dir


def _by_resource(rec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """A unit's plan rows per resource (label), in plan order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rec.get("plan") or []:
        out.setdefault(str(row.get("resource")), []).append(row)
    return list(out.items())


_ROUTINE = re.compile(r"\d+ change\(s\) (written )?to \d+ connection\(s\)(; nothing written)?|already as desired")


def unit_rows(frame: Any, records: list[dict[str, Any]], plans: list[dict[str, Any]],
              entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A compact row per unit, in the outcome table's order: ``connection`` (rg/name), ``peer`` (rg/name),
    ``outcome``, ``detail`` (unless it only counts the changes: outcomes.csv has it), ``plans`` (ids of the change sets its
    resources get), ``verify`` (the status read back after the write, per connection written), ``intent_seq`` /
    ``outcome_seq`` (its ledger lines; ``earlier``: [intent, outcome] of attempts before, e.g. throttled)."""
    plan_of = {label: p["plan"] for p in plans for label in p["connections"]}
    rec_of = {str(r.get("name", "")).lower(): r for r in records}
    outcome_of: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("kind") in ("outcome", "reconcile") and e.get("intent_id"):
            outcome_of[str(e["intent_id"])] = e
    attempts: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("kind") == "intent":
            for w in e.get("writes") or []:
                if isinstance(w, dict) and w.get("resource_id"):
                    attempts.setdefault(str(w["resource_id"]).lower(), [])
                    if e not in attempts[str(w["resource_id"]).lower()]:
                        attempts[str(w["resource_id"]).lower()].append(e)
    out = []
    for row in frame.to_dict(orient="records"):
        key = f"{row['resource_group']}/{row['connection']}"
        unit: dict[str, Any] = {"connection": key}
        rec = rec_of.get(key.lower())
        if row.get("peer"):   # rg/name: the other direction of a pair may be in another resource group
            ids = [rid.split("/") for rid in (rec or {}).get("etags_before") or {}][1:]
            unit["peer"] = ", ".join(f"{p[4]}/{p[-1]}" for p in ids if len(p) > 4) or row["peer"]
        unit["outcome"] = row["outcome"]
        detail = str(row.get("detail") or "")
        if detail and not _ROUTINE.fullmatch(detail):
            unit["detail"] = detail
        if rec is not None:
            ids = [plan_of[label] for label, rows in _by_resource(rec) if rows and label in plan_of]
            if ids:
                unit["plans"] = ids
            tried = next((attempts[rid.lower()] for rid in rec.get("etags_before") or {}
                          if rid.lower() in attempts), [])
            pairs = [(i.get("seq"), (outcome_of.get(str(i.get("intent_id"))) or {}).get("seq")) for i in tried]
            if tried:
                last = outcome_of.get(str(tried[-1].get("intent_id"))) or {}
                statuses = [str((v or {}).get("status")) for v in (last.get("verify") or {}).values()] \
                    if isinstance(last.get("verify"), dict) else []
                if statuses:
                    unit["verify"] = ", ".join(statuses)
                unit["intent_seq"], unit["outcome_seq"] = pairs[-1]
                if len(pairs) > 1:
                    unit["earlier"] = [list(p) for p in pairs[:-1]]
        out.append(unit)
    return out


def journal_summary(lines: list[tuple[bytes, dict[str, Any]]], run_id: str) -> dict[str, Any]:
    """The run's change records by reference: how many intent / outcome / reconcile lines the ledger holds for
    it, their seq range and the SHA-256 of those lines joined in ledger order (each line + newline), so the
    manifest pins exactly those signed lines (a copy of each record tripled the evidence; a row per line
    doubled the manifest). The units name each line's seq."""
    from vpnrunbook.evidence import ledger

    seqs = [e.get("seq") for _, e in lines]
    kinds: dict[str, int] = {}
    for _, e in lines:
        kinds[str(e.get("kind"))] = kinds.get(str(e.get("kind")), 0) + 1
    return {"run_id": run_id, "lines": len(lines), "kinds": kinds,
            "first_seq": seqs[0] if seqs else None, "last_seq": seqs[-1] if seqs else None,
            "sha256": ledger.sha256_bytes(b"".join(raw + b"\n" for raw, _ in lines))}


def _manifest_text(manifest: dict[str, Any]) -> str:
    """JSON with each item of the long lists (plans, units) on a line of its own."""
    dump = lambda v: json.dumps(v, default=str, separators=(",", ":"))  # noqa: E731
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value:
            items = ",\n    ".join(dump(v) for v in value)
            lines.append(f"  {json.dumps(key)}: [\n    {items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


__all__ = ["OUTCOMES", "Rollout", "RolloutResult", "StateFile", "rollout", "write_evidence"]
