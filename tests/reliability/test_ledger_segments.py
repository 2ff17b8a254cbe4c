"""Sealed ledger segments (issue 24: evidence of a rollout within a few MB, every line still verifiable): the
append that brings ``ledger.jsonl`` to the seal size moves every line but the last into
``ledger.sealed/<first>-<last>.jsonl.gz``, byte-exact; every reader reads the logical ledger (segments, then the
active file); verify names a tampered segment; a kill at any step of a seal, or a full disk, loses and
duplicates nothing; concurrent writers stay serialized while seals replace the active file under them."""

from __future__ import annotations

import gzip
import json
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO
from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import checkpoint, ledger, record, sealed, signing

LIMIT = 6000  # bytes: a line here is ~1.2 KB signed, so a seal every few lines


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setenv(sealed.LIMIT_ENV, str(LIMIT))


def _note(i: object, size: int = 300) -> dict:
    return {"kind": "note", "i": i, "text": "x" * size}


def _bytes(line: dict) -> bytes:
    return signing.line_bytes(line) + b"\n"


def _segs(root: Path) -> list[Path]:
    return sorted((root / ledger.SEALED_DIR).glob("*.jsonl.gz"))


def _logical(root: Path) -> bytes:
    """The ledger as an auditor reads it: the segments decompressed, in order, then the active file."""
    return b"".join(gzip.decompress(p.read_bytes()) for p in _segs(root)) + (root / ledger.LEDGER_NAME).read_bytes()


def _verify(root: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", "--evidence-dir", str(root), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def _temps(root: Path) -> list[str]:
    return sorted(p.name for p in [*root.glob(".*.tmp"), *(root / ledger.SEALED_DIR).glob(".*.tmp")])


def _run(root: Path, name: str) -> dict:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "out.txt").write_text("out\n")
    (folder / "manifest.json").write_text(json.dumps({"files": {"out.txt": ledger.sha256_file(folder / "out.txt")}}))
    return ledger.append(root, {"kind": "run", "run_id": name, "step": "s", "outcome": "succeeded",
                                "manifest_sha256": ledger.sha256_file(folder / "manifest.json")})


def _sealed_ledger(root: Path, count: int = 20) -> list[dict]:
    lines = [_run(root, "run-0")]
    lines += [ledger.append(root, _note(i)) for i in range(count - 1)]
    return lines


# ---- the seal -----------------------------------------------------------------------------------------------
def test_a_seal_moves_every_line_but_the_last_into_byte_exact_segments(small, tmp_path, capsys):
    root = tmp_path / "ev"
    lines = _sealed_ledger(root, 30)
    segs = _segs(root)
    assert len(segs) >= 3, "the ledger was sealed as it grew"
    expected = b"".join(_bytes(line) for line in lines)
    assert _logical(root) == expected, "segments then ledger.jsonl are the ledger, byte for byte"
    if shutil.which("zcat"):  # what docs/auditor.md tells an auditor to run
        zcat = subprocess.run("zcat -f ledger.sealed/*.jsonl.gz ledger.jsonl", shell=True, cwd=root,
                              capture_output=True, check=True)
        assert zcat.stdout == expected
    before = 0
    for p in segs:  # <first>-<last>, zero-padded, one after the other, each holding exactly those lines
        first, last = (int(x) for x in p.name.removesuffix(".jsonl.gz").split("-"))
        assert p.name == f"{first:012d}-{last:012d}.jsonl.gz" and first == before + 1
        held = [json.loads(x)["seq"] for x in gzip.decompress(p.read_bytes()).splitlines()]
        assert held == list(range(first, last + 1))
        before = last
    active = (root / ledger.LEDGER_NAME).read_bytes()
    assert len(active) < LIMIT and json.loads(active.splitlines()[0])["seq"] == before + 1
    assert [n for n, _, _ in ledger.read(root)] == list(range(1, 31))
    assert [e["seq"] for _, _, e in ledger.read(root)] == list(range(1, 31))
    assert [e["run_id"] for _, _, e in ledger.read_naming(root, "run-0")
            if e is not None and e.get("run_id") == "run-0"] == ["run-0"]
    assert ledger.head(root) == f"30:{ledger.sha256_bytes(_bytes(lines[-1]).strip())}"
    code, out = _verify(root, capsys)
    assert code == EXIT_OK and "1 run(s)" in out, out
    assert ledger.SEALED_DIR not in ledger.run_folders(root)
    with pytest.raises(LookupError):
        record.find_run(root, "sealed")  # ledger.sealed/ is not a run folder


