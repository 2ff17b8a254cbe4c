"""Shared test fixtures. Keep the emulator state and evidence of every test in its own tmp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _session_evidence(tmp_path_factory):
    """Session-wide fixtures (seeded templates) apply changes too: their change records never go to ./evidence."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path_factory.mktemp("session-evidence")))
        yield


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(state))
    monkeypatch.setenv("VPNRUNBOOK_DB", str(state / "emulator.sqlite3"))
    # every apply writes its change records: into the test's own evidence folder, never the checkout's
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(state / "evidence"))
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    yield


@pytest.fixture
def served(monkeypatch, tmp_path):
    """``vpnrunbook emulator serve`` in a thread (HTTPS on 127.0.0.1, its own state), with instant operations."""
    from vpnrunbook.emulator import server

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    running = server.start_in_thread(directory=tmp_path)
    yield running
    running.stop()


def in_ci() -> bool:
    return os.environ.get("VPNRUNBOOK_CI") == "1"


def python_prints(code: str, *, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter of this environment; assert it exits 0 and return its stripped stdout."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
