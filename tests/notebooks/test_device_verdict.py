"""Issue 7 in the notebooks, run headless through papermill against the emulator: the local gateway (02) carries
the on-premises device's proposals; connect (04) verifies Connected; an update (05) the device would refuse is a
WARNING in the plan, refused with refuse_breaking=True (exit 2, nothing written), applied otherwise — then the
verify section shows NotConnected with the reason, recorded in the manifest. 03 shows the device configuration
and NO_PROPOSAL_CHOSEN for a device that does not match."""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import REPO
from tests.notebooks.conftest import PLANTED_KEY, files_containing, seed_connection, seed_site_state
from vpnrunbook.cli import EXIT_OK, EXIT_USAGE
from vpnrunbook.device import device_proposals
from vpnrunbook.evidence import rundir
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.runbook.runner import run_step

pytestmark = pytest.mark.slow
SEED = REPO / "parameters" / "seed"
# the device speaks exactly the seed S2S policy's proposals, nothing else
SEED_DEVICE = device_proposals(PRESETS["seed-s2s"].policy)


def _outputs(run, *, containing: str = "", tag: str = "") -> str:
    """Text of the outputs of the executed notebook's code cells (those whose source contains ``containing``)."""
    nb = nbformat.read(str(run.run_dir / "notebook.ipynb"), as_version=4)
    parts = []
    for c in nb.cells:
        if c.cell_type != "code" or containing not in c.source or (tag and tag not in c.metadata.get("tags", [])):
            continue
        for o in c.outputs:
            parts.append(o.get("text", ""))
            data = o.get("data", {})
            parts.append(data.get("text/plain", "") + data.get("text/html", "") + data.get("text/markdown", ""))
    return "\n".join(parts)


def _verify_record(run) -> dict:
    (rec,) = [r for r in run.manifest["records"] if r.get("name") == "verify"]
    return rec


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    """TestRG1 with VNet1GW (in-process, fast gateway), Site6 via notebook 02 with the device's proposals."""
    base = tmp_path_factory.mktemp("device")
    with seed_site_state(base) as env:
        site = run_step("02", params_file=SEED / "02_site6.yaml", apply=True,
                        parameters={"device_ike": list(SEED_DEVICE.ike), "device_esp": list(SEED_DEVICE.esp)})
        connect_run = run_step("04", params_file=SEED / "04_vnet1_to_site6.yaml", apply=True)
    return {"env": env, "root": base / "evidence", "site": site, "connect": connect_run}


@pytest.fixture
def device_env(site_env, monkeypatch):
    for k, v in site_env["env"].items():
        monkeypatch.setenv(k, v)
    return site_env


_connection = seed_connection


def test_local_gateway_carries_the_device_and_connect_verifies_connected(device_env):
    site, conn = device_env["site"], device_env["connect"]
    assert site.outcome == "succeeded", site.error
    lng = next(iter(next(c for c in site.manifest["changes"] if c.get("after"))["after"].values()))
    assert lng["tags"] == {"vpnrunbook-device-ike": ",".join(SEED_DEVICE.ike),
                           "vpnrunbook-device-esp": ",".join(SEED_DEVICE.esp)}
    assert conn.outcome == "succeeded", conn.error
    verify = _verify_record(conn)
    assert (verify["status"], verify["ok"]) == ("Connected", True)
    assert verify["device"].endswith("Site6") and verify["device_check"]["outcome"] == "compatible"
    text = _outputs(conn, containing="show.verify_section")
    assert "Connected" in text and "after the change" in text


def test_breaking_update_is_flagged_refused_on_request_then_verified_not_connected(device_env):
    params = SEED / "05_update_vnet1_to_site6.yaml"  # AES128/SHA1/DHGroup14: the device offers only AES256/SHA384
    etag = _connection().etag

    plan_only = run_step("05", params_file=params)
    assert plan_only.outcome == "succeeded", plan_only.error
    plan_text = _outputs(plan_only, containing="show.tunnel_warnings")
    assert "WARNING — TestRG1/connections/VNet1toSite6: this update would break the tunnel to" in plan_text
    assert "NO_PROPOSAL_CHOSEN" in plan_text and "Site6" in plan_text
    (change,) = [c for c in plan_only.manifest["changes"] if c.get("plan")]
    assert change["plan"]["breaks_tunnel"] is True and change["applied"] is False
    now = _verify_record(plan_only)
    assert now["status"] == "Connected", "plan-only shows the current status: still the seed policy"
    assert "now (plan-only run" in _outputs(plan_only, containing="show.verify_section")

    refused = run_step("05", params_file=params, parameters={"refuse_breaking": True}, apply=True)
    assert (refused.outcome, refused.exit_code) == ("refused", EXIT_USAGE), refused.error
    assert refused.manifest["error"]["type"] == "PrecheckError"
    assert "would break the tunnel" in refused.error and "NO_PROPOSAL_CHOSEN" in refused.error, refused.error
    assert _connection().etag == etag, "refused before any write: the connection is unchanged"
    assert _connection().ipsec_policies[0].ike_encryption == "AES256"

    headless = run_step("05", params_file=params, apply=True)  # headless default: refused (issue 15.3)
    assert (headless.outcome, headless.exit_code) == ("refused", EXIT_USAGE), headless.error
    assert headless.manifest["allow_breaking"] is False and _connection().etag == etag

    applied = run_step("05", params_file=params, apply=True, allow_breaking=True)  # flagged, then applied
    assert (applied.outcome, applied.exit_code) == ("succeeded", EXIT_OK), applied.error
    assert applied.manifest["allow_breaking"] is True
    assert _connection().ipsec_policies[0].ike_encryption == "AES128"
    verify = _verify_record(applied)
    assert (verify["status"], verify["ok"]) == ("NotConnected", False)
    assert "NO_PROPOSAL_CHOSEN" in verify["reason"] and verify["device"].endswith("Site6")
    assert verify["device_check"]["outcome"] == "ike_sa_refused"
    shown = _outputs(applied, containing="show.verify_section")
    assert "NotConnected" in shown and "NO_PROPOSAL_CHOSEN" in shown and "after the change" in shown
    assert files_containing(device_env["root"], PLANTED_KEY) == []
    assert rundir.verify(device_env["root"]) == []