def test_a_ledger_grown_before_segments_is_sealed_in_pieces_of_the_seal_size(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    lines = [ledger.append(root, _note(i)) for i in range(25)]  # 1 MiB: not sealed
    assert not _segs(root)
    whole = (root / ledger.LEDGER_NAME).read_bytes()
    monkeypatch.setenv(sealed.LIMIT_ENV, str(LIMIT))
    written = ledger.seal(root)
    assert len(written) == len(_segs(root)) >= 3
    assert all(len(gzip.decompress(p.read_bytes())) >= LIMIT for p in _segs(root)[:-1])
    assert _logical(root) == whole == b"".join(_bytes(x) for x in lines)
    assert _verify(root, capsys)[0] == EXIT_OK


def test_a_bad_seal_size_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    ledger.append(root, _note(0))
    before = (root / ledger.LEDGER_NAME).read_bytes()
    monkeypatch.setenv(sealed.LIMIT_ENV, "1MiB")
    with pytest.raises(ValueError, match=r"\$VPNRUNBOOK_LEDGER_SEAL_BYTES='1MiB'.*whole number of bytes"):
        ledger.append(root, _note(1))
    assert (root / ledger.LEDGER_NAME).read_bytes() == before


# ---- readers across segments -----------------------------------------------------------------------------------
def test_heads_and_anchors_in_a_sealed_segment_are_still_found(small, tmp_path, capsys, monkeypatch):
    root = tmp_path / "ev"
    lines = _sealed_ledger(root, 6)
    kept = f"3:{ledger.sha256_bytes(_bytes(lines[2]).strip())}"
    # another key writes until the first key's anchor (its last line, 6) is deep in a sealed segment
    monkeypatch.setenv(signing.KEY_ENV, str(tmp_path / "other" / "key"))
    other = signing.load_signer()
    monkeypatch.delenv(signing.KEY_ENV)
    for i in range(12):
        ledger.append(root, _note(f"other-{i}"), signer=other)
    assert any(p.name.startswith("000000000001-") for p in _segs(root))
    assert max(int(p.name[13:25]) for p in _segs(root)) >= 6
    line = ledger.append(root, _note("first key again"))
    assert ledger.GAP not in line, "the anchor (line 6) was found in its sealed segment"
    assert ledger.check_head(root, kept) == []
    code, out = _verify(root, capsys, "--head", kept)
    assert code == EXIT_OK, out
    pub = signing.load_signer().pub_path
    code, out = _verify(root, capsys, "--key", str(pub), "--key", str(other.pub_path))
    assert code == EXIT_OK, out
    # the same head, its line rewritten inside the segment: found
    seg = _segs(root)[0]
    seg.write_bytes(gzip.compress(gzip.decompress(seg.read_bytes()).replace(b'"i":1,', b'"i":7,', 1)))
    assert "was rewritten" in str(ledger.check_head(root, kept)[0])


def test_verify_reads_segments_in_parallel_with_the_same_findings(small, tmp_path, monkeypatch):
    root = tmp_path / "ev"
    _sealed_ledger(root, 40)
    segs = _segs(root)
    segs[2].write_bytes(gzip.compress(gzip.decompress(segs[2].read_bytes()).replace(b"xxx", b"xyx", 1)))
    segs[5].unlink()
    one = ledger.check(root)
    monkeypatch.setattr(ledger, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(ledger, "_workers", lambda: 3)
    parts = ledger.check(root)
    assert [str(f) for f in parts.findings] == [str(f) for f in one.findings]
    assert parts.signers == one.signers and parts.runs == one.runs
    text = "\n".join(map(str, one.findings))
    assert f"(in {ledger.SEALED_DIR}/{segs[2].name}): differs from its signed statement" in text
    assert f"the segment(s) holding lines {int(segs[5].name[:12])}–" in text


def test_checkpoints_stay_true_when_the_checkpointed_line_is_sealed(small, tmp_path, capsys, monkeypatch):
    root = tmp_path / "ev"
    _sealed_ledger(root, 8)
    code, out = _verify(root, capsys)
    assert code == EXIT_OK, out
    cp = json.loads((root / checkpoint.CHECKPOINTS_NAME).read_text().splitlines()[-1])["ledger"]
    assert cp["seq"] == 8 and cp["offset"] == len(_logical(root)), "the offset is one in the logical ledger"
    for i in range(10):
        ledger.append(root, _note(f"later-{i}"))
    _run(root, "run-1")
    assert any(int(p.name[:12]) <= 8 <= int(p.name[13:25]) for p in _segs(root)), "line 8 is sealed now"
    logical = _logical(root).splitlines()
    after = set(logical[8:])
    parsed = []
    original = ledger._parsed
    monkeypatch.setattr(ledger, "_parsed", lambda raw, *split: parsed.append(raw) or original(raw, *split))
    code, out = _verify(root, capsys, "--since-checkpoint")
    monkeypatch.setattr(ledger, "_parsed", original)
    assert code == EXIT_OK and "2 run(s)" in out and "after the signed checkpoint of line 8" in out, out
    assert all(raw in after or raw == logical[7] for raw in parsed if raw in set(logical)), \
        "only the lines after the checkpoint (and the checkpointed line, to match it) were read"
    cp2 = json.loads((root / checkpoint.CHECKPOINTS_NAME).read_text().splitlines()[-1])["ledger"]
    assert cp2["seq"] == 19 and cp2["offset"] == len(_logical(root))
    # tampering after the checkpoint, inside a segment: found by the incremental verify, naming the segment
    for i in range(8):
        ledger.append(root, _note(f"latest-{i}"))
    seg = next(p for p in _segs(root) if int(p.name[:12]) > 19)
    seg.write_bytes(gzip.compress(gzip.decompress(seg.read_bytes()).replace(b"latest-", b"LATEST-", 1)))
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and f"(in {ledger.SEALED_DIR}/{seg.name}): differs from its signed" in out, out
    # rolled back to before the checkpointed line (19): found
    for p in _segs(root):
        if int(p.name[13:25]) >= 19:
            p.unlink()
    (root / ledger.LEDGER_NAME).write_bytes(b"")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "no longer holds line 19" in out, out


# ---- tampering with segments -----------------------------------------------------------------------------------
def _rewrite(path: Path, change) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()))))


