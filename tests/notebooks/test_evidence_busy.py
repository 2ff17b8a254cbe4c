"""Issue 21 item 4: evidence survives being looked at (a Jupyter checkpoint in a run folder, by a stated rule that
cannot hide content) and being busy (a run in progress is reported as such, never as tampering nor cut off)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import journal, ledger, rundir
from vpnrunbook.evidence.scrub import Scrubber


def _run(root, step="s"):
    started = rundir.utcnow()
    rec = rundir.RunEvidence(root=root, run_dir=rundir.new_run_dir(root, step, started), step=step, started=started,
                             manifest={"outcome": "succeeded", "operator": {"user": "t"}})
    rec.write(notebook_text='{"cells": []}', html="<html><body><p>run</p></body></html>", records=[],
              scrubber=Scrubber([]), ended=rundir.utcnow())
    return rec.run_dir


def _checkpoint(run_dir, text=None):
    folder = run_dir / ".ipynb_checkpoints"
    folder.mkdir()
    copy = folder / "notebook-checkpoint.html"
    if text is None:
        shutil.copyfile(run_dir / "notebook.html", copy)
    else:
        copy.write_text(text)
    return copy


def test_an_identical_checkpoint_is_a_notice_not_tampering(tmp_path, capsys):
    root = tmp_path / "ev"
    run_dir = _run(root)
    _checkpoint(run_dir)
    notices: list[ledger.Finding] = []
    assert ledger.verify(root, notices=notices)[1] == []
    assert len(notices) == 1 and "checkpoint of notebook.html, byte-identical" in str(notices[0])
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_OK
    assert "note: " in capsys.readouterr().out


def test_a_checkpoint_that_differs_or_another_file_there_is_still_found(tmp_path):
    root = tmp_path / "ev"
    run_dir = _run(root)
    _checkpoint(run_dir, "<p>something else</p>")
    (run_dir / ".ipynb_checkpoints" / "extra.txt").write_text("hidden?")
    found = [str(f) for f in rundir.verify(root)]
    assert any(".ipynb_checkpoints/notebook-checkpoint.html was added after the run" in f for f in found), found
    assert any(".ipynb_checkpoints/extra.txt was added after the run" in f for f in found), found
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_EVIDENCE


def test_a_checkpoint_of_a_file_the_manifest_does_not_hash_is_found(tmp_path):
    root = tmp_path / "ev"
    run_dir = _run(root)
    folder = run_dir / ".ipynb_checkpoints"
    folder.mkdir()
    (folder / "secret-checkpoint.txt").write_text("x")
    assert [str(f) for f in rundir.verify(root)] == [
        f"run {run_dir.name}: .ipynb_checkpoints/secret-checkpoint.txt was added after the run (not in the manifest)"]


def test_verify_while_a_run_is_in_progress_says_so(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    _run(root)
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    session = SimpleNamespace(target="emulator", subscription_id="sub", base_url="https://127.0.0.1")
    with journal.run_scope("busy-step") as scope:
        journal.intent(scope, session, step="busy-step", writes=[{"resource_id": "/x/y", "label": "rg/conn"}])
        capsys.readouterr()
        code = main(["evidence", "verify", "--evidence-dir", str(root)])
        out = capsys.readouterr()
        assert code == EXIT_OK, out.err
        assert "cut off" not in out.out + out.err and "problem" not in out.out + out.err
        assert f"run {scope.run_id}: is in progress" in out.out
        assert "1 run(s) in progress, not checked yet" in out.out
        journal.outcome(scope, scope.entries[0], status="applied")
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_OK
    assert "in progress" not in capsys.readouterr().out


def test_a_killed_run_is_still_reported(tmp_path, monkeypatch):
    """The in-progress rule rests on the run's lock: a run whose process is gone (lock free) is cut off."""
    root = tmp_path / "ev"
    _run(root)
    run_dir = rundir.new_run_dir(root, "killed", rundir.utcnow())
    fd = journal.lock_run(root, run_dir.name)
    import os

    os.close(fd)  # the process died: the kernel released the lock
    found = [str(f) for f in rundir.verify(root)]
    assert any("has no manifest: the run was cut off" in f for f in found), found
    assert any("left work files" in f for f in found), found


def test_a_hostile_file_name_is_shown_escaped(tmp_path, capsys):
    root = tmp_path / "ev"
    run_dir = _run(root)
    (run_dir / "x\x1b[2Jy.txt").write_text("added")
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_EVIDENCE
    err = capsys.readouterr().err
    assert "\x1b" not in err and "x\\x1b[2Jy.txt was added after the run" in err
