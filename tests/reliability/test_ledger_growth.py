"""The ledger as history grows (issue 24): the head is read from the file's tail (append and `evidence head` do
not read the whole ledger), a large ledger is verified in parts with the same findings, and a clean verify signs
a checkpoint from which `evidence verify --since-checkpoint` reads only the newer lines — still finding tampering
after it, a rollback to before it, and the ledger and its checkpoints rolled back together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import checkpoint, ledger, signing


def _entry(i: int, size: int = 100) -> dict:
    return {"kind": "reconcile", "run_id": f"r{i}", "step": "s", "intent_id": f"i{i}", "note": "x" * size}


def _fill(root: Path, count: int, *, big_every: int = 7) -> list[dict]:
    # some lines larger than a tail chunk, so the backwards reading crosses chunk boundaries
    return [ledger.append(root, _entry(i, ledger.TAIL_CHUNK + 10 if i % big_every == 3 else 50 + i))
            for i in range(count)]


def _raw(root: Path) -> list[bytes]:
    return [ln for ln in (root / ledger.LEDGER_NAME).read_bytes().split(b"\n") if ln.strip()]


def _verify(root: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", "--evidence-dir", str(root), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_append_and_head_take_the_head_from_the_tail_without_reading_the_ledger(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    _fill(root, 20)
    raw = _raw(root)
    assert ledger.head(root) == f"20:{ledger.sha256_bytes(raw[-1])}"

    def no_full_read(*_a, **_k):
        raise AssertionError("the whole ledger was read")

    monkeypatch.setattr(ledger, "_forward_raw", no_full_read)
    line = ledger.append(root, _entry(99))
    assert line["seq"] == 21 and line["prev"] == ledger.sha256_bytes(raw[-1])
    assert ledger.GAP not in line
    assert ledger.head(root).startswith("21:")
    assert ledger.check_head(root, f"20:{ledger.sha256_bytes(raw[-1])}") == []
    monkeypatch.undo()
    assert ledger.verify(root)[1] == []


def test_the_tail_finds_any_line_by_number_and_kept_heads_still_fail_when_cut_or_rewritten(tmp_path):
    root = tmp_path / "ev"
    _fill(root, 15)
    raw = _raw(root)
    import os

    fd = os.open(root / ledger.LEDGER_NAME, os.O_RDONLY)
    try:
        tail = ledger.Tail(fd)
        assert tail.seq == 15 and tail.hash == ledger.sha256_bytes(raw[-1])
        for seq in (1, 4, 8, 14, 15):
            assert tail.line(seq) == raw[seq - 1]
        assert tail.line(16) is None
    finally:
        os.close(fd)
    kept = f"8:{ledger.sha256_bytes(raw[7])}"
    assert ledger.check_head(root, kept) == []
    (root / ledger.LEDGER_NAME).write_bytes(b"\n".join(raw[:6]) + b"\n")  # cut off
    assert "the newest lines were removed" in str(ledger.check_head(root, kept)[0])
    edited = raw[7].replace(b'"s"', b'"t"', 1)
    (root / ledger.LEDGER_NAME).write_bytes(b"\n".join([*raw[:7], edited, *raw[8:]]) + b"\n")
    assert "was rewritten" in str(ledger.check_head(root, kept)[0])


def test_an_empty_or_edited_last_line_falls_back_to_counting(tmp_path):
    root = tmp_path / "ev"
    _fill(root, 3)
    path = root / ledger.LEDGER_NAME
    path.write_bytes(path.read_bytes() + b"not json\n\n")
    assert ledger.head(root) == f"4:{ledger.sha256_bytes(b'not json')}"
    assert ledger.append(root, _entry(5))["seq"] == 5


def test_a_large_ledger_read_in_parts_gives_the_same_findings_as_one_reading(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    _fill(root, 40, big_every=11)
    raw = _raw(root)
    tampered = [*raw[:5], raw[6], raw[5], *raw[7:12], b'{"edited": true', *raw[13:20], raw[20].replace(b"x", b"y", 1),
                *raw[21:30], *raw[31:]]
    (root / ledger.LEDGER_NAME).write_bytes(b"\n".join(tampered) + b"\n")
    one = ledger.check(root)
    monkeypatch.setattr(ledger, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(ledger, "_workers", lambda: 3)
    import os

    fd = os.open(root / ledger.LEDGER_NAME, os.O_RDONLY)
    try:
        ranges = ledger._ranges(fd, 0, os.fstat(fd).st_size, 6)
    finally:
        os.close(fd)
    assert len(ranges) == 6 and all(a < b for a, b in ranges)
    parts = ledger.check(root)
    assert [str(f) for f in parts.findings] == [str(f) for f in one.findings]
    assert parts.signers == one.signers and parts.runs == one.runs and parts.changes == one.changes
    text = "\n".join(map(str, one.findings))
    assert "previous-hash mismatch" in text and "not a JSON object" in text and "edited after it was signed" in text


def test_a_link_broken_where_one_reader_hands_over_to_the_next_is_found(tmp_path, monkeypatch):
    """The readers check the chain inside their part; the first line of each part is checked against the last
    line of the part before it: a link broken exactly there is found as in one reading."""
    import os

    root = tmp_path / "ev"
    _fill(root, 40, big_every=11)
    monkeypatch.setattr(ledger, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(ledger, "_workers", lambda: 3)
    path = root / ledger.LEDGER_NAME
    fd = os.open(path, os.O_RDONLY)
    try:
        ranges = ledger._ranges(fd, 0, os.fstat(fd).st_size, 3 * ledger.TASKS_PER_WORKER)  # as _read_parts cuts
    finally:
        os.close(fd)
    data = path.read_bytes()
    begin = ranges[3][0]  # the first line of the fourth part: its prev rewritten, same length (the same parts)
    at = data.index(b'"prev":"', begin) + 8
    path.write_bytes(data[:at] + b"0" * 64 + data[at + 64:])
    line = data[:begin].count(b"\n") + 1
    found = [str(f) for f in ledger.check(root).findings]
    assert any(f.startswith(f"ledger line {line}: previous-hash mismatch") for f in found), found
    monkeypatch.setattr(ledger, "_workers", lambda: 1)
    assert [str(f) for f in ledger.check(root).findings] == found


def _run(root: Path, name: str) -> None:
    """A minimal run folder with its run line."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "out.txt").write_text("out\n")
    (folder / "manifest.json").write_text(json.dumps({"files": {"out.txt": ledger.sha256_file(folder / "out.txt")}}))
    ledger.append(root, {"kind": "run", "run_id": name, "step": "s", "outcome": "succeeded",
                         "manifest_sha256": ledger.sha256_file(folder / "manifest.json")})


