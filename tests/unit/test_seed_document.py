"""The seed parameter files hold the seed document's values: names, prefixes, SKUs (or today's equivalent, said
in the file), policy fields, DPD, traffic selectors and the shared key (by reference) — read out of the document
itself (tests/unit/seed_document.py), not written here a second time. And docs/seed-workflow.md maps every
command of the document."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.unit import seed_document as doc
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import load_policy_file
from vpnrunbook.runbook.demo import DOCUMENT_SHARED_KEY, RUNS, SEED_DIR, SEED_KEY_ENV
from vpnrunbook.runbook.steps import get_step

REPO = doc.REPO
SCRIPT = doc.parse()


def seed(name: str) -> dict:
    return yaml.safe_load((SEED_DIR / name).read_text(encoding="utf-8"))


def comments(name: str) -> str:
    return "\n".join(line for line in (SEED_DIR / name).read_text(encoding="utf-8").splitlines() if "#" in line)


def policy_of(value) -> dict:
    """A seed file's policy (a path to a policy file, a mapping) as the eight fields."""
    if isinstance(value, str):
        return load_policy_file(REPO / value).as_python_dict()
    return dict(value)


def test_the_document_parses_into_the_workflow():
    # a parser that read nothing would make every comparison below vacuous
    assert set(doc.gateways(SCRIPT)) == {"VNet1GW", "VNet2GW"}
    assert set(doc.connections(SCRIPT)) == {"VNet1toSite6", "VNet1toVNet2", "VNet2toVNet1"}
    assert len(doc.connection_updates(SCRIPT)) == 5 and len(SCRIPT.all("New-AzIpsecPolicy")) == 3


@pytest.mark.parametrize("file,gateway", [("01_vnet1_gateway.yaml", "VNet1GW"), ("01_vnet2_gateway.yaml", "VNet2GW")])
def test_gateway_files_hold_the_documents_values(file, gateway):
    want = doc.gateways(SCRIPT)[gateway]
    got = seed(file)
    for key in ("resource_group", "location", "vnet_name", "address_space", "subnets", "gateway_subnet",
                "gateway_name", "public_ip_name", "ip_configuration_name", "vpn_type"):
        assert got[key] == want[key], f"{file}: {key} is {got[key]!r}, the document has {want[key]!r}"
    assert got.get("generation") == want["generation"]
    assert want["vnet_resource_group"] == want["pip_resource_group"] == got["resource_group"]
    assert want["gateway_type"] == "Vpn"  # step 01 makes VPN gateways only
    # today's Azure forces two differences; the file says what the document had, what is used and why
    assert want["gateway_sku"] in rules.RETIRED_VPN_SKUS
    assert got["gateway_sku"] == rules.CURRENT_EQUIVALENT[want["gateway_sku"]]
    notes = comments(file)
    assert f"{want['gateway_sku']} → {got['gateway_sku']}" in notes and "can no longer be created" in notes
    assert want["allocation"] == "Dynamic" and "Dynamic (Basic) → Static Standard" in notes
    assert "PublicIpWithBasicSkuNotAllowedOnVPNGateways" in notes


def test_the_step_names_the_ip_configuration_and_defaults_to_the_documents_names():
    params = {p.name: p.default for p in get_step("01").params}
    vnet1 = doc.gateways(SCRIPT)["VNet1GW"]
    for key in ("resource_group", "location", "vnet_name", "gateway_name", "public_ip_name", "ip_configuration_name"):
        assert params[key] == vnet1[key]


def test_local_gateway_file_holds_the_documents_values():
    lng = SCRIPT.one("New-AzLocalNetworkGateway")
    got = seed("02_site6.yaml")
    assert got["local_gateway_name"] == lng.arg("Name") and got["resource_group"] == lng.arg("ResourceGroupName")
    assert got["location"] == lng.arg("Location") and got["gateway_ip_address"] == lng.arg("GatewayIpAddress")
    assert got["address_prefixes"] == doc.as_list(lng.arg("AddressPrefix"))


def test_policy_files_hold_the_documents_policies():
    conns = doc.connections(SCRIPT)
    for file, connection, saved in (("03_policy_seed_s2s.yaml", "VNet1toSite6", "seed-s2s"),
                                    ("03_policy_seed_vnet2vnet.yaml", "VNet1toVNet2", "seed-vnet2vnet")):
        got = seed(file)
        assert got["policy_name"] == saved and got["base"] == conns[connection]["policy"], file
        assert load_policy_file(REPO / "parameters/policies" / f"{saved}.yaml").as_python_dict() == got["base"]


