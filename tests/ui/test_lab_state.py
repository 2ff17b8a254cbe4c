"""`vpnrunbook lab`: a kernel running in notebooks/ (as JupyterLab starts it) and the CLI run from the project
root see the same in-process emulator state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vpnrunbook.project import project_root
from vpnrunbook.ui.lab import lab_command, lab_environment


def make_project(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "parameters" / "policies").mkdir(parents=True)
    return tmp_path


def test_environment_pins_state_paths_to_the_project(tmp_path):
    project = make_project(tmp_path)
    env = lab_environment(project, base={"PATH": "/usr/bin", "VPNRUNBOOK_DB": "state/x.sqlite3",
                                         "VPNRUNBOOK_RUN_DIR": "/tmp/run", "VPNRUNBOOK_HEADLESS": "1",
                                         "VPNRUNBOOK_EMULATOR_URL": "https://127.0.0.1:1234"})
    assert env["VPNRUNBOOK_STATE_DIR"] == str(project / ".vpnrunbook")
    assert env["VPNRUNBOOK_DB"] == str(project / "state" / "x.sqlite3")
    assert env["VPNRUNBOOK_EVIDENCE_DIR"] == str(project / "evidence")
    assert env["VPNRUNBOOK_EMULATOR_URL"] == "https://127.0.0.1:1234"  # serve: passed on unchanged
    assert "VPNRUNBOOK_RUN_DIR" not in env and "VPNRUNBOOK_HEADLESS" not in env  # an operator session
    assert env["PATH"].startswith(str(Path(sys.executable).parent))
    absolute = lab_environment(project, base={"VPNRUNBOOK_STATE_DIR": "/srv/state"})
    assert absolute["VPNRUNBOOK_STATE_DIR"] == "/srv/state"


def test_project_root_and_command(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    monkeypatch.chdir(project / "notebooks")
    assert project_root() == project.resolve()
    cmd = lab_command(project, port=9123)
    assert "--ip=127.0.0.1" in cmd and "--port=9123" in cmd and f"--ServerApp.root_dir={project}" in cmd
    monkeypatch.chdir("/")
    with pytest.raises(FileNotFoundError, match="notebooks/ and parameters/"):
        project_root()


def test_cli_dry_run_prints_absolute_state(tmp_path):
    project = make_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNRUNBOOK_")}
    out = subprocess.run([sys.executable, "-m", "vpnrunbook", "lab", "--dry-run", "--port", "9124"],
                         cwd=project / "notebooks", env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"VPNRUNBOOK_STATE_DIR={project.resolve() / '.vpnrunbook'}" in out.stdout
    assert "--port=9124" in out.stdout


@pytest.mark.slow
def test_kernel_in_notebooks_folder_and_cli_share_the_emulator(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    base = {k: v for k, v in os.environ.items() if not k.startswith("VPNRUNBOOK_")}
    env = lab_environment(project, base=base)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os\nfrom vpnrunbook.azure.connect import connect\nfrom vpnrunbook import operations as ops\n"
        "ops.ensure_resource_group(connect(), name='SharedStateRG', location='eastus', apply=True)\nos.getcwd()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute(env=env)
    (result,) = [o for o in nb.cells[0].outputs if o["output_type"] == "execute_result"]  # (+ where the evidence went)
    assert str(project / "notebooks") in result["data"]["text/plain"]
    assert not (project / "notebooks" / ".vpnrunbook").exists()

    # the CLI, run from the project root with no state variables, reads the same state
    out = subprocess.run([sys.executable, "-m", "vpnrunbook", "emulator", "status", "--json"], cwd=project,
                         env=base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (project / info["database"]).resolve() == (project / ".vpnrunbook" / "emulator.sqlite3").resolve()
    assert sum(info["resources"].values()) >= 1
    # and so does an in-process session in this process
    monkeypatch.chdir(project)
    monkeypatch.delenv("VPNRUNBOOK_STATE_DIR")
    monkeypatch.delenv("VPNRUNBOOK_DB")
    from vpnrunbook.azure.connect import connect

    assert connect().resources.resource_groups.check_existence("SharedStateRG")


def test_the_demos_seed_key_reaches_the_kernels_and_news_are_off(tmp_path):
    from vpnrunbook.ui.lab import SEED_KEY_ENV, write_lab_settings

    (tmp_path / ".vpnrunbook" / "secrets").mkdir(parents=True)
    (tmp_path / ".vpnrunbook" / "secrets" / "seed-demo.key").write_text("DemoKey0123456789abcdefABCDEF01\n")
    env = lab_environment(tmp_path, base={"PATH": "/usr/bin"})
    assert env[SEED_KEY_ENV] == "DemoKey0123456789abcdefABCDEF01"  # the seed parameters' env:VPNRUNBOOK_SEED_KEY
    assert lab_environment(tmp_path, base={"PATH": "/usr/bin", SEED_KEY_ENV: "mine"})[SEED_KEY_ENV] == "mine"
    assert SEED_KEY_ENV not in lab_environment(tmp_path / "nothing", base={"PATH": "/usr/bin"})
    overrides = json.loads(write_lab_settings(tmp_path / "lab-settings").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    cmd = lab_command(tmp_path, settings_dir=tmp_path / "lab-settings")
    assert f"--LabApp.app_settings_dir={tmp_path / 'lab-settings'}" in cmd
