"""`vpnrunbook evidence verify` (the CLI, exit code EXIT_EVIDENCE) on evidence the runner wrote: an edited
notebook, an edited manifest, a deleted run and a reordered ledger are each reported, naming the run.
(Finer cases on synthetic evidence: tests/notebooks/test_evidence.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import ledger, rundir
from vpnrunbook.runbook.runner import run_step


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> Path:
    """Three real runs (refused before a kernel: quick) with the runner's notebook, HTML, manifest and ledger."""
    root = tmp_path_factory.mktemp("ev") / "evidence"
    for name in ("BadA", "BadB", "BadC"):
        r = run_step("06", parameters={"connection_name": f"{name}!"}, apply=True, evidence_dir=root)
        assert r.outcome == "refused"
    assert rundir.verify(root) == []
    return root


def _tamper(src: Path, dst: Path, how: str) -> str:
    shutil.copytree(src, dst)
    runs = [e["run_id"] for e in rundir.list_runs(dst)]
    victim = runs[1]
    run_dir = dst / victim
    if how == "notebook":
        nb = json.loads((run_dir / "notebook.ipynb").read_text())
        nb["cells"][0]["source"] = "**outcome succeeded**"
        (run_dir / "notebook.ipynb").write_text(json.dumps(nb))
    elif how == "manifest":
        m = json.loads((run_dir / "manifest.json").read_text())
        m["outcome"] = "succeeded"
        (run_dir / "manifest.json").write_text(json.dumps(m, indent=1))
    elif how == "deleted":
        shutil.rmtree(run_dir)
    elif how == "reordered":
        path = dst / ledger.LEDGER_NAME
        lines = path.read_text().splitlines()
        lines[0], lines[1] = lines[1], lines[0]
        path.write_text("\n".join(lines) + "\n")
    return victim


@pytest.mark.parametrize(("how", "expect"), [
    ("notebook", "notebook.ipynb was changed"),
    ("manifest", "manifest.json was changed"),
    ("deleted", "evidence folder was removed"),
    ("reordered", "previous-hash mismatch"),
])
def test_cli_verify_detects_tampering(three_runs, tmp_path, capsys, how, expect):
    assert main(["evidence", "verify", "--evidence-dir", str(three_runs)]) == EXIT_OK
    capsys.readouterr()
    copy = tmp_path / "copy"
    victim = _tamper(three_runs, copy, how)
    assert main(["evidence", "verify", "--evidence-dir", str(copy)]) == EXIT_EVIDENCE
    err = capsys.readouterr().err
    assert expect in err
    if how != "reordered":
        assert victim in err