@pytest.fixture
def checkpointed(tmp_path, capsys):
    root = tmp_path / "ev"
    for i in range(4):
        _run(root, f"run-{i}")
    _fill(root, 6)
    code, out = _verify(root, capsys)
    assert code == EXIT_OK, out
    assert (root / checkpoint.CHECKPOINTS_NAME).exists()
    for i in range(4, 6):
        _run(root, f"run-{i}")
    return root


def test_a_clean_verify_signs_a_checkpoint_and_the_next_reads_only_what_came_after(checkpointed, capsys, monkeypatch):
    root = checkpointed
    cp = json.loads((root / checkpoint.CHECKPOINTS_NAME).read_text().splitlines()[-1])
    opened = signing.open_envelope(cp["envelope"], signing.load_signer().public_key)
    assert opened.statement["predicateType"] == checkpoint.PREDICATE_TYPE
    assert opened.statement["predicate"]["checkpoint"] == {k: v for k, v in cp.items() if k != "envelope"}
    assert cp["ledger"]["seq"] == 10 and cp["ledger"]["sha256"] == ledger.sha256_bytes(_raw(root)[9])
    parsed = []
    original = ledger._parsed
    monkeypatch.setattr(ledger, "_parsed", lambda raw, *split: parsed.append(raw) or original(raw, *split))
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_OK, out
    assert "6 run(s)" in out and "after the signed checkpoint of line 10" in out
    ledger_lines = set(_raw(root))
    read = [raw for raw in parsed if raw in ledger_lines]
    assert len(read) == 2 + 1, "only the two new run lines (and the checkpointed line, to match it) were read"
    monkeypatch.undo()
    # that verify signed the next checkpoint, chained to the first
    lines = (root / checkpoint.CHECKPOINTS_NAME).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["prev"] == ledger.sha256_bytes(lines[0].encode())


