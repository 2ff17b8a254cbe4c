"""Every policy rule with a valid and an invalid case, the error text, and the choices where sources disagree."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as sdk

from vpnrunbook.policy import IpsecIkePolicy, PolicyValidationError, get_preset, rules

VALID = get_preset("seed-s2s")


def with_(**changes):
    return IpsecIkePolicy(**{**VALID.as_python_dict(), **changes})


def problems_for(**changes):
    return with_(**changes).problems()


@pytest.mark.parametrize("spec", [s for s in rules.FIELDS if s.choices], ids=lambda s: s.name)
def test_every_allowed_value_is_accepted_and_an_unknown_one_refused(spec):
    for value in spec.choices:
        changes = {spec.name: value}
        if spec.name in ("ipsec_encryption", "ipsec_integrity") and (value in rules.GCM_VALUES):
            changes = {"ipsec_encryption": value, "ipsec_integrity": value}
        if spec.name == "ipsec_integrity" and value not in rules.GCM_VALUES:
            changes["ipsec_encryption"] = "AES256"
        assert problems_for(**changes) == [], (spec.name, value)
    (p,) = problems_for(**{spec.name: "ROT13"})
    assert p.field == spec.name and p.value == "ROT13"
    assert "'ROT13' is not allowed" in str(p)
    for value in spec.choices:
        assert value in p.allowed


def test_allowed_sets_are_subsets_of_the_sdk_enums():
    pairs = [("ike_encryption", sdk.IkeEncryption), ("ike_integrity", sdk.IkeIntegrity), ("dh_group", sdk.DhGroup),
             ("ipsec_encryption", sdk.IpsecEncryption), ("ipsec_integrity", sdk.IpsecIntegrity),
             ("pfs_group", sdk.PfsGroup)]
    for name, enum in pairs:
        assert set(rules.FIELDS_BY_NAME[name].choices) <= {e.value for e in enum}, name


def test_choice_gcm_ike_integrity_is_refused_though_in_the_rest_enum():
    # Sources disagree (S1 enum vs I1-I3: Azure stores it blank). Choice: refuse with a reason.
    assert "GCMAES256" in {e.value for e in sdk.IkeIntegrity}
    (p,) = problems_for(ike_integrity="GCMAES256", ike_encryption="GCMAES256")
    assert p.field == "ike_integrity" and "GCM is not supported for IKE integrity" in p.message


def test_choice_gcm_ike_encryption_is_accepted():
    assert problems_for(ike_encryption="GCMAES256", ike_integrity="SHA384") == []
    assert problems_for(ike_encryption="GCMAES128", ike_integrity="SHA256") == []


def test_choice_pfs14_and_pfsmm_accepted():
    assert problems_for(pfs_group="PFS14") == []
    assert problems_for(pfs_group="PFSMM") == []
    assert rules.pfs_rfc_group("PFSMM", "ECP384") == 20
    assert rules.pfs_rfc_group("PFS14", "DHGroup2") == rules.pfs_rfc_group("PFS2048", "DHGroup2") == 14


@pytest.mark.parametrize("enc,integ,ok", [
    ("GCMAES128", "GCMAES128", True), ("GCMAES192", "GCMAES192", True), ("GCMAES256", "GCMAES256", True),
    ("AES256", "SHA256", True), ("None", "SHA1", True), ("DES3", "MD5", True),
    ("GCMAES256", "SHA256", False), ("AES256", "GCMAES256", False), ("GCMAES128", "GCMAES256", False),
    ("None", "GCMAES128", False),
])
def test_ipsec_gcm_pairing(enc, integ, ok):
    problems = problems_for(ipsec_encryption=enc, ipsec_integrity=integ)
    assert (problems == []) is ok
    if not ok:
        assert problems[0].code == "GcmMismatch"
        assert "must use matching GCM algorithms" in problems[0].message
        assert enc in problems[0].message and integ in problems[0].message


@pytest.mark.parametrize("seconds,ok", [(300, True), (27000, True), (172799, True), (299, False), (172800, False),
                                        (-1, False)])
def test_sa_lifetime_seconds_range(seconds, ok):
    problems = problems_for(sa_life_time_seconds=seconds)
    assert (problems == []) is ok
    if not ok:
        assert "300 to 172799" in problems[0].allowed and problems[0].value == seconds


@pytest.mark.parametrize("kb,ok", [(0, True), (1024, True), (102400000, True), (2147483647, True), (1, False),
                                   (1023, False), (2147483648, False)])
def test_choice_sa_data_size_zero_or_1024_to_int32(kb, ok):
    problems = problems_for(sa_data_size_kilobytes=kb)
    assert (problems == []) is ok
    if not ok:
        assert problems[0].allowed == "0 or an integer from 1024 to 2147483647"


@pytest.mark.parametrize("value", ["14400", 14400.5, True, None, [1]])
def test_wrong_types_are_named(value):
    problems = problems_for(sa_life_time_seconds=value)
    assert len(problems) == 1 and problems[0].field == "sa_life_time_seconds"


def test_integral_float_is_accepted_as_int():
    assert problems_for(sa_life_time_seconds=14400.0) == []


def test_wrong_case_gets_a_hint():
    (p,) = problems_for(dh_group="dhgroup24")
    assert "did you mean 'DHGroup24'" in p.message


def test_all_fields_required_and_all_problems_reported_at_once():
    with pytest.raises(PolicyValidationError) as info:
        IpsecIkePolicy.from_mapping({"ike_encryption": "AES999", "pfs_group": "PFS3"})
    err = info.value
    fields = [p.field for p in err.problems]
    assert "ike_encryption" in fields and "pfs_group" in fields
    assert fields.count("ike_integrity") == 1 and "is required" in str(err)
    assert len(err.problems) == 8  # 2 bad values + 6 missing
    assert str(err).startswith("policy is invalid (8 problems)")


def test_unknown_key_is_refused_with_the_known_ones_listed():
    data = {**VALID.as_python_dict(), "ike_encription": "AES256"}
    with pytest.raises(PolicyValidationError) as info:
        IpsecIkePolicy.from_mapping(data)
    (p,) = info.value.problems
    assert p.field == "ike_encription" and "ike_encryption" in p.allowed


def test_rest_and_powershell_keys_are_accepted_and_errors_use_the_callers_name():
    wire = VALID.as_wire_dict()
    assert IpsecIkePolicy.from_mapping(wire) == VALID
    ps = {"IkeEncryption": "AES256", "IkeIntegrity": "SHA384", "DhGroup": "DHGroup24", "IpsecEncryption": "AES256",
          "IpsecIntegrity": "SHA256", "PfsGroup": "None", "SALifeTimeSeconds": 14400, "SADataSizeKilobytes": 102400000}
    assert IpsecIkePolicy.from_mapping(ps) == VALID
    with pytest.raises(PolicyValidationError) as info:
        IpsecIkePolicy.from_mapping({**wire, "dhGroup": "DH99"})
    assert info.value.problems[0].field == "dhGroup"


def test_one_policy_per_connection():
    assert rules.check_policy_list([VALID]) == []
    assert rules.check_policy_list([]) == []
    (p,) = rules.check_policy_list([VALID, VALID])
    assert p.code == "TooManyPolicies" and "at most one" in p.message


def test_dh_group_numbers_and_strongswan_keywords():
    assert rules.DH_GROUP_INFO["DHGroup24"].rfc_group == 24
    assert rules.DH_GROUP_INFO["DHGroup24"].strongswan == "modp2048s256"
    assert rules.DH_GROUP_INFO["DHGroup2048"].rfc_group == rules.DH_GROUP_INFO["DHGroup14"].rfc_group == 14
    assert rules.PFS_GROUP_INFO["PFS2048"].strongswan == "modp2048"
    assert rules.DH_GROUP_INFO["ECP256"].rfc_group == 19 and rules.DH_GROUP_INFO["ECP384"].rfc_group == 20
    assert set(rules.DH_GROUP_INFO) == set(rules.DH_GROUPS)
    assert set(rules.PFS_GROUP_INFO) == set(rules.PFS_GROUPS)


@pytest.mark.parametrize("key,ok", [("abc123", True), ("A" * 128, True), ("", False), ("A" * 129, False),
                                    ("has space", False), ("has-dash", False), ("tilde~", False), ("é", False),
                                    ("tab\t", False), ("!#$%&()*+,./:;<=>?@[]^_`{|}", True)])
def test_shared_key_charset_and_length(key, ok):
    problems = rules.check_shared_key(key)
    assert (problems == []) is ok
    for p in problems:
        assert p.value == "<redacted>" and (key not in str(p) or len(key) < 2)


@pytest.mark.parametrize("dpd,ok", [(9, True), (45, True), (3600, True), (8, False), (3601, False)])
def test_dpd_timeout_range(dpd, ok):
    assert (rules.check_dpd_timeout(dpd) == []) is ok


@pytest.mark.parametrize("sku,vpn_type,gen,ok", [
    ("VpnGw1", "RouteBased", "Generation1", True), ("VpnGw2", "RouteBased", "Generation2", True),
    ("VpnGw1", "RouteBased", "Generation2", False), ("VpnGw5", "RouteBased", "Generation1", False),
    ("Basic", "PolicyBased", "Generation1", True), ("VpnGw1", "PolicyBased", "Generation1", False),
    ("VpnGw9", "RouteBased", None, False),
])
def test_gateway_sku_generation_and_type(sku, vpn_type, gen, ok):
    assert (rules.check_gateway(sku=sku, vpn_type=vpn_type, generation=gen) == []) is ok


def test_custom_policy_refused_on_basic_and_policy_based():
    assert rules.supports_custom_policy("VpnGw1", "RouteBased")
    assert not rules.supports_custom_policy("Basic", "RouteBased")
    assert not rules.supports_custom_policy("VpnGw1", "PolicyBased")
    assert "Basic" in rules.custom_policy_refusal("Basic", "RouteBased")


def test_ikev1_not_on_basic():
    assert rules.check_connection_protocol("IKEv1", sku="VpnGw1") == []
    assert rules.check_connection_protocol("IKEv1", sku="Basic")[0].code == "IkeV1NotSupported"


def test_policy_based_gateway_speaks_ikev1_only():
    """Choice (issue 15.6): the rules reference §4 "IKE version by SKU" (A7, A7b, A15) and §6 (A8): PolicyBased/Basic
    is IKEv1 only. So 04 on a PolicyBased gateway refuses IKEv2 and accepts IKEv1, and no refusal offers as allowed
    a value the same gateway refuses."""
    [problem] = rules.check_connection_protocol("IKEv2", sku="Basic", vpn_type="PolicyBased")
    assert problem.code == "IkeV2NotSupportedOnPolicyBased" and problem.allowed.startswith("IKEv1")
    assert rules.check_connection_protocol("IKEv1", sku="Basic", vpn_type="PolicyBased") == []
    [basic] = rules.check_connection_protocol("IKEv1", sku="Basic", vpn_type="RouteBased")
    assert rules.check_connection_protocol(basic.allowed.split(" ")[0], sku="Basic", vpn_type="RouteBased") == []
    assert rules.check_connection_protocol(problem.allowed.split(" ")[0], sku="Basic", vpn_type="PolicyBased") == []


def test_vnet_layout_rules():
    space = ["10.1.0.0/16"]
    seed = [("FrontEnd", "10.1.0.0/24"), ("Backend", "10.1.1.0/24"), ("GatewaySubnet", "10.1.255.0/27")]
    assert rules.check_vnet_layout(space, seed) == []
    codes = lambda subs, **kw: [p.code for p in rules.check_vnet_layout(space, subs, **kw)]  # noqa: E731
    assert codes([("A", "10.2.0.0/24")]) == ["NetcfgSubnetRangeOutsideVnet"]
    assert codes([("A", "10.1.0.0/24"), ("B", "10.1.0.128/25")]) == ["NetcfgOverlappingSubnets"]
    assert codes([("GatewaySubnet", "10.1.255.0/30")]) == ["GatewaySubnetTooSmall"]
    assert codes([("GatewaySubnet", "10.1.255.0/29")]) == []
    assert codes([("GWSubnet", "10.1.255.0/27")], gateway_subnet_role="GWSubnet") == ["InvalidGatewaySubnetName"]
    assert codes([("A", "10.1.0.1/24")]) == ["InvalidAddressPrefix"]


def test_public_ip_rule():
    assert rules.check_public_ip("gateway_ip_address", "131.107.72.22") == []
    for bad in ("10.0.0.1", "300.1.1.1", "not-an-ip", "127.0.0.1"):
        (p,) = rules.check_public_ip("gateway_ip_address", bad)
        assert p.field == "gateway_ip_address" and p.value == bad


def test_overlapping_prefixes_between_sites():
    assert rules.overlapping(["10.1.0.0/16"], ["10.61.0.0/16", "10.62.0.0/16"]) == []
    assert rules.overlapping(["10.1.0.0/16"], ["10.1.5.0/24"]) == [("10.1.0.0/16", "10.1.5.0/24")]
