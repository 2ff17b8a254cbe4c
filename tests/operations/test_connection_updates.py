"""Policy show/update/remove, DPD, traffic selectors, VNet-to-VNet pairs, concurrency and pre-checks (emulator)."""

from __future__ import annotations

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.operations import ConcurrentChangeError, PrecheckError
from vpnrunbook.policy import IpsecIkePolicy, get_preset

from .conftest import LOC, RG1, RG2, build_site6, build_vnet1, build_vnet2, s2s, v2v, writes


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Update0Tests")


@pytest.fixture
def s2s_ready(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    s2s(session)
    return session


@pytest.fixture
def v2v_ready(session):
    p1, p2 = build_vnet1(session), build_vnet2(session)
    p1.result(timeout=60), p2.result(timeout=60)
    v2v(session)
    return session


def _n(session):
    return len(writes(session))


def test_show_policy_custom_and_default(s2s_ready):
    view = ops.show_policy(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6")
    assert view.policy == get_preset("seed-s2s") and not view.uses_default
    assert "custom policy" in view.text and "DHGroup24" in view.text
    assert list(view.table().index) == ["TestRG1/connections/VNet1toSite6"]
    ops.remove_policy(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6", apply=True)
    view = ops.show_policy(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6")
    assert view.policy is None and view.uses_default
    assert "Azure's default proposals" in view.text and "DHGroup2" in view.text
    assert set(view.table()["phase"]) == {"IKE (main mode)", "IPsec (quick mode, initiator)"}


def test_update_plan_table_then_apply_then_nothing(s2s_ready):
    session = s2s_ready
    n = _n(session)
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="seed-update", dpd_timeout_seconds=30,
                                      use_policy_based_traffic_selectors=True)
    rows = {(c.field, str(c.current), str(c.desired)) for c in plan.changes}
    assert rows == {("ipsecPolicies[0].ikeEncryption", "AES256", "AES128"),
                    ("ipsecPolicies[0].ikeIntegrity", "SHA384", "SHA1"),
                    ("ipsecPolicies[0].dhGroup", "DHGroup24", "DHGroup14"),
                    ("dpdTimeoutSeconds", "45", "30"),
                    ("usePolicyBasedTrafficSelectors", "False", "True")}
    assert _n(session) == n  # planning writes nothing
    frame = plan.to_frame()
    assert len(frame) == 5 and set(frame["resource"]) == {"TestRG1/connections/VNet1toSite6"}
    result = ops.apply_plan(session, plan)
    assert result.applied and _n(session) == n + 1
    snap = result.after[result.resources[0]]["properties"]
    assert snap["dpdTimeoutSeconds"] == 30 and snap["usePolicyBasedTrafficSelectors"] is True
    assert snap["ipsecPolicies"][0]["ipsecEncryption"] == "AES256"
    # the shared key survived the update
    key = session.network.virtual_network_gateway_connections.get_shared_key(RG1, "VNet1toSite6").value
    assert key == "Seed0Key0For0Update0Tests"
    again = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6", policy="seed-update",
                                  dpd_timeout_seconds=30, use_policy_based_traffic_selectors=True, apply=True)
    assert again.plan.empty and _n(session) == n + 1


def test_remove_policy_then_nothing(s2s_ready):
    session = s2s_ready
    n = _n(session)
    first = ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toSite6", apply=True)
    assert {c.desired for c in first.plan.changes} == {"(default proposals)"} and len(first.plan.changes) == 8
    assert first.after[first.resources[0]]["properties"]["ipsecPolicies"] == []
    assert _n(session) == n + 1
    second = ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toSite6", apply=True)
    assert second.plan.empty and _n(session) == n + 1


def test_concurrent_change_between_plan_and_apply_is_refused(s2s_ready):
    session = s2s_ready
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="seed-update")
    # someone else changes the connection after our plan
    ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6", dpd_timeout_seconds=20,
                          apply=True)
    n = _n(session)
    with pytest.raises(ConcurrentChangeError) as info:
        ops.apply_plan(session, plan)
    assert "TestRG1/connections/VNet1toSite6" in str(info.value) and "Re-run the step" in str(info.value)
    assert _n(session) == n
    view = ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6")
    assert view.policy == get_preset("seed-s2s") and view.dpd_timeout_seconds == 20  # theirs kept, ours not written