def test_incremental_verify_finds_tampering_after_the_checkpoint(checkpointed, capsys):
    root = checkpointed
    raw = _raw(root)
    raw[-1] = raw[-1].replace(b'"succeeded"', b'"failed"')
    (root / ledger.LEDGER_NAME).write_bytes(b"\n".join(raw) + b"\n")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "ledger line 12" in out and "edited after it was signed" in out
    (root / "run-4" / "out.txt").write_text("changed\n")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "run run-4: out.txt was changed" in out


def test_incremental_verify_finds_a_rollback_to_before_the_checkpoint(checkpointed, capsys):
    root = checkpointed
    raw = _raw(root)
    (root / ledger.LEDGER_NAME).write_bytes(b"\n".join(raw[:8]) + b"\n")  # back to 8 lines: the checkpoint named 10
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE
    assert "no longer holds line 10" in out and "rolled back" in out


def test_incremental_verify_finds_the_ledger_and_its_checkpoints_rolled_back_together(tmp_path, capsys):
    root = tmp_path / "ev"
    _run(root, "run-0")
    _fill(root, 3)
    saved = tmp_path / "saved"
    shutil.copytree(root, saved)  # what an attacker keeps: a consistent, older evidence folder
    code, _ = _verify(root, capsys)
    assert code == EXIT_OK
    _run(root, "run-1")
    code, _ = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_OK
    shutil.rmtree(root)
    shutil.copytree(saved, root)
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "is gone, but the key made checkpoint 2 here" in out


def test_an_edited_checkpoint_is_refused_and_a_removed_old_run_folder_found(checkpointed, capsys):
    root = checkpointed
    path = root / checkpoint.CHECKPOINTS_NAME
    cp = json.loads(path.read_text())
    cp["ledger"]["seq"] = 12  # claims more was verified
    path.write_text(json.dumps(cp) + "\n")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "differs from its signed statement" in out
    path.unlink()
    code, out = _verify(root, capsys)  # full: clean again, a new checkpoint
    assert code == EXIT_OK, out
    shutil.rmtree(root / "run-1")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_EVIDENCE and "run run-1: evidence folder was removed" in out


def test_a_checkpoint_serves_only_a_verify_with_the_same_checks(checkpointed, capsys):
    root = checkpointed
    code, out = _verify(root, capsys, "--since-checkpoint", "--target", "azure")
    assert code == EXIT_EVIDENCE  # every line re-read: none of them names azure
    assert "after the signed checkpoint" not in out


def test_a_discarded_evidence_folder_is_not_a_rollback_of_its_checkpoints(tmp_path, capsys):
    root = tmp_path / "ev"
    _run(root, "run-0")
    code, _ = _verify(root, capsys)
    assert code == EXIT_OK and (root / checkpoint.CHECKPOINTS_NAME).exists()
    assert main(["evidence", "discard", "--evidence-dir", str(root), "--yes"]) == EXIT_OK
    _run(root, "run-1")
    code, out = _verify(root, capsys, "--since-checkpoint")
    assert code == EXIT_OK, out
