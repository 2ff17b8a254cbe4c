"""Every runbook notebook executed headless through papermill against the emulator: the seed workflow end to end
(as `make demo` runs it), its evidence, a planted shared key, plan-only runs and refused runs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import PLANTED_KEY, files_containing
from vpnrunbook.cli import EXIT_OK, EXIT_USAGE
from vpnrunbook.evidence import rundir
from vpnrunbook.runbook.demo import RUNS, run_demo
from vpnrunbook.runbook.runner import run_step
from vpnrunbook.runbook.steps import STEPS

pytestmark = pytest.mark.slow
SEED = REPO / "parameters" / "seed"


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """The whole seed sequence once, with a planted shared key, into its own state and evidence folders."""
    base = tmp_path_factory.mktemp("seed")
    env = {"VPNRUNBOOK_STATE_DIR": str(base / "state"), "VPNRUNBOOK_DB": str(base / "state" / "emulator.sqlite3"),
           "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"), "VPNRUNBOOK_SEED_KEY": PLANTED_KEY}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("VPNRUNBOOK_TARGET", raising=False)
        out = io.StringIO()
        # a run slot for each of the first six runs: whether the policy files start while the gateways build then
        # depends on the graph alone, not on which run a loaded machine let finish first (cores + 2 = 4 slots)
        code = run_demo(out=out, max_parallel=6)
    runs = rundir.list_runs(base / "evidence")
    manifests = {e["run_id"]: rundir.load_manifest(base / "evidence", e["run_id"]) for e in runs}
    return {"code": code, "out": out.getvalue(), "root": base / "evidence", "runs": runs, "manifests": manifests,
            "env": env}


@pytest.fixture
def seed_env(seed_run, monkeypatch):
    for k, v in seed_run["env"].items():
        monkeypatch.setenv(k, v)
    return seed_run


def _by_file(seed_run, fname):
    for m in seed_run["manifests"].values():
        if m["parameters_file"] and Path(m["parameters_file"]["path"]).name == fname:
            return m
    raise AssertionError(f"no run for {fname}")


def _conn_after(m, name):
    for c in m["changes"]:
        for rid, snap in (c.get("after") or {}).items():
            if rid.endswith(f"/connections/{name}"):
                return snap
    raise AssertionError(f"{name} not in the run's after-snapshots")


def test_seed_workflow_succeeds_with_one_evidence_folder_per_run(seed_run):
    assert seed_run["code"] == EXIT_OK, seed_run["out"]
    expected = [r.params for r in RUNS]
    assert len(seed_run["runs"]) == len(expected)
    assert {e["step"] for e in seed_run["runs"]} == set(STEPS), "every notebook ran"
    for e in seed_run["runs"]:
        run_dir = seed_run["root"] / e["run_id"]
        assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "notebook.html", "notebook.ipynb"]
        assert e["outcome"] == "succeeded"
    assert rundir.verify(seed_run["root"]) == []
    assert "summary:" in seed_run["out"] and f"evidence: {seed_run['root']}" in seed_run["out"]


def test_the_demos_own_ledger_crosschecks_clean(seed_env, capsys):
    """Every change the demo recorded is a write the emulator's Activity Log holds with its request ids, nothing
    else wrote to its resources, and every live ETag is the last recorded one (issue 23)."""
    from vpnrunbook.cli import main

    capsys.readouterr()
    code = main(["evidence", "crosscheck", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK, report
    assert report["findings"] == [] and report["confirmed"] >= 8 and len(report["queries"]) == 1


def test_planted_key_is_nowhere_in_the_evidence(seed_run):
    assert files_containing(seed_run["root"], PLANTED_KEY) == []
    assert PLANTED_KEY not in seed_run["out"]
    m = _by_file(seed_run, "04_vnet1_to_site6.yaml")
    nb = nbformat.read(str(seed_run["root"] / m["run_id"] / "notebook.ipynb"), as_version=4)
    assert nb.metadata["papermill"]["parameters"]["shared_key_ref"] == "env:VPNRUNBOOK_SEED_KEY"


def test_the_two_gateways_were_created_concurrently(seed_run):
    gws = [m for m in seed_run["manifests"].values() if m["step"] == "01_create_vnet_gateway"]
    assert len(gws) == 2
    a, b = sorted(gws, key=lambda m: m["started"])
    assert b["started"] < a["ended"], "the second gateway run started before the first one ended"
    for m in gws:
        gw = next(c for c in m["changes"] if "gateway" in c["step"].lower())
        (snap,) = gw["after"].values()
        assert snap["properties"]["provisioningState"] == "Succeeded"
    vnet2 = _by_file(seed_run, "01_vnet2_gateway.yaml")
    gw2 = next(c for c in vnet2["changes"] if "gateway" in c["step"].lower())
    (snap,) = gw2["after"].values()
    assert snap["properties"]["sku"]["name"] == "VpnGw2AZ" and snap["properties"]["vpnGatewayGeneration"] == "Generation2"


def test_local_gateway_and_policies_ran_while_the_gateways_built(seed_run):
    gateways_end = min(_by_file(seed_run, f)["ended"] for f in ("01_vnet1_gateway.yaml", "01_vnet2_gateway.yaml"))
    for f in ("02_site6.yaml", "03_policy_seed_s2s.yaml", "03_policy_seed_vnet2vnet.yaml"):
        assert _by_file(seed_run, f)["started"] < gateways_end, f"{f} started before the gateway runs ended"
    s2s = _by_file(seed_run, "04_vnet1_to_site6.yaml")
    assert s2s["started"] >= max(_by_file(seed_run, f)["ended"] for f in ("01_vnet1_gateway.yaml", "02_site6.yaml",
                                                                        "03_policy_seed_s2s.yaml"))


def test_seed_connections_and_policies(seed_run):
    s2s = _conn_after(_by_file(seed_run, "04_vnet1_to_site6.yaml"), "VNet1toSite6")
    assert s2s["properties"]["ipsecPolicies"][0]["dhGroup"] == "DHGroup24"
    v2v = _by_file(seed_run, "04_vnet1_to_vnet2.yaml")
    for name in ("VNet1toVNet2", "VNet2toVNet1"):
        pol = _conn_after(v2v, name)["properties"]["ipsecPolicies"][0]
        assert (pol["ipsecEncryption"], pol["pfsGroup"]) == ("GCMAES128", "PFS24")


def test_update_then_remove(seed_run):
    upd = _by_file(seed_run, "05_update_vnet1_to_site6.yaml")
    assert upd["apply"] is True
    props = _conn_after(upd, "VNet1toSite6")["properties"]
    pol = props["ipsecPolicies"][0]
    assert (pol["ikeEncryption"], pol["ikeIntegrity"], pol["dhGroup"]) == ("AES128", "SHA1", "DHGroup14")
    assert (pol["ipsecEncryption"], pol["ipsecIntegrity"], pol["pfsGroup"]) == ("AES256", "SHA256", "None")
    assert props["dpdTimeoutSeconds"] == 30 and props["usePolicyBasedTrafficSelectors"] is True
    before = next(iter(upd["changes"][0]["before"].values()))["properties"]
    assert before["ipsecPolicies"][0]["ikeEncryption"] == "AES256"
    rem = _conn_after(_by_file(seed_run, "06_remove_vnet1_to_site6.yaml"), "VNet1toSite6")
    assert rem["properties"].get("ipsecPolicies") in ([], None)


def test_overview_lists_all_three_connections(seed_run):
    ov = _by_file(seed_run, "07_overview.yaml")
    names = {r["connection"] for r in ov["records"][0]["connections"]}
    assert names == {"VNet1toSite6", "VNet1toVNet2", "VNet2toVNet1"}
    html = (seed_run["root"] / ov["run_id"] / "notebook.html").read_text()
    assert "image/svg+xml" in html and "VNet1toSite6" in html


def test_overview_shows_the_crosscheck_of_the_demo_ledger(seed_run):
    """07's crosscheck cell (issue 23.3): the demo's own ledger, with the applies of 03-06, crosschecks clean."""
    ov = _by_file(seed_run, "07_overview.yaml")
    (xc,) = [r for r in ov["records"] if r["name"] == "crosscheck"]
    assert (xc["verdict"], xc["exit_code"]) == ("consistent", 0)
    rows = {r["crosscheck"]: r["result"] for r in xc["rows"]}
    assert rows["confirmed by Azure"] != "0 recorded write(s)" and "change(s)" in rows["ledger"]
    html = (seed_run["root"] / ov["run_id"] / "notebook.html").read_text()
    assert "Crosscheck with Azure&#x27;s Activity Log" in html or "Crosscheck with Azure's Activity Log" in html
    assert "consistent" in html and "confirmed by Azure" in html


def test_show_step_in_the_seed_run(seed_run):
    """08 shows the VNet-to-VNet connection's seed policy with both directions of the pair, read-only."""
    m = _by_file(seed_run, "08_show_vnet1_to_vnet2.yaml")
    assert m["started"] >= _by_file(seed_run, "04_vnet1_to_vnet2.yaml")["ended"]
    (pol,) = [r for r in m["records"] if r["name"] == "policy"]
    assert pol["connection"] == "TestRG1/connections/VNet1toVNet2"
    assert (pol["policy"]["ipsecEncryption"], pol["policy"]["pfsGroup"]) == ("GCMAES128", "PFS24")
    (ver,) = [r for r in m["records"] if r["name"] == "verify"]
    assert (ver["peer"], ver["peer_status"]) == ("TestRG2/connections/VNet2toVNet1", "Connected")
    html = (seed_run["root"] / m["run_id"] / "notebook.html").read_text()
    assert "GCMAES128" in html and "both directions of the VNet-to-VNet pair" in html


