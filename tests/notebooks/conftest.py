"""Fixtures for the runbook tests: a tiny parameterized notebook and an isolated evidence root."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def seed_site_state(base: Path) -> Iterator[dict[str, str]]:
    """The environment of a private emulator state and evidence folder under ``base`` (time factor 0.0002, the
    planted seed key), set while the block runs, with TestRG1/VNet1GW already built (in-process, fast gateway).
    Yields the environment, so a module-scoped fixture can run its steps inside and tests can set it again."""
    from tests.browser.seed_state import create_vnet1_gateway
    from vpnrunbook.azure.connect import connect

    env = {"VPNRUNBOOK_STATE_DIR": str(base / "state"), "VPNRUNBOOK_DB": str(base / "state" / "emulator.sqlite3"),
           "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"), "VPNRUNBOOK_SEED_KEY": PLANTED_KEY,
           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": "0.0002"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("VPNRUNBOOK_TARGET", raising=False)
        create_vnet1_gateway(connect("emulator"))
        yield env


def seed_connection() -> Any:
    """The seed S2S connection TestRG1/VNet1toSite6 as the SDK reads it now."""
    from vpnrunbook.azure.connect import connect

    return connect("emulator").network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6")
