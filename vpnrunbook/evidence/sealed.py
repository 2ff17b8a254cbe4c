"""Sealed ledger segments: ``<evidence root>/ledger.sealed/<first seq>-<last seq>.jsonl.gz``.

The ledger's lines are very repetitive JSON (a 1,000-connection rollout: about 10 MB of lines, 1 MB gzipped). When
the active ``ledger.jsonl`` reaches :func:`limit` bytes (1 MiB; ``$VPNRUNBOOK_LEDGER_SEAL_BYTES``), the append that
crossed it — still under the ledger's exclusive lock, after its own line is written and fsynced — moves every line
but the last into a sealed segment, gzip-compressed and byte-exact: the segment decompresses to exactly the bytes
those lines had in ``ledger.jsonl``. The *logical* ledger is the segments in the order of their numbers, then
``ledger.jsonl``; ``zcat ledger.sealed/*.jsonl.gz ledger.jsonl`` reproduces it. Nothing is ever pruned.

A seal is two steps, each crash-safe:

1. each segment is written to a temporary name (``.<name>.tmp``), fsynced, read back and compared, renamed to its
   name and the folder fsynced — never over an existing segment;
2. the new ``ledger.jsonl`` (the last line alone) is written to ``.ledger.jsonl.seal.tmp``, fsynced and renamed
   over the active file, and the evidence folder fsynced.

Killed between the two, the lines are in both places: the active file starts with the bytes of the last
segment(s). Readers take those as duplicates when the bytes are identical (different bytes: a finding), and the
next append completes the seal. A seal that fails (ENOSPC, EFBIG, anything) removes its temporary files and is
tried again by a later append: the append's own line was already safe, so a seal is never an error to the writer.

This module only writes and lists segments; reading the logical ledger, and what verify checks about segments
(their names against their lines, gaps, edits), is :mod:`vpnrunbook.evidence.ledger`. A segment is never trusted
for anything the ledger's chain and signatures do not prove: its name only says where to look.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEALED_DIR = "ledger.sealed"
SUFFIX = ".jsonl.gz"
LIMIT_ENV = "VPNRUNBOOK_LEDGER_SEAL_BYTES"
LIMIT = 1 << 20          # the active file is sealed when an append brings it to this size
DIGITS = 12              # seq numbers in names, zero-padded: names sort as their numbers
MAX_SEGMENT = 1 << 30    # a segment that decompresses to more is not one this tool wrote (a gzip bomb)
LEVEL = 6                # ~10x on ledger lines, ~100 MB/s here: ~10 ms per 1 MiB seal
ACTIVE_TMP = ".ledger.jsonl.seal.tmp"
_NAME = re.compile(rf"^(\d{{{DIGITS}}})-(\d{{{DIGITS}}}){re.escape(SUFFIX)}$")


@dataclass(frozen=True)
class Segment:
    """A sealed segment as its file name says: lines ``first`` to ``last`` (not proven until read)."""

    path: Path
    first: int
    last: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def where(self) -> str:
        return f"{SEALED_DIR}/{self.name}"


def segment_name(first: int, last: int) -> str:
    return f"{first:0{DIGITS}d}-{last:0{DIGITS}d}{SUFFIX}"


def limit() -> int:
    """The size at which the active file is sealed: ``$VPNRUNBOOK_LEDGER_SEAL_BYTES`` (a whole number of bytes,
    at least 1; for tests) or 1 MiB."""
    value = os.environ.get(LIMIT_ENV, "").strip()
    if not value:
        return LIMIT
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"${LIMIT_ENV}={value!r} is not a size; allowed: a whole number of bytes, at least 1 "
                         f"(default {LIMIT}, 1 MiB)")
    return int(value)


def segments(root: Path) -> list[Segment]:
    """The segments under ``root/ledger.sealed`` (files named ``<first>-<last>.jsonl.gz``), by their numbers."""
    found = []
    try:
        with os.scandir(root / SEALED_DIR) as it:
            for e in it:
                m = _NAME.match(e.name)
                if m and e.is_file(follow_symlinks=False):
                    found.append(Segment(Path(e.path), int(m.group(1)), int(m.group(2))))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found, key=lambda s: (s.first, s.last, s.name))


def strays(root: Path) -> list[Path]:
    """What else ``ledger.sealed/`` holds: anything not a segment (a file planted there, a folder, a link). A
    seal's own temporary files (``.*.tmp``, left by a kill) are not listed: the next seal removes them."""
    segs = {s.name for s in segments(root)}
    try:
        with os.scandir(root / SEALED_DIR) as it:
            return sorted(Path(e.path) for e in it
                          if e.name not in segs and not (e.name.startswith(".") and e.name.endswith(".tmp")))
    except (FileNotFoundError, NotADirectoryError):
        return []


class SegmentError(ValueError):
    """A segment that cannot be read back (not gzip, a bad CRC, cut off, too large)."""


