"""A planted shared key — and a generated one — never reaches evidence (executed notebook, HTML, manifest, ledger),
the CLI's output and logs, or exception text: on success and on a failure after the key was resolved and sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import files_containing
from vpnrunbook.azure.connect import connect
from vpnrunbook.cli import EXIT_FAILED
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import rundir
from vpnrunbook.runbook.runner import run_step

REPO = Path(__file__).resolve().parents[2]
SECRET = "Sup3rSecretRunKey4Reliability"
pytestmark = pytest.mark.slow


def _conn(name: str, ref: str) -> dict[str, str]:
    return {"resource_group": "TestRG1", "location": "EastUS", "connection_name": name, "connection_type": "IPsec",
            "gateway_name": "VNet1GW", "local_gateway_name": "Site6", "shared_key_ref": ref, "policy": "seed-s2s"}


def test_keys_never_reach_outputs_on_success_and_failure(seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("RELIABILITY_RUN_KEY", SECRET)
    session = connect(target="emulator")
    conns = session.network.virtual_network_gateway_connections

    ok = run_step("04", parameters=_conn("OkConn", "env:RELIABILITY_RUN_KEY"), apply=True)
    assert ok.outcome == "succeeded", ok.error
    assert conns.get_shared_key("TestRG1", "OkConn").value == SECRET

    # failure after the key was resolved and sent: the PUT is accepted, its deployment ends Failed
    EmulatorControl(session).add_lro_failure(path_regex=r"/connections/FailConn$")
    params = tmp_path / "fail.yaml"
    params.write_text("\n".join(f"{k}: {v}" for k, v in _conn("FailConn", "env:RELIABILITY_RUN_KEY").items()))
    cli = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "04", "-p", str(params), "--apply"],
                         capture_output=True, text=True, cwd=REPO, timeout=180)
    assert cli.returncode == EXIT_FAILED, cli.stdout + cli.stderr
    assert conns.get_shared_key("TestRG1", "FailConn").value == SECRET, "the key did reach the target"
    failed = rundir.list_runs(seeded["evidence"])[-1]
    m = rundir.load_manifest(seeded["evidence"], failed["run_id"])
    assert m["outcome"] == "failed" and m["error"]["type"] in ("HttpResponseError", "ProvisioningFailedError"), \
        m["error"]
    assert "FailConn" in m["error"]["message"]

    # a generated key: a 0600 file in the state dir, never in the evidence either
    gen = run_step("04", parameters=_conn("GenConn", "generate"), apply=True)
    assert gen.outcome == "succeeded", gen.error
    key_file = seeded["state"] / "secrets" / "TestRG1.GenConn.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (key_file.parent.stat().st_mode & 0o077) == 0, "the secrets folder is private too"
    generated = key_file.read_text().strip()
    assert conns.get_shared_key("TestRG1", "GenConn").value == generated

    # nowhere: every evidence file (notebooks, HTML, manifests, ledger), CLI stdout/stderr, error texts
    assert [e["outcome"] for e in rundir.list_runs(seeded["evidence"])] == ["succeeded", "failed", "succeeded"]
    for key in (SECRET, generated):
        assert files_containing(seeded["evidence"], key) == [], key[:3]
        assert key not in cli.stdout + cli.stderr
        for r in (ok, gen):
            assert key not in (r.error or "") and key not in repr(r.manifest)
        assert key not in repr(m)
    assert rundir.verify(seeded["evidence"]) == []


def test_key_files_are_0600_even_with_a_permissive_umask(seeded, tmp_path, monkeypatch):
    from vpnrunbook.azure.secrets import generate_shared_key, resolve_shared_key
    from vpnrunbook.device import write_swanctl_secret

    monkeypatch.setenv("RELIABILITY_RUN_KEY", SECRET)
    old = os.umask(0)
    try:
        ref = generate_shared_key("TestRG1.Umask")
        device_secret = write_swanctl_secret("env:RELIABILITY_RUN_KEY", tmp_path / "azure.secrets.conf")
    finally:
        os.umask(old)
    path = Path(ref.removeprefix("file:"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve_shared_key(ref) == path.read_text().strip()
    assert device_secret.stat().st_mode & 0o777 == 0o600
