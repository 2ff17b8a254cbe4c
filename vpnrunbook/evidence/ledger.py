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

Sealed segments (:mod:`vpnrunbook.evidence.sealed`): the append that brings ``ledger.jsonl`` to 1 MiB moves every
line but the last, byte-exact, into ``ledger.sealed/<first>-<last>.jsonl.gz``. The ledger is the segments in
order, then ``ledger.jsonl``; every reader here reads it so (:class:`View`, :class:`Tail`), line numbers are the
whole ledger's, and verify names a segment in its findings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import sealed, signing
from vpnrunbook.evidence.sealed import SEALED_DIR, fsync_dir

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
    with _open_locked(path) as f:
        try:
            tail = Tail(f.fileno(), locked=True, root=root)
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
            _maybe_seal(f, root)
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    # after the lock: with two writers the anchor may name the older of their lines — still a line this key
    # signed and the ledger holds (never a false alarm), only a slightly older anchor
    signer.remember_head(root, f"{line['seq']}:{sha256_bytes(data)}")
    return line


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a seal renames a new ``ledger.jsonl`` into place)."""
    try:
        now, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


@contextlib.contextmanager
def _open_locked(path: Path) -> Iterator[Any]:
    """``path`` opened for appending and locked exclusively — the file that *is* ``path`` once the lock is held: a
    seal replaces ``ledger.jsonl`` with a new file while other writers wait for the lock on the old one, so a
    writer that got the lock on a file no longer at ``path`` opens it again."""
    sealed.limit()  # a bad $VPNRUNBOOK_LEDGER_SEAL_BYTES is refused before anything is written
    while True:
        f = open(path, "a+b")  # noqa: SIM115 - closed below, or by the caller's with
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if _is_current(f.fileno(), path):
                break
        except BaseException:
            f.close()
            raise
        f.close()  # (releases the lock on the replaced file)
    with f:
        yield f


def _maybe_seal(f: Any, root: Path) -> None:
    """After an append's line is written and fsynced, still under its lock: when the active file has reached
    :func:`sealed.limit`, seal every line but the last into ``ledger.sealed/`` (:func:`sealed.seal`; it also
    completes a seal cut off by a kill). Never an error to the writer: its line is already safe, and a seal that
    failed (disk full) left no trace and is tried again by the next append."""
    fd = f.fileno()
    with contextlib.suppress(OSError, ValueError):
        size = sealed.limit()
        if os.fstat(fd).st_size >= size:
            sealed.seal(fd, root, size)


def seal(root: Path) -> list[sealed.Segment]:
    """Seal the ledger now, whatever the active file's size: every line but the last into segments of
    :func:`sealed.limit` bytes (a history written in one go, a ledger grown before segments existed). Under the
    appenders' lock; OSError when a step fails (nothing half done stays: the next seal completes it)."""
    with _open_locked(root / LEDGER_NAME) as f:
        try:
            return sealed.seal(f.fileno(), root, sealed.limit())
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


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
    with an integer seq (edited) makes the seq that of a full count, as before: never a guess.

    ``root``: the ledger's evidence folder, so that lines in its sealed segments are found too (``fd`` is then its
    active ``ledger.jsonl``, or None when that file is missing). Without it, ``fd`` is a file of its own (the
    checkpoints file)."""

    def __init__(self, fd: int | None, *, locked: bool = False, root: Path | None = None) -> None:
        self.fd = fd
        self.root = root
        self._segments: list[sealed.Segment] | None = None
        self.end = 0 if fd is None else os.fstat(fd).st_size if locked else settled_size(fd)
        self.raw: bytes | None = None
        self.start = 0
        for start, raw in _reverse_lines(fd, self.end) if fd is not None else ():
            self.start, self.raw = start, raw
            break
        if self.raw is None and self.segments():  # an emptied active file: the head is the last sealed line
            self.raw = next(reversed(_segment_lines(self.segments()[-1])), None)
        self.hash = sha256_bytes(self.raw) if self.raw is not None else GENESIS
        seq = (_parsed(self.raw) or {}).get("seq") if self.raw is not None else 0
        self.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else self._count()

    def segments(self) -> list[sealed.Segment]:
        if self._segments is None:
            self._segments = sealed.segments(self.root) if self.root is not None else []
        return self._segments

    def _logical(self) -> Iterator[bytes]:
        """The non-empty lines of the logical ledger: the sealed segments, then the active file (without what an
        interrupted seal already sealed). No lock taken: the caller holds the ledger's, or reads a settled end."""
        segs = self.segments()
        for seg in segs:
            yield from _segment_lines(seg)
        if self.fd is None:
            return
        fd = self.fd
        first = next(_forward_lines(fd, self.end), None)
        skip, _, same = sealed.already_sealed(lambda n: os.pread(fd, n, 0) if n <= self.end else b"",
                                              sealed._line_seq(first) if first is not None else None, segs)
        yield from _forward_lines(fd, self.end, skip if same else 0)

    def _count(self) -> int:
        return sum(1 for _ in self._logical())

    def line(self, seq: int) -> bytes | None:
        """The ``seq``-th line (counting non-empty lines from the start, like :func:`read`), found backwards
        from the tail when the lines there carry their own numbers, else in the sealed segment whose name covers
        it; else by a forward count."""
        if seq < 1 or self.raw is None:
            return None
        if seq <= self.seq and self.fd is not None:
            back = self.seq - seq
            for k, (_, raw) in enumerate(_reverse_lines(self.fd, self.end)):
                if k == back:
                    if (_parsed(raw) or {}).get("seq") == seq:
                        return raw
                    break
        for seg in self.segments():
            if seg.first <= seq <= seg.last:
                lines = _segment_lines(seg)
                if seq - seg.first < len(lines):
                    return lines[seq - seg.first]
                break
        for n, raw in enumerate(self._logical(), start=1):
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


