"""The notebooks run interactively (an nbclient kernel, no runner: ``is_interactive()`` is true): the parameters
are what is planned, and a Run All changes nothing — only the Apply control does, with exactly the plan shown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.browser.seed_state import vnet1_prerequisites  # noqa: E402


@pytest.fixture
def interactive_env(tmp_path, monkeypatch):
    monkeypatch.delenv("VPNRUNBOOK_RUN_DIR", raising=False)
    monkeypatch.delenv("VPNRUNBOOK_HEADLESS", raising=False)
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VPNRUNBOOK_DB", str(tmp_path / "state" / "emulator.sqlite3"))
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "Interactive0Test0Key0123456789ab")
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    return tmp_path


def run_interactively(name: str, overrides: str, *after: str) -> tuple[list[dict], list[list[dict]]]:
    """Run All of notebooks/NAME with ``overrides`` as a cell after the parameters cell (as an operator edits
    it), then the ``after`` cells in the same kernel. Returns every output of the Run All and of each after cell."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(overrides))
    def cell_for(code: str) -> nbformat.NotebookNode:  # "rerun:TEXT": the notebook's cell holding TEXT, again
        if code.startswith("rerun:"):
            source = next(c.source for c in nb.cells if c.cell_type == "code" and code[6:] in c.source)
            return nbformat.v4.new_code_cell(source)
        return nbformat.v4.new_code_cell(code)

    extra = [cell_for(code) for code in after]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}})
    count = len(nb.cells)
    with client.setup_kernel():
        for i in range(count):
            client.execute_cell(nb.cells[i], i)
        nb.cells.extend(extra)
        for j in range(len(extra)):
            client.execute_cell(nb.cells[count + j], count + j)
    outputs = [o for c in nb.cells[:count] if c.cell_type == "code" for o in c.outputs]
    return outputs, [c.outputs for c in nb.cells[count:]]


def texts(outputs: list[dict]) -> str:
    parts = []
    for o in outputs:
        parts.append(o.get("text", "") if o["output_type"] == "stream" else json.dumps(o.get("data", {})))
    return "\n".join(parts)


def test_run_all_with_apply_true_changes_nothing_until_apply(interactive_env):
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.operations.arm import read_kind

    session = connect()
    vnet1_prerequisites(session)
    outputs, (before, clicked, after) = run_interactively(
        "02_create_local_gateway.ipynb",
        "apply = True\ngateway_ip_address = '131.107.72.22'\naddress_prefixes = ['10.61.0.0/16', '10.62.0.0/16']",
        "from vpnrunbook.operations.arm import read_kind\nprint('exists before Apply:', read_kind(session, 'local_network_gateway', P.resource_group, P.local_gateway_name) "
        "is not None)",
        "control.click()\nprint('applied:', control.applied, control.error)",
        "print('exists after Apply:', read_kind(session, 'local_network_gateway', P.resource_group, P.local_gateway_name) "
        "is not None)")
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert "vpnrunbook-apply" in texts(outputs) or "application/vnd.jupyter.widget-view+json" in texts(outputs)
    assert "exists before Apply: False" in texts(before)  # Run All with apply = True: only the plan
    assert "applied: True None" in texts(clicked)
    assert "exists after Apply: True" in texts(after)
    assert read_kind(session, "local_network_gateway", "TestRG1", "Site6") is not None


def test_connect_with_azure_defaults_plans_azure_defaults(interactive_env):
    outputs, (state,) = run_interactively(
        "04_connect.ipynb", "policy = None",
        "print('picker:', picker.preset.value, '| policy:', policy)")
    assert "picker: Azure's default proposals | policy: None" in texts(state)
    assert "seed-s2s" not in texts(state)


def test_policy_picker_saves_under_its_own_name_without_file_exists_error(interactive_env, tmp_path, monkeypatch):
    save_dir = tmp_path / "policies"
    monkeypatch.setenv("VPNRUNBOOK_POLICY_DIR", str(save_dir))  # step 03 saves only inside the policy folder
    outputs, runs = run_interactively(
        "03_create_policy.ipynb", f"save_dir = {str(save_dir)!r}\npolicy_name = 'seed-s2s'\napply = False",
        "picker.set(preset='seed-update')\npicker.name.value = 'mine'\npicker.save_button.click()\n"
        "print(picker.saved_path)",
        # the operator runs the cells below the picker again: they use the picker's policy and file
        "rerun:policy = picker.policy", "rerun:findings = lint(policy)", "rerun:device_examples(",
        "rerun:write = P.apply", "print('target:', target_file.name, unchanged)")
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for out in runs for o in out if o["output_type"] == "error"]  # no FileExistsError
    assert str(save_dir / "mine.yaml") in texts(runs[0])
    assert "target: mine.yaml True" in texts(runs[-1])
    assert "mine" in texts(runs[3]) and "seed-s2s" not in texts(runs[3])  # device configs carry the file's name
