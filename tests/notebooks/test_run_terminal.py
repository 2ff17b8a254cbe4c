"""Issue 15.3 and 15.5 through `vpnrunbook run`: the terminal shows the plan (field: current → desired), every
warning, the outcome and the verify status; a change the device would reject is refused headless (exit 2, nothing
written) unless --allow-breaking (recorded in the manifest); a plan-only run whose apply would be refused exits 2
and says why, whether a pre-check or a tunnel break refuses it (issue 25.6); `run --help` lists every exit code."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import seed_connection, seed_site_state
from vpnrunbook.cli import main
from vpnrunbook.device import device_proposals
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.runbook.runner import run_step

pytestmark = pytest.mark.slow
SEED = REPO / "parameters" / "seed"
SEED_DEVICE = device_proposals(PRESETS["seed-s2s"].policy)  # the device speaks only the seed S2S policy
UPDATE = str(SEED / "05_update_vnet1_to_site6.yaml")        # AES128/SHA1/DHGroup14: the device refuses it


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("terminal")
    with seed_site_state(base) as env:
        assert run_step("02", params_file=SEED / "02_site6.yaml", apply=True,
                        parameters={"device_ike": list(SEED_DEVICE.ike), "device_esp": list(SEED_DEVICE.esp)}).ok
        assert run_step("04", params_file=SEED / "04_vnet1_to_site6.yaml", apply=True).ok
    return {"env": env, "root": base / "evidence"}


@pytest.fixture
def env(site_env, monkeypatch):
    for k, v in site_env["env"].items():
        monkeypatch.setenv(k, v)
    return site_env


_connection = seed_connection


def _manifest(out: str) -> dict:
    folder = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("evidence: "))
    return json.loads((__import__("pathlib").Path(folder) / "manifest.json").read_text())


def test_plan_only_prints_the_plan_warnings_verify_and_would_be_refused_and_exits_2(env, capsys):
    etag = _connection().etag
    code = main(["run", "05", "-p", UPDATE])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 2, "a plan-only run exits as its --apply would: refused"
    assert "ipsecPolicies[0].ikeIntegrity: SHA384 → SHA1" in out          # field: current → desired
    assert "WARNING — TestRG1/connections/VNet1toSite6: this update would break the tunnel" in out
    assert "WARNING ike_integrity=SHA1 [weak]: WEAKER than now: SHA384 (strong) → SHA1 (weak)" in out
    assert "verify  TestRG1/connections/VNet1toSite6: Connected" in out
    assert "WOULD BE REFUSED" in out and "--allow-breaking" in out
    assert "05_update_policy: refused (exit 2)" in out
    assert "WouldBeRefused: plan only, nothing written" in captured.err
    manifest = _manifest(out)
    assert (manifest["outcome"], manifest["exit_code"], manifest["apply"]) == ("refused", 2, False)
    assert _connection().etag == etag, "nothing written"
    # with --allow-breaking the apply would go through, so the plan-only run succeeds
    assert main(["run", "05", "-p", UPDATE, "--allow-breaking"]) == 0
    assert "05_update_policy: succeeded (exit 0)" in capsys.readouterr().out


def test_plan_only_exits_the_same_whether_a_precheck_or_a_tunnel_break_refuses(env, capsys):
    # a pre-check refusal of the same plan-only run (no such connection to update): exit 2 as well
    precheck = main(["run", "05", "-p", UPDATE, "-P", "connection_name=NoSuchConnection"])
    captured = capsys.readouterr()
    assert "05_update_policy: refused (exit 2)" in captured.out and "PrecheckError" in captured.err
    tunnel = main(["run", "05", "-p", UPDATE])
    assert "WouldBeRefused" in capsys.readouterr().err
    assert precheck == tunnel == 2


def test_breaking_update_is_refused_headless_unless_allow_breaking(env, capsys):
    etag = _connection().etag
    code = main(["run", "05", "-p", UPDATE, "--apply"])
    captured = capsys.readouterr()
    assert code == 2
    assert "05_update_policy: refused (exit 2)" in captured.out
    assert "would break the tunnel" in captured.err and "--allow-breaking" in captured.err
    assert _connection().etag == etag, "nothing written"
    assert _manifest(captured.out)["allow_breaking"] is False

    code = main(["run", "05", "-p", UPDATE, "--apply", "--allow-breaking"])
    out = capsys.readouterr().out
    assert code == 0
    assert _connection().ipsec_policies[0].ike_integrity == "SHA1"
    manifest = _manifest(out)
    assert manifest["allow_breaking"] is True and manifest["outcome"] == "succeeded"
    assert "— applied" in out and "this update would break the tunnel" in out
    assert "verify  TestRG1/connections/VNet1toSite6: NotConnected" in out and "NO_PROPOSAL_CHOSEN" in out
    assert "WOULD BE REFUSED" not in out
    # the weakening is in the evidence too
    (change,) = [c for c in manifest["records"] if c.get("plan")]
    assert any("WEAKER" in w["message"] and w["field"] == "ike_integrity" for w in change["plan"]["warnings"])


def test_show_prints_the_policy_and_quiet_prints_only_the_outcome(env, capsys):
    assert main(["run", "08", "-P", "resource_group=TestRG1", "-P", "connection_name=VNet1toSite6"]) == 0
    out = capsys.readouterr().out
    assert "policy  TestRG1/connections/VNet1toSite6 (IPsec;" in out
    assert "ikeEncryption" in out and "verify  TestRG1/connections/VNet1toSite6:" in out
    assert main(["run", "08", "-P", "resource_group=TestRG1", "-P", "connection_name=VNet1toSite6", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the signer is printed with every run (issue 14), --quiet too
    assert [line.split(":")[0] for line in lines] == ["08_show_policy", "evidence", "ledger head", "signed by"]


def test_run_help_lists_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in out
    assert "--allow-breaking" in out and "--quiet" in out and "WOULD BE REFUSED" in out
