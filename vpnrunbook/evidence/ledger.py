"""The append-only evidence ledger: ``<evidence root>/ledger.jsonl``, one JSON line per record.

Records: a run (no ``kind``, or ``kind: run``: a run folder and its manifest) and the change journal written by
the operations' apply path (``kind`` intent / outcome / reconcile, see :mod:`vpnrunbook.evidence.journal`).
Every line is fsynced before ``append`` returns; a line that cannot be written whole (ENOSPC, EFBIG) is cut off
again and the error raised, so the ledger never keeps half a line.

Each line carries ``prev``, the SHA-256 of the previous line's bytes (the first line carries 64 zeros), and
``manifest_sha256`` of its run's manifest, so editing, removing or reordering any line or run breaks the chain.
Appends are serialised with an exclusive ``flock`` so concurrent runs (the demo's two gateways) cannot interleave.

The chain cannot show that its newest lines were cut off together with their run folders. The *head* closes that
gap: ``SEQ:SHA256`` of the last line, printed by every ``vpnrunbook run`` and by the demo. Kept somewhere else (the
change ticket, the scheduler's log), it lets ``vpnrunbook evidence verify --head SEQ:SHA256`` prove that the ledger
still holds that line, unchanged.

Every line is signed (``signing``: Ed25519, an in-toto Statement v1 in a DSSE envelope under ``envelope``; the
statement's predicate holds the line's other fields, seq and prev included). ``check`` verifies the signatures —
against the key given (``--key``: re-signed history, another key's lines, an unsigned line and an empty ledger all
fail) or against the keys the statements name — and, with the signer's own key, its *anchor*: the last head it
signed in this evidence folder, which the ledger must still hold. A line appended after the anchor went missing
records the loss (``ledger_gap``), signed, so a deleted history stays visible after new runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import signing

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


ENVELOPE = "envelope"
GAP = "ledger_gap"


def append(root: Path, entry: dict[str, Any], *, signer: signing.Signer | None = None) -> dict[str, Any]:
    """Append ``entry`` (seq and prev are filled in, then the envelope signing them) under an exclusive lock;
    returns the line written. ``signer``: default this process's key (``signing.load_signer``)."""
    signer = signer or signing.load_signer()
    root.mkdir(parents=True, exist_ok=True)
    _refuse_key_inside(root, signer)
    path = root / LEDGER_NAME
    created = not path.exists()
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0)
            lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
            prev = sha256_bytes(lines[-1]) if lines else GENESIS
            line = {k: v for k, v in entry.items() if k != ENVELOPE}
            line.update({"seq": len(lines) + 1, "prev": prev})
            last = signer.last_signed_head(root)
            if last is not None and not _holds(lines, last):
                line[GAP] = {"lost_head": last, "keyid": signer.keyid,
                             "note": "the ledger no longer held the head this key signed last here: lines were "
                                     "deleted or the ledger replaced before this line"}
            line[ENVELOPE] = signer.envelope(line)
            data = _dumps(line).encode("ascii")
            _write_whole(f, data + b"\n")
            if created:
                fsync_dir(root)
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    # after the lock: with two writers the anchor may name the older of their lines — still a line this key
    # signed and the ledger holds (never a false alarm), only a slightly older anchor
    signer.remember_head(root, f"{line['seq']}:{sha256_bytes(data)}")
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