TAMPER = {
    "a line edited": lambda segs: _rewrite(segs[1], lambda d: d.replace(b"xxxx", b"xxyx", 1)),
    "a segment removed": lambda segs: segs[1].unlink(),
    "the first segment removed": lambda segs: segs[0].unlink(),
    "the last segment removed": lambda segs: segs[-1].unlink(),
    "two segments swapped": lambda segs: (segs[1].rename(segs[1].with_name("swap")), segs[2].rename(segs[1]),
                                          segs[1].with_name("swap").rename(segs[2])),
    "a segment replaced by another's bytes": lambda segs: segs[1].write_bytes(segs[2].read_bytes()),
    "a name that lies about its range": lambda segs: segs[1].rename(
        segs[1].with_name(f"{int(segs[1].name[:12]):012d}-{int(segs[1].name[13:25]) + 1:012d}.jsonl.gz")),
    "not gzip": lambda segs: segs[1].write_bytes(b"not gzip at all\n"),
    "cut off": lambda segs: segs[1].write_bytes(segs[1].read_bytes()[:-9]),
    "its last newline removed": lambda segs: _rewrite(segs[1], lambda d: d[:-1]),
    "lines dropped inside": lambda segs: _rewrite(segs[1], lambda d: d.split(b"\n", 1)[1]),
}


@pytest.mark.parametrize("how", list(TAMPER))
def test_tampering_with_a_sealed_segment_is_reported_naming_it(small, tmp_path, capsys, how):
    root = tmp_path / "ev"
    _sealed_ledger(root, 24)
    segs = _segs(root)
    assert len(segs) >= 4
    assert _verify(root, capsys)[0] == EXIT_OK
    (root / checkpoint.CHECKPOINTS_NAME).unlink()  # a full verify each time
    TAMPER[how](segs)
    code, out = _verify(root, capsys)
    assert code == EXIT_EVIDENCE, out
    assert f"{ledger.SEALED_DIR}/0000000000" in out, f"the finding names the segment:\n{out}"


