"""The change journal: an *intent* record before the operations write, an *outcome* record after.

The operations' apply path (:func:`vpnrunbook.operations.apply.apply_plan` and the gateway start) is the only
caller: every write to Azure or the emulator — from a runner's notebook, a JupyterLab notebook, the update panel,
the Python API or a fleet rollout — goes through it, so none can skip its records. Both are ledger entries
(``ledger.append``: one fsynced JSON line each, chained):

* ``kind: intent`` — what will be written: for each resource its id, kind, the planned fields (current → desired),
  the body to PUT (never a secret: those travel by reference) and the ETag read for the plan; the operator, the
  target (emulator | azure + subscription), the time, the run id and the step. If it cannot be written (disk
  full, ledger unwritable), the write is refused: :class:`EvidenceUnavailableError`, nothing changed.
  It also holds the request ids every write sends (:func:`request_ids`): ``correlation_id`` (the intent id as a
  GUID, sent as ``x-ms-correlation-request-id``) and per write ``client_request_id`` (``x-ms-client-request-id``);
  Azure's Activity Log keeps both with each event of the write (``vpnrunbook evidence crosscheck`` joins on them).
* ``kind: outcome`` — what happened: ``applied`` (every write, its new ETag, the verify result), ``failed`` (the
  error, what was written before it), ``accepted`` (a long-running create started and not waited for), and
  ``unplanned_changes`` when the after-state holds changes the plan did not make (another writer).
* ``kind: reconcile`` — appended later by ``vpnrunbook evidence reconcile`` for an intent left without outcome.

Records belong to a *run*. Under ``vpnrunbook run`` it is the runner's (``VPNRUNBOOK_RUN_ID``); the runner adds
the executed notebook, HTML and manifest. Elsewhere :func:`run_scope` makes one — created only when the first
intent is written, so planning writes nothing — and closes it with a run folder (the records, and in a
JupyterLab kernel the notebook as it stood with its HTML; :mod:`vpnrunbook.evidence.change_runs`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import RUN_DIR_ENV, RUN_ID_ENV, ledger, signing

INTENT, OUTCOME, RECONCILE, RUN = "intent", "outcome", "reconcile", "run"
STAGING_DIR = ".staging"  # per run in progress: its lock, and the runner's unscrubbed work files
JOURNAL_KINDS = (INTENT, OUTCOME, RECONCILE)
DEFAULT_DIR = "evidence"


class EvidenceUnavailableError(RuntimeError):
    """The intent record could not be written, so the change was refused before any write (nothing changed)."""

    def __init__(self, root: Path, step: str, error: BaseException) -> None:
        self.root, self.step = root, step
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        super().__init__(f"{step}: not applied — the intent record could not be written to {root / ledger.LEDGER_NAME} "
                         f"({type(error).__name__}: {reason}); nothing was changed. Every change is recorded before "
                         "it is made: free space or fix the evidence folder (VPNRUNBOOK_EVIDENCE_DIR), then apply "
                         "again.")


class OutcomeNotRecordedError(RuntimeError):
    """The change was made, but its outcome record could not be written. ``.result`` holds the operation's result."""

    def __init__(self, step: str, run_id: str, error: BaseException, result: Any = None) -> None:
        self.step, self.run_id, self.result = step, run_id, result
        super().__init__(f"{step}: the change WAS made, but its outcome could not be recorded ({type(error).__name__}:"
                         f" {getattr(error, 'strerror', None) or error}); the ledger holds its intent (run {run_id}). "
                         "Fix the evidence folder, then run `vpnrunbook evidence reconcile` to record what happened.")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def journal_root() -> Path:
    """The evidence root now: ``$VPNRUNBOOK_EVIDENCE_DIR`` or ``evidence``; a relative one is taken from the project
    root (a JupyterLab kernel runs in notebooks/), else from the working folder."""
    from vpnrunbook.project import project_path

    return project_path(os.environ.get("VPNRUNBOOK_EVIDENCE_DIR") or DEFAULT_DIR).absolute()