def test_if_match_guards_the_race_window(s2s_ready, monkeypatch):
    """Even when the change lands after the re-read, ARM's 412 on If-Match refuses the write."""
    from vpnrunbook.operations import apply as apply_mod

    session = s2s_ready
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="seed-update")
    real_verify = apply_mod.verify_unchanged

    def verify_then_race(sess, p):
        current = real_verify(sess, p)
        if p is plan:  # the other writer lands right after our re-read
            ops.update_connection(sess, resource_group=RG1, connection_name="VNet1toSite6", dpd_timeout_seconds=20,
                                  apply=True)
        return current

    monkeypatch.setattr(apply_mod, "verify_unchanged", verify_then_race)
    with pytest.raises(ConcurrentChangeError, match="412"):
        ops.apply_plan(session, plan)
    assert any(r[0] == "PUT" and r[2] == 412 for r in session.transport.requests)
    assert ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6").policy == get_preset("seed-s2s")


def test_concurrent_create_is_refused(session):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    planned = ops.ensure_public_ip(session, resource_group=RG1, name="IP1", location=LOC)
    ops.ensure_public_ip(session, resource_group=RG1, name="IP1", location=LOC, apply=True)
    with pytest.raises(ConcurrentChangeError, match="created by someone else"):
        ops.apply_plan(session, planned.plan)


def test_v2v_update_updates_both_directions_in_one_step(v2v_ready):
    session = v2v_ready
    n = _n(session)
    result = ops.update_connection(session, resource_group=RG2, connection_name="VNet2toVNet1", policy="seed-update",
                                   dpd_timeout_seconds=30, apply=True)
    assert {c.resource for c in result.plan.changes} == {"TestRG1/connections/VNet1toVNet2",
                                                         "TestRG2/connections/VNet2toVNet1"}
    assert len(result.after) == 2 and _n(session) == n + 2
    for snap in result.after.values():
        assert snap["properties"]["ipsecPolicies"][0]["ipsecEncryption"] == "AES256"
        assert snap["properties"]["dpdTimeoutSeconds"] == 30
    for rg, name in ((RG1, "VNet1toVNet2"), (RG2, "VNet2toVNet1")):
        assert ops.show_policy(session, resource_group=rg, connection_name=name).policy == get_preset("seed-update")
    assert ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toVNet2", apply=True).after
    assert ops.show_policy(session, resource_group=RG2, connection_name="VNet2toVNet1").uses_default


def test_v2v_pair_is_refused_whole_if_one_side_changed(v2v_ready):
    session = v2v_ready
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toVNet2",
                                      policy="seed-update")
    assert len(plan.writes) == 2
    ops.update_connection(session, resource_group=RG2, connection_name="VNet2toVNet1", dpd_timeout_seconds=20,
                          include_peer=False, apply=True)
    n = _n(session)
    with pytest.raises(ConcurrentChangeError, match="VNet2toVNet1"):
        ops.apply_plan(session, plan)
    assert _n(session) == n  # neither side written


