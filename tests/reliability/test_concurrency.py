"""Concurrent operators: two runs updating one connection (exactly one applies, the other names the conflict, no
update lost); two papermill kernels writing to the emulator's SQLite store at once (no corruption, no lost write)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from vpnrunbook import operations as ops
from vpnrunbook.azure.connect import connect
from vpnrunbook.cli import EXIT_FAILED, EXIT_OK
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import rundir
from vpnrunbook.policy import get_preset
from vpnrunbook.runbook.runner import run_step

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "parameters" / "seed"
pytestmark = pytest.mark.slow


def test_two_runs_update_the_same_connection(seeded):
    """Operator A's write is throttled (429, Retry-After 12 s) after A planned and re-read the connection; operator
    B updates the connection meanwhile. A's retried PUT carries the ETag A planned against: 412, A fails naming
    the conflict, B's update stays (no lost update)."""
    ctl = EmulatorControl(connect(target="emulator"))
    ctl.add_fault(status=429, method="PUT", path_regex=r"/connections/VNet1toSite6$", retry_after=12, count=1)
    a = subprocess.Popen([sys.executable, "-m", "vpnrunbook", "run", "05", "-p",
                          str(SEED / "05_update_vnet1_to_site6.yaml"), "--apply"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.time() + 60
        while ctl.faults() and time.time() < deadline:  # A's PUT met the 429: A planned, A waits
            time.sleep(0.1)
        assert not ctl.faults(), "operator A never reached its write"
        b = run_step("05", parameters={"policy": None, "dpd_timeout_seconds": 20,
                                       "use_policy_based_traffic_selectors": None}, apply=True)
        out, err = a.communicate(timeout=120)
    finally:
        a.kill()
    runs = {e["run_id"]: rundir.load_manifest(seeded["evidence"], e["run_id"])
            for e in rundir.list_runs(seeded["evidence"])}
    (ma,) = [m for rid, m in runs.items() if rid != b.run_id]
    # B normally writes inside A's 12 s back-off and wins; on a very slow machine A's retry may land first and B
    # meets the conflict instead. Either way: exactly one applies, the other names the conflict.
    assert sorted([ma["outcome"], b.outcome]) == ["failed", "succeeded"], (ma["error"], b.error)
    a_won = ma["outcome"] == "succeeded"
    assert a.returncode == (EXIT_OK if a_won else EXIT_FAILED), out + err
    assert b.exit_code == (EXIT_FAILED if a_won else EXIT_OK), b.error
    winner, loser = (ma, b.manifest) if a_won else (b.manifest, ma)
    assert loser["error"]["type"] == "ConcurrentChangeError"
    assert "TestRG1/connections/VNet1toSite6" in loser["error"]["message"] and "412" in loser["error"]["message"]
    if not a_won:
        assert "ConcurrentChangeError" in err and "VNet1toSite6" in err
    assert not any(r.get("applied") for r in loser["records"]), "the loser applied nothing"
    assert any(r.get("applied") for r in winner["records"]), "the winner applied"
    view = ops.show_policy(connect(target="emulator"), resource_group="TestRG1", connection_name="VNet1toSite6")
    if a_won:  # the seed update file: seed-update policy, DPD 30 s, policy-based traffic selectors on
        assert (view.policy, view.dpd_timeout_seconds, view.use_policy_based_traffic_selectors) == (
            get_preset("seed-update"), 30, True), "A's update was lost"
    else:
        assert view.dpd_timeout_seconds == 20, "B's update was lost"
        assert view.policy == get_preset("seed-s2s") and view.use_policy_based_traffic_selectors is False, \
            "A's update landed over B's"
    assert rundir.verify(seeded["evidence"]) == []


WRITER_CELLS = [
    "tag: str = 'a'\nn: int = 1",
    "from azure.core.exceptions import HttpResponseError\n"
    "from vpnrunbook.azure.connect import connect\n"
    "from vpnrunbook.runbook import record\n"
    "lg = connect(polling_interval=0).network.local_network_gateways\n"
    "def body(tags=None):\n"
    "    return {'location': 'eastus', 'tags': tags or {}, 'properties': {'gatewayIpAddress': '131.107.72.22',\n"
    "            'localNetworkAddressSpace': {'addressPrefixes': ['10.61.0.0/16']}}}\n"
    "conflicts = 0\n"
    "for i in range(n):\n"
    "    lg.begin_create_or_update('Shared', f'{tag}{i}', body()).result()\n"
    "    while True:  # read-modify-write of one shared counter, guarded by its ETag\n"
    "        cur = lg.get('Shared', 'Counter')\n"
    "        count = int(cur.tags['count']) + 1\n"
    "        try:\n"
    "            lg.begin_create_or_update('Shared', 'Counter', body({'count': str(count)}),\n"
    "                                      headers={'If-Match': cur.etag}).result()\n"
    "            break\n"
    "        except HttpResponseError as exc:\n"
    "            if exc.status_code != 412:\n"
    "                raise\n"
    "            conflicts += 1\n"
    "record({'tag': tag, 'conflicts': conflicts}, name='writer')\n"
    "print('conflicts', conflicts)",
]
RUN = ("import sys\nfrom vpnrunbook.runbook.runner import execute\n"
       "r = execute(sys.argv[1], step='writer', parameters={'tag': sys.argv[2], 'n': int(sys.argv[3])}, apply=None)\n"
       "print(r.outcome, r.error)\nsys.exit(r.exit_code)")


def test_two_kernels_write_the_store_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    s = connect(target="emulator", polling_interval=0)
    s.resources.resource_groups.create_or_update("Shared", {"location": "eastus"})
    lg = s.network.local_network_gateways
    lg.begin_create_or_update("Shared", "Counter", {"location": "eastus", "tags": {"count": "0"}, "properties": {
        "gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}).result()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in WRITER_CELLS])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "writer.ipynb"
    nbformat.write(nb, str(path))
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", RUN, str(path), tag, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO) for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == EXIT_OK, out + err
    names = sorted(x.name for x in lg.list("Shared"))
    assert names == sorted([f"a{i}" for i in range(n)] + [f"b{i}" for i in range(n)] + ["Counter"])
    assert lg.get("Shared", "Counter").tags["count"] == str(2 * n), "an increment was lost"
    con = sqlite3.connect(os.environ["VPNRUNBOOK_DB"])
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    runs = rundir.list_runs(tmp_path / "ev")
    assert sorted(e["outcome"] for e in runs) == ["succeeded", "succeeded"]
    conflicts = [rundir.load_manifest(tmp_path / "ev", e["run_id"])["records"][0]["conflicts"] for e in runs]
    print("ETag conflicts retried by the two kernels:", conflicts)
    assert rundir.verify(tmp_path / "ev") == []


def test_identical_changes_from_two_operators_still_conflict(seeded, monkeypatch):
    """Someone else lands the very change this plan holds between our re-read and our PUT: ARM's 412 on the first
    attempt is still their write, not ours — refused, not reported as applied by us."""
    from vpnrunbook.operations import ConcurrentChangeError
    from vpnrunbook.operations import apply as apply_mod

    session = connect(target="emulator", polling_interval=0)
    plan = ops.plan_connection_update(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                      policy="seed-update")
    real_verify = apply_mod.verify_unchanged

    def verify_then_race(sess, p):
        current = real_verify(sess, p)
        if p is plan:
            ops.update_connection(sess, resource_group="TestRG1", connection_name="VNet1toSite6",
                                  policy="seed-update", apply=True)
        return current

    monkeypatch.setattr(apply_mod, "verify_unchanged", verify_then_race)
    with pytest.raises(ConcurrentChangeError, match="412"):
        ops.apply_plan(session, plan)


KILLED_WRITER = """
import sys
from vpnrunbook.azure.connect import connect
lg = connect(polling_interval=0).network.local_network_gateways
for i in range(100000):
    lg.begin_create_or_update("Shared", f"k{i}", {"location": "eastus", "properties": {
        "gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}).result()
    print(i, flush=True)
"""


def test_writer_killed_mid_write_leaves_a_sound_store(monkeypatch):
    """SIGKILL a process in the middle of a stream of writes: the store passes integrity_check and holds every
    write the process saw acknowledged; another process keeps working on it."""
    import signal

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    s = connect(target="emulator", polling_interval=0)
    s.resources.resource_groups.create_or_update("Shared", {"location": "eastus"})
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    acknowledged = -1
    try:
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 60:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert acknowledged >= 60, proc.stderr.read()
    con = sqlite3.connect(os.environ["VPNRUNBOOK_DB"])
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    names = {x.name for x in s.network.local_network_gateways.list("Shared")}
    assert {f"k{i}" for i in range(acknowledged + 1)} <= names, "an acknowledged write was lost"
    s.network.local_network_gateways.begin_create_or_update("Shared", "after", {"location": "eastus", "properties": {
        "gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}).result()