def test_remove_policy_flags_a_device_that_only_speaks_the_custom_proposal(device_env):
    """06 plan-only: Azure's default proposals do not include the device's only one (DHGroup24) — a WARNING."""
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    ops.update_connection(connect("emulator"), resource_group="TestRG1", connection_name="VNet1toSite6",
                          policy="seed-s2s", apply=True)  # back to what the device speaks
    run = run_step("06", params_file=SEED / "06_remove_vnet1_to_site6.yaml")
    assert run.outcome == "succeeded", run.error
    text = _outputs(run, containing="show.tunnel_warnings")
    assert "WARNING — TestRG1/connections/VNet1toSite6" in text and "WOULD BE REFUSED" in text
    assert _verify_record(run)["status"] == "Connected"
    refused = run_step("06", params_file=SEED / "06_remove_vnet1_to_site6.yaml", parameters={"refuse_breaking": True},
                       apply=True)
    assert (refused.outcome, refused.exit_code) == ("refused", EXIT_USAGE), refused.error
    assert _connection().ipsec_policies, "the custom policy is still there"


def test_create_policy_shows_device_config_and_no_proposal_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    run = run_step("03", params_file=SEED / "03_policy_seed_s2s.yaml",
                   parameters={"device_ike": ["aes128-sha256-modp2048"], "device_esp": ["aes256-sha256"]})
    assert run.outcome == "succeeded", run.error
    text = _outputs(run, tag="vpnrunbook-device")
    assert "IKE_SA refused (NO_PROPOSAL_CHOSEN)" in text and "aes128-sha256-modp2048" in text
    assert "connections {" in text and "proposals = aes256-sha384-modp2048s256" in text  # swanctl
    assert "crypto ikev2 proposal" in text and "group 24" in text                        # Cisco IOS-XE
    (rec,) = [r for r in run.manifest["records"] if r.get("name") == "policy"]
    assert rec["device_check"]["outcome"] == "ike_sa_refused"

    matching = run_step("03", params_file=SEED / "03_policy_seed_s2s.yaml",
                        parameters={"device_ike": list(SEED_DEVICE.ike), "device_esp": list(SEED_DEVICE.esp)})
    assert matching.outcome == "succeeded", matching.error
    assert "NO_PROPOSAL_CHOSEN" not in _outputs(matching, tag="vpnrunbook-device")
    (rec,) = [r for r in matching.manifest["records"] if r.get("name") == "policy"]
    assert rec["device_check"]["outcome"] == "compatible"


def test_create_policy_refuses_a_bad_proposal_before_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_name: seed-s2s\nbase: seed-s2s\ndevice_ike: [aes256-sha999-modp2048]\n"
                   "device_esp: aes256-sha256\n")
    run = run_step("03", params_file=bad)
    assert (run.outcome, run.exit_code) == ("refused", EXIT_USAGE)
    assert "device_ike[0]" in run.error and "aes256-sha999-modp2048" in run.error and "sha999" in run.error


def test_create_policy_without_an_ikev2_dh_group_still_saves(tmp_path, monkeypatch):
    """DH group None is a valid Azure policy that no IKEv2 device can express: said, not a failed run."""
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_POLICY_DIR", str(tmp_path / "policies"))  # step 03 saves only inside it
    run = run_step("03", parameters={"policy_name": "no-dh", "fields": {"dh_group": "None"},
                                     "save_dir": str(tmp_path / "policies"), "device_ike": "aes256-sha384-ecp384",
                                     "device_esp": "aes256-sha256"}, apply=True)
    assert run.outcome == "succeeded", run.error
    text = _outputs(run, tag="vpnrunbook-device")
    assert "no device configuration: dh_group: 'None' cannot be expressed" in text
    assert "no compatibility check" in text
    assert (tmp_path / "policies" / "no-dh.yaml").exists()