def read(path: Path) -> bytes:
    """A segment's bytes (decompressed); SegmentError when it is not a whole gzip stream of at most 1 GiB."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as exc:
        raise SegmentError(f"cannot be read ({exc.strerror or exc})") from exc
    if not blob:
        raise SegmentError("is empty")
    out, rest = [], blob
    size = 0
    try:
        while rest:  # concatenated gzip members are one stream (as zcat reads them)
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest, MAX_SEGMENT + 1 - size))
            size += len(out[-1])
            if size > MAX_SEGMENT or d.unconsumed_tail:
                raise SegmentError(f"decompresses to more than {MAX_SEGMENT} bytes: not a segment this tool wrote")
            if not d.eof:
                raise SegmentError("is cut off (the gzip stream does not end)")
            rest = d.unused_data
    except zlib.error as exc:
        raise SegmentError(f"is not a readable gzip stream ({exc})") from exc
    return b"".join(out)


def _step(name: str) -> None:
    """A test hook, called at each step of a seal (tests kill the process or fill the disk here)."""


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _line_seq(raw: bytes) -> int | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    seq = entry.get("seq") if isinstance(entry, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None


def _lines(data: bytes) -> list[bytes]:
    return [raw for raw in data.split(b"\n") if raw.strip()]


def _pread_all(fd: int, size: int) -> bytes:
    chunks, pos = [], 0
    while pos < size:
        chunk = os.pread(fd, min(size - pos, 1 << 26), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def already_sealed(data_head: Callable[[int], bytes], first_seq: int | None, segs: list[Segment]
                   ) -> tuple[int, list[Segment], bool]:
    """How many bytes at the start of the active file the last segments already hold (a seal cut off between
    its two steps): (their length, those segments, whether the bytes are identical). The active file starts at
    seq ``first_seq``; the segments from that seq on must, concatenated, be exactly its first bytes.
    ``data_head(n)``: the active file's first n bytes."""
    if not segs or first_seq is None or first_seq > segs[-1].last:
        return 0, [], True
    dup = [s for s in segs if s.first >= first_seq]
    if not dup:
        return 0, [], False
    try:
        expected = b"".join(read(s.path) for s in dup)
    except SegmentError:
        return 0, dup, False
    if expected and data_head(len(expected)) == expected:
        return len(expected), dup, True
    return 0, dup, False


def _chunks(body: bytes, size: int) -> list[bytes]:
    """``body`` (whole lines) cut at line ends into pieces of at least ``size`` bytes (the last may be less)."""
    out, pos = [], 0
    while pos < len(body):
        end = body.find(b"\n", min(pos + size, len(body)) - 1)
        end = len(body) if end < 0 else end + 1
        out.append(body[pos:end])
        pos = end
    return out


def _remove_temps(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / ACTIVE_TMP).unlink(missing_ok=True)
    with contextlib.suppress(OSError), os.scandir(root / SEALED_DIR) as it:
        for e in it:
            if e.name.startswith(".") and e.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(e.path)


def _write_segment(folder: Path, body: bytes, first: int, last: int) -> Segment:
    """Write one segment crash-safely: temp name, fsync, read back and compare, rename, fsync the folder."""
    name = segment_name(first, last)
    final = folder / name
    if final.exists():
        raise FileExistsError(errno.EEXIST, "a segment of that name exists already", str(final))
    tmp = folder / f".{name}.tmp"
    blob = gzip.compress(body, compresslevel=LEVEL, mtime=0)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _write_all(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        _step("segment-written")
        if read(tmp) != body:
            raise OSError(errno.EIO, "the segment read back differs from the lines written", str(tmp))
        os.rename(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)
    _step("segment-renamed")
    return Segment(final, first, last)


def _replace_active(root: Path, data: bytes, mode: int) -> None:
    """The new active file (the last line) through a temp name, fsynced, renamed over ``ledger.jsonl``."""
    tmp = root / ACTIVE_TMP
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        _step("active-written")
        os.rename(tmp, root / "ledger.jsonl")
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _step("active-renamed")
    fsync_dir(root)


def seal(fd: int, root: Path, size: int) -> list[Segment]:
    """Seal the active file ``fd`` (``root/ledger.jsonl``, held under its exclusive lock): every line but the last
    into segments of at least ``size`` bytes each, then the active file replaced by its last line. First
    completes a seal cut off between its two steps. Returns the segments written. Raises OSError when a step
    fails (its temporary files removed; what was renamed into place is whole and is completed next time).

    Refuses (writes nothing) when the active file's lines are not what a seal can name honestly: its first bytes
    repeat sealed segments with different bytes, or a segment's first or last line has no seq, or its lines are
    not numbered one after the other — verify reports that ledger; a seal never touches it."""
    _remove_temps(root)
    _step("start")
    data = _pread_all(fd, os.fstat(fd).st_size)
    lines = _lines(data)
    segs = segments(root)
    if len(lines) < 2 and not segs:
        return []
    skip, _dup, same = already_sealed(lambda n: data[:n], _line_seq(lines[0]) if lines else None, segs)
    if not same:
        return []
    cut = data.rstrip(b"\n").rfind(b"\n") + 1  # the start of the last line
    if cut < skip:
        return []
    body = data[skip:cut]
    folder = root / SEALED_DIR
    if body and not folder.is_dir():
        folder.mkdir(exist_ok=True)
        fsync_dir(root)
    expected_first = segs[-1].last + 1 if segs else 1
    plan = []
    for chunk in _chunks(body, size):
        chunk_lines = _lines(chunk)
        first, last = (_line_seq(chunk_lines[0]), _line_seq(chunk_lines[-1])) if chunk_lines else (None, None)
        if first != expected_first or last is None or last - first + 1 != len(chunk_lines) \
                or not chunk.endswith(b"\n"):
            return []
        plan.append((chunk, first, last))
        expected_first = last + 1
    if _line_seq(data[cut:]) not in (None, expected_first) and plan:
        return []
    written = [_write_segment(folder, chunk, first, last) for chunk, first, last in plan]
    if skip or written:
        _replace_active(root, data[cut:], os.fstat(fd).st_mode & 0o7777)
    return written
