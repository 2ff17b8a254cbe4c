"""A change made as in JupyterLab — a notebook executed by nbclient in a real kernel, no runner (no
VPNRUNBOOK_RUN_DIR), the Apply control clicked from code — leaves an evidence run: intent and outcome in the ledger,
a run folder with the change records, the notebook as it stood (cells and outputs) and its HTML, a run line; the
notebook shows where the evidence went. Planning alone writes nothing. The evidence root (default ``evidence``) is
found from the project root although the kernel runs in notebooks/."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.notebooks.conftest import files_containing
from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import ledger

pytestmark = pytest.mark.slow
PLANTED = "LabPlantedKey0123456789xyzQ"

CELLS = [
    "from pathlib import Path\n"
    "from vpnrunbook import operations as ops\n"
    "from vpnrunbook.azure.connect import connect\n"
    "from vpnrunbook.ui import apply_control\n"
    "session = connect(target='emulator')\n"
    "planned = ops.ensure_resource_group(session, name='LabRG', location='EastUS')\n"
    "print('PLANNED-MARKER', planned.summary())",
    "import os\nkey_ref = 'env:LAB_PLANTED_KEY'  # a parameter cell naming a key by reference\n"
    "print('KEY', os.environ[key_ref[4:]])  # an operator printing it by mistake\n"
    "from vpnrunbook.evidence.journal import journal_root\n"
    "print('ROOT', journal_root())\n"
    "print('LEDGER-BEFORE-APPLY', (journal_root() / 'ledger.jsonl').exists())",
    "control = apply_control(planned, lambda: ops.apply_plan(session, planned.plan), interactive=True)\n"
    "control.click()\n"
    "print('OUTCOME', control.outcome.value)\n"
    "print('EVIDENCE', control.evidence['path'])",
]


def _texts(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if o.get("output_type") == "stream" else json.dumps(o.get("data", {})))
    return "\n".join(out)


@pytest.fixture
def lab_project(tmp_path, monkeypatch):
    """A project folder as `vpnrunbook lab` serves it: the kernel runs in notebooks/; no runner variables."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "parameters").mkdir()
    for var in ("VPNRUNBOOK_RUN_DIR", "VPNRUNBOOK_HEADLESS", "VPNRUNBOOK_RUN_ID", "VPNRUNBOOK_EVIDENCE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    monkeypatch.setenv("LAB_PLANTED_KEY", PLANTED)
    path = project / "notebooks" / "lab_change.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # as JupyterLab sets it for the notebook's kernel
    return project, path


def test_apply_in_a_kernel_without_runner_leaves_an_evidence_run(lab_project, capsys):
    project, path = lab_project
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    shown = _texts(nb)
    root = project / "evidence"
    assert f"ROOT {root}" in shown, "relative evidence dir taken from the project root, not notebooks/"
    assert "LEDGER-BEFORE-APPLY False" in shown, "planning wrote nothing"
    assert "Evidence of this change" in shown and f"EVIDENCE {root}" in shown, shown[-2000:]

    entries = [e for _, _, e in ledger.read(root)]
    assert [e.get("kind") for e in entries] == ["intent", "outcome", "run"]
    intent, outcome, run = entries
    assert intent["run_id"] == outcome["run_id"] == run["run_id"]
    assert intent["writes"][0]["resource_id"].endswith("/resourceGroups/LabRG")
    assert intent["target"] == "emulator" and intent["notebook"] == str(path)
    assert outcome["status"] == "applied" and run["outcome"] == "succeeded"
    assert run["run_id"].split("-")[1].startswith("lab_change"), "named after the notebook"
    folder = root / run["run_id"]
    assert sorted(p.name for p in folder.iterdir()) == ["changes.json", "manifest.json", "notebook.html",
                                                         "notebook.ipynb"]
    saved = nbformat.read(str(folder / "notebook.ipynb"), as_version=4)
    sources = "\n".join(c.source for c in saved.cells)
    assert "ensure_resource_group" in sources and "control.click()" in sources, "the cells as they ran"
    assert "PLANNED-MARKER" in _texts(saved) and "LEDGER-BEFORE-APPLY False" in _texts(saved), "with their outputs"
    assert "PLANNED-MARKER" in (folder / "notebook.html").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["mode"] == "interactive" and [e["kind"] for e in manifest["journal"]] == ["intent", "outcome"]
    assert f"KEY {PLANTED}" in shown, "the kernel printed it"
    assert files_containing(root, PLANTED) == [], "the evidence masks it"
    capsys.readouterr()
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_OK
    assert "1 run(s) and 1 change(s)" in capsys.readouterr().out


def test_python_api_without_runner_gets_a_run_too(tmp_path, monkeypatch):
    """A script (no kernel): the records and a run folder without notebook, found at the evidence root."""
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    session = connect(target="emulator")
    planned = ops.ensure_resource_group(session, name="ApiRG", location="EastUS")
    assert not (tmp_path / "ev").exists(), "a plan writes nothing"
    result = ops.apply_plan(session, planned.plan)
    where = result.details["evidence"]
    entries = [e for _, _, e in ledger.read(tmp_path / "ev")]
    assert [e.get("kind") for e in entries] == ["intent", "outcome", "run"]
    assert where["run_id"] == entries[0]["run_id"] and where["path"] == str(tmp_path / "ev" / where["run_id"])
    assert sorted(p.name for p in (tmp_path / "ev" / where["run_id"]).iterdir()) == ["changes.json", "manifest.json"]