def target_of(session: Any) -> dict[str, Any]:
    return {"target": getattr(session, "target", None) or "unknown",
            "subscription_id": getattr(session, "subscription_id", None),
            "endpoint": getattr(session, "base_url", None)}


# ---- runs --------------------------------------------------------------------------------------------------
@dataclass
class RunScope:
    """The run the records of this process go to. ``owner``: runner | interactive | api."""

    root: Path
    step: str
    owner: str
    run_id: str | None = None
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    entries: list[dict[str, Any]] = field(default_factory=list)
    secret_refs: set[str] = field(default_factory=set)
    target: dict[str, Any] = field(default_factory=dict)
    closed: bool = False           # its run folder is complete (manifest + run line)
    where: dict[str, Any] = field(default_factory=dict)
    lock_fd: int | None = None     # held while the run is in progress (reconcile leaves such a run alone)

    @property
    def run_dir(self) -> Path | None:
        return None if self.run_id is None else self.root / self.run_id

    @property
    def since(self) -> str | None:
        """The ledger head before this run's first record (``SEQ:SHA256``): reading the run's records back starts
        there (``ledger.read_naming(..., since=)``), not at the ledger's first line."""
        with _LOCK:
            seqs = [(e.get("seq"), e.get("prev")) for e in self.entries if isinstance(e.get("seq"), int)]
        if not seqs:
            return None
        seq, prev = min(seqs)
        return f"{seq - 1}:{prev}" if seq > 1 and isinstance(prev, str) else None

    def ensure_run(self, subjects: list[str] | tuple[str, ...] = ()) -> str:
        """The run id, creating the run folder on first use (outside the runner), named after the step and the
        connections the first intent writes (``subjects``)."""
        with _LOCK:  # the workers of a fleet rollout share one run
            if self.run_id is None:
                from vpnrunbook.evidence.rundir import new_run_dir, run_name

                run_id = new_run_dir(self.root, run_name(_safe(self.step), subjects), self.started).name
                self.lock_fd = lock_run(self.root, run_id)
                self.run_id = run_id
            return self.run_id


def lock_run(root: Path, run_id: str) -> int:
    """Mark a run in progress: an exclusive flock on ``.staging/<run id>/lock`` (released by the kernel when the
    process dies, so a killed run is never mistaken for a running one)."""
    import fcntl

    folder = root / STAGING_DIR / run_id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / "lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def unlock_run(root: Path, run_id: str, fd: int | None) -> None:
    import shutil

    shutil.rmtree(root / STAGING_DIR / run_id, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / STAGING_DIR).rmdir()
    if fd is not None:
        os.close(fd)


def run_in_progress(root: Path, run_id: str) -> bool:
    import fcntl

    try:
        fd = os.open(root / STAGING_DIR / run_id / "lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


_LOCK = threading.RLock()
# The scope of the code running now: a context variable, so two rollouts in two threads (one per subscription) each
# keep their own run; a rollout hands its scope to its worker threads explicitly (contextvars.copy_context()).
_CURRENT: contextvars.ContextVar[RunScope | None] = contextvars.ContextVar("vpnrunbook_change_scope", default=None)


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "change"


def runner_scope() -> RunScope | None:
    """The runner's run, when this process is a kernel driven by ``vpnrunbook run``."""
    run_id = os.environ.get(RUN_ID_ENV)
    if not run_id or not os.environ.get(RUN_DIR_ENV):
        return None
    return RunScope(root=journal_root(), step=os.environ.get("VPNRUNBOOK_STEP", "run"), owner="runner", run_id=run_id)


def active() -> RunScope | None:
    return _CURRENT.get()


@contextlib.contextmanager
def run_scope(step: str) -> Iterator[RunScope]:
    """The run the records inside the block go to: the runner's, an enclosing scope's, or a new one that is
    written as a run folder when the block ends (only if a record was written: a plan alone writes nothing)."""
    outer = active() or runner_scope()
    if outer is not None:
        yield outer
        return
    from vpnrunbook.evidence.capture import installed, step_name

    interactive = installed()  # a JupyterLab kernel: the run is named after its notebook
    scope = RunScope(root=journal_root(), step=step_name(step) if interactive else step,
                     owner="interactive" if interactive else "api")
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)
        if scope.run_id is not None and not scope.closed:  # (a fleet rollout writes its own and sets closed)
            from vpnrunbook.evidence.change_runs import close_run

            close_run(scope)
        if scope.run_id is not None:
            unlock_run(scope.root, scope.run_id, scope.lock_fd)


