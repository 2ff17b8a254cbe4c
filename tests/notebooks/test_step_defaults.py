"""Issue 15.2: a step's defaults leave settings as they are (null) or are Azure's own; the seed's values live only in
parameters/seed/. A policy-only `05` changes only the policy; `--describe` says what the default does."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO
from tests.notebooks.conftest import seed_site_state
from vpnrunbook.cli import main
from vpnrunbook.runbook.runner import run_step
from vpnrunbook.runbook.steps import STEPS

SEED = REPO / "parameters" / "seed"
# settings a step writes into an existing resource: their default must be null ("leave it as it is")
LEAVE_AS_IT_IS = {
    "01_create_vnet_gateway": ("address_space", "subnets"),
    "02_create_local_gateway": ("gateway_ip_address", "address_prefixes", "device_ike", "device_esp"),
    "04_connect": ("policy", "dpd_timeout_seconds", "use_policy_based_traffic_selectors"),
    "05_update_policy": ("policy", "dpd_timeout_seconds", "use_policy_based_traffic_selectors"),
}


def test_settings_default_to_leave_as_it_is_and_the_seed_files_carry_the_seed_values():
    for step, names in LEAVE_AS_IT_IS.items():
        defaults = {p.name: p.default for p in STEPS[step].params}
        assert {n: defaults[n] for n in names} == dict.fromkeys(names), step
    seed05 = yaml.safe_load((SEED / "05_update_vnet1_to_site6.yaml").read_text())
    assert (seed05["dpd_timeout_seconds"], seed05["use_policy_based_traffic_selectors"]) == (30, True)
    assert seed05["policy"]["ike_integrity"] == "SHA1"
    seed01 = yaml.safe_load((SEED / "01_vnet1_gateway.yaml").read_text())
    assert seed01["address_space"] == ["10.1.0.0/16"] and "GatewaySubnet" in seed01["subnets"]  # the document's one prefix
    seed02 = yaml.safe_load((SEED / "02_site6.yaml").read_text())
    assert seed02["gateway_ip_address"] == "131.107.72.22" and seed02["address_prefixes"]
    assert yaml.safe_load((SEED / "04_vnet1_to_site6.yaml").read_text())["policy"]


def test_describe_says_null_leaves_it_unchanged(capsys):
    assert main(["run", "05", "--describe"]) == 0
    out = capsys.readouterr().out
    for name in ("dpd_timeout_seconds", "use_policy_based_traffic_selectors", "policy"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{name}:"))
        assert line.rstrip().endswith("= None"), line
    assert out.count("null: unchanged") >= 3


@pytest.fixture(scope="module")
def s2s_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("defaults")
    with seed_site_state(base) as env:
        assert run_step("02", params_file=SEED / "02_site6.yaml", apply=True).ok
        assert run_step("04", params_file=SEED / "04_vnet1_to_site6.yaml", apply=True).ok
    return env


@pytest.mark.slow
def test_a_policy_only_update_changes_only_the_policy(s2s_env, monkeypatch):
    for k, v in s2s_env.items():
        monkeypatch.setenv(k, v)
    from vpnrunbook.azure.connect import connect

    conns = connect("emulator").network.virtual_network_gateway_connections
    before = conns.get("TestRG1", "VNet1toSite6")
    run = run_step("05", parameters={"connection_name": "VNet1toSite6", "policy": "strong-modern"}, apply=True)
    assert run.ok, run.error
    (change,) = [r for r in run.manifest["records"] if r.get("plan")]
    assert change["plan"]["changes"] and all(c["field"].startswith("ipsecPolicies[0].")
                                             for c in change["plan"]["changes"]), change["plan"]["changes"]
    after = conns.get("TestRG1", "VNet1toSite6")
    assert after.dpd_timeout_seconds == before.dpd_timeout_seconds
    assert after.use_policy_based_traffic_selectors == before.use_policy_based_traffic_selectors is False
    assert after.ipsec_policies != before.ipsec_policies
    # 04 run again with only its identifying parameters leaves the connection's settings alone
    again = run_step("04", params_file=SEED / "04_vnet1_to_site6.yaml", parameters={"policy": "strong-modern"})
    (plan,) = [r for r in again.manifest["records"] if r.get("plan")]
    assert plan["plan"]["changes"] == [], plan["plan"]["changes"]