def test_plan_only_run_changes_nothing(seed_env):
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.operations import show_policy

    r = run_step("05", params_file=SEED / "05_update_vnet1_to_site6.yaml", apply=False)
    assert r.outcome == "succeeded", r.error
    assert r.manifest["apply"] is False and not any(c.get("applied") for c in r.manifest["changes"])
    assert r.manifest["changes"][0]["plan"]["changes"], "the plan re-adds the removed policy"
    view = show_policy(connect(), resource_group="TestRG1", connection_name="VNet1toSite6")
    assert view.policy is None, "still no custom policy: plan-only wrote nothing"


def test_refused_in_kernel_is_recorded(seed_env):
    r = run_step("06", parameters={"connection_name": "NoSuchConnection"}, apply=True)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE)
    assert "NoSuchConnection" in r.error
    m = rundir.load_manifest(Path(seed_env["env"]["VPNRUNBOOK_EVIDENCE_DIR"]), r.run_id)
    assert m["outcome"] == "refused" and m["error"]["type"] == "PrecheckError"


def test_cli_bad_parameter_file_is_refused_before_a_kernel(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("connection_name: VNet1toSite6\nshared_key_ref: AzureA1b2C3\nfoo: 1\n")
    root = tmp_path / "ev"
    env = {**os.environ, "VPNRUNBOOK_EVIDENCE_DIR": str(root)}
    proc = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "04", "-p", str(bad), "--apply"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "foo: is not a parameter of step 04_connect" in proc.stderr
    assert "AzureA1b2C3" not in proc.stdout + proc.stderr
    (run,) = rundir.list_runs(root)
    assert run["outcome"] == "refused"
    assert files_containing(root, "AzureA1b2C3") == []
    assert rundir.verify(root) == []
    m = rundir.load_manifest(root, run["run_id"])
    assert json.dumps(m).count("InvalidSecretReference") >= 1


def test_killed_gateway_run_times_out_and_a_rerun_attaches(tmp_path, monkeypatch):
    """The run bound kills the kernel while it waits for the gateway; the rerun attaches instead of creating twice."""
    from vpnrunbook.cli import EXIT_TIMEOUT
    from vpnrunbook.runbook.runner import Timeouts

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", str(25 / 2700))  # a gateway takes ~25 s
    seed = SEED / "01_vnet1_gateway.yaml"
    first = run_step("01", params_file=seed, apply=True, timeouts=Timeouts(start=60, cell=600, run=9))
    assert (first.outcome, first.exit_code) == ("timed_out", EXIT_TIMEOUT), first.error
    assert first.manifest["error"]["type"] == "RunTimeout"
    assert not any("gateway" in c["step"].lower() for c in first.manifest["changes"]), "killed before it finished"
    second = run_step("01", params_file=seed, apply=True)
    assert second.outcome == "succeeded", second.error
    gw = next(c for c in second.manifest["records"] if "gateway" in c["step"].lower())
    assert gw["details"]["attached"] is True and gw["details"]["started"] is False
    assert gw["details"]["provisioning_state"] == "Succeeded"
    assert [e["outcome"] for e in rundir.list_runs(tmp_path / "ev")] == ["timed_out", "succeeded"]


def test_device_configuration_for_the_s2s_connection(seed_run):
    """04 (S2S) and 05 render the on-premises strongSwan configuration from what Azure reports — without the key."""
    for fname, ike in (("04_vnet1_to_site6.yaml", "aes256-sha384"), ("05_update_vnet1_to_site6.yaml", "aes128-sha1")):
        m = _by_file(seed_run, fname)
        nb = nbformat.read(str(seed_run["root"] / m["run_id"] / "notebook.ipynb"), as_version=4)
        cell = next(c for c in nb.cells if "vpnrunbook-device" in c.metadata.get("tags", []) and c.cell_type == "code")
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "connections {" in text and "131.107.72.22" in text and ike in text, text[:500]
        assert PLANTED_KEY not in text
    v2v = _by_file(seed_run, "04_vnet1_to_vnet2.yaml")
    nb = nbformat.read(str(seed_run["root"] / v2v["run_id"] / "notebook.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "vpnrunbook-device" in c.metadata.get("tags", []) and c.cell_type == "code")
    assert "not a Site-to-Site connection" in "".join(o.get("text", "") for o in cell.outputs)


def test_azure_target_without_configuration_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    r = run_step("07", params_file=SEED / "07_overview.yaml", target="azure")
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert r.manifest["target"] == "azure" and r.manifest["error"]["type"] == "TargetConfigurationError"


def test_verify_section_in_the_seed_runs(seed_run):
    """04/05/06 read the connection's status back and record it as `verify`: the Vnet2Vnet pair names its peer."""
    def verify(fname):
        m = _by_file(seed_run, fname)
        (rec,) = [r for r in m["records"] if r.get("name") == "verify"]
        html = (seed_run["root"] / m["run_id"] / "notebook.html").read_text()
        assert "Connection status after the change" in html and rec["reason"].split(" (")[0][:40] in html
        return rec

    v2v = verify("04_vnet1_to_vnet2.yaml")
    assert (v2v["status"], v2v["peer"], v2v["peer_status"]) == ("Connected", "TestRG2/connections/VNet2toVNet1",
                                                                "Connected")
    assert v2v["source"] == "Vnet2Vnet pair" and "same shared key and the same policy" in v2v["reason"]
    for fname in ("04_vnet1_to_site6.yaml", "05_update_vnet1_to_site6.yaml", "06_remove_vnet1_to_site6.yaml"):
        s2s = verify(fname)
        assert s2s["connection"] == "TestRG1/connections/VNet1toSite6" and s2s["status"] == "Connected"
        assert s2s["device"] is None and "no emulated device" in s2s["reason"]  # the seed's Site6 has no device tags
