"""check_compatibility and predict_connection_status without the lab (the lab proves them against strongSwan)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnrunbook.device.negotiate import (
    CHILD_SA_REFUSED,
    COMPATIBLE,
    FAILS_AT_REKEY,
    IKE_SA_REFUSED,
    check_compatibility,
    predict_connection_status,
    select_proposal,
)
from vpnrunbook.device.proposals import ProposalError, device_proposals, parse_proposals
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.presets import get_preset

SEED = get_preset("seed-s2s")          # AES256/SHA384/DHGroup24 | AES256/SHA256 | PFS None
MODERN = get_preset("strong-modern")   # GCMAES256/SHA384/ECP384 | GCMAES256 | PFS ECP384


def test_matching_device_is_compatible_with_negotiated_algorithms():
    r = check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256"])
    assert r.outcome == COMPATIBLE and r.ok
    assert r.ike.algorithms == "AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_2048_256"
    assert r.child.algorithms == "ESP:AES_CBC-256/HMAC_SHA2_256_128"
    assert all(p.established for p in r.rekey.values())
    assert "both sides agree" in r.reason


@pytest.mark.parametrize(("ike", "missing"), [
    ("aes128-sha384-modp2048s256", "encryption algorithm"),
    ("aes256-sha256-modp2048s256", "integrity algorithm"),
    ("aes256-sha384-modp2048", "Diffie-Hellman group"),
])
def test_ike_mismatch_is_no_proposal_chosen_naming_the_transform(ike, missing):
    r = check_compatibility(SEED, [ike], ["aes256-sha256"])
    assert r.outcome == IKE_SA_REFUSED and not r.ike.established
    assert r.ike.notify == "NO_PROPOSAL_CHOSEN"
    assert f"no common {missing}" in r.reason
    assert not r.child.reached and r.rekey == {}


def test_gcm_ike_with_another_prf_is_refused_on_the_prf():
    r = check_compatibility(MODERN, ["aes256gcm16-prfsha256-ecp384"], ["aes256gcm16-ecp384"])
    assert r.outcome == IKE_SA_REFUSED
    assert "pseudo-random function" in r.reason and "PRF_HMAC_SHA2_384" in r.reason


def test_esp_mismatch_keeps_the_ike_sa_and_refuses_the_child():
    r = check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha1"])
    assert r.outcome == CHILD_SA_REFUSED
    assert r.ike.established and not r.child.established
    assert r.child.notify == "NO_PROPOSAL_CHOSEN" and "integrity algorithm" in r.reason


def test_pfs_on_the_device_only_fails_only_at_rekey():
    r = check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256-modp2048s256"])
    assert r.outcome == FAILS_AT_REKEY and r.pfs_mismatch
    assert r.child.established and r.child.algorithms == "ESP:AES_CBC-256/HMAC_SHA2_256_128"
    assert not r.rekey["device"].established and not r.rekey["azure"].established
    assert "PFS mismatch" in r.reason


def test_pfs_on_azure_only_fails_only_at_rekey():
    r = check_compatibility(replace(SEED, pfs_group="PFS24"), ["aes256-sha384-modp2048s256"], ["aes256-sha256"])
    assert r.outcome == FAILS_AT_REKEY
    assert "MODP_2048_256" in r.rekey["azure"].reason or "MODP_2048_256" in r.rekey["device"].reason


def test_matching_pfs_shows_the_group_at_rekey_and_pfsmm_reuses_the_ike_group():
    r = check_compatibility(MODERN, ["aes256gcm16-prfsha384-ecp384"], ["aes256gcm16-ecp384"])
    assert r.ok and r.child.algorithms == "ESP:AES_GCM_16-256"
    assert r.rekey["device"].algorithms == "ESP:AES_GCM_16-256/ECP_384"
    mm = replace(SEED, dh_group="ECP256", pfs_group="PFSMM")
    assert check_compatibility(mm, ["aes256-sha384-ecp256"], ["aes256-sha256-ecp256"]).ok
    assert check_compatibility(mm, ["aes256-sha384-ecp256"], ["aes256-sha256-modp2048"]).outcome == FAILS_AT_REKEY


def test_device_offering_several_proposals_and_the_ke_guess_round_trip():
    r = check_compatibility(SEED, "aes128-sha256-ecp256, aes256-sha384-modp2048s256", "aes128-sha1, aes256-sha256")
    assert r.ok
    assert any("INVALID_KE_PAYLOAD" in n for n in r.notes)


def test_responder_preference_decides_the_algorithms():
    configured = parse_proposals(["aes128-sha256-modp2048, aes256-sha256-modp2048"], "IKE")
    received = parse_proposals(["aes256-sha256-modp2048, aes128-sha256-modp2048"], "IKE")
    assert select_proposal(configured, received).text.startswith("AES_CBC-128")
    assert select_proposal(received, configured).text.startswith("AES_CBC-256")


def test_explicit_none_makes_pfs_optional_on_rekey():
    r = check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256-ecp384-none"])
    assert r.ok


def test_default_policy_depends_on_who_initiates_the_rekey():
    device_init = check_compatibility(None, ["aes256-sha256-modp1024"], ["aes256-sha1-modp2048"])
    assert device_init.rekey["device"].established            # Azure as responder accepts PFS 14
    assert not device_init.rekey["azure"].established         # Azure as initiator offers no PFS
    assert device_init.outcome == FAILS_AT_REKEY
    ok = check_compatibility(None, ["aes256-sha256-modp1024"], ["aes256-sha256"], initiator="azure")
    assert ok.ok and ok.ike.algorithms.endswith("MODP_1024")
    strong = check_compatibility(None, ["aes256-sha384-ecp384"], ["aes256-sha256"])
    assert strong.outcome == IKE_SA_REFUSED


policies = st.builds(
    IpsecIkePolicy,
    ike_encryption=st.sampled_from(rules.IKE_ENCRYPTION), ike_integrity=st.sampled_from(rules.IKE_INTEGRITY),
    dh_group=st.sampled_from([g for g in rules.DH_GROUPS if g != "None"]),
    ipsec_encryption=st.sampled_from(rules.IPSEC_ENCRYPTION), ipsec_integrity=st.sampled_from(rules.IPSEC_INTEGRITY),
    pfs_group=st.sampled_from(rules.PFS_GROUPS),
).filter(lambda p: not p.problems())


@settings(max_examples=150, deadline=None)
@given(policies, st.sampled_from(["device", "azure"]))
def test_a_device_configured_from_the_policy_is_always_compatible(policy, initiator):
    dev = device_proposals(policy)
    r = check_compatibility(policy, dev.ike, dev.esp, initiator=initiator)
    assert r.ok, r.text


@settings(max_examples=100, deadline=None)
@given(policies, policies)
def test_two_different_policies_never_pass_silently(azure, other):
    """A device set up for another policy is compatible only if every negotiated field agrees."""
    dev = device_proposals(other)
    r = check_compatibility(azure, dev.ike, dev.esp)
    same_ike = azure.ike_encryption == other.ike_encryption and azure.ike_integrity == other.ike_integrity and \
        rules.DH_GROUP_INFO[azure.dh_group].rfc_group == rules.DH_GROUP_INFO[other.dh_group].rfc_group
    if not same_ike:
        assert r.outcome == IKE_SA_REFUSED
    pfs = rules.pfs_strongswan(azure.pfs_group, azure.dh_group) == rules.pfs_strongswan(other.pfs_group, other.dh_group)
    if same_ike and r.child.established and not pfs:
        assert r.outcome == FAILS_AT_REKEY


def test_predict_connection_status():
    assert predict_connection_status(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256"])[0] == "Connected"
    status, reason = predict_connection_status(SEED, ["aes128-sha1-modp1024"], ["aes256-sha256"])
    assert status == "NotConnected" and "NO_PROPOSAL_CHOSEN" in reason
    status, reason = predict_connection_status(SEED, "aes256-sha384-modp2048s256", "aes256-sha256-ecp384")
    assert status == "Connected" and reason.startswith("WARNING") and "rekey" in reason
    status, reason = predict_connection_status(SEED, ["aes256-sha384-bogus"], [])
    assert status == "NotConnected" and "bogus" in reason


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="initiator"):
        check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256"], initiator="both")  # type: ignore[arg-type]
    with pytest.raises(ProposalError, match="device_esp"):
        check_compatibility(SEED, ["aes256-sha384-modp2048s256"], [])


def test_result_views_for_notebooks_and_evidence():
    r = check_compatibility(SEED, ["aes256-sha384-modp2048s256"], ["aes256-sha256-ecp384"])
    frame = r.to_frame()
    assert list(frame.index) == ["IKE_SA", "CHILD_SA", "CHILD_SA rekey by device", "CHILD_SA rekey by Azure"]
    assert frame.loc["CHILD_SA rekey by device", "status"] == "refused (NO_PROPOSAL_CHOSEN)"
    record = r.to_record()
    assert record["outcome"] == FAILS_AT_REKEY and record["azure_policy"]["dhGroup"] == "DHGroup24"
    assert r.verdict in r.text and r.reason in r.text


def test_device_tags_and_update_impact():
    from vpnrunbook.device.negotiate import DEVICE_ESP_TAG, DEVICE_IKE_TAG, check_device_tags, update_impact

    assert check_device_tags(SEED, {"owner": "x"}) is None
    tags = {DEVICE_IKE_TAG: "aes256-sha384-modp2048s256", DEVICE_ESP_TAG: "aes256-sha256"}
    assert check_device_tags(SEED, tags).ok
    update = get_preset("seed-update")           # AES128/SHA1/DHGroup14: the device above cannot follow
    impact = update_impact(SEED, update, tags[DEVICE_IKE_TAG], tags[DEVICE_ESP_TAG])
    assert impact.breaks and "would break the tunnel" in impact.text and "NO_PROPOSAL_CHOSEN" in impact.text
    back = update_impact(update, SEED, tags[DEVICE_IKE_TAG], tags[DEVICE_ESP_TAG])
    assert not back.breaks and back.after.ok
    pfs = update_impact(SEED, replace(SEED, pfs_group="PFS24"), tags[DEVICE_IKE_TAG], tags[DEVICE_ESP_TAG])
    assert pfs.breaks and pfs.after.outcome == FAILS_AT_REKEY
