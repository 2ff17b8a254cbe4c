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

Every line is signed (``signing``: Ed25519, an in-toto Statement v1 in a DSSE envelope under ``envelope``, the
line's last key; the statement signs the SHA-256 of the line's other fields, seq and prev included, as canonical
JSON — the line's own bytes before the envelope; lines of format v1 carry a copy of them instead and still
verify). ``check`` verifies the signatures —
against the key given (``--key``: re-signed history, another key's lines, an unsigned line and an empty ledger all
fail) or against the keys the statements name — and, with the signer's own key, its *anchor*: the last head it
signed in this evidence folder, which the ledger must still hold. A line appended after the anchor went missing
records the loss (``ledger_gap``), signed, so a deleted history stays visible after new runs.

Growth (issue 24, docs/performance.md): ``append`` and ``head`` read the file's *tail* (backwards from its end:
the last line, its own seq; the anchor a few lines before it), so an append costs the same at 10 lines and at
100,000. ``scan`` (behind ``verify`` and ``check``) reads the ledger once — a large one in byte ranges, one process
per core — and can start after a signed checkpoint (:mod:`vpnrunbook.evidence.checkpoint`,
``evidence verify --since-checkpoint``).
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
    returns the line written. ``signer``: default this process's key (``signing.load_signer``).

    O(1) in the ledger's length: the head (last line, its seq) is read from the file's tail, and the signer's
    anchor is looked for backwards from there (it is almost always the last line or a few before it)."""
    signer = signer or signing.load_signer()
    root.mkdir(parents=True, exist_ok=True)
    _refuse_key_inside(root, signer)
    path = root / LEDGER_NAME
    created = not path.exists()
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            tail = Tail(f.fileno(), locked=True)
            line = {k: v for k, v in entry.items() if k != ENVELOPE}
            line.update({"seq": tail.seq + 1, "prev": tail.hash})
            last = signer.last_signed_head(root)
            if last is not None and not tail.holds(last):
                line[GAP] = {"lost_head": last, "keyid": signer.keyid,
                             "note": "the ledger no longer held the head this key signed last here: lines were "
                                     "deleted or the ledger replaced before this line"}
            data, line[ENVELOPE] = signer.sign_line(line)
            _write_whole(f, data + b"\n")
            if created:
                fsync_dir(root)
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    # after the lock: with two writers the anchor may name the older of their lines — still a line this key
    # signed and the ledger holds (never a false alarm), only a slightly older anchor
    signer.remember_head(root, f"{line['seq']}:{sha256_bytes(data)}")
    return line


TAIL_CHUNK = 1 << 16


def _reverse_lines(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(start offset, raw bytes) of the non-empty lines of ``fd`` before ``end``, last first, read backwards in
    chunks (``pread``: the file position is left alone)."""
    pos, rest, chunk = end, b"", TAIL_CHUNK
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + rest
        parts = buf.split(b"\n")
        rest = parts[0]  # may continue before pos
        offset = pos + len(parts[0]) + 1
        found = []
        for part in parts[1:]:
            if part.strip():
                found.append((offset, part))
            offset += len(part) + 1
        yield from reversed(found)
        chunk = min(chunk * 2, 1 << 22)
    if rest.strip():
        yield 0, rest


class Tail:
    """The ledger's head read from its end: ``seq`` (the last line's own ``seq``), ``hash`` (SHA-256 of its
    bytes; GENESIS and 0 for an empty ledger), ``end`` (the file's size). A last line that is not a JSON object
    with an integer seq (edited) makes the seq that of a full count, as before: never a guess."""

    def __init__(self, fd: int, *, locked: bool = False) -> None:
        self.fd = fd
        self.end = os.fstat(fd).st_size if locked else settled_size(fd)
        self.raw: bytes | None = None
        self.start = 0
        for start, raw in _reverse_lines(fd, self.end):
            self.start, self.raw = start, raw
            break
        self.hash = sha256_bytes(self.raw) if self.raw is not None else GENESIS
        seq = (_parsed(self.raw) or {}).get("seq") if self.raw is not None else 0
        self.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else self._count()

    def _count(self) -> int:
        return sum(1 for _ in _forward_lines(self.fd, self.end))

    def line(self, seq: int) -> bytes | None:
        """The ``seq``-th line (counting non-empty lines from the start, like :func:`read`), found backwards
        from the tail when the lines there carry their own numbers; else by a forward count."""
        if seq < 1 or self.raw is None:
            return None
        if seq <= self.seq:
            back = self.seq - seq
            for k, (_, raw) in enumerate(_reverse_lines(self.fd, self.end)):
                if k == back:
                    if (_parsed(raw) or {}).get("seq") == seq:
                        return raw
                    break
        for n, raw in enumerate(_forward_lines(self.fd, self.end), start=1):
            if n == seq:
                return raw
        return None

    def holds(self, kept: str) -> bool:
        try:
            seq, digest = parse_head(kept)
        except ValueError:
            return False
        if seq == self.seq and self.raw is not None:
            return self.hash.startswith(digest)
        raw = self.line(seq)
        return raw is not None and sha256_bytes(raw).startswith(digest)


