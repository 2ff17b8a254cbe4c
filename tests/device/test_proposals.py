"""strongSwan proposal parsing and Azure's side written as strongSwan proposals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vpnrunbook.device.proposals import (
    ENCR,
    INTEG,
    KE,
    PRF,
    ProposalError,
    device_proposals,
    parse_proposal,
    parse_proposals,
    policy_proposals,
    strongswan_proposals,
)
from vpnrunbook.policy import presets, rules
from vpnrunbook.policy.presets import get_preset

SEED = get_preset("seed-s2s")


def names(proposal, type_):
    return [a.text for a in proposal.algorithms(type_)]


def test_ike_proposal_gets_the_prf_of_each_integrity_algorithm():
    p = parse_proposal("aes256-sha384-sha1-modp2048s256", "IKE")
    assert names(p, ENCR) == ["AES_CBC-256"]
    assert names(p, INTEG) == ["HMAC_SHA2_384_192", "HMAC_SHA1_96"]
    assert names(p, PRF) == ["PRF_HMAC_SHA2_384", "PRF_HMAC_SHA1"]
    assert names(p, KE) == ["MODP_2048_256"]


def test_aead_drops_integrity_and_needs_an_explicit_prf_in_ike():
    p = parse_proposal("aes256gcm16-prfsha384-ecp384", "IKE")
    assert names(p, INTEG) == [] and names(p, PRF) == ["PRF_HMAC_SHA2_384"]
    with pytest.raises(ProposalError, match="no PRF"):
        parse_proposal("aes256gcm16-ecp384", "IKE")
    esp = parse_proposal("aes256gcm16-sha256-ecp384", "ESP")
    assert names(esp, INTEG) == [] and names(esp, KE) == ["ECP_384"]


@pytest.mark.parametrize(("text", "protocol", "message"), [
    ("aes256-sha256", "IKE", "no Diffie-Hellman group"),
    ("aes256-prfsha256-modp2048", "IKE", "no integrity"),
    ("aes256-modp2048", "IKE", "no PRF"),
    ("aes256gcm16-aes256-sha256", "ESP", "mixes classic and combined-mode"),
    ("sha256-modp2048", "IKE", "no encryption"),
    ("aes256-sha256-foo", "ESP", "unknown keyword 'foo'"),
    ("default", "IKE", "write the algorithms explicitly"),
    ("", "ESP", "holds no proposal"),
])
def test_refused_proposals_name_field_value_and_what_is_allowed(text, protocol, message):
    with pytest.raises(ProposalError, match=message) as info:
        parse_proposals([text] if text else [""], protocol, field_name="device_esp")
    assert info.value.field.startswith("device_esp")
    assert info.value.allowed


def test_esp_gets_noesn_and_loses_prfs():
    p = parse_proposal("aes128-sha1-prfsha256", "ESP")
    assert names(p, PRF) == [] and [a.name for a in p.algorithms("esn")] == ["NO_EXT_SEQ"]


def test_comma_separated_string_and_list_are_the_same():
    assert [p.text for p in parse_proposals("aes256-sha1-modp1024, aes128-sha256-ecp256", "IKE")] == \
        [p.text for p in parse_proposals(["aes256-sha1-modp1024", "aes128-sha256-ecp256"], "IKE")]


def test_seed_policy_keywords():
    sp = strongswan_proposals(SEED)
    assert sp.ike == ("aes256-sha384-modp2048s256",)  # group 24 = modp2048s256
    assert sp.esp == ("aes256-sha256",)               # PFS None: no group


def test_gcm_ike_writes_integrity_as_prf_and_pfs_in_esp():
    sp = strongswan_proposals(get_preset("strong-modern"))
    assert sp.ike == ("aes256gcm16-prfsha384-ecp384",)
    assert sp.esp == ("aes256gcm16-ecp384",)


@pytest.mark.parametrize("field", ["ike_encryption", "ike_integrity", "dh_group", "ipsec_encryption",
                                   "ipsec_integrity", "pfs_group"])
def test_every_allowed_value_of_every_field_maps_to_a_loadable_proposal(field):
    """Every Azure value becomes a keyword strongSwan parses back to the algorithm the value names."""
    spec = rules.FIELDS_BY_NAME[field]
    checked = 0
    for value in spec.choices:
        policy = replace(SEED, **{field: value})
        if field in ("ipsec_encryption", "ipsec_integrity"):
            gcm = value if value in rules.GCM_VALUES else None
            policy = replace(policy, ipsec_encryption=gcm or (value if field == "ipsec_encryption" else "AES256"),
                             ipsec_integrity=gcm or (value if field == "ipsec_integrity" else "SHA256"))
        if policy.problems() or policy.dh_group == "None":
            continue
        sp = strongswan_proposals(policy)
        ike = parse_proposal(sp.ike[0], "IKE")
        esp = parse_proposal(sp.esp[0], "ESP")
        if field == "dh_group":
            assert ike.algorithms(KE)[0].name.startswith(("MODP", "ECP"))
            assert rules.DH_GROUP_INFO[value].strongswan in sp.ike[0].split("-")
        if field == "pfs_group":
            expected = rules.pfs_strongswan(value, policy.dh_group)
            assert (expected in sp.esp[0].split("-")) if expected else not esp.has_pfs()
        if field == "ike_encryption" and value in rules.GCM_VALUES:
            assert ike.algorithms(INTEG) == () and "prf" + rules.IKE_INTEGRITY_STRONGSWAN[policy.ike_integrity] in sp.ike[0]
        checked += 1
    assert checked >= 3


def test_dh_none_cannot_be_written_for_ikev2():
    with pytest.raises(ProposalError, match="needs a Diffie-Hellman group"):
        strongswan_proposals(replace(SEED, dh_group="None"))


def test_azure_default_lists_by_role():
    init = strongswan_proposals(None, role="initiator")
    resp = strongswan_proposals(None, role="responder")
    assert len(init.ike) == len(presets.DEFAULT_IKE_OFFERS) == 6
    assert all(p.endswith("-modp1024") for p in init.ike)
    assert len(init.esp) == 6 and len(resp.esp) == 26
    assert not any(parse_proposal(p, "ESP").has_pfs() for p in init.esp)
    assert "aes256-sha256-modp2048s256" in resp.esp and "aes256gcm16" in resp.esp
    with pytest.raises(ValueError, match="role"):
        strongswan_proposals(None, role="both")  # type: ignore[arg-type]


def test_device_defaults_are_in_both_of_azures_default_lists():
    dev = device_proposals(None)
    for role in ("initiator", "responder"):
        azure = strongswan_proposals(None, role=role)
        assert set(dev.ike) <= set(azure.ike)
        assert set(dev.esp) <= set(azure.esp)
    assert policy_proposals(SEED) == (("aes256-sha384-modp2048s256",), ("aes256-sha256",))
