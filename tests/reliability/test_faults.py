"""Injected 429/500/503 and dropped connections on reads, writes and long-running polls are retried and the work
completes — through the operations layer and through a notebook run; a run past its timeout exits with the
timeout code and a rerun attaches to the gateway creation instead of creating it twice."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import KEY_ENV, PLANTED_KEY
from vpnrunbook import operations as ops
from vpnrunbook.azure.connect import connect
from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import rundir
from vpnrunbook.policy import get_preset
from vpnrunbook.runbook.runner import run_step

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "parameters" / "seed"
POLL = r"/operations/"
# (status, method, path regex): every kind of fault on reads, writes and LRO polls, each firing once
FAULTS = [
    (429, "GET", r"/resourcegroups/TestRG1$"),
    (500, "GET", r"/virtualNetworks/TestVNet1$"),
    (503, "GET", r"/publicIPAddresses/VNet1GWIP$"),
    (0, "GET", r"/localNetworkGateways/Site6$"),
    (429, "PUT", r"/virtualNetworks/TestVNet1$"),
    (500, "PUT", r"/publicIPAddresses/VNet1GWIP$"),
    (503, "PUT", r"/virtualNetworkGateways/VNet1GW$"),
    (0, "PUT", r"/connections/VNet1toSite6$"),
    (500, "GET", POLL),
    (503, "GET", POLL),
    (0, "GET", POLL),
    (429, "GET", POLL),
]


def _inject(ctl: EmulatorControl, faults=FAULTS) -> None:
    for status, method, path in faults:
        ctl.add_fault(status=status, method=method, path_regex=path, count=1,
                      retry_after=1 if status == 429 else None)


def _gateway_creations(db: Path) -> int:
    """Gateway operations recorded so far; 0 while the run's kernel has created the file but not yet its tables."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM operations WHERE resource_key LIKE '%/virtualnetworkgateways/%'"
                           ).fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0
    finally:
        con.close()


