"""In a real Jupyter kernel: widgets and the tqdm widget when an operator is there; static HTML/text when the
runner's headless variables are set (as papermill runs are), and the topology as image/svg+xml."""

from __future__ import annotations

import base64
import os
import re
import sys

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

CELLS = [
    "from vpnrunbook.ui import policy_picker, progress, show_topology\n"
    "picker = policy_picker('seed-s2s', save_dir='policies')\npicker",
    "with progress(2, 'gateway') as bar:\n    bar.update(2)",
    "show_topology({'resource_groups': [{'name': 'RG1', 'vnets': [{'name': 'VNet1', 'address_space': ['10.1.0.0/16']}]}]})"
    "\nNone",
]


def run(tmp_path, env: dict[str, str], keep: list | None = None) -> list:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client.execute(env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]})
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if keep is not None:
        keep.append(nb)
    return [c.outputs for c in nb.cells]


def mimes(outputs) -> set[str]:
    return {m for o in outputs for m in o.get("data", {})}


def test_operator_gets_widgets(tmp_path):
    picker, bar, topo = run(tmp_path, {"VPNRUNBOOK_HEADLESS": "0"})
    assert WIDGET_MIME in mimes(picker)
    assert WIDGET_MIME in mimes(bar)  # tqdm.auto chose the notebook widget
    assert "image/svg+xml" in mimes(topo)


def test_headless_run_gets_static_output(tmp_path):
    kept: list = []
    picker, bar, topo = run(tmp_path, {"VPNRUNBOOK_HEADLESS": "1"}, kept)
    assert WIDGET_MIME not in mimes(picker) | mimes(bar)
    html = "".join(o["data"].get("text/html", "") for o in picker if "data" in o)
    assert "vpnrunbook-policy-table" in html
    text = "".join(o.get("text", "") for o in bar)
    assert "gateway" in text and "2/2" in text
    assert "image/svg+xml" in mimes(topo)

    # the evidence HTML (the runbook's offline exporter) carries the picker's table and the topology picture
    from vpnrunbook.evidence.export import notebook_to_html, remote_references

    page = notebook_to_html(kept[0])
    assert "vpnrunbook-policy-table" in page and "DHGroup24" in page
    pictures = [base64.b64decode(m).decode() for m in re.findall(
        r'data-mime-type="image/svg\+xml"[^>]*>\s*<img[^>]*src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)]
    assert any("Resource group RG1" in svg and "10.1.0.0/16" in svg for svg in pictures)
    assert not remote_references(page)
