"""Issue 15.4: a plan names every field whose strength drops — an update and the removal of a policy (Azure's default
proposals, judged by the weakest offer Azure then accepts) — as a warning in the plan and its record (the evidence)."""

from __future__ import annotations

import json

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.policy.strength import default_accepted_weakest, weakening

from .conftest import RG1, build_site6, build_vnet1, s2s


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Weakening0Tests")


@pytest.fixture
def s2s_ready(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    s2s(session)  # seed-s2s: AES256/SHA384/DHGroup24, AES256/SHA256, PFS None
    return session


def _weaker(plan) -> dict[str, str]:
    return {w.field: w.message for w in plan.warnings if "WEAKER" in w.message}


def test_an_update_names_each_field_it_weakens(s2s_ready):
    plan = ops.plan_connection_update(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="seed-update")  # AES128/SHA1/DHGroup14
    weaker = _weaker(plan)
    assert set(weaker) == {"ike_encryption", "ike_integrity"}  # DHGroup24 → DHGroup14 is stronger: not named
    assert "SHA384 (strong) → SHA1 (weak)" in weaker["ike_integrity"]
    assert "AES256 (strong) → AES128 (acceptable)" in weaker["ike_encryption"]
    record = json.loads(json.dumps(plan.to_record()))
    assert {w["field"] for w in record["warnings"] if "WEAKER" in w["message"]} == set(weaker)
    assert "WEAKER" in str(plan)


def test_removing_the_policy_is_judged_by_the_weakest_default_azure_accepts(s2s_ready):
    result = ops.remove_policy(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6")
    weaker = _weaker(result.plan)
    weakest = default_accepted_weakest()
    assert weakest["dh_group"] == "DHGroup2" and weakest["ike_integrity"] == "SHA1"
    assert weakest["ike_encryption"] == "DES3" and weakest["pfs_group"] == "PFS1"
    assert set(weaker) == {"ike_encryption", "ike_integrity", "ipsec_encryption", "ipsec_integrity", "pfs_group"}
    assert "Azure's default proposals, which accept DES3 (deprecated)" in weaker["ike_encryption"]
    assert result.to_record()["plan"]["warnings"]


def test_a_stronger_policy_is_not_a_weakening(s2s_ready):
    plan = ops.plan_connection_update(s2s_ready, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy="strong-modern")
    assert _weaker(plan) == {}
    assert weakening(None, None) == []
