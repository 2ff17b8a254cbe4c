"""Evidence integrity without kernels: ledger chain, verify findings, scrubbing, write-once, CLI exit codes."""

from __future__ import annotations

import json
import os

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import ledger, rundir
from vpnrunbook.evidence.scrub import MASK, Scrubber


def _fake_run(root, step="s", outcome="succeeded", secret="S3cretValue!"):
    started = rundir.utcnow()
    rec = rundir.RunEvidence(root=root, run_dir=rundir.new_run_dir(root, step, started), step=step,
                               started=started, manifest={"outcome": outcome, "operator": {"user": "t"},
                                                          "parameters": {"shared_key_ref": "env:K"}})
    nb = json.dumps({"cells": [{"outputs": [{"text": f"key={secret}"}]}], "metadata": {}})
    rec.write(notebook_text=nb, html=f"<p>{secret}</p>", records=[{"name": "r", "before": {"sharedKey": secret}}],
              scrubber=Scrubber([secret]), ended=rundir.utcnow())
    return rec.run_dir


@pytest.fixture
def three_runs(tmp_path):
    root = tmp_path / "ev"
    dirs = [_fake_run(root, step=f"s{i}") for i in range(3)]
    assert rundir.verify(root) == []
    return root, dirs


def test_scrubbing_and_write_once(tmp_path):
    root = tmp_path / "ev"
    d = _fake_run(root)
    for f in d.iterdir():
        assert "S3cretValue!" not in f.read_text()
    m = json.loads((d / "manifest.json").read_text())
    assert m["records"][0]["before"]["sharedKey"] == MASK and m["scrubbed_occurrences"] >= 3
    with pytest.raises(FileExistsError):
        rundir.RunEvidence(root=root, run_dir=d, step="s", started=rundir.utcnow())._write_once(
            "manifest.json", "{}")


def test_scrubber_masks_json_fields_and_escaped_values():
    s = Scrubber(['ab"cd\\ef'])
    assert s.text('{"sharedKey": "zzz"}') == '{"sharedKey": "' + MASK + '"}'
    assert 'ab\\"cd\\\\ef' not in s.text(json.dumps({"v": 'x ab"cd\\ef y'}))
    assert s.data({"shared_key": "q", "n": {"password": "p"}}) == {"shared_key": MASK, "n": {"password": MASK}}


def test_verify_detects_edited_notebook(three_runs):
    root, dirs = three_runs
    nb = dirs[1] / "notebook.ipynb"
    nb.write_text(nb.read_text().replace("key=", "KEY="))
    (f,) = rundir.verify(root)
    assert dirs[1].name in str(f) and "notebook.ipynb was changed" in str(f)


def test_verify_detects_edited_manifest(three_runs):
    root, dirs = three_runs
    m = dirs[0] / "manifest.json"
    m.write_text(m.read_text().replace('"succeeded"', '"failed"'))
    assert any("manifest.json was changed" in str(f) for f in rundir.verify(root))


def test_verify_detects_deleted_run(three_runs):
    import shutil

    root, dirs = three_runs
    shutil.rmtree(dirs[2])
    assert [str(f) for f in rundir.verify(root)] == [f"run {dirs[2].name}: evidence folder was removed"]


def test_verify_detects_reordered_and_removed_ledger_lines(three_runs):
    root, dirs = three_runs
    path = root / ledger.LEDGER_NAME
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[1], lines[0], lines[2]]) + "\n")
    found = " ".join(map(str, rundir.verify(root)))
    assert "previous-hash mismatch" in found and "sequence number" in found
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    found = " ".join(map(str, rundir.verify(root)))
    assert "previous-hash mismatch" in found and f"run {dirs[1].name}: has evidence but no ledger line" in found


def test_verify_detects_edited_ledger_line_and_added_file(three_runs):
    root, dirs = three_runs
    path = root / ledger.LEDGER_NAME
    path.write_text(path.read_text().replace('"outcome":"succeeded"', '"outcome":"failed"', 1))
    assert any("ledger line 2: previous-hash mismatch" in str(f) for f in rundir.verify(root))
    (dirs[2] / "extra.txt").write_text("x")
    assert any("extra.txt was added" in str(f) for f in rundir.verify(root))