def _numbered(root: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of every non-empty ledger line, read under a shared lock (an append in progress
    is never read half written)."""
    path = root / LEDGER_NAME
    try:
        with open(path, "rb") as f:
            with contextlib.suppress(OSError):  # a filesystem without locks (ENOLCK): read as it stands
                fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            data = f.read()
    except FileNotFoundError:
        return
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            yield n, raw


def _parsed(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def read(root: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw bytes, parsed entry or None when the line is not JSON)."""
    for n, raw in _numbered(root):
        yield n, raw, _parsed(raw)


def _lines(root: Path) -> list[bytes]:
    """The ledger's lines as bytes (not parsed: the head and a kept head's check only hash them)."""
    return [raw for _, raw in _numbered(root)]


def read_naming(root: Path, value: str) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """:func:`read`, but only the lines that can hold the string ``value`` (a run id): a line is parsed only if
    its bytes hold ``value`` as written, or a ``\\u00XX`` escape (the only JSON escape that spells an ASCII
    letter or digit otherwise); a value that is not ASCII parses every line. The caller still compares the
    parsed field; this only spares parsing every other run's lines (~2 KiB each, signed) on each run."""
    needle = value.encode("ascii") if value.isascii() else None
    for n, raw in _numbered(root):
        if needle is None or needle in raw or b"\\u00" in raw:
            yield n, raw, _parsed(raw)


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


def check_head(root: Path, kept: str, *, source: str = "the head kept from an earlier run") -> list[Finding]:
    """Findings when the ledger no longer holds the line a kept head names (cut off, or rewritten)."""
    seq, digest = parse_head(kept)
    lines = _lines(root)
    if len(lines) < seq:
        return [Finding("ledger", f"has {len(lines)} line(s), but {source} ({seq}:"
                                  f"{digest[:HEAD_MIN_HEX]}…) names line {seq}: the newest lines were removed")]
    if not sha256_bytes(lines[seq - 1]).startswith(digest):
        return [Finding(f"ledger line {seq}", f"differs from {source} ({seq}:"
                                              f"{digest[:HEAD_MIN_HEX]}…): the line or one before it was rewritten")]
    return []


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def verify(root: Path, *, notices: list[Finding] | None = None) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Check the chain, every manifest's hash and every file the manifests list, that every intent has an outcome
    and that no run folder lacks its manifest; returns (run entries, findings).

    Not findings but ``notices`` (appended to the list given): a run in progress (its lock is held: its evidence
    is not complete yet, so neither its missing manifest nor its intents without outcome are reported) and a
    JupyterLab checkpoint that is a byte-identical copy of a file the manifest hashes (:data:`CHECKPOINT_RULE`)."""
    notices = notices if notices is not None else []
    findings: list[Finding] = []
    findings += signature_check(root).findings  # every line, whatever its kind (signing.py; see check() for --key)
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
        findings += verify_run(root, entry, notices=notices)
    from vpnrunbook.evidence.journal import folder_findings, incomplete_findings, run_in_progress

    busy = {r for r in {str(e.get("run_id")) for e in journal} if run_in_progress(root, r)}
    findings += incomplete_findings([e for e in journal if str(e.get("run_id")) not in busy])
    if (root / LEDGER_NAME).exists() or any(root.iterdir() if root.is_dir() else ()):
        for d in sorted(p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").exists()):
            if d.name in seen_runs or run_in_progress(root, d.name) or _has_run_line(root, d.name):
                continue  # (a run in progress, or one that ended while the ledger was read: its line is there now)
            findings.append(Finding(f"run {d.name}", "has evidence but no ledger line (ledger truncated or "
                                                     "the run was added by hand)"))
        findings += folder_findings(root, journal, notices=notices)
    return entries, findings


def _has_run_line(root: Path, run_id: str) -> bool:
    return any(e is not None and e.get("run_id") == run_id and (e.get("kind") or "run") == "run"
               for _, _, e in read_naming(root, run_id))


CHECKPOINT_DIR = ".ipynb_checkpoints"
CHECKPOINT_RULE = (f"a file in a run's {CHECKPOINT_DIR}/ folder named <name>-checkpoint<ext> whose bytes are "
                   "identical to the run's <name><ext> as the manifest hashes it is a copy Jupyter made when the file "
                   "was opened: a notice, not a problem (it adds nothing). Any other file there — different bytes, "
                   "another name, a sub-folder — is reported as added after the run, like anywhere else.")


def _checkpoint_copy(rel: str, path: Path, files: dict[str, str]) -> str | None:
    """The manifest's file that ``rel`` is an identical Jupyter checkpoint of (CHECKPOINT_RULE), else None."""
    parts = rel.split("/")
    if len(parts) != 2 or parts[0] != CHECKPOINT_DIR:
        return None
    stem, dot, ext = parts[1].rpartition(".")
    base, suffix = (stem, f".{ext}") if dot else (parts[1], "")
    if not base.endswith("-checkpoint"):
        return None
    original = base[: -len("-checkpoint")] + suffix
    if original in files and not path.is_symlink() and sha256_file(path) == files[original]:
        return original
    return None


def verify_run(root: Path, entry: dict[str, Any], *, notices: list[Finding] | None = None) -> list[Finding]:
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
        if (f.is_file() or f.is_symlink()) and rel != "manifest.json" and rel not in files:
            original = _checkpoint_copy(rel, f, files)
            if original is None:
                found.append(Finding(where, f"{rel} was added after the run (not in the manifest)"))
            elif notices is not None:
                notices.append(Finding(where, f"{rel} is Jupyter's checkpoint of {original}, byte-identical to it "
                                              "(the file was opened in JupyterLab; nothing was added)"))
    return found


# ---- signatures (signing.py) --------------------------------------------------------------------------------
@dataclass
class Verification:
    """What ``check`` found: the entries and problems of ``verify``, which keys signed how many lines, and the
    signer's anchor that was checked (with ``key``)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notices: list[Finding] = field(default_factory=list)  # runs in progress, identical checkpoints (not problems)
    signers: dict[str, int] = field(default_factory=dict)   # fingerprint -> lines it signed (valid signatures)
    anchor: str | None = None


Keys = signing.PublicKey | list[signing.PublicKey] | tuple[signing.PublicKey, ...] | None


def _keyring(key: Keys) -> list[signing.PublicKey]:
    return [] if key is None else [key] if isinstance(key, signing.PublicKey) else list(key)


def check(root: Path, *, key: Keys = None, target: str | None = None,
          subscription: str | None = None) -> Verification:
    """``verify`` plus: with ``key`` every line must be signed by it, an empty or absent ledger is a finding
    (nothing signed to verify) and the key's anchor for this folder must still be in the ledger; ``key`` may be a
    keyring (a list), taken as a whole: every line signed by one of its keys, each key's anchor still held; with
    ``target``
    (``azure``) every signed statement must name that target (and ``subscription`` when given)."""
    notices: list[Finding] = []
    entries, findings = verify(root, notices=notices)
    plain = signature_check(root)
    if not _keyring(key) and target is None and subscription is None:
        return Verification(entries, findings, notices, plain.signers)
    strict = signature_check(root, key=key, target=target, subscription=subscription)
    drop = set(plain.findings)
    return Verification(entries, [f for f in findings if f not in drop] + strict.findings, notices, strict.signers,
                        strict.anchor)


def signature_check(root: Path, *, key: Keys = None, target: str | None = None,
                    subscription: str | None = None) -> Verification:
    """The signature of every line (any kind): against ``key`` (or a keyring: any of its keys), or the key each
    statement names."""
    ring = _keyring(key)
    result = Verification()
    for n, _raw, entry in read(root):
        if entry is None:
            continue  # verify reports it
        result.entries.append(entry)
        result.findings += _check_signature(f"ledger line {n}", entry, ring, target, subscription, result.signers)
    if ring:
        if not result.entries:
            state = "is absent" if not (root / LEDGER_NAME).exists() else "holds no line"
            result.findings.append(Finding("ledger", f"{state} under {root}: nothing signed to verify (deleted?)"))
        for k in ring:
            if k.path is None:
                continue
            anchor = signing.anchor_file(k.path.parent, root)
            kept = signing.read_anchor(anchor)
            if kept is not None:
                result.anchor = result.anchor or kept
                result.findings += check_head(root, kept, source="the head this key last signed here "
                                                                 f"(kept in {anchor})")
    return result


def _refuse_key_inside(root: Path, signer: signing.Signer) -> None:
    if signer.inside(root):
        raise signing.SigningError(f"signing key {signer.key_path} lies inside the evidence folder {root}; allowed: "
                                   f"a key outside it (${signing.DIR_ENV} or ${signing.KEY_ENV})")


def _holds(lines: list[bytes], kept: str) -> bool:
    try:
        seq, digest = parse_head(kept)
    except ValueError:
        return False
    return len(lines) >= seq and sha256_bytes(lines[seq - 1]).startswith(digest)


def _open(envelope: Any, ring: list[signing.PublicKey]) -> signing.Opened:
    """The envelope opened with the one key of ``ring`` that signed it (or the key it names, with no ring)."""
    if len(ring) <= 1:
        return signing.open_envelope(envelope, ring[0] if ring else None)
    refusals = []
    for k in ring:
        try:
            return signing.open_envelope(envelope, k)
        except signing.SignatureError as exc:
            if "does not verify" in str(exc):  # signed by this key, then edited: that is the finding
                raise
            refusals.append(exc)
    raise signing.SignatureError(f"{refusals[0]} — nor by any of the {len(ring)} keys given")


def _check_signature(where: str, entry: dict[str, Any], ring: list[signing.PublicKey], target: str | None,
                     subscription: str | None, signers: dict[str, int]) -> list[Finding]:
    envelope = entry.get(ENVELOPE)
    if envelope is None:
        return [Finding(where, "is not signed (no envelope): added by hand or by a vpnrunbook without signing")]
    try:
        opened = _open(envelope, ring)
    except signing.SignatureError as exc:
        return [Finding(where, str(exc))]
    signers[opened.key.fingerprint] = signers.get(opened.key.fingerprint, 0) + 1
    predicate = opened.statement.get("predicate") or {}
    visible = {k: v for k, v in entry.items() if k != ENVELOPE}
    found = []
    if predicate.get("entry") != visible:
        changed = sorted(k for k in set(visible) | set(predicate.get("entry") or {})
                         if visible.get(k) != (predicate.get("entry") or {}).get(k))
        found.append(Finding(where, f"differs from its signed statement in {', '.join(changed)}: edited after "
                                    "it was signed"))
    signed_target = predicate.get("target") or {}
    if target is not None and signed_target.get("name") != target:
        found.append(Finding(where, f"is signed for target {signed_target.get('name')!r}, not {target!r}: "
                                    f"it is not evidence of a change on {target} (run {entry.get('run_id')})"))
    if subscription is not None and signed_target.get("subscription") != subscription:
        found.append(Finding(where, f"is signed for subscription {signed_target.get('subscription')!r}, not "
                                    f"{subscription!r} (run {entry.get('run_id')})"))
    gap = entry.get(GAP)
    if isinstance(gap, dict):
        found.append(Finding(where, f"records that the ledger had lost the head {gap.get('lost_head')} its signer "
                                    "signed last here: earlier lines were deleted or the ledger replaced"))
    return found
