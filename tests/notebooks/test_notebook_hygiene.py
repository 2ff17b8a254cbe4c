"""The runbook notebooks as files: stripped outputs, one typed parameters cell matching the step's declaration,
validation first, a header saying what changes, no input(), UI cells guarded for headless runs."""

from __future__ import annotations

import ast
import shutil

import nbformat
import pytest

from vpnrunbook.cli import main
from vpnrunbook.runbook.steps import STEPS
from vpnrunbook.runbook.strip import dirty_cells, strip_file

NOTEBOOKS = sorted(STEPS.values(), key=lambda s: s.name)


@pytest.fixture(params=NOTEBOOKS, ids=lambda s: s.name)
def step_nb(request):
    step = request.param
    assert step.path.exists(), f"missing notebook {step.path}"
    return step, nbformat.read(str(step.path), as_version=4)


def test_outputs_are_stripped(step_nb):
    step, _ = step_nb
    assert dirty_cells(step.path) == [], f"run `vpnrunbook notebooks strip {step.path}`"


def test_valid_and_numbered_in_workflow_order(step_nb):
    step, nb = step_nb
    nbformat.validate(nb)
    assert step.path.name.startswith(step.name[:3])
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_header_says_what_it_does_and_changes(step_nb):
    step, nb = step_nb
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "**Changes:**" in first.source and "vpnrunbook run" in first.source


def test_parameters_cell_matches_the_declaration(step_nb):
    step, nb = step_nb
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    tree = ast.parse(tagged[0].source)
    declared = {}
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), "every parameter has a type annotation"
        declared[node.target.id] = ast.literal_eval(node.value)
    assert declared == {p.name: p.default for p in step.params}
    lines = [ln for ln in tagged[0].source.splitlines() if ln.strip()]
    assert all("  # " in ln for ln in lines), "a comment per parameter"


def test_validation_is_the_first_step(step_nb):
    step, nb = step_nb
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    first_code = next(c for c in nb.cells[idx + 1:] if c.cell_type == "code")
    assert f'validate("{step.name}", globals())' in first_code.source


def test_headless_safe(step_nb):
    step, nb = step_nb
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "input(" not in code
    for c in nb.cells:
        if "vpnrunbook-ui" in c.metadata.get("tags", []):
            assert "if INTERACTIVE:" in c.source
    if not step.read_only:
        assert "P.apply" in code and "record(" in code


def test_ui_cells_where_the_ui_engineer_expects_them():
    for name, call in (("03_create_policy", "policy_picker("), ("04_connect", "policy_picker("),
                       ("05_update_policy", "update_panel(")):
        nb = nbformat.read(str(STEPS[name].path), as_version=4)
        assert any(call in c.source and "vpnrunbook-ui" in c.metadata.get("tags", []) for c in nb.cells), name


def test_strip_tool_and_check_command(tmp_path, capsys):
    src = STEPS["06_remove_policy"].path
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    nb = nbformat.read(str(copy), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    code.execution_count = 3
    nb.metadata["papermill"] = {"parameters": {"x": 1}}
    nbformat.write(nb, str(copy))
    assert dirty_cells(copy)
    assert main(["notebooks", "check", str(copy)]) == 1
    assert strip_file(copy) is True
    assert dirty_cells(copy) == [] and main(["notebooks", "check", str(copy)]) == 0
    assert strip_file(copy) is False