def test_traffic_selector_pairs(s2s_ready):
    frame = ops.traffic_selector_pairs(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6")
    assert sorted(zip(frame["azure_prefix"], frame["remote_prefix"], strict=True)) == [
        ("10.1.0.0/16", "10.61.0.0/16"), ("10.1.0.0/16", "10.62.0.0/16")]
    assert frame.attrs["use_policy_based_traffic_selectors"] is False
    ops.update_connection(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6",
                          use_policy_based_traffic_selectors=True, apply=True)
    frame = ops.traffic_selector_pairs(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6")
    assert frame.attrs["use_policy_based_traffic_selectors"] is True and len(frame) == 2


def test_v2v_traffic_selector_pairs_cover_both_spaces(v2v_ready):
    frame = ops.traffic_selector_pairs(v2v_ready, resource_group=RG1, connection_name="VNet1toVNet2")
    assert sorted(frame["remote_prefix"]) == ["10.21.0.0/16", "10.22.0.0/16"]
    assert set(frame["azure_prefix"]) == {"10.1.0.0/16"}


# ---- pre-checks: refused before any write ------------------------------------------------------------
def test_custom_policy_on_basic_gateway_is_refused(session):
    build_vnet1(session, sku="Basic").result(timeout=60)
    build_site6(session)
    n = _n(session)
    with pytest.raises(PrecheckError) as info:
        s2s(session, policy="seed-s2s")
    assert "PolicyNotSupportedOnGateway" in {p.code for p in info.value.problems}
    assert "Basic" in str(info.value) and _n(session) == n
    assert s2s(session, policy=None).applied  # default proposals are fine on Basic


def test_custom_policy_on_policy_based_gateway_is_refused(session):
    build_vnet1(session, sku="Basic", vpn_type="PolicyBased").result(timeout=60)
    build_site6(session)
    n = _n(session)
    with pytest.raises(PrecheckError, match="PolicyBased"):
        s2s(session, policy="seed-s2s")
    assert _n(session) == n
    with pytest.raises(PrecheckError) as info:  # issue 15.6: a PolicyBased gateway speaks IKEv1 only
        s2s(session, policy=None)
    assert [p.code for p in info.value.problems] == ["IkeV2NotSupportedOnPolicyBased"]
    assert s2s(session, policy=None, connection_protocol="IKEv1").applied and _n(session) == n + 1


def test_invalid_policy_values_are_errors_all_at_once(s2s_ready):
    n = _n(s2s_ready)
    bad = {"ike_encryption": "AES257", "ike_integrity": "SHA384", "dh_group": "DHGroup24",
           "ipsec_encryption": "GCMAES256", "ipsec_integrity": "SHA256", "pfs_group": "None",
           "sa_life_time_seconds": 10, "sa_data_size_kilobytes": 102400000}
    with pytest.raises(PrecheckError) as info:
        ops.update_connection(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6", policy=bad,
                              dpd_timeout_seconds=5000, apply=True)
    fields = {p.field for p in info.value.problems}
    assert {"ike_encryption", "sa_life_time_seconds", "ipsec_integrity", "dpd_timeout_seconds"} <= fields
    assert _n(s2s_ready) == n


def test_weak_policy_is_a_warning_not_an_error(s2s_ready):
    weak = IpsecIkePolicy(ike_encryption="AES128", ike_integrity="MD5", dh_group="DHGroup2",
                          ipsec_encryption="AES128", ipsec_integrity="SHA1", pfs_group="None")
    plan = ops.plan_connection_update(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6", policy=weak)
    assert {(w.field, w.severity) for w in plan.warnings} >= {("ike_integrity", "warning"), ("dh_group", "warning")}
    assert not plan.empty


def test_missing_references_are_listed_together(session):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    n = _n(session)
    with pytest.raises(PrecheckError) as info:
        s2s(session)
    fields = {p.field for p in info.value.problems}
    assert fields == {"gateway_name", "local_gateway_name"}
    assert _n(session) == n
    planned = s2s(session, apply=False)  # plan-only: notes instead of errors
    assert len([x for x in planned.plan.notes if "does not exist yet" in x]) == 2


def test_overlapping_v2v_address_spaces_are_refused(session):
    p1 = build_vnet1(session)
    p2 = build_vnet2(session, space=["10.1.0.0/16"])
    p1.result(timeout=60), p2.result(timeout=60)
    with pytest.raises(PrecheckError) as info:
        v2v(session)
    assert "OverlappingAddressSpace" in {p.code for p in info.value.problems}


def test_literal_key_is_refused_without_echo(s2s_ready):
    literal = "ThisIsAKeyNotAReference123"
    with pytest.raises(PrecheckError) as info:
        ops.ensure_connection(s2s_ready, resource_group=RG1, name="X", location=LOC, connection_type="IPsec",
                              gateway_name="VNet1GW", local_gateway_name="Site6", shared_key_ref=literal, policy=None,
                              apply=True)
    assert literal not in str(info.value) and "shared_key_ref" in str(info.value)


def test_immutable_connection_fields_are_refused(s2s_ready):
    with pytest.raises(PrecheckError, match="ConnectionProtocol|cannot change"):
        s2s(s2s_ready, connection_protocol="IKEv1")


def test_v2v_update_without_its_peer_is_refused_unless_one_sided(v2v_ready):
    session = v2v_ready
    session.network.virtual_network_gateway_connections.begin_delete(RG2, "VNet2toVNet1").result()
    n = _n(session)
    with pytest.raises(PrecheckError) as info:
        ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2", policy="seed-update",
                              apply=True)
    assert "PeerConnectionNotFound" in {p.code for p in info.value.problems}
    assert "include_peer=False" in str(info.value) and _n(session) == n
    one_sided = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2",
                                      policy="seed-update", include_peer=False, apply=True)
    assert len(one_sided.plan.writes) == 1 and _n(session) == n + 1
