"""``emulator serve``: the same app over HTTPS on 127.0.0.1, bearer token required."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, ServiceResponseError

from tests.emulator import seed
from vpnrunbook.azure.connect import StaticTokenCredential, connect
from vpnrunbook.emulator import server
from vpnrunbook.emulator.control import EmulatorControl

REPO = Path(__file__).resolve().parents[2]



def test_https_with_token_runs_an_lro(served, tmp_path, monkeypatch):
    assert served.url.startswith("https://127.0.0.1:")
    assert (tmp_path / server.TOKEN_NAME).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / server.KEY_NAME).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path))  # token and CA are found in the state dir
    s = connect(emulator_url=served.url, polling_interval=0.01)
    assert s.transport is None and s.base_url == served.url
    vnet = seed.network(s, "RG", "VNet", "eastus", ["10.5.0.0/16"], {"GatewaySubnet": "10.5.255.0/27"})
    assert vnet.provisioning_state == "Succeeded"
    # Operation URLs point back at the server, not at management.azure.com.
    r = requests.put(f"{served.url}/subscriptions/{s.subscription_id}/resourceGroups/RG/providers/Microsoft.Network/"
                     "publicIPAddresses/p?api-version=2026-03-01", json={"location": "eastus"}, verify=str(served.ca),
                     headers={"Authorization": f"Bearer {served.token}"}, timeout=10)
    assert r.status_code == 201 and r.headers["Azure-AsyncOperation"].startswith(served.url + "/")


def test_requests_without_the_token_get_401(served, tmp_path):
    url = f"{served.url}/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups?api-version=2025-04-01"
    r = requests.get(url, verify=str(served.ca), timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    r = requests.get(url, verify=str(served.ca), headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
    r = requests.post(f"{served.url}/_emulator/reset", verify=str(served.ca), timeout=10)
    assert r.status_code == 401  # the control API too
    from azure.mgmt.resource.resources import ResourceManagementClient

    client = ResourceManagementClient(StaticTokenCredential("wrong"), "00000000-0000-0000-0000-000000000000",
                                      base_url=served.url, connection_verify=str(served.ca))
    with pytest.raises(ClientAuthenticationError) as info:
        client.resource_groups.get("RG", retry_total=0)
    assert info.value.error.code == "AuthenticationFailed"


def test_dropped_connection_over_https(served, tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TOKEN", served.token)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_CA", str(served.ca))
    s = connect(emulator_url=served.url)
    EmulatorControl(s).add_fault(status=0, method="GET", path_regex="resourcegroups/RG$", count=1)
    with pytest.raises(ServiceResponseError):
        s.resources.resource_groups.get("RG", retry_total=0)


@pytest.mark.slow
def test_cli_serve_prints_its_url_and_serves(tmp_path):
    env = {**os.environ, "VPNRUNBOOK_STATE_DIR": str(tmp_path), "VPNRUNBOOK_DB": str(tmp_path / "e.sqlite3")}
    # SIGINT as a terminal sends it: a pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored in
    # the child (Python then installs no KeyboardInterrupt handler), so serve never stopped under `make test`
    proc = subprocess.Popen([sys.executable, "-m", "vpnrunbook", "emulator", "serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stdout.readline()
        assert line.startswith("emulator serving on https://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[-1]
        token = (tmp_path / server.TOKEN_NAME).read_text().strip()
        r = requests.get(f"{url}/_emulator/status", verify=str(tmp_path / server.CERT_NAME),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and r.json()["database"].endswith("e.sqlite3")
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()  # never left running when the wait fails
    assert proc.returncode == 0