def test_a_file_planted_among_the_segments_is_reported_and_quarantined_never_a_segment(small, tmp_path, capsys,
                                                                                        monkeypatch):
    root = tmp_path / "ev"
    _sealed_ledger(root, 12)
    segs = {p.name: p.read_bytes() for p in _segs(root)}
    (root / ledger.SEALED_DIR / "notes.txt").write_text("approved\n")
    (root / ledger.SEALED_DIR / "000000000099-000000000100.jsonl").write_text("{}\n")
    code, out = _verify(root, capsys)
    assert code == EXIT_EVIDENCE and f"{ledger.SEALED_DIR}/notes.txt: is not a sealed segment" in out, out
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    capsys.readouterr()
    assert main(["evidence", "reconcile"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"quarantined: {ledger.SEALED_DIR}/notes.txt" in out and "not signed" in out, out
    assert {p.name: p.read_bytes() for p in _segs(root)} == segs, "the segments were left alone"
    assert sorted(p.name for p in (root / ledger.SEALED_DIR).iterdir()) == sorted(segs)
    assert (root / ledger.SEALED_DIR).is_dir() and ledger.run_folders(root) == ["run-0"]
    assert _verify(root, capsys)[0] == EXIT_OK


# ---- a kill at each step of a seal ----------------------------------------------------------------------------
CHILD = """
import os, signal, sys
from pathlib import Path
from vpnrunbook.evidence import ledger, sealed
step, times = sys.argv[2], int(sys.argv[3])
seen = []
def _step(name):
    if name == step:
        seen.append(name)
        if len(seen) == times:
            os.kill(os.getpid(), signal.SIGKILL)
sealed._step = _step
ledger.append(Path(sys.argv[1]), {"kind": "note", "i": "child", "text": "y" * 300})
"""


@pytest.mark.parametrize(("step", "times"), [("start", 1), ("segment-written", 1), ("segment-renamed", 1),
                                             ("segment-renamed", 2), ("active-written", 1), ("active-renamed", 1)])
def test_a_kill_at_any_step_of_a_seal_loses_and_repeats_no_line(tmp_path, capsys, monkeypatch, step, times):
    root = tmp_path / "ev"
    lines = [ledger.append(root, _note(i)) for i in range(12)]  # > 2 x the seal size, not sealed yet
    assert len((root / ledger.LEDGER_NAME).read_bytes()) > 2 * LIMIT
    monkeypatch.setenv(sealed.LIMIT_ENV, str(LIMIT))
    child = subprocess.run([sys.executable, "-c", CHILD, str(root), step, str(times)], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    entries = [e for _, _, e in ledger.read(root)]
    assert [e["seq"] for e in entries] == list(range(1, 14)), "every line once, the killed append's too"
    assert entries[-1]["i"] == "child"
    assert [raw for _, raw, _ in ledger.read(root)][:12] == [_bytes(x).strip() for x in lines]
    if step == "segment-renamed":
        assert _segs(root) and (root / ledger.LEDGER_NAME).read_bytes().startswith(_bytes(lines[0]))
    assert ledger.head(root).startswith("13:")
    assert ledger.check_head(root, f"2:{ledger.sha256_bytes(_bytes(lines[1]).strip())}") == []
    code, out = _verify(root, capsys)
    assert code == EXIT_OK and "13 line(s)" in out, out
    # the next append completes the seal
    last = ledger.append(root, _note("after"))
    assert _temps(root) == []
    assert _logical(root) == b"".join(_bytes(e) for e in [*entries, last])
    assert len((root / ledger.LEDGER_NAME).read_bytes()) < LIMIT, "sealed (by the killed append, or this one)"
    assert _verify(root, capsys)[0] == EXIT_OK


def test_an_interrupted_seal_whose_copies_differ_is_a_finding_and_is_not_completed(tmp_path, capsys, monkeypatch):
    root = tmp_path / "ev"
    for i in range(9):
        ledger.append(root, _note(i))
    monkeypatch.setenv(sealed.LIMIT_ENV, str(LIMIT))
    child = subprocess.run([sys.executable, "-c", CHILD, str(root), "segment-renamed", "1"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    active = root / ledger.LEDGER_NAME
    active.write_bytes(active.read_bytes().replace(b'"i":0,', b'"i":5,', 1))  # the copy in ledger.jsonl edited
    segs = {p.name: p.read_bytes() for p in _segs(root)}
    code, out = _verify(root, capsys)
    assert code == EXIT_EVIDENCE, out
    assert f"{ledger.LEDGER_NAME}: starts with line 1, which {ledger.SEALED_DIR}/" in out and "same bytes" in out
    ledger.append(root, _note("after"))
    assert {p.name: p.read_bytes() for p in _segs(root)} == segs, "a seal never touches such a ledger"
    assert active.read_bytes().count(b"\n") == 11


# ---- a full disk during a seal --------------------------------------------------------------------------------
@pytest.mark.parametrize("step", ["start", "segment-renamed"])
def test_a_full_disk_during_a_seal_is_no_error_to_the_writer(tmp_path, capsys, monkeypatch, step):
    """The file size limit (RLIMIT_FSIZE, as the suite makes a full disk: writes beyond fail with EFBIG) drops
    to 256 bytes at a step of the seal: at the start (the segment cannot be written) or after the first segment
    (the new active file cannot be written). The append's own line is already safe."""
    root = tmp_path / "ev"
    lines = [ledger.append(root, _note(i)) for i in range(9)]
    monkeypatch.setenv(sealed.LIMIT_ENV, str(LIMIT))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def full(name: str) -> None:
        if name == step:
            resource.setrlimit(resource.RLIMIT_FSIZE, (256, hard))

    monkeypatch.setattr(sealed, "_step", full)
    try:
        line = ledger.append(root, _note("on a full disk"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    monkeypatch.setattr(sealed, "_step", lambda name: None)
    assert _temps(root) == [], "the failed seal left no temporary file"
    assert len(_segs(root)) == (0 if step == "start" else 1)
    assert [raw for _, raw, _ in ledger.read(root)] == [_bytes(x).strip() for x in [*lines, line]]
    assert _verify(root, capsys)[0] == EXIT_OK
    after = ledger.append(root, _note("disk freed"))  # the seal is tried again
    assert len((root / ledger.LEDGER_NAME).read_bytes().splitlines()) == 1
    assert _logical(root) == b"".join(_bytes(x) for x in [*lines, line, after])


# ---- concurrent writers while seals replace the active file -----------------------------------------------------
WRITER = """
import sys
from pathlib import Path
from vpnrunbook.evidence import ledger
root, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    ledger.append(root, {"kind": "note", "who": who, "i": i, "text": "z" * 300})
"""


def test_concurrent_writers_stay_serialized_across_seals(small, tmp_path, capsys):
    root = tmp_path / "ev"
    ledger.append(root, _note("first"))  # (the signing key exists before the writers start)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), f"w{k}", "25"], cwd=REPO,
                                stderr=subprocess.PIPE, text=True) for k in range(4)]
    snapshots, bad = 0, []

    def read_while_writing() -> None:
        nonlocal snapshots
        while any(w.poll() is None for w in writers):
            seqs = [(n, e["seq"]) for n, _, e in ledger.read(root)]
            if seqs != [(k, k) for k in range(1, len(seqs) + 1)]:
                bad.append(seqs)
            snapshots += 1

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    errors = [w.communicate(timeout=300)[1] for w in writers]
    reader.join()
    assert all(w.returncode == 0 for w in writers), errors
    assert not bad, f"a reader saw lines missing or twice while seals ran: {bad[0]}"
    assert snapshots > 0
    entries = [e for _, _, e in ledger.read(root)]
    assert [e["seq"] for e in entries] == list(range(1, 102))
    assert sorted((e["who"], e["i"]) for e in entries[1:]) == sorted((f"w{k}", i) for k in range(4) for i in range(25))
    assert len(_segs(root)) >= 10 and _temps(root) == []
    assert _verify(root, capsys)[0] == EXIT_OK
