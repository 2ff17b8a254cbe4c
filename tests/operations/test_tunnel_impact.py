"""Policy updates against a known on-premises device (the local network gateway's vpnrunbook-device-* tags):
a change that breaks the tunnel is flagged in the plan (WARNING row, to_record), applied unless refuse_breaking=True,
and the verify step (verify_connection / result.verification) shows connectionStatus with the reason."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.operations.conftest import RG1, RG2, build_site6, build_vnet1, build_vnet2, s2s, v2v, writes
from vpnrunbook import operations as ops
from vpnrunbook.device import check_compatibility, predict_connection_status
from vpnrunbook.policy import presets

KEY = "Azure1234Seed"
DEVICE_IKE = "aes256-sha384-modp2048s256"   # what the seed-s2s policy needs, nothing else
DEVICE_ESP = "aes256-sha256"
CONN = "TestRG1/connections/VNet1toSite6"


@pytest.fixture(autouse=True)
def _seed_key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", KEY)


@pytest.fixture
def s2s_with_device(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session, device_ike=DEVICE_IKE, device_esp=DEVICE_ESP)
    first = s2s(session)  # seed-s2s: the device accepts it
    assert first.applied
    return first


def _n(session):
    return len(writes(session))


def test_breaking_update_is_flagged_in_the_plan_table_and_record(session, s2s_with_device):
    n = _n(session)
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="strong-modern")
    assert plan.breaks_tunnel and _n(session) == n
    [impact] = plan.impacts
    expected = check_compatibility(presets.get_preset("strong-modern"), DEVICE_IKE, DEVICE_ESP)
    assert (impact.resource, impact.peer) == (CONN, "TestRG1/localNetworkGateways/Site6")
    assert impact.after == expected.verdict and expected.reason in impact.reason
    assert impact.before == check_compatibility(presets.get_preset("seed-s2s"), DEVICE_IKE, DEVICE_ESP).verdict
    frame = plan.to_frame()
    warning = frame[frame["action"] == "WARNING"]
    assert len(warning) == 1 and warning.iloc[0]["field"] == "tunnel to TestRG1/localNetworkGateways/Site6"
    assert "NO_PROPOSAL_CHOSEN" in warning.iloc[0]["desired"]
    assert len(frame) == len(plan.changes) + 1  # the warning is a row, not a write
    record = json.loads(json.dumps(plan.to_record()))
    assert record["breaks_tunnel"] is True and record["tunnel_impact"][0]["breaks"] is True
    assert "would break the tunnel to TestRG1/localNetworkGateways/Site6" in record["tunnel_warnings"][0]
    assert "WARNING" in plan.summary() and "WARNING" in str(plan) and "WARNING" in plan._repr_html_()


def test_refuse_breaking_refuses_before_any_write(session, s2s_with_device):
    n = _n(session)
    with pytest.raises(ops.PrecheckError) as info:
        ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6", policy="strong-modern",
                              apply=True, refuse_breaking=True)
    [problem] = info.value.problems
    assert problem.code == "UpdateBreaksTunnel" and "--allow-breaking" in problem.allowed
    assert _n(session) == n
    with pytest.raises(ops.PrecheckError):
        ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toSite6", apply=True,
                          refuse_breaking=True)
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="strong-modern")
    with pytest.raises(ops.PrecheckError):
        ops.apply_plan(session, plan, refuse_breaking=True)
    assert _n(session) == n
    assert ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6").policy == \
        presets.get_preset("seed-s2s")


def test_default_applies_the_breaking_update_and_the_result_shows_the_status_with_the_reason(session,
                                                                                           s2s_with_device):
    result = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6",
                                   policy="strong-modern", apply=True)
    assert result.applied and result.plan.breaks_tunnel
    view = result.verification
    assert isinstance(view, ops.ConnectionStatusView)
    status, reason = predict_connection_status(presets.get_preset("strong-modern"), [DEVICE_IKE], [DEVICE_ESP])
    assert view.status == status == "NotConnected" and reason in view.reason and not view.ok
    assert view.device == "TestRG1/localNetworkGateways/Site6" and view.device_check is not None
    recorded = result.to_record()["details"]["connection_status"][CONN]
    assert recorded["status"] == "NotConnected" and recorded["reason"] == view.reason
    assert result.to_record()["plan"]["breaks_tunnel"] is True
    assert "NotConnected" in str(result) and KEY not in json.dumps(result.to_record())


def test_compatible_update_has_no_warning_and_verifies_connected(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session, device_ike=f"{DEVICE_IKE},aes128-sha1-modp2048", device_esp=DEVICE_ESP)
    s2s(session)
    result = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6",
                                   policy="seed-update", apply=True)
    assert [i.breaks for i in result.plan.impacts] == [False] and not result.plan.breaks_tunnel
    assert "WARNING" not in set(result.plan.to_frame()["action"])
    assert result.verification.status == "Connected" and result.verification.ok
    assert "device" in result.verification.source


def test_pfs_mismatch_is_flagged_as_failing_at_rekey_and_verify_warns(session, s2s_with_device):
    pfs = dataclasses.replace(presets.get_preset("seed-s2s"), pfs_group="PFS24")
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6", policy=pfs)
    assert plan.breaks_tunnel and plan.impacts[0].after_outcome == "fails_at_rekey"
    ops.apply_plan(session, plan)
    view = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toSite6")
    assert view.status == "Connected" and not view.ok and "rekey" in view.warning
    frame = view.to_frame()
    assert list(frame["status"]) == ["Connected"] and "rekey" in frame.iloc[0]["warning"]


def test_new_connection_the_device_cannot_accept_is_flagged(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session, device_ike=DEVICE_IKE, device_esp=DEVICE_ESP)
    preview = s2s(session, policy="strong-modern", apply=False)
    [impact] = preview.plan.impacts
    assert impact.breaks and impact.before == "(no connection yet)"
    with pytest.raises(ops.PrecheckError):
        s2s(session, policy="strong-modern", refuse_breaking=True)
    assert not [w for w in writes(session) if "connections" in w[1]]


def test_without_device_tags_nothing_is_flagged_and_verify_says_the_status_is_azures(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    s2s(session)
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="strong-modern")
    assert plan.impacts == [] and not plan.breaks_tunnel
    view = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toSite6")
    assert view.status == "Connected" and view.device is None and "no emulated device" in view.reason


def test_verify_vnet2vnet_shows_the_peer_and_a_one_sided_change_is_flagged(session):
    build_vnet1(session).result(timeout=60)
    build_vnet2(session).result(timeout=60)
    created = v2v(session)
    assert created.verification.status == "Connected"
    assert set(created.details["connection_status"]) == {"TestRG1/connections/VNet1toVNet2",
                                                         "TestRG2/connections/VNet2toVNet1"}
    view = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2")
    assert (view.peer, view.peer_status) == (f"{RG2}/connections/VNet2toVNet1", "Connected")
    assert "same shared key and the same policy" in view.reason and len(view.to_frame()) == 2

    one_sided = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2",
                                      policy="strong-modern", include_peer=False, apply=True)
    assert one_sided.plan.breaks_tunnel and one_sided.plan.impacts[0].peer == f"{RG2}/connections/VNet2toVNet1"
    after = one_sided.verification
    assert after.status == "NotConnected" and "different IPsec/IKE policies" in after.reason
    # both directions together: no warning, Connected again
    both = ops.update_connection(session, resource_group=RG2, connection_name="VNet2toVNet1", policy="strong-modern",
                                 apply=True)
    assert not both.plan.breaks_tunnel
    assert ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2").ok


def test_verify_of_a_missing_connection_is_refused_clearly(session):
    ops.ensure_resource_group(session, name=RG1, location="EastUS", apply=True)
    with pytest.raises(ops.PrecheckError) as info:
        ops.verify_connection(session, resource_group=RG1, connection_name="Nope")
    assert info.value.problems[0].field == "connection_name"
