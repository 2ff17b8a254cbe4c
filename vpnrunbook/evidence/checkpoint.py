"""Signed checkpoints of the ledger: what a clean ``vpnrunbook evidence verify`` proved, so that the next one can
read only the lines appended since (``evidence verify --since-checkpoint``).

A verify that finds nothing appends a checkpoint to ``<evidence root>/ledger.checkpoints.jsonl`` (one JSON line
each, fsynced, under ``flock``), signed by this host's key (the ledger's signer; no key, no checkpoint)::

    {"seq": K, "prev": "<SHA-256 of checkpoint line K-1, or 64 zeros>",
     "ledger": {"seq": S, "sha256": "<SHA-256 of ledger line S>", "offset": <byte just after it>, "line": S},
     "runs": R, "changes": C, "folders": "<SHA-256 of the run folder names, sorted>",
     "checks": {"key": <fingerprint or null>, "target": ..., "subscription": ...}, "time": "...",
     "envelope": <DSSE, in-toto Statement v1, predicateType urn:vpnrunbook:ledger-checkpoint:v1, predicate
                  {"checkpoint": <the line without its envelope>, "signer": {keyid, publicKey}}>}

``offset`` counts bytes in the logical ledger (the sealed segments decompressed, then ``ledger.jsonl``: see
:mod:`vpnrunbook.evidence.sealed`), so it stays true when the ledger is sealed later; the line is found by its seq
(the segment whose name covers it, else the active file) and confirmed by its hash.

Checkpoints are chained (``prev``) like the ledger's lines, and bound to the ledger by line S's hash (which, by
the ledger's own chain, commits to every line before it). The key also keeps, beside itself (outside the
evidence folder, like its anchor), the last checkpoint it signed for this folder.

An incremental verify takes the newest checkpoint signed by the key (``--key``, else this host's) and:

* requires that the ledger still holds line S, unchanged (a ledger rolled back to before the checkpoint, or
  replaced, fails);
* requires that the checkpoints file still holds the checkpoint the key last signed here (the ledger and its
  checkpoints rolled back together fail);
* serves only a verify with the same options (``checks``: an unkeyed verify's checkpoint never stands in for a
  ``--key`` or ``--target azure`` one);
* reads every line after S exactly as the full verify does: chain from S's hash, sequence from S + 1, every
  signature, every new run's files, every new change's outcome;
* requires every run folder the checkpoint saw to be still there (their names are kept in
  ``ledger.checkpoint-folders.txt``, whose SHA-256 the checkpoint signs), and any other to have its run line
  after S.

What it does not re-read is what the checkpoint already proved: the lines up to S and the files of the runs they
name. An edit there that leaves line S intact (breaking the chain before it) is found by the full verify, which
stays the default; schedule one (e.g. weekly) and use the incremental one after each run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import ledger, signing

CHECKPOINTS_NAME = "ledger.checkpoints.jsonl"
FOLDERS_NAME = "ledger.checkpoint-folders.txt"
PREDICATE_TYPE = "urn:vpnrunbook:ledger-checkpoint:v1"
RECORD_SUFFIX = ".checkpoint.json"


@dataclass(frozen=True)
class Checkpoint:
    seq: int                # its number in the checkpoints file
    sha256: str             # SHA-256 of its line
    start: ledger.Start     # the ledger line it names, and the counts up to it
    checks: dict[str, Any]  # the options of the verify that made it


def _record_file(key_dir: Path, root: Path) -> Path:
    anchor = signing.anchor_file(key_dir, root)
    return anchor.with_name(anchor.stem + RECORD_SUFFIX)


def forget(key_dir: Path, root: Path) -> None:
    """Forget the last checkpoint the key in ``key_dir`` signed for ``root`` (``evidence discard``: the folder
    was deleted on purpose, so a new one there is not a rollback)."""
    _record_file(key_dir, root).unlink(missing_ok=True)


def _local_signer() -> signing.Signer | None:
    if signing.local_public_key() is None:
        return None
    try:
        return signing.load_signer(create=False)
    except signing.SigningError:
        return None


def record(root: Path, result: ledger.Verification, *, checks: dict[str, Any] | None = None,
           signer: signing.Signer | None = None) -> Checkpoint | None:
    """After a verify that found nothing: append a checkpoint of where the ledger ended, signed by ``signer``
    (default this host's key, never created here). ``checks``: the options the verify ran with (key, target,
    subscription); only a verify with the same ones starts from this checkpoint. Best effort: returns None — and the verify stands — when
    there is no key, nothing to checkpoint, or the file cannot be written (a read-only copy of the evidence)."""
    end = result.end
    if result.findings or end is None or end.seq == 0 or end.folders is None:
        return None
    if any("in progress" in n.problem for n in result.notices):
        return None  # a run in progress was not checked: the next verify must read its lines
    signer = signer or _local_signer()
    if signer is None or signer.inside(root):
        return None
    path = root / CHECKPOINTS_NAME
    try:
        _write_folders(root, end)
        with open(path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                tail = ledger.Tail(f.fileno(), locked=True)
                line: dict[str, Any] = {
                    "seq": tail.seq + 1, "prev": tail.hash,
                    "ledger": {"seq": end.seq, "sha256": end.sha256, "offset": end.offset, "line": end.line},
                    "runs": end.runs, "changes": end.changes, "folders": end.folders,
                    "checks": checks or {}, "time": _now()}
                statement = {"_type": signing.STATEMENT_TYPE,
                             "subject": [{"name": f"{ledger.LEDGER_NAME}#{end.seq}",
                                          "digest": {"sha256": end.sha256}}],
                             "predicateType": PREDICATE_TYPE,
                             "predicate": {"checkpoint": line, "signer": signer.signer_info()}}
                line[ledger.ENVELOPE] = signer.sign_statement(statement)
                data = ledger._dumps(line).encode("ascii")
                offset = os.lseek(f.fileno(), 0, os.SEEK_END)
                ledger._write_whole(f, data + b"\n")
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except OSError:
        return None
    checkpoint = Checkpoint(line["seq"], ledger.sha256_bytes(data), end, line["checks"])
    if signer.key_path is not None:
        keep = _record_file(signer.key_path.parent, root)
        text = json.dumps({"evidence": str(root.absolute()), "checkpoint": f"{checkpoint.seq}:{checkpoint.sha256}",
                           "offset": offset, "keyid": signer.keyid}) + "\n"
        with contextlib.suppress(OSError):
            keep.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = keep.with_name(keep.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, keep)
    return checkpoint


def _write_folders(root: Path, end: ledger.Start) -> None:
    """The run folders the checkpoint saw, one name a line (``folders`` is the SHA-256 of this text), replaced
    atomically: an index for the next incremental verify, not a record (a missing or other one costs a full
    verify, never a wrong answer)."""
    text = "\n".join(end.folder_names or ())
    tmp = root / f".{FOLDERS_NAME}.tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / FOLDERS_NAME)


def _read_folders(root: Path, digest: str) -> tuple[str, ...] | None:
    try:
        data = (root / FOLDERS_NAME).read_bytes()
    except OSError:
        return None
    if ledger.sha256_bytes(data) != digest:
        return None
    text = data.decode("utf-8", "surrogateescape")
    return tuple(text.split("\n")) if text else ()


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def latest(root: Path, key: signing.PublicKey, checks: dict[str, Any] | None = None
           ) -> tuple[Checkpoint | None, Checkpoint | None, list[ledger.Finding]]:
    """(the newest checkpoint in ``root`` signed by ``key`` for a verify with ``checks``, the last checkpoint the
    key signed here as its own record names it, findings): the checkpoints were rolled back (the key's record
    names one no longer there) or one signed by ``key`` was edited."""
    findings: list[ledger.Finding] = []
    path = root / CHECKPOINTS_NAME
    kept = _kept(root, key)
    own: Checkpoint | None = None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if kept is not None:
            findings.append(ledger.Finding(CHECKPOINTS_NAME, f"is gone, but the key made checkpoint {kept[0]} here: "
                                                             "the evidence folder was replaced or rolled back"))
        return None, None, findings
    try:
        end = os.fstat(fd).st_size
        if kept is not None:
            own, lost = _still_there(fd, end, kept, key)
            findings += lost
        for _, raw in ledger._reverse_lines(fd, end):
            found = _opened(raw, key)
            if isinstance(found, ledger.Finding):
                findings.append(found)
            elif found is not None and found.checks == (checks or {}):
                return found, own, findings
    finally:
        os.close(fd)
    return None, own, findings


def _kept(root: Path, key: signing.PublicKey) -> tuple[int, str, int] | None:
    """(number, hash, offset) of the last checkpoint ``key`` signed here, from beside the key (if it is local)."""
    if key.path is None:
        return None
    try:
        data = json.loads(_record_file(key.path.parent, root).read_text(encoding="utf-8"))
        seq, _, digest = str(data["checkpoint"]).partition(":")
        return int(seq), digest, int(data["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _still_there(fd: int, end: int, kept: tuple[int, str, int], key: signing.PublicKey
                 ) -> tuple[Checkpoint | None, list[ledger.Finding]]:
    seq, digest, offset = kept
    raw = os.pread(fd, max(0, min(end - offset, 1 << 20)), offset).split(b"\n", 1)[0] if offset < end else b""
    if raw and ledger.sha256_bytes(raw) == digest:
        opened = _opened(raw, key)
        return (opened if isinstance(opened, Checkpoint) else None), []
    return None, [ledger.Finding(CHECKPOINTS_NAME, f"no longer holds checkpoint {seq} ({digest[:12]}…), the last this "
                                                   "key signed here: the checkpoints (and the ledger with them) were "
                                                   "rolled back or edited")]


def _opened(raw: bytes, key: signing.PublicKey) -> Checkpoint | ledger.Finding | None:
    entry = ledger._parsed(raw)
    if entry is None:
        return ledger.Finding(CHECKPOINTS_NAME, "holds a line that is not a JSON object (edited)")
    try:
        opened = signing.open_envelope(entry.get(ledger.ENVELOPE), key)
    except signing.SignatureError as exc:
        sigs = (entry.get(ledger.ENVELOPE) or {}).get("signatures") if isinstance(entry.get(ledger.ENVELOPE),
                                                                                   dict) else None
        ours = isinstance(sigs, list) and any(isinstance(s, dict) and s.get("keyid") == key.keyid for s in sigs)
        return ledger.Finding(CHECKPOINTS_NAME, f"checkpoint {entry.get('seq')}: {exc}") if ours else None
    visible = {k: v for k, v in entry.items() if k != ledger.ENVELOPE}
    predicate = opened.statement.get("predicate") or {}
    if opened.statement.get("predicateType") != PREDICATE_TYPE or predicate.get("checkpoint") != visible:
        return ledger.Finding(CHECKPOINTS_NAME, f"checkpoint {entry.get('seq')} differs from its signed statement "
                                                "(edited after it was signed)")
    at = visible.get("ledger") or {}
    try:
        start = ledger.Start(seq=int(at["seq"]), sha256=str(at["sha256"]), offset=int(at["offset"]),
                             line=int(at["line"]), runs=int(visible["runs"]), changes=int(visible["changes"]),
                             folders=str(visible["folders"]))
    except (KeyError, TypeError, ValueError):
        return ledger.Finding(CHECKPOINTS_NAME, f"checkpoint {entry.get('seq')} is incomplete")
    checks = visible.get("checks")
    return Checkpoint(int(visible.get("seq") or 0), ledger.sha256_bytes(raw), start,
                      checks if isinstance(checks, dict) else {})


def holds(root: Path, start: ledger.Start) -> list[ledger.Finding]:
    """Findings when the ledger no longer holds the line the checkpoint names: found by its seq (the sealed
    segment whose name covers it, else ``ledger.jsonl``; with no segment, at its offset) and its hash."""
    with ledger.View(root) as view:
        if view.locate(start) is not None:
            return []
    return [ledger.Finding("ledger", f"no longer holds line {start.seq} ({start.sha256[:12]}…) that the signed "
                                     f"checkpoint names (it ended at byte {start.offset} of the ledger): the ledger "
                                     "was rolled back to before the checkpoint, replaced or edited")]


def check_since(root: Path, *, key: ledger.Keys = None, target: str | None = None,
                subscription: str | None = None, checks: dict[str, Any] | None = None) -> ledger.Verification:
    """:func:`ledger.check`, reading only the lines after the newest checkpoint signed by ``key`` (a keyring:
    this host's key if it is one of them, else the first; no key: this host's) for a verify with the same
    ``checks``. Without one it is the full check (``since`` stays None); with a rollback found, the full check
    plus the findings saying so."""
    ring = ledger._keyring(key)
    local = signing.local_public_key()
    signer_key = (local if local is not None and any(k.keyid == local.keyid for k in ring) else ring[0]) if ring \
        else local
    found, own, problems = latest(root, signer_key, checks) if signer_key is not None else (None, None, [])
    for checkpoint in {c.sha256: c for c in (found, own) if c is not None}.values():
        problems += holds(root, checkpoint.start)
    names = _read_folders(root, found.start.folders or "") if found is not None else None
    if found is None or problems or names is None:
        result = ledger.scan(root, key=key, target=target, subscription=subscription)
        result.findings = problems + result.findings
        return result
    start = dataclasses.replace(found.start, folder_names=names)
    result = ledger.scan(root, key=key, target=target, subscription=subscription, start=start)
    result.since = found.start.seq
    return result
