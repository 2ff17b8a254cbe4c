"""Expected errors show as one box (field, value, allowed, what to do), never a traceback; others keep theirs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from vpnrunbook.policy.rules import PolicyValidationError, Problem
from vpnrunbook.ui.errors import error_html, error_text


def test_box_lists_field_value_allowed_and_what_to_do():
    exc = PolicyValidationError([Problem("dh_group", "DHGroup99", "is not allowed", "one of DHGroup14, DHGroup24")])
    box = error_html(exc)
    for part in ("dh_group", "DHGroup99", "one of DHGroup14, DHGroup24", "What to do", "vpnrunbook-error-box"):
        assert part in box
    assert "Traceback" not in box
    assert error_text(exc).startswith("PolicyValidationError:")


def _run(code: str) -> list[dict]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True).execute()
    return nb.cells[0].outputs


@pytest.fixture
def kernel_env(monkeypatch, tmp_path):
    monkeypatch.delenv("VPNRUNBOOK_RUN_DIR", raising=False)
    monkeypatch.delenv("VPNRUNBOOK_HEADLESS", raising=False)
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path))
    return monkeypatch


BAD_PARAMETER = "from vpnrunbook.runbook.params import validate\nvalidate('03_create_policy', {'policy_name': 'x/y'})"


@pytest.mark.parametrize("headless", [False, True])
def test_a_bad_parameter_in_a_kernel_is_one_box_not_a_traceback(kernel_env, headless):
    if headless:
        kernel_env.setenv("VPNRUNBOOK_HEADLESS", "1")
    outputs = _run(BAD_PARAMETER)
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert errors and errors[0]["ename"] == "ParameterError"  # the cell still fails: Run All stops here
    text = "\n".join(errors[0]["traceback"])
    assert "Traceback" not in text and "File " not in text and "validate(" not in text
    boxes = [o["data"]["text/html"] for o in outputs if o["output_type"] == "display_data"]
    if headless:
        assert not boxes and "What to do" in text
    else:
        assert len(boxes) == 1 and "vpnrunbook-error-box" in boxes[0] and "policy_name" in boxes[0]
        assert "What to do" in boxes[0]


def test_unexpected_errors_keep_their_traceback(kernel_env):
    outputs = _run("from vpnrunbook.ui.errors import install_error_display\ninstall_error_display()\n"
                   "def f():\n    return 1 / 0\nf()")
    error = next(o for o in outputs if o["output_type"] == "error")
    assert error["ename"] == "ZeroDivisionError" and "f()" in "\n".join(error["traceback"])
