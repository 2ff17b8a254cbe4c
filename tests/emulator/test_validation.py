"""One negative test per Azure rule: the ARM error code, the field named, and nothing stored or changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed

GW_SUBNET_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/TestRG3/providers/"
                "Microsoft.Network/virtualNetworks/TestVNet3/subnets/{}")


def refused(session, code: str, action: Callable[[], Any], *, field: str | None = None) -> HttpResponseError:
    before = seed.snapshot(session)
    with pytest.raises(HttpResponseError) as info:
        action()
    err = info.value
    assert err.error.code == code, str(err)
    if field is not None:
        assert field in err.error.message
    assert seed.snapshot(session) == before, "a refused request changed the emulator's state"
    return err


@pytest.fixture
def vnet3(session, topology):
    """A third network for gateways the tests try to create (one VPN gateway per virtual network)."""
    vnet = seed.network(session, "TestRG3", "TestVNet3", "eastus", ["10.3.0.0/16"],
                        {"GatewaySubnet": "10.3.255.0/27", "Apps": "10.3.1.0/24"})
    pip = seed.public_ip(session, "TestRG3", "pip3", "eastus")
    return vnet, pip


def _conn(session):
    return session.network.virtual_network_gateway_connections


def _policy(**changes):
    return {**seed.SEED_POLICY, **changes}


# ---- virtual network layout --------------------------------------------------------------------------
@pytest.mark.parametrize(("subnets", "code", "field"), [
    ({"GatewaySubnet": "10.9.255.0/30"}, "GatewaySubnetTooSmall", "GatewaySubnet"),
    ({"Apps": "10.8.0.0/24"}, "NetcfgSubnetRangeOutsideVnet", "Apps"),
    ({"A": "10.9.0.0/24", "B": "10.9.0.128/25"}, "NetcfgOverlappingSubnets", "B"),
    ({"A": "10.9.0.1/24"}, "InvalidAddressPrefix", "10.9.0.1/24"),
])
def test_vnet_layout_rules(session, topology, subnets, code, field):
    body = seed.vnet_body("eastus", ["10.9.0.0/16"], subnets)
    refused(session, code, lambda: session.network.virtual_networks.begin_create_or_update(
        "TestRG1", "BadVNet", body).result(), field=field)


def test_vnet_update_cannot_move_subnets_outside_the_space(session, topology):
    body = seed.vnet_body("eastus", ["10.2.0.0/16"], {"FrontEnd": "10.1.0.0/24"})
    refused(session, "NetcfgSubnetRangeOutsideVnet", lambda: session.network.virtual_networks.begin_create_or_update(
        "TestRG1", "TestVNet1", body).result())


def test_subnet_create_outside_space_and_overlapping(session, topology):
    subnets = session.network.subnets
    refused(session, "NetcfgSubnetRangeOutsideVnet", lambda: subnets.begin_create_or_update(
        "TestRG1", "TestVNet1", "Far", {"properties": {"addressPrefix": "192.168.0.0/24"}}).result())
    refused(session, "NetcfgOverlappingSubnets", lambda: subnets.begin_create_or_update(
        "TestRG1", "TestVNet1", "Clash", {"properties": {"addressPrefix": "10.1.0.128/25"}}).result())


def test_subnet_holding_a_gateway_cannot_be_deleted(session, topology):
    refused(session, "InUseSubnetCannotBeDeleted", lambda: session.network.subnets.begin_delete(
        "TestRG1", "TestVNet1", "GatewaySubnet").result())


# ---- gateways ------------------------------------------------------------------------------------------
def test_gateway_subnet_must_be_named_gatewaysubnet(session, vnet3):
    _vnet, pip = vnet3
    body = seed.gateway_body("eastus", GW_SUBNET_ID.format("Apps"), pip.id)
    refused(session, "InvalidGatewaySubnetName", lambda: session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG3", "GW3", body).result(), field="GatewaySubnet")


@pytest.mark.parametrize(("sku", "generation", "vpn_type", "code", "field"), [
    ("VpnGw9", None, "RouteBased", "InvalidValue", "properties.sku.name"),
    ("VpnGw1", "Generation2", "RouteBased", "InvalidGatewaySize", "properties.vpnGatewayGeneration"),
    ("VpnGw5", "Generation1", "RouteBased", "InvalidGatewaySize", "properties.vpnGatewayGeneration"),
    ("VpnGw1", None, "PolicyBased", "InvalidGatewaySize", "properties.vpnType"),
    ("vpngw1", None, "RouteBased", "InvalidValue", "did you mean 'VpnGw1'"),
])
def test_gateway_sku_generation_and_vpn_type(session, vnet3, sku, generation, vpn_type, code, field):
    _vnet, pip = vnet3
    body = seed.gateway_body("eastus", GW_SUBNET_ID.format("GatewaySubnet"), pip.id, sku, generation=generation,
                             vpn_type=vpn_type)
    refused(session, code, lambda: session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG3", "GW3", body).result(), field=field)


@pytest.mark.parametrize(("change", "field"), [
    ({"gatewayType": "ExpressRoute"}, "properties.gatewayType"),
    ({"vpnType": "PolicyBased"}, "properties.vpnType"),
    ({"vpnGatewayGeneration": "Generation1"}, "properties.vpnGatewayGeneration"),
])
def test_gateway_type_and_generation_are_immutable(session, topology, change, field):
    gw2 = topology.gw2
    body = seed.gateway_body("westus", seed.gateway_subnet_id(topology.vnet2),
                             gw2.ip_configurations[0].public_ip_address.id, "VpnGw2AZ", generation="Generation2")
    body["properties"].update(change)
    refused(session, "PropertyChangeNotAllowed", lambda: session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG2", "VNet2GW", body).result(), field=field)


def test_gateway_references_must_exist(session, vnet3):
    body = seed.gateway_body("eastus", GW_SUBNET_ID.format("GatewaySubnet"),
                             GW_SUBNET_ID.split("/providers/")[0] + "/providers/Microsoft.Network/publicIPAddresses/nope")
    refused(session, "InvalidResourceReference", lambda: session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG3", "GW3", body).result())


def test_a_second_gateway_in_the_same_vnet_is_refused(session, topology):
    pip = seed.public_ip(session, "TestRG1", "secondpip", "eastus")
    body = seed.gateway_body("eastus", seed.gateway_subnet_id(topology.vnet1), pip.id)
    refused(session, "VnetAlreadyHasVpnGateway", lambda: session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG1", "SecondGW", body).result())


def _basic_gateway(session, vpn_type: str) -> Any:
    vnet = seed.network(session, "TestRG4", "TestVNet4", "eastus", ["10.4.0.0/16"], {"GatewaySubnet": "10.4.255.0/27"})
    pip = session.network.public_ip_addresses.begin_create_or_update(
        "TestRG4", "pip4", {"location": "eastus", "sku": {"name": "Standard"},
                            "properties": {"publicIPAllocationMethod": "Static"}}).result()
    return session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG4", "BasicGW", seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id, "Basic",
                                                vpn_type=vpn_type)).result()


@pytest.mark.parametrize("vpn_type", ["RouteBased", "PolicyBased"])
def test_custom_policy_refused_on_basic_and_policy_based(session, topology, vpn_type):
    gw = _basic_gateway(session, vpn_type)
    # a PolicyBased gateway speaks IKEv1 only (rules reference §4/§6): its connection says so
    protocol = {"connectionProtocol": "IKEv1"} if vpn_type == "PolicyBased" else {}
    body = seed.s2s_body("eastus", gw.id, topology.site6.id, policy=seed.SEED_POLICY, **protocol)
    err = refused(session, "CustomIpsecPolicyNotSupported", lambda: _conn(session).begin_create_or_update(
        "TestRG4", "BasicToSite6", body).result(), field="properties.ipsecPolicies")
    assert ("Basic" if vpn_type == "RouteBased" else "Basic gateway SKU") in err.error.message
    # Without the policy the same connection is accepted.
    body["properties"]["ipsecPolicies"] = []
    assert _conn(session).begin_create_or_update("TestRG4", "BasicToSite6", body).result().provisioning_state == "Succeeded"


def test_ikev2_refused_on_policy_based(session, topology):
    gw = _basic_gateway(session, "PolicyBased")
    body = seed.s2s_body("eastus", gw.id, topology.site6.id, connectionProtocol="IKEv2")
    refused(session, "IkeV2NotSupportedOnPolicyBased", lambda: _conn(session).begin_create_or_update(
        "TestRG4", "PbToSite6", body).result(), field="properties.connectionProtocol")


def test_ikev1_refused_on_basic(session, topology):
    gw = _basic_gateway(session, "RouteBased")
    body = seed.s2s_body("eastus", gw.id, topology.site6.id, connectionProtocol="IKEv1")
    refused(session, "IkeV1NotSupported", lambda: _conn(session).begin_create_or_update(
        "TestRG4", "BasicToSite6", body).result(), field="properties.connectionProtocol")


def test_basic_public_ip_refused_on_vpngw_sku(session, vnet3):
    # Basic IPs can no longer be created: one made before the retirement is kept in the store as it was
    pip = session.network.public_ip_addresses.begin_create_or_update(
        "TestRG3", "basicpip", {"location": "eastus", "sku": {"name": "Standard"}}).result()
    store = session.transport.app.store
    with store.write() as db:
        rec = store.get(db, pip.id.lower(), store.now())
        rec.body["sku"] = {"name": "Basic", "tier": "Regional"}
        store.save(db, rec)
    body = seed.gateway_body("eastus", GW_SUBNET_ID.format("GatewaySubnet"), pip.id, "VpnGw1AZ")
    refused(session, "PublicIpWithBasicSkuNotAllowedOnVPNGateways",
            lambda: session.network.virtual_network_gateways.begin_create_or_update("TestRG3", "GW3", body).result())


# ---- connection policy ------------------------------------------------------------------------------
@pytest.mark.parametrize(("policies", "code", "field"), [
    ([_policy(ikeEncryption="AES512")], "InvalidValue", "properties.ipsecPolicies[0].ikeEncryption"),
    ([_policy(dhGroup="dhgroup24")], "InvalidValue", "did you mean 'DHGroup24'"),
    ([_policy(ikeIntegrity="GCMAES256")], "InvalidValue", "properties.ipsecPolicies[0].ikeIntegrity"),
    ([_policy(ipsecEncryption="GCMAES256", ipsecIntegrity="SHA256")], "GcmMismatch",
     "properties.ipsecPolicies[0].ipsecIntegrity"),
    ([_policy(saLifeTimeSeconds=200)], "OutOfRange", "properties.ipsecPolicies[0].saLifeTimeSeconds"),
    ([_policy(saDataSizeKilobytes=512)], "OutOfRange", "properties.ipsecPolicies[0].saDataSizeKilobytes"),
    ([{k: v for k, v in seed.SEED_POLICY.items() if k != "pfsGroup"}], "MissingField",
     "properties.ipsecPolicies[0].pfsGroup"),
    ([seed.SEED_POLICY, seed.V2V_POLICY], "TooManyPolicies", "properties.ipsecPolicies"),
])
def test_policy_values_pairing_and_count(session, topology, policies, code, field):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id)
    body["properties"]["ipsecPolicies"] = policies
    refused(session, code, lambda: _conn(session).begin_create_or_update(
        "TestRG1", "VNet1toSite6", body).result(), field=field)


@pytest.mark.parametrize("key", ["has space", "dash-key", "tilde~key", "x" * 129, "ключ"])
def test_shared_key_charset_and_length(session, topology, key):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id, key=key)
    err = refused(session, "InvalidSharedKey", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "NewConn", body).result(), field="properties.sharedKey")
    assert key not in str(err) and key not in err.response.text()  # the key is never echoed


def test_set_shared_key_is_checked_too(session, topology):
    err = refused(session, "InvalidSharedKey", lambda: _conn(session).begin_set_shared_key(
        "TestRG1", "VNet1toSite6", {"value": "bad key"}).result())
    assert "bad key" not in err.response.text()


@pytest.mark.parametrize("dpd", [8, 3601])
def test_dpd_timeout_range(session, topology, dpd):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id, dpdTimeoutSeconds=dpd)
    refused(session, "OutOfRange", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "VNet1toSite6", body).result(), field="properties.dpdTimeoutSeconds")


def test_vnet2vnet_requires_a_second_gateway(session, topology):
    body = seed.v2v_body("eastus", topology.gw1.id, topology.gw2.id)
    del body["properties"]["virtualNetworkGateway2"]
    refused(session, "Vnet2VnetConnectionRequiresGateway2", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "VNet1toVNet2", body).result(), field="properties.virtualNetworkGateway2")


def test_ipsec_requires_a_local_gateway(session, topology):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id)
    del body["properties"]["localNetworkGateway2"]
    refused(session, "IPsecConnectionRequiresLocalNetworkGateway", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "NewConn", body).result(), field="properties.localNetworkGateway2")


def test_connection_protocol_is_immutable(session, topology):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id, policy=seed.SEED_POLICY,
                         connectionProtocol="IKEv1")
    refused(session, "PropertyChangeNotAllowed", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "VNet1toSite6", body).result(), field="properties.connectionProtocol")


def test_connection_type_is_immutable(session, topology):
    body = seed.v2v_body("eastus", topology.gw1.id, topology.gw2.id)
    refused(session, "PropertyChangeNotAllowed", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "VNet1toSite6", body).result(), field="properties.connectionType")


def test_overlapping_address_spaces_refused(session, topology):
    # A local network that overlaps TestVNet1 ...
    site = session.network.local_network_gateways.begin_create_or_update("TestRG1", "Overlap", {
        "location": "eastus", "properties": {"gatewayIpAddress": "131.107.72.23",
                                             "localNetworkAddressSpace": {"addressPrefixes": ["10.1.128.0/17"]}}}).result()
    refused(session, "LocalNetworkAddressSpaceOverlap", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "ToOverlap", seed.s2s_body("eastus", topology.gw1.id, site.id)).result(), field="10.1.0.0/16")
    # ... and a VNet-to-VNet pair whose networks overlap.
    vnet = seed.network(session, "TestRG5", "Clone", "eastus", ["10.1.0.0/16"], {"GatewaySubnet": "10.1.255.0/27"})
    pip = seed.public_ip(session, "TestRG5", "pip5", "eastus")
    gw = session.network.virtual_network_gateways.begin_create_or_update(
        "TestRG5", "CloneGW", seed.gateway_body("eastus", seed.gateway_subnet_id(vnet), pip.id)).result()
    refused(session, "VnetAddressSpacesOverlap", lambda: _conn(session).begin_create_or_update(
        "TestRG1", "ToClone", seed.v2v_body("eastus", topology.gw1.id, gw.id)).result())


# ---- public IPs and local gateways ----------------------------------------------------------------------
def test_standard_public_ip_must_be_static(session, topology):
    refused(session, "StandardSkuPublicIPAddressesMustBeStatic", lambda: session.network.public_ip_addresses
            .begin_create_or_update("TestRG1", "dyn", {"location": "eastus", "sku": {"name": "Standard"},
                                                       "properties": {"publicIPAllocationMethod": "Dynamic"}}).result())


@pytest.mark.parametrize(("ip", "prefixes", "code"), [
    ("224.0.0.1", ["10.61.0.0/16"], "InvalidIPAddress"),  # a private address is accepted (recordings/ps_…)
    ("not-an-ip", ["10.61.0.0/16"], "InvalidIPAddress"),
    ("131.107.72.22", ["10.61.0.0/33"], "InvalidAddressPrefix"),
    ("131.107.72.22", [], "InvalidAddressPrefix"),
])
def test_local_gateway_address_rules(session, topology, ip, prefixes, code):
    refused(session, code, lambda: session.network.local_network_gateways.begin_create_or_update("TestRG1", "Bad", {
        "location": "eastus", "properties": {"gatewayIpAddress": ip,
                                             "localNetworkAddressSpace": {"addressPrefixes": prefixes}}}).result())
