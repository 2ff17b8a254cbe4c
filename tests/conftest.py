"""Shared test fixtures. Keep the emulator state and evidence of every test in its own tmp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_SECRET_ENV_PREFIX = "VPNRUNBOOK_,VPN_,TINY_,RELIABILITY_,CLI_,LAB_,X,K,NAME"   # the tests' key variables
# The system tests: they need root, Debian's chromium, strongSwan, or a tool installed from PyPI on first use into
# its own venv (the Azure CLI, Apache Airflow), take minutes, and run one at a time in `make test-system` (which
# .ci/run also runs); `make test` leaves them out.
SYSTEM_TESTS = ("tests/browser/", "tests/device/test_lab.py", "tests/azcli/", "tests/integrations/test_airflow_dag.py",
                "tests/emulator/test_js_sdk.py")


def _kernels_on_unix_sockets() -> None:
    """Kernels the tests start themselves (nbclient's NotebookClient) talk over Unix sockets in a private folder,
    as the runner's kernels do: with loopback TCP, parallel workers (pytest-xdist) race for the same free ports,
    and a client can end up waiting forever on another worker's kernel (seen: a Run All that never returned)."""
    import tempfile

    import jupyter_client
    from jupyter_client.manager import AsyncKernelManager

    folder = Path(tempfile.mkdtemp(prefix="vpnrunbook-test-kernels-"))

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.transport = "ipc"
            self.ip = str(folder / "kernel")

    jupyter_client.AsyncKernelManager = IpcKernelManager  # nbclient takes its default manager from here


_kernels_on_unix_sockets()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.path)).resolve().relative_to(REPO).as_posix().startswith(SYSTEM_TESTS):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session", autouse=True)
def _isolated_signing_key(tmp_path_factory):
    """The ledger's signing key of the whole session in a tmp folder, set before any module-scoped fixture runs
    (they start before the per-test ``_isolated_state``): never the real ~/.config/vpnrunbook/signing. Likewise
    the evidence root, so a module-scoped fixture's applies never write change records into ./evidence."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VPNRUNBOOK_SIGNING_DIR", str(tmp_path_factory.mktemp("signing-session")))
        mp.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path_factory.mktemp("evidence-session") / "evidence"))
        mp.delenv("VPNRUNBOOK_SIGNING_KEY", raising=False)
        mp.setenv("VPNRUNBOOK_SECRET_ENV_PREFIX", TEST_SECRET_ENV_PREFIX)   # (see _isolated_state)
        mp.setenv("VPNRUNBOOK_SECRETS_DIR", str(tmp_path_factory.getbasetemp()))
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
    # the ledger's signing key (vpnrunbook.evidence.signing): never the real ~/.config/vpnrunbook/signing
    monkeypatch.setenv("VPNRUNBOOK_SIGNING_DIR", str(state / "signing"))
    # where shared-key references may point (vpnrunbook.azure.secrets, issue 22.2), as an operator configures it:
    # the tests' own key variables and their tmp folders. tests/reliability/test_secret_places.py checks the defaults
    monkeypatch.setenv("VPNRUNBOOK_SECRET_ENV_PREFIX", TEST_SECRET_ENV_PREFIX)
    monkeypatch.setenv("VPNRUNBOOK_SECRETS_DIR", str(tmp_path_factory.getbasetemp()))
    monkeypatch.delenv("VPNRUNBOOK_SIGNING_KEY", raising=False)
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