def test_s2s_connection_file_holds_the_documents_values_and_its_key_by_reference():
    want = doc.connections(SCRIPT)["VNet1toSite6"]
    got = seed("04_vnet1_to_site6.yaml")
    assert got["connection_name"] == "VNet1toSite6"
    for key in ("resource_group", "location", "connection_type", "gateway_name", "local_gateway_name"):
        assert got[key] == want[key], key
    assert want["gateway_resource_group"] == got["resource_group"]
    assert policy_of(got["policy"]) == want["policy"]
    # the key by reference; the demo resolves that reference to the document's key when nothing is exported
    assert got["shared_key_ref"] == f"env:{SEED_KEY_ENV}" and want["shared_key"] == DOCUMENT_SHARED_KEY
    assert not rules.check_shared_key(DOCUMENT_SHARED_KEY)


def test_vnet2vnet_file_holds_both_directions_of_the_document():
    conns = doc.connections(SCRIPT)
    got = seed("04_vnet1_to_vnet2.yaml")
    there, back = conns[got["connection_name"]], conns[got["peer_connection_name"]]
    assert (got["connection_name"], got["peer_connection_name"]) == ("VNet1toVNet2", "VNet2toVNet1")
    assert got["connection_type"] == there["connection_type"] == back["connection_type"] == "Vnet2Vnet"
    assert (got["resource_group"], got["gateway_name"], got["location"]) == (
        there["resource_group"], there["gateway_name"], there["location"])
    assert (got["peer_resource_group"], got["peer_gateway_name"], got["peer_location"]) == (
        back["resource_group"], back["gateway_name"], back["location"])
    assert (there["peer_gateway_name"], back["peer_gateway_name"]) == (back["gateway_name"], there["gateway_name"])
    assert policy_of(got["policy"]) == there["policy"] == back["policy"]
    assert got["shared_key_ref"] == f"env:{SEED_KEY_ENV}"
    assert there["shared_key"] == back["shared_key"] == DOCUMENT_SHARED_KEY


def test_update_and_remove_files_hold_the_documents_changes():
    updates = doc.connection_updates(SCRIPT)
    got = seed("05_update_vnet1_to_site6.yaml")
    changes = [u for u in updates if not u["removes_policy"]]
    assert {(u["resource_group"], u["connection_name"]) for u in updates} == {
        (got["resource_group"], got["connection_name"])}
    # the document's Set- calls, one after another, end in this state; the seed makes it in one update
    (new_policy,) = {tuple(sorted(u["policy"].items())) for u in changes if u["policy"]}
    assert policy_of(got["policy"]) == dict(new_policy)
    assert load_policy_file(REPO / "parameters/policies/seed-update.yaml").as_python_dict() == dict(new_policy)
    assert {u["dpd_timeout_seconds"] for u in changes} - {None} == {got["dpd_timeout_seconds"]}
    assert {u["use_policy_based_traffic_selectors"] for u in changes} - {None} == {
        got["use_policy_based_traffic_selectors"]}
    removal = seed("06_remove_vnet1_to_site6.yaml")
    assert updates[-1]["removes_policy"]
    assert (removal["resource_group"], removal["connection_name"]) == (
        updates[-1]["resource_group"], updates[-1]["connection_name"])


def test_every_seed_value_is_the_documents_or_named_as_a_difference():
    """No seed file adds a value the document lacks: every prefix, name and address in the seed is declared in the
    document (the SKUs excepted: they are named as differences above)."""
    declared = set(SCRIPT.declared.values())
    for run in RUNS:
        data = seed(run.params)
        for value in _strings(data):
            if re.fullmatch(r"[\d.]+/\d+|\d+\.\d+\.\d+\.\d+", value):
                assert value in declared, f"{run.params}: {value} is not in the document"
    for file in ("01_vnet1_gateway.yaml", "01_vnet2_gateway.yaml"):
        for key in ("vnet_name", "gateway_name", "public_ip_name", "ip_configuration_name", "resource_group"):
            assert seed(file)[key] in declared, (file, key)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_every_command_of_the_document_has_a_row_in_the_mapping_table():
    table = Path(REPO / "docs/seed-workflow.md").read_text(encoding="utf-8")
    rows = {m.group(1) for m in re.finditer(r"^\| \d+ \| `([^`]+)`", table, re.M)}
    missing = [doc.render(c) for c in doc.commands(SCRIPT) if doc.render(c) not in rows]
    assert not missing, "docs/seed-workflow.md has no row for: " + "; ".join(missing)
    extra = rows - {doc.render(c) for c in doc.commands(SCRIPT)}
    assert not extra, f"rows for commands the document does not have: {extra}"