def _forward_raw(fd: int, end: int, start: int = 0) -> Iterator[bytes]:
    """Every line of ``fd`` from ``start`` to ``end`` (empty ones too), first first, read in 4 MiB chunks."""
    pos, rest = start, b""
    while pos < end:
        data = os.pread(fd, min(1 << 22, end - pos), pos)
        if not data:
            break
        pos += len(data)
        parts = (rest + data).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _forward_lines(fd: int, end: int, start: int = 0) -> Iterator[bytes]:
    """The non-empty lines of ``fd`` from ``start`` to ``end``, first first."""
    return (raw for raw in _forward_raw(fd, end, start) if raw.strip())


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


def settled_size(fd: int) -> int:
    """The ledger's size when no append is in progress: taken under a shared lock (appends hold it exclusively
    until their line is whole), so the bytes before it are whole lines; those never change afterwards (an
    append only adds after them, or cuts its own failed line off again). A filesystem without locks (ENOLCK):
    the size as it stands."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        return os.fstat(fd).st_size
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)


def _numbered(root: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of every non-empty ledger line, up to its size when no append was in progress
    (:func:`settled_size`: an append in progress is never read half written)."""
    try:
        fd = os.open(root / LEDGER_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        for n, raw in enumerate(_forward_raw(fd, settled_size(fd)), start=1):
            if raw.strip():
                yield n, raw
    finally:
        os.close(fd)


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
    """``SEQ:SHA256`` of the ledger's last line (None for an empty ledger); read from the file's tail."""
    try:
        fd = os.open(root / LEDGER_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        tail = Tail(fd)
        return f"{tail.seq}:{tail.hash}" if tail.raw is not None else None
    finally:
        os.close(fd)


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
    """Findings when the ledger no longer holds the line a kept head names (cut off, or rewritten). Looks
    backwards from the tail: a recent head costs a few lines' reading, not the ledger's."""
    seq, digest = parse_head(kept)
    try:
        fd = os.open(root / LEDGER_NAME, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    try:
        tail = Tail(fd) if fd is not None else None
        raw = tail.line(seq) if tail is not None else None
        count = tail.seq if tail is not None and tail.raw is not None else 0
    finally:
        if fd is not None:
            os.close(fd)
    if raw is None:
        return [Finding("ledger", f"has {min(count, seq - 1)} line(s), but {source} ({seq}:"
                                  f"{digest[:HEAD_MIN_HEX]}…) names line {seq}: the newest lines were removed")]
    if not sha256_bytes(raw).startswith(digest):
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
    result = scan(root)
    if notices is not None:
        notices += result.notices
    return result.entries, result.findings


@dataclass(frozen=True)
class Start:
    """Where a scan starts: after ledger line ``seq`` (raw line number ``line``) ending at byte ``offset``, whose
    SHA-256 is ``sha256``; ``runs`` and ``changes`` counted before it, ``folders`` the digest of the run folders
    then (:func:`folders_digest`). A scan from GENESIS is ``Start()``."""

    seq: int = 0
    sha256: str = GENESIS
    offset: int = 0
    line: int = 0
    runs: int = 0
    changes: int = 0
    folders: str | None = None
    folder_names: tuple[str, ...] | None = None  # the run folders then (their digest is ``folders``)


def run_folders(root: Path) -> list[str]:
    """The names of the run folders under ``root`` (folders not starting with a dot), sorted."""
    try:
        with os.scandir(root) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def folders_digest(names: Any) -> str:
    return sha256_bytes("\n".join(sorted(names)).encode("utf-8", "surrogateescape"))


PARALLEL_BYTES = 32 << 20  # a ledger part larger than this is read by one process per core


@dataclass
class _Part:
    """What one reader found in its byte range of the ledger: per non-empty line (raw line number relative to
    the range, whether it is a JSON object, its ``seq`` and ``prev`` fields, its SHA-256, its run id), its signature problems, its run's
    problems, the run entries, the journal entries (without envelopes or PUT bodies) and the signers."""

    raw_lines: int = 0
    lines: list[tuple[int, bool, Any, Any, str, Any]] = field(default_factory=list)  # (n, json, seq, prev, sha, run)
    signature: dict[int, list[str]] = field(default_factory=dict)
    runs: dict[int, list[Finding]] = field(default_factory=dict)
    notices: list[Finding] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    signers: dict[str, int] = field(default_factory=dict)
    changes: int = 0


def _read_part(root: Path, begin: int, end: int, ring: list[signing.PublicKey], target: str | None,
               subscription: str | None) -> _Part:
    """Read the lines in bytes [begin, end) of the ledger (a range that starts and ends at a line's start)."""
    part = _Part()
    fd = os.open(root / LEDGER_NAME, os.O_RDONLY)
    try:
        for raw in _forward_raw(fd, end, begin):
            part.raw_lines += 1
            if not raw.strip():
                continue
            n = part.raw_lines
            entry = _parsed(raw)
            if entry is None:
                part.lines.append((n, False, None, None, sha256_bytes(raw), None))
                continue
            part.lines.append((n, True, entry.get("seq"), entry.get("prev"), sha256_bytes(raw), entry.get("run_id")))
            problems = _check_signature("", entry, ring, target, subscription, part.signers, raw)
            if problems:
                part.signature[n] = [f.problem for f in problems]
            kind = entry.get("kind") or "run"
            if kind != "run":  # the change journal: intent / outcome / reconcile
                part.journal.append(_slim(entry))
                part.changes += kind == "intent"
                continue
            part.entries.append(entry)
            run_found = verify_run(root, entry, notices=part.notices)
            if run_found:
                part.runs[n] = run_found
    finally:
        os.close(fd)
    return part


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as the journal's findings read it: without its envelope and the writes' PUT bodies and
    planned changes (large, and only needed to show a change, not to settle it)."""
    out = {k: v for k, v in entry.items() if k != ENVELOPE}
    writes = out.get("writes")
    if isinstance(writes, list):
        out["writes"] = [{k: v for k, v in w.items() if k not in ("body", "changes")} if isinstance(w, dict) else w
                         for w in writes]
    return out


def _ranges(fd: int, begin: int, end: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges covering [begin, end), each starting at a line's start."""
    cuts = [begin]
    for k in range(1, parts):
        at = begin + (end - begin) * k // parts
        while at < end:
            window = os.pread(fd, 1 << 16, at)
            i = window.find(b"\n")
            if i >= 0:
                at += i + 1
                break
            at += len(window)
        if cuts[-1] < at < end:
            cuts.append(at)
    return list(zip(cuts, [*cuts[1:], end], strict=True))


def _workers() -> int:
    """Processes to read a large ledger with: one per core (at most 8), or 1 when this process runs other
    threads (a fork copies only the calling thread, and a lock another one holds would stay locked)."""
    import threading

    return 1 if threading.active_count() > 1 else min(os.cpu_count() or 1, 8)


def _read_parts(root: Path, begin: int, end: int, ring: list[signing.PublicKey], target: str | None,
                subscription: str | None) -> list[_Part]:
    """The ledger's bytes [begin, end) read in parts: one process per core when the range is large and this
    process runs no other thread (a fork must not copy a lock another thread holds), else here."""
    workers = _workers()
    if end - begin < PARALLEL_BYTES or workers < 2:
        return [_read_part(root, begin, end, ring, target, subscription)]
    import concurrent.futures
    import multiprocessing

    fd = os.open(root / LEDGER_NAME, os.O_RDONLY)
    try:
        ranges = _ranges(fd, begin, end, workers * 2)
    finally:
        os.close(fd)
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_read_part, *zip(*[(root, b, e, ring, target, subscription) for b, e in ranges],
                                                   strict=True)))
    except (OSError, concurrent.futures.process.BrokenProcessPool):
        return [_read_part(root, begin, end, ring, target, subscription)]


def scan(root: Path, *, key: Keys = None, target: str | None = None, subscription: str | None = None,
         start: Start | None = None) -> Verification:
    """One reading of the ledger: chain, sequence, signature of every line (against ``key``, else the key each
    statement names; ``target``/``subscription`` required when given), every run's files, the journal and the
    run folders. From ``start`` (a signed checkpoint) only the lines after it are read; the run folders it
    recorded must all still be there, and any other must have its run line after it. A large ledger is read by
    one process per core, each a byte range; the chain is checked across the ranges here."""
    ring = _keyring(key)
    strict = bool(ring) or target is not None or subscription is not None
    result = Verification()
    signed: list[Finding] = []
    found: list[Finding] = []
    at = start or Start()
    prev, expected_seq = at.sha256, at.seq + 1
    seen_runs: set[str] = set()
    journal: list[dict[str, Any]] = []
    n, runs, changes, parsed_any = at.line, at.runs, at.changes, at.seq > 0
    path = root / LEDGER_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        end = None
    else:
        try:
            end = settled_size(fd)
        finally:
            os.close(fd)
    parts = _read_parts(root, at.offset, end, ring, target, subscription) if end is not None and end > at.offset \
        else []
    for part in parts:
        for rel, is_json, seq, line_prev, digest, run_id in part.lines:
            where = f"ledger line {n + rel}"
            if not is_json:
                found.append(Finding(where, "is not a JSON object (edited)"))
                prev = digest
                expected_seq += 1
                continue
            parsed_any = True
            signed += [Finding(where, problem) for problem in part.signature.get(rel, ())]
            if line_prev != prev:
                found.append(Finding(where, f"previous-hash mismatch: the ledger was edited, a line removed or the "
                                            f"lines reordered (run {run_id})"))
            if seq != expected_seq:
                found.append(Finding(where, f"sequence number {seq} where {expected_seq} was expected "
                                            "(lines removed or reordered)"))
            prev = digest
            expected_seq += 1
            found += part.runs.get(rel, [])
        n += part.raw_lines
        result.notices += part.notices
        for fp, count in part.signers.items():
            result.signers[fp] = result.signers.get(fp, 0) + count
        result.entries += part.entries
        journal += part.journal
        runs += len(part.entries)
        changes += part.changes
        seen_runs.update(str(e.get("run_id")) for e in part.entries)
    result.runs, result.changes = runs, changes
    from vpnrunbook.evidence.journal import folder_findings, incomplete_findings, run_in_progress

    busy = {r for r in {str(e.get("run_id")) for e in journal} if run_in_progress(root, r)}
    found += incomplete_findings([e for e in journal if str(e.get("run_id")) not in busy])
    folders = all_folders = run_folders(root)
    if start is not None and start.folder_names is not None:  # the runs before the checkpoint: their folders
        before = set(start.folder_names)
        for name in sorted(before - set(folders)):
            found.append(Finding(f"run {name}", f"evidence folder was removed (it was there at the checkpoint of "
                                                f"line {start.seq})"))
        folders = [f for f in folders if f not in before]  # the others: checked by the verify that checkpointed
    if end is not None or folders or (root.is_dir() and any(root.iterdir())):
        for name in folders:
            if name in seen_runs or not (root / name / "manifest.json").exists():
                continue
            if run_in_progress(root, name) or _has_run_line(root, name):
                continue  # (a run in progress, or one that ended while the ledger was read: its line is there now)
            found.append(Finding(f"run {name}", "has evidence but no ledger line (ledger truncated or "
                                                "the run was added by hand)"))
        found += folder_findings(root, journal, notices=result.notices)
    result.end = Start(seq=expected_seq - 1, sha256=prev, offset=end or 0, line=n, runs=runs, changes=changes,
                       folders=folders_digest(all_folders), folder_names=tuple(all_folders))
    if ring:
        if not parsed_any:
            state = "is absent" if end is None else "holds no line"
            signed.append(Finding("ledger", f"{state} under {root}: nothing signed to verify (deleted?)"))
        signed += _anchor_findings(root, ring, result)
    result.findings = found + signed if strict else signed + found
    return result


def _anchor_findings(root: Path, ring: list[signing.PublicKey], result: Verification) -> list[Finding]:
    """Each key's anchor for this folder (the head it last signed here) must still be in the ledger; the first
    anchor found goes to ``result.anchor``."""
    found: list[Finding] = []
    for k in ring:
        key_dir = signing.anchor_dir_for(k)   # the signer's folder, also for a copy of its public key
        if key_dir is None:
            continue
        anchor = signing.anchor_file(key_dir, root)
        kept = signing.read_anchor(anchor)
        if kept is not None:
            result.anchor = result.anchor or kept
            found += check_head(root, kept, source=f"the head this key last signed here (kept in {anchor})")
    return found


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
    runs: int = 0       # run lines in the whole ledger (``entries`` holds those read: after the checkpoint)
    changes: int = 0    # intent records in the whole ledger
    end: Start | None = None  # where the ledger ended when read: the next checkpoint
    since: int | None = None  # the checkpointed line an incremental verify started after


Keys = signing.PublicKey | list[signing.PublicKey] | tuple[signing.PublicKey, ...] | None


def _keyring(key: Keys) -> list[signing.PublicKey]:
    return [] if key is None else [key] if isinstance(key, signing.PublicKey) else list(key)


def check(root: Path, *, key: Keys = None, target: str | None = None,
          subscription: str | None = None) -> Verification:
    """``verify`` plus: with ``key`` every line must be signed by it, an empty or absent ledger is a finding
    (nothing signed to verify) and the key's anchor for this folder must still be in the ledger; ``key`` may be a
    keyring (a list), taken as a whole: every line signed by one of its keys, each key's anchor still held; with
    ``target`` (``azure``) every signed statement must name that target (and ``subscription`` when given). One
    reading of the ledger (:func:`scan`)."""
    return scan(root, key=key, target=target, subscription=subscription)


def signature_check(root: Path, *, key: Keys = None, target: str | None = None,
                    subscription: str | None = None) -> Verification:
    """The signature of every line (any kind): against ``key`` (or a keyring: any of its keys), or the key each
    statement names."""
    ring = _keyring(key)
    result = Verification()
    for n, raw, entry in read(root):
        if entry is None:
            continue  # verify reports it
        result.entries.append(entry)
        result.findings += _check_signature(f"ledger line {n}", entry, ring, target, subscription, result.signers,
                                            raw)
    if ring:
        if not result.entries:
            state = "is absent" if not (root / LEDGER_NAME).exists() else "holds no line"
            result.findings.append(Finding("ledger", f"{state} under {root}: nothing signed to verify (deleted?)"))
        result.findings += _anchor_findings(root, ring, result)
    return result


def _refuse_key_inside(root: Path, signer: signing.Signer) -> None:
    if signer.inside(root):
        raise signing.SigningError(f"signing key {signer.key_path} lies inside the evidence folder {root}; allowed: "
                                   f"a key outside it (${signing.DIR_ENV} or ${signing.KEY_ENV})")


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
                     subscription: str | None, signers: dict[str, int], raw: bytes | None = None) -> list[Finding]:
    """The signature of one line (``entry`` parsed; ``raw`` its bytes, when known, let a v2 line's digest be read
    from them: :func:`signing.split_line`) and the line against its statement (:func:`signing.line_problems`)."""
    split = signing.split_line(raw) if raw is not None else None
    opened = signing.open_split(split, ring[0] if ring else None) if split is not None and len(ring) <= 1 else None
    if opened is None:  # (the general opener: any envelope, any keyring; names what is wrong)
        envelope = split.envelope if split is not None else entry.get(ENVELOPE)
        if envelope is None:
            return [Finding(where, "is not signed (no envelope): added by hand or by a vpnrunbook without signing")]
        try:
            opened = _open(envelope, ring)
        except signing.SignatureError as exc:
            return [Finding(where, str(exc))]
    fingerprint = opened.key.fingerprint
    signers[fingerprint] = signers.get(fingerprint, 0) + 1
    found = [Finding(where, problem) for problem in signing.line_problems(opened.statement, entry, split, raw)]
    predicate = opened.statement.get("predicate")
    signed_target = predicate.get("target") if isinstance(predicate, dict) else None
    if not isinstance(signed_target, dict):
        signed_target = {}
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