def _lock_shared(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        return False  # a filesystem without locks (ENOLCK): as it stands
    return True


def _split_raw(data: bytes, begin: int = 0) -> list[bytes]:
    """The lines of ``data`` from ``begin`` (empty ones too), as :func:`_forward_raw` gives a file's."""
    parts = data[begin:].split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def _segment_lines(seg: sealed.Segment) -> list[bytes]:
    """A segment's non-empty lines; none when it cannot be read (verify reports that)."""
    try:
        return [raw for raw in _split_raw(sealed.read(seg.path)) if raw.strip()]
    except sealed.SegmentError:
        return []


@dataclass(frozen=True)
class _Piece:
    """A stretch of the logical ledger: a sealed segment (its decompressed bytes from ``begin``), or the active
    file's bytes [``begin``, ``end``) read through ``fd`` (inherited by forked readers)."""

    segment: sealed.Segment | None
    begin: int = 0
    end: int = 0
    fd: int = -1

    def raws(self) -> Iterator[bytes] | list[bytes]:
        """Its lines from ``begin`` (empty ones too); a segment that cannot be read raises sealed.SegmentError."""
        if self.segment is None:
            return _forward_raw(self.fd, self.end, self.begin)
        return _split_raw(sealed.read(self.segment.path), self.begin)


class View:
    """One consistent reading of the logical ledger: its sealed segments (``ledger.sealed/``, by their numbers),
    then the active ``ledger.jsonl`` from ``skip`` (bytes an interrupted seal already sealed: identical to the last
    segments, taken as duplicates) to ``end``, its size when no append was in progress (:func:`settled_size`).
    The segments are listed and the size taken under one shared lock on the file that is ``ledger.jsonl`` then
    (reopened when a seal replaced it while this waited): appends and seals hold it exclusively, so no seal is
    half seen. Segments never change, and the active file a seal replaced stays open here, unchanged: the view
    holds while it is read. ``problems``: what the view itself shows (an interrupted seal whose two copies
    differ; sealed segments without an active file)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd: int | None = None
        self.end = 0
        self.skip = 0
        self.segments: list[sealed.Segment] = []
        self.problems: list[Finding] = []
        self.active_first: int | None = None  # the seq of the active file's first line after ``skip``
        path = root / LEDGER_NAME
        for attempt in range(1000):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                self.segments = sealed.segments(root)
                break
            locked = _lock_shared(fd)
            try:
                if not locked or _is_current(fd, path) or attempt == 999:
                    self.fd, self.end = fd, os.fstat(fd).st_size
                    self.segments = sealed.segments(root)
                    break
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if self.fd is None:
            if self.segments:
                self.problems.append(Finding(LEDGER_NAME, f"is missing, but {SEALED_DIR}/ holds sealed segments: the "
                                                          "active file, with the newest lines, was removed"))
            return
        fd = self.fd
        first = next(_forward_lines(fd, min(self.end, 1 << 22)), None) if self.segments else None
        first_seq = sealed._line_seq(first) if first is not None else None
        skip, dup, same = sealed.already_sealed(lambda n: os.pread(fd, n, 0) if n <= self.end else b"", first_seq,
                                                self.segments)
        if same:
            self.skip = skip
        else:
            where = ", ".join(s.where for s in dup) or f"the sealed segments (up to line {self.segments[-1].last})"
            self.problems.append(Finding(LEDGER_NAME, f"starts with line {first_seq}, which {where} already hold, "
                                                      "but not with the same bytes: a copy was edited, or a segment "
                                                      "replaced"))
        if self.segments:
            after = next(_forward_lines(fd, min(self.end, self.skip + (1 << 22)), self.skip), None)
            self.active_first = sealed._line_seq(after) if after is not None else None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> View:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def exists(self) -> bool:
        return self.fd is not None or bool(self.segments)

    def pieces(self) -> list[_Piece]:
        out = [_Piece(s) for s in self.segments]
        if self.fd is not None:
            out.append(_Piece(None, self.skip, self.end, self.fd))
        return out

    def raw_lines(self) -> Iterator[bytes]:
        """Every line of the logical ledger (empty ones too, so that numbers count as :func:`read`'s); a segment
        that cannot be read gives none (verify reports it)."""
        for piece in self.pieces():
            try:
                yield from piece.raws()
            except sealed.SegmentError:
                continue

    def locate(self, start: Start, *, confirm_seq: bool = True) -> tuple[int, int] | None:
        """Where the line a checkpoint names ends: (index in :meth:`pieces`, byte just after it in that piece), or
        None when the ledger no longer holds it. Without segments, at the checkpoint's ``offset`` (as before
        sealing: the offset is then one in ``ledger.jsonl``); with them, in the segment whose name covers its
        seq, else in the active file, found by its hash (and, with ``confirm_seq``, its own seq). The offset is
        one in the logical ledger, so that it stays true however the ledger is sealed later."""
        if start.seq < 1:
            return None
        if not self.segments:
            if self.fd is None:
                return None
            if start.offset <= 0:  # a mark without its offset (a head kept as SEQ:SHA): looked for from the tail
                for begin, raw in _reverse_lines(self.fd, self.end):
                    if sha256_bytes(raw) == start.sha256:
                        ok = not confirm_seq or (_parsed(raw) or {}).get("seq") == start.seq
                        return (0, begin + len(raw) + 1) if ok else None
                return None
            if not 0 < start.offset <= self.end:
                return None
            raw = next(iter(_reverse_lines(self.fd, start.offset)), (0, None))[1]  # the line before offset
            ok = raw is not None and sha256_bytes(raw) == start.sha256
            if ok and confirm_seq:
                ok = (_parsed(raw) or {}).get("seq") == start.seq
            return (0, start.offset) if ok else None
        for i, piece in enumerate(self.pieces()):
            seg = piece.segment
            if seg is not None and not seg.first <= start.seq <= seg.last:
                continue
            try:
                raws = piece.raws()
            except sealed.SegmentError:
                return None
            at = piece.begin
            for raw in raws:
                at += len(raw) + 1
                if raw.strip() and sha256_bytes(raw) == start.sha256:
                    if confirm_seq and (_parsed(raw) or {}).get("seq") != start.seq:
                        return None
                    return i, at
            return None
        return None


def _numbered(root: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of every non-empty line of the logical ledger (the sealed segments, then
    ``ledger.jsonl``), up to its size when no append was in progress (:class:`View`: an append in progress is
    never read half written, a seal never half seen)."""
    with View(root) as view:
        for n, raw in enumerate(view.raw_lines(), start=1):
            if raw.strip():
                yield n, raw


def _parsed(raw: bytes, split: signing.Split | None = None) -> dict[str, Any] | None:
    """The line parsed when it is a JSON object, else None; ``split`` (:func:`signing.split_line` of ``raw``)
    spares parsing its envelope again (:func:`signing.load_line`: the same value as ``json.loads``)."""
    try:
        entry = signing.load_line(raw, split) if split is not None else json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _record(raw: bytes) -> dict[str, Any] | None:
    """The line parsed, or None when it is not JSON or not a readable record (:func:`_malformed`: verify reports
    it; every other reader skips it as it skips a line that does not parse)."""
    entry = _parsed(raw)
    return None if entry is None or _malformed(entry) else entry


class Follow:
    """The logical ledger's lines after the line ``after`` names (all of them from ``Start()``), as :func:`read`
    gives them; ``end`` is then the mark of the last line read (pass it as the next ``after``), ``lost`` True when
    the ledger no longer holds the line ``after`` names (cut back or replaced: nothing is read). A derived view
    kept beside the ledger (the auditor's index) reads each line once this way, however long the history."""

    def __init__(self, root: Path, after: Start | None = None) -> None:
        self.root, self.after = root, after or Start()
        self.end, self.lost = self.after, False

    def __iter__(self) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
        at = self.after
        with View(self.root) as view:
            pieces = view.pieces()
            if at.seq > 0:
                pos = view.locate(at)
                if pos is None:
                    self.lost = True
                    return
                i, begin = pos
                pieces = [dataclasses.replace(pieces[i], begin=begin), *pieces[i + 1:]]
            n, offset, seq = at.line, at.offset, at.seq
            for piece in pieces:
                try:
                    raws = piece.raws()
                except sealed.SegmentError:
                    return  # (verify reports it; the mark stays before it)
                for raw in raws:
                    n += 1
                    offset += len(raw) + 1
                    if not raw.strip():
                        continue
                    entry = _record(raw)
                    own = (entry or {}).get("seq")
                    seq = own if isinstance(own, int) and not isinstance(own, bool) else seq + 1
                    self.end = Start(seq=seq, sha256=sha256_bytes(raw), offset=offset, line=n)
                    yield n, raw, entry


def read(root: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw bytes, parsed entry or None when the line is not JSON or not a readable record)."""
    for n, raw in _numbered(root):
        yield n, raw, _record(raw)


def read_naming(root: Path, value: str, *, since: str | None = None) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """:func:`read`, but only the lines that can hold the string ``value`` (a run id): a line is parsed only if
    its bytes hold ``value`` as written, or a ``\\u00XX`` escape (the only JSON escape that spells an ASCII
    letter or digit otherwise); a value that is not ASCII parses every line. The caller still compares the
    parsed field; this only spares parsing every other run's lines (~2 KiB each, signed) on each run.

    ``since``: the head (``SEQ:SHA256``) the ledger had before the run's first line — only the lines after it are
    read (a run's own lines cannot precede it), so a run's records cost the same however long the history; the
    line numbers then count from it. A ledger that no longer holds that line is read whole."""
    needle = value.encode("ascii") if value.isascii() else None
    if since:
        try:
            seq, sha = parse_head(since)
        except ValueError:
            seq, sha = -1, ""
        if seq == 0:
            since = None  # (the run began on an empty ledger: every line is after it)
        elif seq > 0:
            follow = Follow(root, Start(seq=seq, sha256=sha))
            hits = [(n, raw, e) for n, raw, e in follow if needle is None or needle in raw or b"\\u00" in raw]
            if not follow.lost:
                yield from hits
                return
    for n, raw in _numbered(root):
        if needle is None or needle in raw or b"\\u00" in raw:
            yield n, raw, _record(raw)


def head(root: Path) -> str | None:
    """``SEQ:SHA256`` of the ledger's last line (None for an empty ledger); read from the file's tail."""
    with _tail(root) as tail:
        return f"{tail.seq}:{tail.hash}" if tail.raw is not None else None


@contextlib.contextmanager
def _tail(root: Path) -> Iterator[Tail]:
    """The ledger's :class:`Tail` (its sealed segments included) read without the lock; an absent ledger.jsonl
    reads as its segments', or as an empty ledger."""
    try:
        fd: int | None = os.open(root / LEDGER_NAME, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    try:
        yield Tail(fd, root=root)
    finally:
        if fd is not None:
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
    with _tail(root) as tail:
        raw = tail.line(seq)
        count = tail.seq if tail.raw is not None else 0
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
    """The names of the run folders under ``root`` (folders not starting with a dot, but the ledger's sealed
    segments), sorted."""
    try:
        with os.scandir(root) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.name != SEALED_DIR and e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def folders_digest(names: Any) -> str:
    return sha256_bytes("\n".join(sorted(names)).encode("utf-8", "surrogateescape"))


PARALLEL_BYTES = 32 << 20  # a ledger part larger than this is read by one process per core


@dataclass
class _Part:
    """What one reader found in its piece of the ledger (:class:`_Piece`): per non-empty line (raw line number
    relative to the piece, whether it is a JSON object, its ``seq``, its link, its run id), its signature
    problems, its run's problems, the run entries, the journal entries (without envelopes or PUT bodies) and the
    signers; ``size`` the bytes read, ``problems`` a segment's own (unreadable, no final newline).

    The chain is checked here for every line but the piece's first: a line's link is whether its ``prev`` equals
    the SHA-256 of the line before it in the piece (None for the first line: its ``prev`` is ``first_prev``,
    checked by the caller against the previous piece's ``last_sha``). The same comparisons as the caller made
    with every line's ``prev`` and hash, without sending two 64-hex strings a line back from a forked reader."""

    piece: _Piece | None = None
    size: int = 0
    problems: list[str] = field(default_factory=list)
    raw_lines: int = 0
    lines: list[tuple[int, bool, Any, bool | None, Any]] = field(default_factory=list)  # (n, json, seq, link, run)
    first_prev: Any = None  # the first line's prev field
    last_sha: str | None = None  # the last line's SHA-256
    signature: dict[int, list[str]] = field(default_factory=dict)
    runs: dict[int, list[Finding]] = field(default_factory=dict)
    notices: list[Finding] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    signers: dict[str, int] = field(default_factory=dict)
    changes: int = 0


def _read_part(root: Path, piece: _Piece, ring: list[signing.PublicKey], target: str | None,
               subscription: str | None) -> _Part:
    """Read the lines of one piece: a sealed segment from ``begin``, or the active file's bytes [begin, end) (a
    range that starts and ends at a line's start)."""
    part = _Part(piece=piece)
    if piece.segment is None:
        raws: Iterator[bytes] | list[bytes] = _forward_raw(piece.fd, piece.end, piece.begin)
        part.size = piece.end - piece.begin
    else:
        try:
            data = sealed.read(piece.segment.path)
        except sealed.SegmentError as exc:
            part.problems.append(f"{exc}: its lines cannot be checked")
            return part
        if data and not data.endswith(b"\n"):
            part.problems.append("does not end with a newline (cut or edited: read in a row, its last line would "
                                 "run into the next one's first)")
        raws = _split_raw(data, piece.begin)
        part.size = len(data) - piece.begin
    last_sha: str | None = None
    for raw in raws:
        part.raw_lines += 1
        if not raw.strip():
            continue
        n = part.raw_lines
        split = signing.split_line(raw)  # (its chain hash too: the line's hash shares the entry digest's pass)
        entry = _parsed(raw, split)  # = json.loads(raw), the envelope not parsed twice
        if entry is None:
            part.lines.append((n, False, None, None, None))
            last_sha = sha256_bytes(raw)
            continue
        line_prev = entry.get("prev")
        if last_sha is None:
            link, part.first_prev = None, line_prev
        else:
            link = line_prev == last_sha
        part.lines.append((n, True, entry.get("seq"), link, entry.get("run_id")))
        last_sha = split.line_sha256 if split is not None and split.line_sha256 else sha256_bytes(raw)
        problems = _check_signature("", entry, ring, target, subscription, part.signers, raw, split)
        if problems:
            part.signature[n] = [f.problem for f in problems]
        kind = entry.get("kind") or "run"
        malformed = _malformed(entry)
        if malformed:  # a signed line can still hold anything its signer put there: a finding, never a crash
            part.signature.setdefault(n, []).append(malformed)
            continue
        if kind != "run":  # the change journal: intent / outcome / reconcile
            part.journal.append(_slim(entry))
            part.changes += kind == "intent"
            continue
        part.entries.append(entry)
        run_found = verify_run(root, entry, notices=part.notices)
        if run_found:
            part.runs[n] = run_found
    part.last_sha = last_sha
    return part


def _read_group(root: Path, pieces: list[_Piece], ring: list[signing.PublicKey], target: str | None,
                subscription: str | None) -> list[_Part]:
    return [_read_part(root, p, ring, target, subscription) for p in pieces]


def _malformed(entry: dict[str, Any]) -> str | None:
    """What makes a parsed line unreadable as a record (its ids not strings, its writes not objects), else None."""
    for name in ("kind", "intent_id", "run_id", "step"):
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            return f"is not a readable record: its {name} is a JSON {type(value).__name__}, not a string"
    for name in ("writes", "written"):
        items = entry.get(name)
        if items is not None and not (isinstance(items, list) and all(isinstance(w, dict) for w in items)):
            return f"is not a readable record: its {name} is not a list of objects"
    return None


JOURNAL_FIELDS = ("kind", "intent_id", "run_id", "step", "seq", "time")  # what the journal's findings read


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as the journal's findings read it (``journal.incomplete_findings``, ``folder_findings``):
    :data:`JOURNAL_FIELDS` and the writes' resource ids — not the envelope, PUT bodies, planned changes, warnings
    (only needed to show a change, not to settle it). A forked reader sends these back to the parent: a whole
    entry each cost more CPU to pickle and unpickle than the Ed25519 check of the line."""
    out = {k: entry[k] for k in JOURNAL_FIELDS if k in entry}
    writes = entry.get("writes")
    if isinstance(writes, list):
        out["writes"] = [{"resource_id": w["resource_id"]} if isinstance(w, dict) and "resource_id" in w else {}
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


# the work is cut into this many tasks per reader, handed out as readers free up: on a shared machine one reader
# gets less CPU than the other, and the one done first waits at most one small task (with 2 per reader it could
# wait for a quarter of the ledger); a task costs only its few pieces to send and its part to send back
TASKS_PER_WORKER = 8
SEGMENT_RATIO = 8  # a segment's bytes read ≈ this × its size on disk (gzip on ledger lines: ~10×)


def _read_parts(root: Path, pieces: list[_Piece], ring: list[signing.PublicKey], target: str | None,
                subscription: str | None) -> list[_Part]:
    """The pieces read, in order: one process per core when they are large and this process runs no other thread
    (a fork must not copy a lock another thread holds), else here. The sealed segments are shared out in runs of
    neighbours; a large active file (one never sealed) in byte ranges."""
    workers = _workers()

    def weight(p: _Piece) -> int:
        if p.segment is None:
            return p.end - p.begin
        try:
            return p.segment.path.stat().st_size * SEGMENT_RATIO
        except OSError:
            return 0

    if sum(weight(p) for p in pieces) < PARALLEL_BYTES or workers < 2:
        return _read_group(root, pieces, ring, target, subscription)
    import concurrent.futures
    import multiprocessing

    tasks: list[list[_Piece]] = []
    segs = [p for p in pieces if p.segment is not None]
    per = max(1, -(-len(segs) // (workers * TASKS_PER_WORKER)))
    tasks += [segs[i:i + per] for i in range(0, len(segs), per)]
    for p in pieces:
        if p.segment is not None:
            continue
        if p.end - p.begin >= PARALLEL_BYTES // 4:
            tasks += [[_Piece(None, b, e, p.fd)] for b, e in _ranges(p.fd, p.begin, p.end, workers * TASKS_PER_WORKER)]
        else:
            tasks.append([p])
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            done = list(pool.map(_read_group, *zip(*[(root, t, ring, target, subscription) for t in tasks],
                                                   strict=True)))
    except (OSError, concurrent.futures.process.BrokenProcessPool):
        return _read_group(root, pieces, ring, target, subscription)
    return [part for group in done for part in group]


def _sealed_findings(view: View) -> list[Finding]:
    """What the names in ``ledger.sealed/`` show, without reading a segment: anything there that is not a segment,
    a first segment that does not start at line 1, gaps and overlaps between neighbours, an active file that does
    not start where the last segment ends."""
    found = [Finding(f"{SEALED_DIR}/{p.name}", "is not a sealed segment of this ledger (not a file named "
                                               "<first>-<last>.jsonl.gz): not written by vpnrunbook — `vpnrunbook "
                                               "evidence reconcile` moves it to .quarantine/")
             for p in sealed.strays(view.root)]
    before: sealed.Segment | None = None
    for seg in view.segments:
        if seg.first > seg.last:
            found.append(Finding(seg.where, "names a range that ends before it starts: not a name a seal writes"))
        if before is None and seg.first != 1:
            found.append(Finding(seg.where, f"is the first sealed segment but starts at line {seg.first}: the "
                                            f"segment(s) holding lines 1–{seg.first - 1} were removed"))
        elif before is not None and seg.first > before.last + 1:
            found.append(Finding(seg.where, f"starts at line {seg.first}, but the segment before it ({before.where}) "
                                            f"ends at line {before.last}: the segment(s) holding lines "
                                            f"{before.last + 1}–{seg.first - 1} were removed"))
        elif before is not None and seg.first <= before.last:
            found.append(Finding(seg.where, f"overlaps {before.where} (lines {seg.first}–{min(seg.last, before.last)} "
                                            "in both): a segment was copied or renamed"))
        before = seg if before is None or seg.last > before.last else before
    if before is not None and view.active_first is not None and view.active_first != before.last + 1:
        found.append(Finding(LEDGER_NAME, f"starts at line {view.active_first}, but the last sealed segment "
                                          f"({before.where}) ends at line {before.last}"
                                          + (f": the segment(s) holding lines {before.last + 1}–"
                                             f"{view.active_first - 1} were removed"
                                             if view.active_first > before.last + 1 else "")))
    return found


def _segment_findings(seg: sealed.Segment, part: _Part) -> list[Finding]:
    """A segment's name against the lines it holds (what a renamed, replaced or swapped segment shows)."""
    lines = part.lines
    whole = part.piece is not None and part.piece.begin == 0
    if not lines:  # (read from a checkpoint at its last line: nothing after it here)
        return [Finding(seg.where, f"holds no line, but its name says lines {seg.first}–{seg.last}")] if whole else []
    first, last = lines[0][2], lines[-1][2]
    if (whole and (first != seg.first or len(lines) != seg.last - seg.first + 1)) or last != seg.last:
        held = f"{len(lines)} line(s), numbered {first}–{last}" if whole else f"lines up to {last}"
        return [Finding(seg.where, f"its name says lines {seg.first}–{seg.last}, but it holds {held}: a segment "
                                   "renamed, replaced by another one's bytes, or edited")]
    return []


def scan(root: Path, *, key: Keys = None, target: str | None = None, subscription: str | None = None,
         start: Start | None = None) -> Verification:
    """One reading of the ledger: chain, sequence, signature of every line (against ``key``, else the key each
    statement names; ``target``/``subscription`` required when given), every run's files, the journal and the
    run folders. From ``start`` (a signed checkpoint) only the lines after it are read; the run folders it
    recorded must all still be there, and any other must have its run line after it. The ledger is the sealed
    segments then the active file (:class:`View`); a large one is read by one process per core (segments shared
    out, a large active file in byte ranges); the chain is checked across the pieces here. A finding in a
    segment names it."""
    ring = _keyring(key)
    strict = bool(ring) or target is not None or subscription is not None
    result = Verification()
    signed: list[Finding] = []
    found: list[Finding] = []
    at = start or Start()
    with View(root) as view:
        found += view.problems + _sealed_findings(view)
        pieces = view.pieces()
        if at.seq > 0:
            pos = view.locate(at, confirm_seq=False)
            if pos is None:  # (gone since the checkpoint was checked: read it all)
                found.append(Finding("ledger", f"no longer holds line {at.seq} ({at.sha256[:12]}…) that the signed "
                                               "checkpoint names: read from its first line instead"))
                at = Start(folders=at.folders, folder_names=at.folder_names)
            else:
                i, offset = pos
                pieces = [dataclasses.replace(pieces[i], begin=offset), *pieces[i + 1:]]
        exists = view.exists
        parts = _read_parts(root, [p for p in pieces if p.segment is not None or p.end > p.begin], ring, target,
                            subscription)
    prev, expected_seq = at.sha256, at.seq + 1
    seen_runs: set[str] = set()
    journal: list[dict[str, Any]] = []
    n, runs, changes, parsed_any = at.line, at.runs, at.changes, at.seq > 0
    offset = at.offset
    for part in parts:
        seg = part.piece.segment if part.piece is not None else None
        suffix = f" (in {seg.where})" if seg is not None else ""
        found += [Finding(seg.where, problem) for problem in part.problems] if seg is not None else []
        for rel, is_json, seq, link, run_id in part.lines:
            where = f"ledger line {n + rel}{suffix}"
            if not is_json:
                found.append(Finding(where, "is not a JSON object (edited)"))
                expected_seq += 1
                continue
            parsed_any = True
            signed += [Finding(where, problem) for problem in part.signature.get(rel, ())]
            if (part.first_prev != prev) if link is None else not link:
                found.append(Finding(where, f"previous-hash mismatch: the ledger was edited, a line removed or the "
                                            f"lines reordered (run {run_id})"))
            if seq != expected_seq:
                found.append(Finding(where, f"sequence number {seq} where {expected_seq} was expected "
                                            "(lines removed or reordered)"))
            expected_seq += 1
            found += part.runs.get(rel, [])
        if part.last_sha is not None:
            prev = part.last_sha
        if seg is not None and (part.lines or not part.problems):
            found += _segment_findings(seg, part)
        n += part.raw_lines
        offset += part.size
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
    if exists or folders or (root.is_dir() and any(root.iterdir())):
        for name in folders:
            if name in seen_runs or not (root / name / "manifest.json").exists():
                continue
            if run_in_progress(root, name) or _has_run_line(root, name):
                continue  # (a run in progress, or one that ended while the ledger was read: its line is there now)
            found.append(Finding(f"run {name}", "has evidence but no ledger line (ledger truncated or "
                                                "the run was added by hand)"))
        found += folder_findings(root, journal, notices=result.notices)
    result.end = Start(seq=expected_seq - 1, sha256=prev, offset=offset, line=n, runs=runs, changes=changes,
                       folders=folders_digest(all_folders), folder_names=tuple(all_folders))
    if ring:
        if not parsed_any:
            state = "is absent" if not exists else "holds no line"
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
            with View(root) as view:
                state = "is absent" if not view.exists else "holds no line"
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
                     subscription: str | None, signers: dict[str, int], raw: bytes | None = None,
                     split: signing.Split | None = None) -> list[Finding]:
    """The signature of one line (``entry`` parsed; ``raw`` its bytes, when known, let a v2 line's digest be read
    from them: :func:`signing.split_line`, or ``split`` when the caller read it) and the line against its
    statement (:func:`signing.line_problems`)."""
    if split is None and raw is not None:
        split = signing.split_line(raw)
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
