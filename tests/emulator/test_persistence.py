"""State lives in SQLite: another process sees the same resources and the same progress of an operation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.emulator import seed
from vpnrunbook.azure.connect import connect
from vpnrunbook.emulator.control import EmulatorControl

REPO = Path(__file__).resolve().parents[2]

WATCH = textwrap.dedent("""
    import json, sys, time
    from vpnrunbook.azure.connect import connect
    from azure.core.exceptions import ResourceNotFoundError
    s = connect(polling_interval=0)
    n = s.network
    seen = []
    print("ready", flush=True)  # imported and connected: the parent starts the creation only now
    t0 = time.time()
    while time.time() - t0 < 60:
        try:
            state = n.virtual_network_gateways.get("RG", "GW").provisioning_state
        except ResourceNotFoundError:
            time.sleep(0.02)
            continue
        if not seen or seen[-1][0] != state:
            seen.append((state, time.time()))
        if state == "Succeeded":
            break
        time.sleep(0.02)
    s.resources.resource_groups.create_or_update("FromChild", {"location": "westus"})
    print(json.dumps({"seen": seen, "vnets": [v.name for v in n.virtual_networks.list_all()]}))
""")

WRITER = textwrap.dedent("""
    import sys
    from vpnrunbook.azure.connect import connect
    s = connect(polling_interval=0)
    tag = sys.argv[1]
    for i in range(10):
        s.network.local_network_gateways.begin_create_or_update("Shared", f"{tag}{i}", {"location": "eastus",
            "properties": {"gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {
                "addressPrefixes": ["10.61.0.0/16"]}}}).result()
    print("ok")
""")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_another_process_sees_the_same_progress(monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    s = connect(polling_interval=0.05)
    body_vnet = seed.network(s, "RG", "VNet", "eastus", ["10.5.0.0/16"], {"GatewaySubnet": "10.5.255.0/27"})
    pip = seed.public_ip(s, "RG", "pip", "eastus")
    EmulatorControl(s).set_time_factor(0.001)  # 45 min → 2.7 s, for every process using this database
    # the child is started (interpreter, imports: seconds on a loaded machine) before the creation, not during it
    child = subprocess.Popen([sys.executable, "-c", WATCH], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_env())
    assert child.stdout.readline().strip() == "ready", child.stderr.read()
    poller = s.network.virtual_network_gateways.begin_create_or_update(
        "RG", "GW", seed.gateway_body("eastus", seed.gateway_subnet_id(body_vnet), pip.id))
    gw = poller.result()
    done_here = time.time()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])  # (the "ready" line was read above)
    states = [state for state, _t in report["seen"]]
    assert states == ["Updating", "Succeeded"], states  # the child saw the creation in progress, then done
    assert gw.provisioning_state == "Succeeded"
    # Both processes agree on when it finished (the child polls every 20 ms; this process every 50 ms).
    assert abs(report["seen"][-1][1] - done_here) < 1.0
    assert report["vnets"] == ["VNet"]
    assert s.resources.resource_groups.get("FromChild").location == "westus"  # and this one sees the child's write


@pytest.mark.slow
def test_two_processes_write_at_once(monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    s = connect(polling_interval=0)
    s.resources.resource_groups.create_or_update("Shared", {"location": "eastus"})
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, tag], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env()) for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err
    names = sorted(x.name for x in s.network.local_network_gateways.list("Shared"))
    assert names == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)])
