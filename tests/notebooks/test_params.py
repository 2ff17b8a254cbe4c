"""Typed parameter validation: malformed YAML, unknown keys, wrong types, literal keys, seed files."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from vpnrunbook.runbook import params
from vpnrunbook.runbook.params import ParameterError
from vpnrunbook.runbook.steps import STEPS, get_step

SEED = REPO / "parameters" / "seed"


def _problems(step, data):
    return params.check_mapping(step, data)


def test_malformed_yaml_names_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("resource_group: TestRG1\nsubnets: {FrontEnd: 10.1.0.0/24\n")
    with pytest.raises(ParameterError) as exc:
        params.load_file("01_create_vnet_gateway", f)
    assert "not valid YAML at line" in str(exc.value) and str(f) in str(exc.value)


def test_non_mapping_yaml(tmp_path):
    f = tmp_path / "list.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(ParameterError, match="holds a list, not a mapping"):
        params.load_file("02_create_local_gateway", f)


def test_unknown_key_lists_allowed_names():
    (p,) = _problems("06_remove_policy", {"connection_nmae": "X"})
    assert p.field == "connection_nmae" and p.code == "UnknownParameter"
    assert "connection_name" in p.allowed


@pytest.mark.parametrize("field,value,expect", [
    ("gateway_ip_address", 131, "integer 131 has the wrong type"),
    ("address_prefixes", "10.61.0.0/16", "string '10.61.0.0/16' has the wrong type"),
    ("device_ike", 5, "integer 5 has the wrong type"),
    ("device_esp", {"a": "b"}, "has the wrong type"),
])
def test_wrong_types(field, value, expect):
    probs = _problems("02_create_local_gateway", {field: value})
    assert [p.field for p in probs] == [field]
    assert expect in probs[0].message and probs[0].allowed


def test_bool_is_not_an_int_and_string_is_not_a_bool():
    probs = _problems("04_connect", {"dpd_timeout_seconds": True, "use_policy_based_traffic_selectors": "yes"})
    assert {p.field for p in probs} == {"dpd_timeout_seconds", "use_policy_based_traffic_selectors"}


def test_literal_shared_key_refused_without_echo():
    probs = _problems("04_connect", {"shared_key_ref": "AzureA1b2C3"})
    assert [p.code for p in probs] == ["InvalidSecretReference"]
    assert "AzureA1b2C3" not in str(probs[0]) and probs[0].value == "<redacted>"


@pytest.mark.parametrize("ref", ["env:VPNRUNBOOK_SEED_KEY", "file:{secrets}/k", "generate"])
def test_secret_references_accepted(ref):
    from vpnrunbook.azure.secrets import secrets_dir

    ref = ref.format(secrets=secrets_dir())   # a file in the allowed secrets folder (issue 22.2)
    assert [p for p in _problems("04_connect", {"shared_key_ref": ref}) if p.field == "shared_key_ref"] == []


def test_semantic_checks_reuse_policy_rules():
    probs = _problems("01_create_vnet_gateway", {"gateway_sku": "Basic", "vpn_type": "PolicyBased",
                                                 "generation": "Generation9"})
    assert "generation" in {p.field for p in probs}
    probs = _problems("04_connect", {"policy": {"ike_encryption": "AES256"}})
    assert any(p.field.startswith("policy.") and p.code == "MissingField" for p in probs)
    probs = _problems("04_connect", {"policy": "no-such-preset"})
    assert probs[0].code == "UnknownPolicy"
    probs = _problems("05_update_policy", {"dpd_timeout_seconds": 5})
    assert probs[0].field == "dpd_timeout_seconds"
    probs = _problems("02_create_local_gateway", {"gateway_ip_address": "300.1.1.1"})
    assert probs[0].field == "gateway_ip_address"


def test_apply_is_owned_by_the_runner(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("connection_name: VNet1toSite6\napply: true\n")
    with pytest.raises(ParameterError, match="apply: is set by the runner"):
        params.load_file("06_remove_policy", f)


def test_validate_inside_notebook_returns_typed_values():
    ns = {p.name: p.default for p in get_step("06").params}
    P = params.validate("06_remove_policy", ns)
    assert P.connection_name == "VNet1toSite6" and P.apply is False
    assert P.table().column("parameter") == [p.name for p in get_step("06").params]
    assert list(P.table().to_frame().index) == [p.name for p in get_step("06").params]
    del ns["connection_name"]
    ns["resource_group"] = 5
    with pytest.raises(ParameterError) as exc:
        params.validate("06_remove_policy", ns)
    assert {p.field for p in exc.value.problems} == {"connection_name", "resource_group"}


def test_step_names_and_aliases():
    assert get_step("04").name == get_step("connect").name == get_step("04_connect.ipynb").name == "04_connect"
    with pytest.raises(KeyError, match="steps: 01_create_vnet_gateway"):
        get_step("99")


def test_every_declared_default_is_valid():
    for step in STEPS.values():
        defaults = {p.name: p.default for p in step.params}
        assert params.check_mapping(step.name, defaults) == [], step.name


def test_seed_files_are_valid_and_hold_no_literal_key():
    files = sorted(SEED.glob("*.yaml"))
    assert files, "parameters/seed holds the seed's parameter files"
    for f in files:
        step = f.name.split("_", 1)[0]
        params.load_file(step, f)
        text = f.read_text()
        assert "AzureA1b2C3" not in text and "sharedKey" not in text


@pytest.mark.parametrize("step", ["02_create_local_gateway", "03_create_policy"])
def test_device_proposals_checked_as_strongswan_loads_them(step):
    """device_ike/device_esp: a string or a list; an unknown keyword is refused naming the entry and the value."""
    ok = {"device_ike": ["aes256-sha384-modp2048s256", "aes128-sha256-ecp256"], "device_esp": "aes256-sha256"}
    assert _problems(step, ok) == []
    probs = _problems(step, {"device_ike": "aes256-sha384-modp2048s256, aes256-sha9-ecp384",
                             "device_esp": ["aes256-sha256", "bogus"]})
    assert [(p.field, p.value, p.code) for p in probs] == [
        ("device_ike[1]", "aes256-sha9-ecp384", "InvalidProposal"), ("device_esp[1]", "bogus", "InvalidProposal")]
    assert "sha9" in probs[0].message and "sha256" in probs[0].allowed
    (empty,) = _problems(step, {"device_ike": [], "device_esp": "aes256-sha256"})
    assert empty.field == "device_ike" and "no proposal" in empty.message


def test_create_policy_needs_both_device_lists():
    (p,) = _problems("03_create_policy", {"device_ike": "aes256-sha256-modp2048"})
    assert (p.field, p.code) == ("device_esp", "MissingField") and "device_ike" in p.message


def test_refuse_breaking_is_an_optional_bool():
    for step in ("04_connect", "05_update_policy", "06_remove_policy"):
        assert _problems(step, {"refuse_breaking": True}) == []
        (p,) = _problems(step, {"refuse_breaking": "yes"})
        assert p.field == "refuse_breaking" and p.code == "InvalidType"
