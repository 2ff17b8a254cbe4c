"""Today's Azure (issue 17, point 6): SKUs and public IPs that can no longer be created.

Choices pinned here (sources in vpnrunbook/policy/rules.py and docs/azure-cli-and-todays-azure.md):
- Standard, HighPerformance and the non-AZ VpnGw1-5 are refused for a new gateway or as a resize target with
  Azure's InvalidGatewaySize, the message listing what can be created; an existing gateway keeps its SKU.
- A Basic public IP is refused with IPv4BasicSkuPublicIpCountLimitReached; a body without a SKU gets Standard.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed
from vpnrunbook.policy import rules

ROOT = Path(__file__).resolve().parents[2]


def _gateway_setup(session, rg: str = "TestRG7"):
    vnet = seed.network(session, rg, "TestVNet7", "eastus", ["10.7.0.0/16"], {"GatewaySubnet": "10.7.255.0/27"})
    pip = session.network.public_ip_addresses.begin_create_or_update(
        rg, "pip7", {"location": "eastus", "sku": {"name": "Standard"},
                     "properties": {"publicIPAllocationMethod": "Static"}}).result()
    return vnet, pip


@pytest.mark.parametrize("sku", sorted(rules.RETIRED_VPN_SKUS - {"Standard", "HighPerformance"}))
def test_new_gateway_with_a_retired_sku_is_refused(session, sku):
    vnet, pip = _gateway_setup(session)
    body = seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id, sku)
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateways.begin_create_or_update("TestRG7", "GW7", body).result()
    err = info.value
    assert err.error.code == "InvalidGatewaySize"
    assert "supported gateway sizes are" in err.error.message
    assert f"{sku}AZ" in err.error.message  # the current equivalent is named
    gateways = session.network.virtual_network_gateways
    assert [g.name for g in gateways.list("TestRG7")] == []  # nothing created


def test_az_sku_is_created_and_an_existing_retired_sku_is_kept(session):
    vnet, pip = _gateway_setup(session)
    body = seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id, "VpnGw1AZ")
    gw = session.network.virtual_network_gateways.begin_create_or_update("TestRG7", "GW7", body).result()
    assert gw.sku.name == "VpnGw1AZ"
    # a gateway created before the consolidation keeps working: stored as it was
    store = session.transport.app.store
    with store.write() as db:
        rec = store.get(db, gw.id.lower(), store.now())
        rec.body["properties"]["sku"] = {"name": "VpnGw1", "tier": "VpnGw1", "capacity": 2}
        store.save(db, rec)
    body = seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id, "VpnGw1")
    kept = session.network.virtual_network_gateways.begin_create_or_update("TestRG7", "GW7", body).result()
    assert kept.sku.name == "VpnGw1"
    # … but cannot be resized to another retired SKU
    body = seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id, "VpnGw2")
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateways.begin_create_or_update("TestRG7", "GW7", body).result()
    assert info.value.error.code == "InvalidGatewaySize"


def test_basic_public_ip_cannot_be_created(session):
    seed.network(session, "TestRG7", "TestVNet7", "eastus", ["10.7.0.0/16"], {"GatewaySubnet": "10.7.255.0/27"})
    ips = session.network.public_ip_addresses
    with pytest.raises(HttpResponseError) as info:
        ips.begin_create_or_update("TestRG7", "basic", {"location": "eastus", "sku": {"name": "Basic"}}).result()
    assert info.value.error.code == "IPv4BasicSkuPublicIpCountLimitReached"
    assert [p.name for p in ips.list("TestRG7")] == []
    made = ips.begin_create_or_update("TestRG7", "nosku", {"location": "eastus"}).result()
    assert made.sku.name == "Standard" and made.public_ip_allocation_method == "Static"


def test_package_refuses_a_retired_sku_before_any_write(session):
    from vpnrunbook import operations as ops
    from vpnrunbook.operations.errors import PrecheckError

    _gateway_setup(session)
    with pytest.raises(PrecheckError) as info:
        ops.begin_create_vpn_gateway(session, resource_group="TestRG7", name="GW7", location="eastus",
                                     vnet_name="TestVNet7", public_ip_name="pip7", sku="VpnGw1", apply=True,
                                     progress=False)
    [problem] = [p for p in info.value.problems if p.code == "InvalidGatewaySize"]
    assert problem.field == "sku" and "VpnGw1AZ" in problem.message
    assert [g.name for g in session.network.virtual_network_gateways.list("TestRG7")] == []


def test_seed_files_use_creatable_skus_and_say_what_the_document_had():
    for f in sorted((ROOT / "parameters" / "seed").glob("01_*.yaml")):
        text = f.read_text(encoding="utf-8")
        sku = yaml.safe_load(text)["gateway_sku"]
        assert sku in rules.CREATABLE_VPN_SKUS, f
        assert "retired" in text, f  # the seed file says why it differs from the document