def test_operations_layer_retries_every_fault_and_completes(monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0002")  # a gateway takes ~0.5 s: several polls
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    s = connect(target="emulator", polling_interval=0.05)
    s.transport.fast_sleep = True  # retry back-off recorded, not slept
    ctl = EmulatorControl(s)
    _inject(ctl)
    ops.ensure_resource_group(s, name="TestRG1", location="EastUS", apply=True)
    ops.ensure_virtual_network(s, resource_group="TestRG1", name="TestVNet1", location="EastUS",
                               address_space=["10.1.0.0/16"], subnets={"GatewaySubnet": "10.1.255.0/27"}, apply=True)
    ops.ensure_public_ip(s, resource_group="TestRG1", name="VNet1GWIP", location="EastUS", apply=True)
    gw = ops.begin_create_vpn_gateway(s, resource_group="TestRG1", name="VNet1GW", location="EastUS",
                                      vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ", apply=True,
                                      progress=False).result(timeout=60)
    assert gw.details["provisioning_state"] == "Succeeded"
    ops.ensure_local_network_gateway(s, resource_group="TestRG1", name="Site6", location="EastUS",
                                     gateway_ip_address="131.107.72.22", address_prefixes=["10.61.0.0/16"], apply=True)
    ops.ensure_local_network_gateway(s, resource_group="TestRG1", name="Site6", location="EastUS",
                                     gateway_ip_address="131.107.72.22", address_prefixes=["10.61.0.0/16"], apply=True)
    conn = ops.ensure_connection(s, resource_group="TestRG1", name="VNet1toSite6", location="EastUS",
                                 connection_type="IPsec", gateway_name="VNet1GW", local_gateway_name="Site6",
                                 shared_key_ref=f"env:{KEY_ENV}", policy="seed-s2s", apply=True)
    assert conn.applied
    assert ctl.faults() == [], "every injected fault fired"
    seen = {(m, st) for m, _p, st in s.transport.requests}
    assert {("GET", 429), ("GET", 500), ("GET", 503), ("GET", 0), ("PUT", 429), ("PUT", 500), ("PUT", 503),
            ("PUT", 0)} <= seen
    view = ops.show_policy(s, resource_group="TestRG1", connection_name="VNet1toSite6")
    assert view.policy == get_preset("seed-s2s")
    assert s.network.virtual_network_gateway_connections.get_shared_key("TestRG1", "VNet1toSite6").value == PLANTED_KEY
    assert [g.name for g in s.network.virtual_network_gateways.list("TestRG1")] == ["VNet1GW"]
    assert _gateway_creations(s.transport.app.store.path) == 1, "the retried gateway PUT created it once"


@pytest.mark.slow
def test_notebook_run_retries_faults_and_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")  # ~1.4 s gateway
    ctl = EmulatorControl(connect(target="emulator"))
    _inject(ctl, [f for f in FAULTS if "Site6" not in f[2] and "connections" not in f[2]])
    r = run_step("01", params_file=SEED / "01_vnet1_gateway.yaml", apply=True)
    assert (r.outcome, r.exit_code) == ("succeeded", EXIT_OK), r.error
    assert ctl.faults() == [], "every injected fault fired inside the kernel's run"
    gw = next(c for c in r.manifest["records"] if "gateway" in c["step"].lower())
    assert gw["details"]["provisioning_state"] == "Succeeded" and gw["details"]["started"] is True
    assert _gateway_creations(Path(os.environ["VPNRUNBOOK_DB"])) == 1
    assert rundir.verify(tmp_path / "ev") == []


@pytest.mark.slow
def test_cli_run_past_its_timeout_then_rerun_attaches(tmp_path):
    """`vpnrunbook run --timeout` kills a run waiting for its gateway: exit EXIT_TIMEOUT, recorded timed_out; the
    same command again attaches to the creation in progress and finishes — one gateway, one creation."""
    env = {**os.environ, "VPNRUNBOOK_EVIDENCE_DIR": str(tmp_path / "ev"),
           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": str(14 / 2700)}  # a gateway takes ~14 s
    cmd = [sys.executable, "-m", "vpnrunbook", "run", "01", "-p", str(SEED / "01_vnet1_gateway.yaml"), "--apply"]
    first = subprocess.run([*cmd, "--timeout", "6"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert first.returncode == EXIT_TIMEOUT, first.stdout + first.stderr
    (run,) = rundir.list_runs(tmp_path / "ev")
    m = rundir.load_manifest(tmp_path / "ev", run["run_id"])
    assert (m["outcome"], m["exit_code"], m["error"]["type"]) == ("timed_out", EXIT_TIMEOUT, "RunTimeout")
    db = Path(env["VPNRUNBOOK_DB"])
    assert _gateway_creations(db) == 1, "the killed run had started the creation"
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=180)
    assert second.returncode == EXIT_OK, second.stdout + second.stderr
    runs = rundir.list_runs(tmp_path / "ev")
    assert [e["outcome"] for e in runs] == ["timed_out", "succeeded"]
    m2 = rundir.load_manifest(tmp_path / "ev", runs[1]["run_id"])
    gw = next(c for c in m2["records"] if "gateway" in c["step"].lower())
    assert gw["details"]["attached"] is True and gw["details"]["started"] is False
    assert _gateway_creations(db) == 1, "no second creation"
    assert rundir.verify(tmp_path / "ev") == []


def test_a_write_whose_response_was_lost_is_not_reported_as_a_conflict(monkeypatch):
    """The connection drops after ARM processed the PUT; the SDK retries the conditional PUT and meets 412 from the
    ETag its own first attempt changed. That is this run's write, not someone else's: the step completes."""
    from azure.core.exceptions import ServiceResponseError

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    s = connect(target="emulator", polling_interval=0)
    s.transport.fast_sleep = True
    real_send = s.transport.send
    lose = {"path": None}

    def send(request, **kw):
        response = real_send(request, **kw)
        if request.method == "PUT" and lose["path"] and request.url.split("?")[0].endswith(lose["path"]):
            lose["path"] = None
            raise ServiceResponseError("connection reset after ARM processed the request (response lost)")
        return response

    monkeypatch.setattr(s.transport, "send", send)
    ops.ensure_resource_group(s, name="TestRG1", location="EastUS", apply=True)
    lose["path"] = "/publicIPAddresses/VNet1GWIP"  # a create (If-None-Match: *)
    assert ops.ensure_public_ip(s, resource_group="TestRG1", name="VNet1GWIP", location="EastUS", apply=True).applied
    ops.ensure_local_network_gateway(s, resource_group="TestRG1", name="Site6", location="EastUS",
                                     gateway_ip_address="131.107.72.22", address_prefixes=["10.61.0.0/16"], apply=True)
    lose["path"] = "/localNetworkGateways/Site6"  # an update (If-Match)
    r = ops.ensure_local_network_gateway(s, resource_group="TestRG1", name="Site6", location="EastUS",
                                         gateway_ip_address="131.107.72.22", address_prefixes=["10.62.0.0/16"],
                                         apply=True)
    assert r.applied and lose["path"] is None, "the response was lost once"
    puts = [st for m, p, st in s.transport.requests if m == "PUT" and p.endswith("/localNetworkGateways/Site6")]
    assert puts[-2:] == [200, 412], puts
    lgw = s.network.local_network_gateways.get("TestRG1", "Site6")
    assert lgw.local_network_address_space.address_prefixes == ["10.62.0.0/16"]
    again = ops.ensure_local_network_gateway(s, resource_group="TestRG1", name="Site6", location="EastUS",
                                             gateway_ip_address="131.107.72.22", address_prefixes=["10.62.0.0/16"])
    assert again.plan.empty
    # a long-running create (the gateway waits for its provisioning) and a connection create, then an update
    ctl = EmulatorControl(s)
    ctl.set_time_factor(0.0002)
    ops.ensure_virtual_network(s, resource_group="TestRG1", name="TestVNet1", location="EastUS",
                               address_space=["10.1.0.0/16"], subnets={"GatewaySubnet": "10.1.255.0/27"}, apply=True)
    lose["path"] = "/virtualNetworkGateways/VNet1GW"
    gw = ops.begin_create_vpn_gateway(s, resource_group="TestRG1", name="VNet1GW", location="EastUS",
                                      vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ", apply=True,
                                      progress=False).result(timeout=60)
    assert gw.details["provisioning_state"] == "Succeeded" and lose["path"] is None
    assert _gateway_creations(s.transport.app.store.path) == 1
    lose["path"] = "/connections/VNet1toSite6"
    conn = ops.ensure_connection(s, resource_group="TestRG1", name="VNet1toSite6", location="EastUS",
                                 connection_type="IPsec", gateway_name="VNet1GW", local_gateway_name="Site6",
                                 shared_key_ref=f"env:{KEY_ENV}", policy="seed-s2s", apply=True)
    assert conn.applied and lose["path"] is None
    lose["path"] = "/connections/VNet1toSite6"
    upd = ops.update_connection(s, resource_group="TestRG1", connection_name="VNet1toSite6", policy="seed-update",
                                apply=True)
    assert upd.applied and lose["path"] is None
    view = ops.show_policy(s, resource_group="TestRG1", connection_name="VNet1toSite6")
    assert view.policy == get_preset("seed-update")
    assert s.network.virtual_network_gateway_connections.get_shared_key("TestRG1", "VNet1toSite6").value == PLANTED_KEY


def _kernel_of(pid: int) -> int | None:
    """The ipykernel process started by the runner process ``pid`` (found through /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"ipykernel_launcher" in cmd:
            return int(proc.name)
    return None


@pytest.mark.slow
def test_kernel_killed_during_gateway_creation_then_rerun_attaches(tmp_path):
    """SIGKILL of the kernel itself (not the runner's timeout) while the gateway is being created: the run is
    recorded failed (DeadKernelError, exit 1); the same command again attaches and finishes — one creation."""
    import signal

    env = {**os.environ, "VPNRUNBOOK_EVIDENCE_DIR": str(tmp_path / "ev"),
           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": str(8 / 2700)}  # a gateway takes ~8 s
    db = Path(env["VPNRUNBOOK_DB"])
    cmd = [sys.executable, "-m", "vpnrunbook", "run", "01", "-p", str(SEED / "01_vnet1_gateway.yaml"), "--apply"]
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (db.exists() and _gateway_creations(db) == 1):
            time.sleep(0.1)
        assert _gateway_creations(db) == 1, "the gateway creation never started"
        kernel = _kernel_of(runner.pid)
        assert kernel is not None, "no kernel process under the runner"
        os.kill(kernel, signal.SIGKILL)
        out, err = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == EXIT_FAILED, out + err
    (run,) = rundir.list_runs(tmp_path / "ev")
    m = rundir.load_manifest(tmp_path / "ev", run["run_id"])
    assert m["outcome"] == "failed" and m["error"]["type"] == "DeadKernelError", m["error"]
    assert "can simply be run again" in m["error"]["message"] and "can simply be run again" in err  # issue 15.6
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=180)
    assert second.returncode == EXIT_OK, second.stdout + second.stderr
    runs = rundir.list_runs(tmp_path / "ev")
    gw = next(c for c in rundir.load_manifest(tmp_path / "ev", runs[1]["run_id"])["records"]
              if "gateway" in c["step"].lower())
    assert gw["details"]["attached"] is True and gw["details"]["started"] is False
    assert gw["details"]["provisioning_state"] == "Succeeded"
    assert _gateway_creations(db) == 1, "no second creation"
    # killed between the gateway PUT and its outcome record, the first run's intent is incomplete until reconciled
    from vpnrunbook.evidence.reconcile import reconcile
    from vpnrunbook.operations.arm import read_resource

    found = rundir.verify(tmp_path / "ev")
    assert all("incomplete" in f.problem and run["run_id"] in f.where for f in found), found
    report = reconcile(tmp_path / "ev", read=read_resource)
    assert [e["conclusion"] for e in report.reconciled] == (["applied"] if found else [])
    assert rundir.verify(tmp_path / "ev") == []


@pytest.mark.slow
def test_notebook_run_over_https_survives_real_dropped_connections(tmp_path, monkeypatch):
    """The same through `emulator serve`: drops are real TCP shutdowns, 429/503 real HTTP answers."""
    from vpnrunbook.emulator import server

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    running = server.start_in_thread(directory=tmp_path / "serve", db_path=os.environ["VPNRUNBOOK_DB"])
    app, served = running.httpd.get_app(), []

    def counting(environ, start_response):
        served.append(environ["REQUEST_METHOD"])
        return app(environ, start_response)

    running.httpd.set_app(counting)
    try:
        monkeypatch.setenv("VPNRUNBOOK_EMULATOR_URL", running.url)
        monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TOKEN", running.token)
        monkeypatch.setenv("VPNRUNBOOK_EMULATOR_CA", str(running.ca))
        ctl = EmulatorControl(connect(target="emulator"))
        _inject(ctl, [(0, "GET", r"/resourcegroups/TestRG1$"), (0, "PUT", r"/virtualNetworks/TestVNet1$"),
                      (0, "GET", POLL), (503, "PUT", r"/virtualNetworkGateways/VNet1GW$"), (429, "GET", POLL)])
        r = run_step("01", params_file=SEED / "01_vnet1_gateway.yaml", apply=True)
        assert (r.outcome, r.exit_code) == ("succeeded", EXIT_OK), r.error
        assert ctl.faults() == []
        assert served.count("PUT") >= 5, "the kernel talked HTTPS to the server"
    finally:
        running.stop()
    assert _gateway_creations(Path(os.environ["VPNRUNBOOK_DB"])) == 1
