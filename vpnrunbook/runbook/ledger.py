"""The append-only evidence ledger: ``<evidence root>/ledger.jsonl``, one JSON line per record.

Records: a run (no ``kind``, or ``kind: run``: a run folder and its manifest) and the change journal written by
the operations' apply path (``kind`` intent / outcome / reconcile, see :mod:`vpnrunbook.runbook.changes`).
Every line is fsynced before ``append`` returns; a line that cannot be written whole (ENOSPC, EFBIG) is cut off
again and the error raised, so the ledger never keeps half a line.

Each line carries ``prev``, the SHA-256 of the previous line's bytes (the first line carries 64 zeros), and
``manifest_sha256`` of its run's manifest, so editing, removing or reordering any line or run breaks the chain.
Appends are serialised with an exclusive ``flock`` so concurrent runs (the demo's two gateways) cannot interleave.

The chain cannot show that its newest lines were cut off together with their run folders. The *head* closes that
gap: ``SEQ:SHA256`` of the last line, printed by every ``vpnrunbook run`` and by the demo. Kept somewhere else (the
change ticket, the scheduler's log), it lets ``vpnrunbook evidence verify --head SEQ:SHA256`` prove that the ledger
still holds that line, unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER_NAME = "ledger.jsonl"
GENESIS = "0" * 64


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _dumps(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def append(root: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` (seq and prev are filled in) under an exclusive lock; returns the line written."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LEDGER_NAME
    created = not path.exists()
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0)
            lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
            prev = sha256_bytes(lines[-1]) if lines else GENESIS
            line = {**entry, "seq": len(lines) + 1, "prev": prev}
            data = _dumps(line).encode("ascii")
            _write_whole(f, data + b"\n")
            if created:
                fsync_dir(root)
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return line


def _write_whole(f: Any, data: bytes) -> None:
    """Write and fsync one line at the end of ``f``; on any failure cut the file back to where it was."""
    fd = f.fileno()
    end = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.ftruncate(fd, end)
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(root: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw bytes, parsed entry or None when the line is not JSON)."""
    path = root / LEDGER_NAME
    if not path.exists():
        return
    for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        yield n, raw, entry if isinstance(entry, dict) else None


def _lines(root: Path) -> list[bytes]:
    return [raw for _, raw, _ in read(root)]


def head(root: Path) -> str | None:
    """``SEQ:SHA256`` of the ledger's last line (None for an empty ledger)."""
    lines = _lines(root)
    return f"{len(lines)}:{sha256_bytes(lines[-1])}" if lines else None


HEAD_MIN_HEX = 12  # a kept head may be shortened to this many hex digits


def parse_head(text: str) -> tuple[int, str]:
    """``"SEQ:SHA256"`` (the hash may be shortened to 12+ hex digits) → (seq, hex); ValueError says what is allowed."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    if (not sep or not seq.isdigit() or int(seq) < 1 or len(digest) < HEAD_MIN_HEX or len(digest) > 64
            or any(c not in "0123456789abcdef" for c in digest)):
        raise ValueError(f"--head {text!r} is not a ledger head; allowed: SEQ:SHA256 as `vpnrunbook run` prints it "
                         f"(the hash may be shortened to at least {HEAD_MIN_HEX} hex digits), e.g. 12:3f2a9c0d81b4e6f7")
    return int(seq), digest


def check_head(root: Path, kept: str) -> list[Finding]:
    """Findings when the ledger no longer holds the line a kept head names (cut off, or rewritten)."""
    seq, digest = parse_head(kept)
    lines = _lines(root)
    if len(lines) < seq:
        return [Finding("ledger", f"has {len(lines)} line(s), but the head kept from an earlier run ({seq}:"
                                  f"{digest[:HEAD_MIN_HEX]}…) names line {seq}: the newest lines were removed")]
    if not sha256_bytes(lines[seq - 1]).startswith(digest):
        return [Finding(f"ledger line {seq}", f"differs from the head kept from an earlier run ({seq}:"
                                              f"{digest[:HEAD_MIN_HEX]}…): the line or one before it was rewritten")]
    return []


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def verify(root: Path) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Check the chain, every manifest's hash and every file the manifests list, that every intent has an outcome
    and that no run folder lacks its manifest; returns (run entries, findings)."""
    findings: list[Finding] = []
    entries: list[dict[str, Any]] = []
    prev = GENESIS
    expected_seq = 1
    seen_runs: set[str] = set()
    journal: list[dict[str, Any]] = []
    for n, raw, entry in read(root):
        where = f"ledger line {n}"
        if entry is None:
            findings.append(Finding(where, "is not a JSON object (edited)"))
            prev = sha256_bytes(raw)
            expected_seq += 1
            continue
        if entry.get("prev") != prev:
            findings.append(Finding(where, f"previous-hash mismatch: the ledger was edited, a line removed or the "
                                           f"lines reordered (run {entry.get('run_id')})"))
        if entry.get("seq") != expected_seq:
            findings.append(Finding(where, f"sequence number {entry.get('seq')} where {expected_seq} was expected "
                                           "(lines removed or reordered)"))
        prev = sha256_bytes(raw)
        expected_seq += 1
        if (entry.get("kind") or "run") != "run":  # the change journal: intent / outcome / reconcile
            journal.append(entry)
            continue
        entries.append(entry)
        run_id = str(entry.get("run_id"))
        seen_runs.add(run_id)
        findings += verify_run(root, entry)
    from vpnrunbook.runbook.changes import folder_findings, incomplete_findings

    findings += incomplete_findings(journal)
    if (root / LEDGER_NAME).exists() or any(root.iterdir() if root.is_dir() else ()):
        for d in sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists()):
            if d.name not in seen_runs:
                findings.append(Finding(f"run {d.name}", "has evidence but no ledger line (ledger truncated or "
                                                         "the run was added by hand)"))
        findings += folder_findings(root, journal)
    return entries, findings


def verify_run(root: Path, entry: dict[str, Any]) -> list[Finding]:
    run_id = str(entry.get("run_id"))
    where = f"run {run_id}"
    run_dir = root / run_id
    manifest_path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        return [Finding(where, "evidence folder was removed")]
    if not manifest_path.exists():
        return [Finding(where, "manifest.json was removed")]
    found: list[Finding] = []
    if sha256_file(manifest_path) != entry.get("manifest_sha256"):
        found.append(Finding(where, "manifest.json was changed after the run (hash differs from the ledger)"))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError:
        return found + [Finding(where, "manifest.json is not valid JSON")]
    files: dict[str, str] = manifest.get("files", {})
    for name, digest in files.items():
        f = run_dir / name
        if not f.exists():
            found.append(Finding(where, f"{name} was removed"))
        elif sha256_file(f) != digest:
            found.append(Finding(where, f"{name} was changed after the run (SHA-256 differs from the manifest)"))
    for f in sorted(run_dir.rglob("*")):
        rel = f.relative_to(run_dir).as_posix()
        if f.is_file() and rel != "manifest.json" and rel not in files:
            found.append(Finding(where, f"{rel} was added after the run (not in the manifest)"))
    return found
