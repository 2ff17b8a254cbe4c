"""``vpnrunbook evidence reconcile``: settle what a cut-off run leaves, by reading the resources and appending.

For every intent without an outcome (the process was killed, the disk filled, the kernel died between the write
and its outcome) it reads each resource the intent names, in the target the intent names, and appends a
``reconcile`` record saying what actually happened: per resource ``as_planned`` (the write landed),
``unchanged`` (same ETag as at plan time: not written), ``not_created``, ``absent`` (deleted since) or
``changed_otherwise``; and a conclusion — applied (or applied_still_provisioning, applied_then_failed), not_applied,
partly_applied, changed_otherwise. Where that live read is ambiguous (changed_otherwise, partly_applied) and an
Activity Log reader is handed in, the conclusion comes from Azure's Activity Log: the status of the intent's request
ids (``activity_log``: Succeeded → applied, Failed or absent → not_applied; the live read's conclusion is kept as
``live_conclusion``). Nothing in the ledger is rewritten. Then each run folder left without a manifest is closed: a manifest (outcome ``interrupted``,
its records, the files it holds) and a run line; the unscrubbed work files of killed runs are removed. A run in
progress (its lock held) is left alone.

Reconcile signs only what the project wrote. A folder is closed only when the project started it: a change record
of the ledger (a signed intent) names it, or the runner's work folder (``.staging/<run id>``) is there. Even then
only the files the project writes (:data:`PROJECT_FILES`) are hashed into the manifest. Anything else — a folder
planted in the evidence root (a backdated name, arbitrary HTML, no manifest), an unknown file in a cut-off run's
folder, anything in ``ledger.sealed/`` that is not a sealed segment — is moved to ``.quarantine/`` and reported,
never hashed, never signed. Sealed segments themselves are never moved: they are the ledger.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.azure.states import FAILED_STATES, SETTLING
from vpnrunbook.evidence import crosscheck, journal, ledger, rundir, sealed
from vpnrunbook.evidence.compare import covers

QUARANTINE_DIR = ".quarantine"
# the files a run folder of the project may hold before its manifest (runner, change journal, fleet rollout)
PROJECT_FILES = frozenset({rundir.NOTEBOOK_FILE, rundir.HTML_FILE, "changes.json", "outcomes.csv"})


@dataclass
class Report:
    reconciled: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    removed_staging: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)   # what was moved to .quarantine/, and why


def _connect(target: str, subscription_id: str | None) -> Any:
    from vpnrunbook.azure.connect import connect

    return connect(target=target, subscription_id=subscription_id)


# reads one resource the intent names: (session, write record) -> its REST dict without secrets, None when absent.
# The operations own the reading (``vpnrunbook.operations.arm.read_resource``); the CLI hands it in.
Reader = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]


def classify(now: dict[str, Any] | None, write: dict[str, Any]) -> str:
    creating = write.get("action") == "create"
    if now is None:
        return "not_created" if creating else "absent"
    if write.get("kind") == "resource_group":
        return "as_planned" if covers(now, write.get("body") or {}) else "changed_otherwise"
    if not creating and write.get("etag") and now.get("etag") == write.get("etag"):
        return "unchanged"
    return "as_planned" if covers(now, write.get("body") or {}) else "changed_otherwise"


def conclusion(states: list[str], provisioning: list[str | None] = ()) -> str:
    """What happened to the intent's writes, from each resource's state (and provisioning state)."""
    if states and all(s == "as_planned" for s in states):
        if any(p in FAILED_STATES for p in provisioning):
            return "applied_then_failed"   # ARM took the write; its deployment ended Failed/Canceled
        if any(p in SETTLING for p in provisioning):
            return "applied_still_provisioning"
        return "applied"
    if all(s in ("unchanged", "not_created") for s in states):
        return "not_applied"
    if "changed_otherwise" in states or "absent" in states:
        return "changed_otherwise"
    return "partly_applied"


# Where the live read is ambiguous (the resource changed otherwise, or only part of the writes show), the Activity
# Log's status of the intent's request ids decides: (session) -> a crosscheck.ActivityLog reader of its target.
AMBIGUOUS = ("changed_otherwise", "partly_applied")
ActivityFor = Callable[[Any], "crosscheck.ActivityLog"]


def reconcile(root: Path, *, read: Reader, connect: Callable[[str, str | None], Any] = _connect,
              activity: ActivityFor | None = None) -> Report:
    """Settle every intent left without outcome; ``read`` reads a resource an intent names (see :data:`Reader`);
    ``activity``: the Activity Log reader of a session, used where the live read is ambiguous."""
    report = Report()
    entries = [e for _, _, e in ledger.read(root) if e is not None and journal.kind_of(e) in journal.JOURNAL_KINDS]
    sessions: dict[tuple[str, str | None], Any] = {}
    for intent in journal.incomplete(entries):
        run_id = str(intent.get("run_id"))
        if not _signed(intent):   # a line appended by hand: never answered with a signed reconcile record
            report.errors.append(f"run {run_id}: its change record (ledger line {intent.get('seq')}) is not validly "
                                 "signed (added by hand?); not reconciled — `vpnrunbook evidence verify` lists it")
            continue
        if journal.run_in_progress(root, run_id):
            report.errors.append(f"run {run_id}: still in progress (its lock is held); not reconciled")
            continue
        key = (str(intent.get("target") or "emulator"), intent.get("subscription_id"))
        try:
            if key not in sessions:
                sessions[key] = connect(*key)
            session = sessions[key]
            resources = []
            for w in intent.get("writes", []):
                now = read(session, w)
                resources.append({"resource_id": w["resource_id"], "label": w.get("label"), "state": classify(now, w),
                                  "etag_planned": w.get("etag"), "etag_now": (now or {}).get("etag"),
                                  "provisioning_state": ((now or {}).get("properties") or {}).get("provisioningState")})
        except Exception as exc:  # noqa: BLE001 - one unreadable target must not stop the others
            report.errors.append(f"run {run_id} step {intent.get('step')}: could not read the resources in "
                                 f"{key[0]} ({type(exc).__name__}: {exc})")
            continue
        record = {"intent_id": intent.get("intent_id"), "run_id": run_id, "step": intent.get("step"),
                  "operator": rundir.operator(), "target": intent.get("target"),
                  "subscription_id": intent.get("subscription_id"), "intent_seq": intent.get("seq"),
                  "resources": resources, "conclusion": conclusion([r["state"] for r in resources],
                                                                   [r["provisioning_state"] for r in resources])}
        if activity is not None and record["conclusion"] in AMBIGUOUS:
            _from_activity_log(intent, activity, session, record, report)
        entry = journal.reconcile_entry(root, record)
        report.reconciled.append(entry)
    _close_cut_off_runs(root, report)
    return report


def _from_activity_log(intent: dict[str, Any], activity: ActivityFor, session: Any, record: dict[str, Any],
                       report: Report) -> None:
    """Conclude from what Azure says happened to the intent's requests (kept: the live read's conclusion)."""
    try:
        statuses = crosscheck.write_statuses(intent, activity(session))
    except Exception as exc:  # noqa: BLE001 - no Activity Log (no permission): the live read's conclusion stands
        report.errors.append(f"run {record['run_id']} step {record['step']}: the Activity Log could not be read "
                             f"({type(exc).__name__}: {str(exc)[:200]}); concluded from the live read alone")
        return
    record.update(live_conclusion=record["conclusion"], activity_log=statuses,
                  conclusion=crosscheck.conclusion_from_log(statuses))


def _close_cut_off_runs(root: Path, report: Report) -> None:
    from vpnrunbook.evidence.scrub import Scrubber, secrets_in_state_dir

    for path in sealed.strays(root):  # the sealed segments are the ledger; anything else there is not
        _quarantine(root, path, report, f"not a sealed segment of the ledger (planted in {sealed.SEALED_DIR}/?)")
    for d in (root / name for name in ledger.run_folders(root)):
        if (d / rundir.MANIFEST_FILE).exists() or journal.run_in_progress(root, d.name):
            continue
        records = [e for e in journal.for_run(root, d.name) if _signed(e)]
        intents = [e for e in records if journal.kind_of(e) == journal.INTENT]
        started_here = (root / journal.STAGING_DIR / d.name).is_dir()
        if not intents and not started_here:
            _quarantine(root, d, report, "no change record and no work folder of the project names it: not a run "
                                         "of this project (planted?)")
            continue
        for tmp in d.glob(".*.tmp"):  # a file being written when the run was cut off: never complete
            tmp.unlink()
        # only what the project writes; a run without a change record wrote nothing before its manifest
        allowed = PROJECT_FILES if intents else frozenset()
        for f in sorted(d.iterdir()):
            if not (f.is_file() and not f.is_symlink() and f.name in allowed):
                _quarantine(root, f, report, "not a file this project writes in a run folder", run=d.name)
        rec = rundir.RunEvidence(root=root, run_dir=d, step=next((str(e.get("step")) for e in records), "unknown"),
                                   started=rundir.utcnow())
        kept = {f.name: ledger.sha256_file(f) for f in sorted(d.iterdir()) if f.is_file() and f.name in allowed}
        rec.manifest = {"mode": "closed by reconcile", "outcome": "interrupted", "apply": bool(records),
                        "error": {"type": "Interrupted", "message": "the run was cut off before its evidence was "
                                                                    "complete; closed by `vpnrunbook evidence reconcile`"},
                        "operator": rundir.operator(), "journal": records, "files_found": kept}
        try:
            # files the cut-off run had written completely (atomic writes: never a partial one) are listed and kept
            rec.write(notebook_text=None, html=None, records=[], scrubber=Scrubber(secrets_in_state_dir()),
                      ended=rundir.utcnow(), run_line={"closed_by": "reconcile"}, keep_files=kept)
        except OSError as exc:
            report.errors.append(f"run {d.name}: could not be closed ({type(exc).__name__}: {exc})")
            continue
        report.closed.append(d.name)
    staging = root / journal.STAGING_DIR
    if staging.is_dir():
        for d in sorted(staging.iterdir()):
            if d.is_dir() and not journal.run_in_progress(root, d.name):
                shutil.rmtree(d, ignore_errors=True)
                report.removed_staging.append(d.name)
        with contextlib.suppress(OSError):
            staging.rmdir()


def _signed(entry: dict[str, Any]) -> bool:
    """A change record whose signature verifies (a line appended by hand names no run of the project)."""
    return not ledger._check_signature("", entry, [], None, None, {})


def _quarantine(root: Path, path: Path, report: Report, why: str, *, run: str | None = None) -> None:
    """Move ``path`` to ``<root>/.quarantine/<UTC time>-<name>`` (never hashed, never signed) and report it."""
    import datetime as dt

    from vpnrunbook.render import terminal

    folder = root / QUARANTINE_DIR
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{stamp}-{run + '-' if run else ''}{path.name}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{target.name}.{n}")
        path.rename(target)
    except OSError as exc:
        report.errors.append(f"{terminal(path.relative_to(root).as_posix())}: {why}; could not be quarantined "
                             f"({exc.strerror or exc}) — not signed")
        return
    report.quarantined.append(f"{terminal(path.relative_to(root).as_posix())}: {why} — moved to "
                              f"{terminal(target.relative_to(root).as_posix())}, not signed")
