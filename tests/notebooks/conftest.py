"""Fixtures for the runbook tests: a tiny parameterized notebook and an isolated evidence root."""

from __future__ import annotations

import nbformat
import pytest

PLANTED_KEY = "PlantedKey0123456789abcdefXYZ"

TINY_CELLS = [
    "x: int = 1  # a number\nkey_ref: str = 'env:TINY_KEY'  # shared key reference\nmode: str = 'ok'  # behaviour",
    "import os, time\n"
    "from vpnrunbook.runbook import record\n"
    "key = os.environ[key_ref[4:]]\n"
    "print('the key is', key)\n"
    "record({'step': 'tiny', 'applied': True, 'before': {'x': 0}, 'after': {'x': x, 'sharedKey': key}}, name='tiny')",
    "if mode == 'fail':\n    raise RuntimeError('boom with ' + key)\n"
    "if mode == 'refuse':\n"
    "    from vpnrunbook.runbook.params import ParameterError\n"
    "    from vpnrunbook.policy.rules import Problem\n"
    "    raise ParameterError([Problem('x', x, 'is refused', 'anything else')])\n"
    "if mode == 'sleep':\n    time.sleep(60)\n"
    "print('done', x)",
]


def make_notebook(path, cells=TINY_CELLS):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def tiny_notebook(tmp_path):
    return make_notebook(tmp_path / "tiny.ipynb")


@pytest.fixture
def evidence_root(tmp_path, monkeypatch):
    root = tmp_path / "evidence"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    return root


@pytest.fixture
def planted_key(monkeypatch):
    monkeypatch.setenv("TINY_KEY", PLANTED_KEY)
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", PLANTED_KEY)
    return PLANTED_KEY


def files_containing(root, needle: str) -> list[str]:
    """Every file under root whose bytes contain needle (raw, JSON-escaped or HTML-escaped)."""
    import html
    import json

    variants = {needle, json.dumps(needle)[1:-1], html.escape(needle), html.escape(needle, quote=False),
                html.escape(needle).replace("&#x27;", "&#39;").replace("&quot;", "&#34;")}
    variants = {v.encode() for v in variants}
    hits = []
    for f in sorted(root.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            if any(v in data for v in variants):
                hits.append(str(f.relative_to(root)))
    return hits
