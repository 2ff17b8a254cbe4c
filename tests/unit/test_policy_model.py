"""The policy model: SDK round trips, REST names, YAML files, tables, presets, lint and strength."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models as sdk

from vpnrunbook.policy import (
    PRESETS,
    IpsecIkePolicy,
    PolicyValidationError,
    Strength,
    get_preset,
    lint,
    load_policy_file,
    overall_strength,
    policies_table,
    rules,
    save_policy_file,
)
from vpnrunbook.policy.strength import RATINGS

REST_NAMES = {"saLifeTimeSeconds", "saDataSizeKilobytes", "ipsecEncryption", "ipsecIntegrity", "ikeEncryption",
              "ikeIntegrity", "dhGroup", "pfsGroup"}


@pytest.mark.parametrize("name", ["seed-s2s", "seed-vnet2vnet"])
def test_sdk_serializer_uses_rest_property_names(name):
    policy = get_preset(name)
    wire = policy.to_sdk().as_dict()
    assert set(wire) == REST_NAMES
    assert wire == policy.as_wire_dict()
    conn = sdk.VirtualNetworkGatewayConnection(location="eastus", connection_type="IPsec",
                                               ipsec_policies=[policy.to_sdk()])
    assert conn.as_dict()["properties"]["ipsecPolicies"][0]["saLifeTimeSeconds"] == 14400


@pytest.mark.parametrize("name", list(PRESETS))
def test_round_trip_through_the_sdk_model(name):
    policy = get_preset(name)
    assert IpsecIkePolicy.from_sdk(policy.to_sdk()) == policy
    sdk_obj = sdk.IpsecPolicy(**policy.as_python_dict())
    assert IpsecIkePolicy.from_sdk(sdk_obj).dh_group == policy.dh_group
    assert isinstance(IpsecIkePolicy.from_sdk(sdk_obj).dh_group, str)


def test_seed_policies_exact():
    s2s, v2v = get_preset("seed-s2s"), get_preset("seed-vnet2vnet")
    assert (s2s.ike_encryption, s2s.ike_integrity, s2s.dh_group) == ("AES256", "SHA384", "DHGroup24")
    assert (s2s.ipsec_encryption, s2s.ipsec_integrity, s2s.pfs_group) == ("AES256", "SHA256", "None")
    assert (v2v.ipsec_encryption, v2v.ipsec_integrity, v2v.pfs_group) == ("GCMAES128", "GCMAES128", "PFS24")
    for p in (s2s, v2v):
        assert (p.sa_life_time_seconds, p.sa_data_size_kilobytes) == (14400, 102400000)
        p.validate()


def test_one_row_table_and_side_by_side():
    t = get_preset("seed-s2s").to_table(name="VNet1toSite6")
    assert t.shape == (1, 8) and t.loc["VNet1toSite6", "DH group"] == "DHGroup24"
    both = policies_table({"before": None, "after": get_preset("seed-update")})
    assert both.loc["before", "IKE encryption"] == "(default)" and both.loc["after", "IKE encryption"] == "AES128"


def test_yaml_round_trip(tmp_path):
    path = save_policy_file(get_preset("strong-modern"), tmp_path / "p.yaml")
    assert load_policy_file(path) == get_preset("strong-modern")


def test_repository_policy_files_load(tmp_path):
    from tests.conftest import REPO

    files = sorted((REPO / "parameters" / "policies").glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        load_policy_file(f)


@pytest.mark.parametrize("text,needle", [
    ("ike_encryption: [unclosed", "is not valid YAML at line 1"),
    ("- a\n- b\n", "holds a list, not a mapping"),
    ("ike_encryption: AES256\nbogus: 1\n", "bogus: is not a policy field"),
    ("ike_encryption: AES256\nike_integrity: SHA384\ndh_group: DHGroup24\nipsec_encryption: AES256\n"
     "ipsec_integrity: SHA256\npfs_group: None\nsa_life_time_seconds: ten\nsa_data_size_kilobytes: 1024\n",
     "sa_life_time_seconds: 'ten' is a str, expected an integer"),
])
def test_policy_file_errors_name_file_field_and_value(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PolicyValidationError) as info:
        load_policy_file(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyValidationError, match="cannot be read"):
        load_policy_file(tmp_path / "nope.yaml")


def test_every_allowed_value_has_a_strength_rating_with_reason_and_source():
    for spec in rules.FIELDS:
        if spec.choices is None:
            continue
        for value in spec.choices:
            rating = RATINGS[spec.name][value]
            assert rating.reason and rating.source, (spec.name, value)


def test_lint_returns_findings_with_reasons():
    findings = lint(get_preset("seed-s2s"))
    dh = [f for f in findings if f.field == "dh_group"]
    assert dh and dh[0].severity == "warning" and dh[0].strength == "weak" and "RFC 5114" in dh[0].message
    assert lint(get_preset("strong-modern")) == [f for f in lint(get_preset("strong-modern")) if f.severity == "info"]
    bad = lint({**get_preset("seed-s2s").as_python_dict(), "ike_integrity": "MD5", "ike_encryption": "DES"})
    assert {(f.field, f.strength) for f in bad if f.severity == "warning"} >= {("ike_integrity", "deprecated"),
                                                                               ("ike_encryption", "deprecated")}
    errors = lint({**get_preset("seed-s2s").as_python_dict(), "ipsec_integrity": "GCMAES128"})
    assert [f.severity for f in errors].count("error") == 1


def test_overall_strength_is_the_weakest_link():
    assert overall_strength(get_preset("strong-modern")) == Strength.STRONG
    assert overall_strength(get_preset("seed-s2s")) == Strength.WEAK  # DHGroup24
    assert overall_strength(IpsecIkePolicy(**{**get_preset("strong-modern").as_python_dict(), "dh_group": "DHGroup1"})) \
        == Strength.DEPRECATED