def _append(scope: RunScope, entry: dict[str, Any]) -> dict[str, Any]:
    line = ledger.append(scope.root, entry)
    with _LOCK:
        scope.entries.append(line)
    return line


# ---- records -----------------------------------------------------------------------------------------------
def intent(scope: RunScope, session: Any, *, step: str, writes: list[dict[str, Any]], plan_created_at: str | None = None,
           warnings: list[str] = (), tunnel_warnings: list[Any] = (),
           accepted: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Record what will be written (before the first write). Raises :class:`EvidenceUnavailableError`.

    Plain data from the apply path: ``writes`` — per resource its resource_id, label, kind, resource_group, name,
    action, etag, changes (field, current, desired), body (scrubbed) and ``shared_key_ref`` (a reference, never a
    key) — the plan's warnings and tunnel warnings, and what the operator ``accepted``: per warning accepted its
    ``warning`` text, its ``risk`` (``breaks_tunnel`` | ``weakens`` | None) and ``statement`` (their words, or
    ``--allow-breaking``), to which the record adds ``by`` (the
    operator, :func:`vpnrunbook.evidence.identity.label`) and ``at`` (the intent's time). Written only when
    something was accepted; signed with the rest of the line."""
    from vpnrunbook.evidence.identity import label, operator

    fresh = scope.run_id is None
    try:
        run_id = scope.ensure_run([str(w["name"]) for w in writes if w.get("kind") == "connection" and w.get("name")])
        scope.target = scope.target or target_of(session)
        scope.secret_refs |= {w["shared_key_ref"] for w in writes if w.get("shared_key_ref")}
        intent_id = uuid.uuid4().hex
        ids = {"intent_id": intent_id, "key_tag": signing.load_signer().keyid[:8]}  # the key that signs the line
        views = [{k: v for k, v in w.items() if k != "shared_key_ref"}
                 | {"shared_key": f"by reference {w['shared_key_ref']}" if w.get("shared_key_ref") else None,
                    "client_request_id": request_ids(ids, str(w["resource_id"]))["client_request_id"]}
                 for w in writes]
        who, when = operator(), now_iso()
        entry = {"kind": INTENT, "intent_id": intent_id, "run_id": run_id, "step": step,
                 "time": when, "operator": who, **target_of(session),
                 "correlation_id": request_ids(ids, "")["correlation_id"],
                 "plan_created_at": plan_created_at, "writes": views,
                 "warnings": [str(w) for w in warnings], "tunnel_warnings": list(tunnel_warnings)}
        if accepted:
            entry["accepted"] = [{"warning": str(a.get("warning")), "risk": a.get("risk"), "by": label(who),
                                  "at": when, "statement": None if a.get("statement") is None else str(a["statement"])}
                                 for a in accepted]
        if scope.owner == "interactive":
            from vpnrunbook.evidence.capture import notebook_path

            entry["notebook"] = notebook_path()
        return _append(scope, entry)
    except OSError as exc:
        if fresh and scope.run_dir is not None:  # the run folder made for this record only
            with contextlib.suppress(OSError):
                scope.run_dir.rmdir()
            unlock_run(scope.root, scope.run_id or "", scope.lock_fd)
            scope.run_id, scope.lock_fd = None, None
        raise EvidenceUnavailableError(scope.root, step, exc) from exc


def outcome(scope: RunScope, intent_entry: dict[str, Any], *, status: str, after: dict[str, Any] | None = None,
            written: list[dict[str, Any]] = (), error: BaseException | None = None, verify: dict[str, Any] | None = None,
            unplanned: list[dict[str, Any]] | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record what happened to the writes of ``intent_entry`` (raises OSError when it cannot be written)."""
    after = after or {}
    sent = {v["resource_id"]: v["client_request_id"] for v in intent_entry.get("writes") or []
            if v.get("client_request_id")}
    entry: dict[str, Any] = {
        "kind": OUTCOME, "intent_id": intent_entry["intent_id"], "run_id": intent_entry["run_id"],
        "step": intent_entry["step"], "time": now_iso(), "status": status,
        # the intent's target: the signed statement of the outcome names it too (an emulator outcome never passes
        # `evidence verify --target azure`, and an Azure one passes it)
        **{k: intent_entry.get(k) for k in ("target", "subscription_id", "endpoint", "correlation_id")
           if k in intent_entry},
        "written": [{"resource_id": w["resource_id"], "label": w["label"],
                     "etag": (after.get(w["resource_id"]) or {}).get("etag"),
                     "provisioning_state": ((after.get(w["resource_id"]) or {}).get("properties") or {}).get(
                         "provisioningState"),
                     **({"client_request_id": sent[w["resource_id"]]} if w["resource_id"] in sent else {})}
                    for w in written],
    }
    if error is not None:
        entry["error"] = {"type": type(error).__name__, "message": str(error)[:2000]}
    if verify:
        entry["verify"] = verify
    if unplanned:
        entry["unplanned_changes"] = unplanned
    if detail:
        entry.update(detail)
    return _append(scope, entry)


# ---- request ids: what ties a write Azure saw to its record ----------------------------------------------------
TOOL_MARK = b"vpnrbk".hex()  # the last 12 hex digits of every client request id this tool sends
NO_KEY_TAG = "00000000"


def key_tag_of(intent_entry: dict[str, Any]) -> str:
    """The first 8 hex digits of the keyid that signed the intent line (``key_tag`` before it is signed)."""
    signatures = (intent_entry.get(ledger.ENVELOPE) or {}).get("signatures") or [{}]
    keyid = str(signatures[0].get("keyid") or intent_entry.get("key_tag") or NO_KEY_TAG)
    return keyid[:8].lower() if len(keyid) >= 8 and all(c in "0123456789abcdefABCDEF" for c in keyid[:8]) \
        else NO_KEY_TAG


def request_ids(intent_entry: dict[str, Any], resource_id: str, *, key_tag: str | None = None) -> dict[str, str]:
    """The ``x-ms-correlation-request-id`` and ``x-ms-client-request-id`` of one write of an intent.

    The correlation id is the intent id written as a GUID (an auditor filters the Activity Log on it:
    ``az monitor activity-log list --correlation-id``). The client request id is a GUID (RFC 9562 version 8):
    4 bytes of the signing key's id (``key_tag``, else the one that signed the intent line), 6 bytes of SHA-256 of
    intent id and resource id, then :data:`TOOL_MARK`. So it is the same on a retry, derivable from the ledger alone,
    and recognisable in the Activity Log as this tool's — and as this key's — when the ledger no longer holds it.
    """
    import hashlib

    raw = str(intent_entry.get("intent_id") or "")
    try:
        correlation = str(uuid.UUID(hex=raw))
    except ValueError:
        correlation = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vpnrunbook:intent:{raw}"))
    tag = bytes.fromhex(key_tag or key_tag_of(intent_entry))
    digest = bytearray(tag + hashlib.sha256(f"{raw}:{resource_id.lower()}".encode()).digest()[:6]
                       + bytes.fromhex(TOOL_MARK))
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8 (vendor-defined)
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC variant
    return {"correlation_id": correlation, "client_request_id": str(uuid.UUID(bytes=bytes(digest)))}


def tool_key_tag(value: str | None) -> str | None:
    """The key tag (first 8 hex digits) of a client request id :func:`request_ids` made, or None when the id is
    not this tool's (version 8, ending in the tool's mark)."""
    try:
        parsed = uuid.UUID(str(value or ""))
    except ValueError:
        return None
    if parsed.version != 8 or not parsed.hex.endswith(TOOL_MARK):
        return None
    return parsed.hex[:8]


def is_tool_request_id(value: str | None) -> bool:
    """Whether a client request id is one :func:`request_ids` makes."""
    return tool_key_tag(value) is not None


def reconcile_entry(root: Path, entry: dict[str, Any]) -> dict[str, Any]:
    return ledger.append(root, {"kind": RECONCILE, "time": now_iso(), **entry})


# ---- reading back ---------------------------------------------------------------------------------------------
def kind_of(entry: dict[str, Any]) -> str:
    return str(entry.get("kind") or RUN)


def for_run(root: Path, run_id: str, *, since: str | None = None) -> list[dict[str, Any]]:
    """The journal records (intent, outcome, reconcile) of one run, in ledger order (``since``: the ledger head
    before the run began — only what follows it is read; see ``ledger.read_naming``)."""
    return [e for _, _, e in ledger.read_naming(root, run_id, since=since) if e is not None and kind_of(e) in JOURNAL_KINDS
            and e.get("run_id") == run_id]


def incomplete(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intents with neither an outcome nor a reconcile record: changes that may or may not have been made."""
    settled = {e.get("intent_id") for e in entries if kind_of(e) in (OUTCOME, RECONCILE)}
    return [e for e in entries if kind_of(e) == INTENT and e.get("intent_id") not in settled]


def incomplete_findings(entries: list[dict[str, Any]]) -> list[ledger.Finding]:
    return [ledger.Finding(
        f"run {e.get('run_id')} step {e.get('step')}",
        f"incomplete: intent {str(e.get('intent_id'))[:12]} (ledger line {e.get('seq')}, {e.get('time')}) has no "
        f"outcome — possibly changed: {', '.join(w.get('resource_id', '?') for w in e.get('writes', []))}; "
        "`vpnrunbook evidence reconcile` reads them and records what happened") for e in incomplete(entries)]




def folder_findings(root: Path, journal: list[dict[str, Any]], *,
                    notices: list[ledger.Finding] | None = None) -> list[ledger.Finding]:
    """Run folders without a manifest (a run cut off: killed, disk full) and staging left by one. A run still in
    progress (its lock held) is a notice, not a finding."""
    out = []
    notices = notices if notices is not None else []
    journaled = {e.get("run_id") for e in journal}
    busy = set()
    staging = root / STAGING_DIR
    if staging.is_dir():
        busy = {d.name for d in staging.iterdir() if run_in_progress(root, d.name)}
    for name in sorted(busy):
        notices.append(ledger.Finding(f"run {name}", "is in progress: its evidence is not complete yet and is not "
                                                     "checked (verify again when it has ended)"))
    for d in (root / name for name in ledger.run_folders(root)):
        if (d / "manifest.json").exists() or d.name in busy:
            continue
        what = ("its change records are in the ledger" if d.name in journaled
                else "no change record names it (cut off before any change)")
        out.append(ledger.Finding(f"run {d.name}", f"has no manifest: the run was cut off (killed, disk full) before "
                                                   f"its evidence was complete; {what} — `vpnrunbook evidence "
                                                   "reconcile` records what happened and closes it"))
    if staging.is_dir():
        for d in sorted(staging.iterdir()):
            if d.name not in busy:
                out.append(ledger.Finding(f"run {d.name}", f"left work files in {STAGING_DIR}/ (the run was killed); "
                                                           "`vpnrunbook evidence reconcile` removes them"))
    return out