def test_kept_head_catches_the_newest_run_removed_with_its_ledger_line(three_runs, capsys):
    """The chain alone cannot see its last line cut off together with the run folder; a kept head can."""
    import shutil

    root, dirs = three_runs
    assert main(["evidence", "head", "--evidence-dir", str(root)]) == EXIT_OK
    kept = capsys.readouterr().out.strip()
    assert kept == ledger.head(root) and kept.startswith("3:")
    short = kept[:2 + ledger.HEAD_MIN_HEX]
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--head", kept, "--head", short]) == EXIT_OK
    assert "still in it" in capsys.readouterr().out
    path = root / ledger.LEDGER_NAME
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")  # the newest line and its run removed together
    shutil.rmtree(dirs[2])
    assert rundir.verify(root) == [], "undetectable without a kept head"
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--head", kept]) == EXIT_EVIDENCE
    assert "has 2 line(s), but the head kept from an earlier run" in capsys.readouterr().err
    older = "2:" + ledger.sha256_bytes(lines[1].encode())
    assert ledger.check_head(root, older) == [], "an older kept head is still in the chain"
    rewritten = lines[0].replace('"outcome":"succeeded"', '"outcome":"failed"')
    path.write_text("\n".join([rewritten, lines[1]]) + "\n")
    (finding,) = ledger.check_head(root, "1:" + ledger.sha256_bytes(lines[0].encode()))
    assert str(finding).startswith("ledger line 1: differs from the head kept")


@pytest.mark.parametrize("bad", ["3", "x:abc", "0:" + "a" * 64, "3:abc", "3:" + "g" * 20, "3:" + "a" * 65])
def test_malformed_head_is_refused_with_the_allowed_form(three_runs, capsys, bad):
    from vpnrunbook.cli import EXIT_USAGE

    root, _ = three_runs
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--head", bad]) == EXIT_USAGE
    assert "allowed: SEQ:SHA256" in capsys.readouterr().err


def test_cli_verify_and_list_exit_codes(three_runs, capsys):
    root, dirs = three_runs
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_OK
    assert main(["evidence", "list", "--evidence-dir", str(root)]) == EXIT_OK
    assert dirs[0].name in capsys.readouterr().out
    (dirs[0] / "notebook.html").unlink()
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_EVIDENCE
    assert "notebook.html was removed" in capsys.readouterr().err


def test_concurrent_appends_keep_the_chain(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path / "ev"
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: ledger.append(root, {"run_id": f"r{i}"}), range(40)))
    entries, findings = ledger.verify(root)
    assert len(entries) == 40
    assert [f for f in findings if "ledger line" in str(f)] == []  # the runs' folders are absent here


def test_a_run_in_progress_is_reported_and_left_alone_then_closed_once_cut_off(tmp_path):
    """A run folder without manifest is never accepted: while its lock is held it is 'in progress' and reconcile
    leaves it; once its process is gone reconcile closes it (manifest, outcome interrupted, run line)."""
    from vpnrunbook.evidence import journal
    from vpnrunbook.evidence.reconcile import reconcile
    from vpnrunbook.operations.arm import read_resource

    root = tmp_path / "ev"
    scope = journal.RunScope(root=root, step="s", owner="api")
    run_id = scope.ensure_run()
    notices: list[ledger.Finding] = []
    assert ledger.verify(root, notices=notices)[1] == [], "a run in progress is not a problem (issue 21 item 4)"
    assert [str(n) for n in notices] == [f"run {run_id}: is in progress: its evidence is not complete yet and is "
                                         "not checked (verify again when it has ended)"]
    assert reconcile(root, read=read_resource).closed == [] and not (root / run_id / "manifest.json").exists()
    scope.lock_fd = os.close(scope.lock_fd)  # the process holding it died (a SIGKILL releases the lock)
    found = [str(f) for f in rundir.verify(root)]
    assert any(f"run {run_id}: has no manifest" in f for f in found) and any("left work files" in f for f in found)
    report = reconcile(root, read=read_resource)
    assert report.closed == [run_id] and report.removed_staging == [run_id]
    assert rundir.load_manifest(root, run_id)["outcome"] == "interrupted"
    assert rundir.verify(root) == []


def test_a_runs_lines_are_found_however_json_spells_its_id(tmp_path):
    """The change record's view of one run (journal.for_run, record._run_entries) reads only the lines
    that can name it — yet a line spelling the id with JSON escapes is still one of them; other runs' are not."""
    from vpnrunbook.evidence import journal, record

    root = tmp_path / "ev"
    ledger.append(root, {"kind": "intent", "run_id": "run-a", "intent_id": "1", "writes": [{"etag": 'W/"1"'}]})
    ledger.append(root, {"kind": "intent", "run_id": "run-b", "intent_id": "2", "note": "→ 5"})
    ledger.append(root, {"kind": "outcome", "run_id": "run-a", "intent_id": "1", "status": "applied"})
    with open(root / ledger.LEDGER_NAME, "a", encoding="ascii") as f:  # the id spelled \u0072un-a, by hand
        f.write('{"kind": "outcome", "run_id": "\\u0072un-a", "intent_id": "9", "status": "applied"}\n')
    assert [e["intent_id"] for e in journal.for_run(root, "run-a")] == ["1", "1", "9"]
    assert [e["intent_id"] for _, e in record._run_entries(root, "run-a")] == ["1", "1", "9"]
    assert [e["intent_id"] for e in journal.for_run(root, "run-b")] == ["2"]
    assert ledger.head(root).startswith("4:")
