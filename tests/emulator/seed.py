"""The seed topology of the runbooks, built through the SDK only (NetworkManagementClient / ResourceManagementClient)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEED_POLICY = {"ikeEncryption": "AES256", "ikeIntegrity": "SHA384", "dhGroup": "DHGroup24",
               "ipsecEncryption": "AES256", "ipsecIntegrity": "SHA256", "pfsGroup": "None",
               "saLifeTimeSeconds": 14400, "saDataSizeKilobytes": 102400000}
V2V_POLICY = {"ikeEncryption": "AES128", "ikeIntegrity": "SHA1", "dhGroup": "DHGroup14",
              "ipsecEncryption": "GCMAES128", "ipsecIntegrity": "GCMAES128", "pfsGroup": "PFS14",
              "saLifeTimeSeconds": 14400, "saDataSizeKilobytes": 102400000}
S2S_KEY = "AzureA1b2C3"
V2V_KEY = "AzureA1b2C3v2v"


@dataclass
class Topology:
    vnet1: Any
    vnet2: Any
    gw1: Any
    gw2: Any
    site6: Any
    s2s: Any


def vnet_body(location: str, space: list[str], subnets: dict[str, str]) -> dict[str, Any]:
    return {"location": location, "properties": {
        "addressSpace": {"addressPrefixes": space},
        "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets.items()]}}


def gateway_body(location: str, subnet_id: str, pip_id: str, sku: str = "VpnGw1AZ", *, generation: str | None = None,
                 vpn_type: str = "RouteBased") -> dict[str, Any]:
    props: dict[str, Any] = {"gatewayType": "Vpn", "vpnType": vpn_type, "sku": {"name": sku, "tier": sku},
                             "ipConfigurations": [{"name": "gwipconfig1", "properties": {
                                 "privateIPAllocationMethod": "Dynamic", "subnet": {"id": subnet_id},
                                 "publicIPAddress": {"id": pip_id}}}]}
    if generation:
        props["vpnGatewayGeneration"] = generation
    return {"location": location, "properties": props}


def s2s_body(location: str, gw_id: str, lgw_id: str, *, key: str = S2S_KEY,
             policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    props = {"connectionType": "IPsec", "virtualNetworkGateway1": {"id": gw_id}, "localNetworkGateway2": {"id": lgw_id},
             "sharedKey": key, "ipsecPolicies": [policy] if policy else [], **extra}
    return {"location": location, "properties": props}


def v2v_body(location: str, gw_id: str, peer_id: str, *, key: str = V2V_KEY,
             policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    props = {"connectionType": "Vnet2Vnet", "virtualNetworkGateway1": {"id": gw_id},
             "virtualNetworkGateway2": {"id": peer_id}, "sharedKey": key,
             "ipsecPolicies": [policy] if policy else [], **extra}
    return {"location": location, "properties": props}


def network(session: Any, rg: str, vnet: str, location: str, space: list[str], subnets: dict[str, str]) -> Any:
    session.resources.resource_groups.create_or_update(rg, {"location": location})
    return session.network.virtual_networks.begin_create_or_update(
        rg, vnet, vnet_body(location, space, subnets)).result()


def public_ip(session: Any, rg: str, name: str, location: str) -> Any:
    return session.network.public_ip_addresses.begin_create_or_update(
        rg, name, {"location": location, "sku": {"name": "Standard"},
                   "properties": {"publicIPAllocationMethod": "Static"}}).result()


def gateway_subnet_id(vnet: Any) -> str:
    return next(s.id for s in vnet.subnets if s.name == "GatewaySubnet")


def gateway_parts(session: Any) -> dict[str, Any]:
    """A gateway body whose VNet (with GatewaySubnet) and public IP exist in resource group RG."""
    vnet = network(session, "RG", "VNet", "eastus", ["10.5.0.0/16"], {"GatewaySubnet": "10.5.255.0/27"})
    pip = public_ip(session, "RG", "pip", "eastus")
    return gateway_body("eastus", gateway_subnet_id(vnet), pip.id)


def build_topology(session: Any) -> Topology:
    n = session.network
    vnet1 = network(session, "TestRG1", "TestVNet1", "eastus", ["10.1.0.0/16"],
                    {"FrontEnd": "10.1.0.0/24", "Backend": "10.1.1.0/24", "GatewaySubnet": "10.1.255.0/27"})
    pip1 = public_ip(session, "TestRG1", "VNet1GWpip", "eastus")
    gw1 = n.virtual_network_gateways.begin_create_or_update(
        "TestRG1", "VNet1GW", gateway_body("eastus", gateway_subnet_id(vnet1), pip1.id, "VpnGw1AZ")).result()
    site6 = n.local_network_gateways.begin_create_or_update("TestRG1", "Site6", {
        "location": "eastus", "properties": {"gatewayIpAddress": "131.107.72.22",
                                             "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16", "10.62.0.0/16"]}}}
    ).result()
    s2s = n.virtual_network_gateway_connections.begin_create_or_update(
        "TestRG1", "VNet1toSite6", s2s_body("eastus", gw1.id, site6.id, policy=SEED_POLICY)).result()
    vnet2 = network(session, "TestRG2", "TestVNet2", "westus", ["10.21.0.0/16", "10.22.0.0/16"],
                    {"FrontEnd": "10.21.0.0/24", "Backend": "10.22.0.0/24", "GatewaySubnet": "10.22.255.0/27"})
    pip2 = public_ip(session, "TestRG2", "VNet2GWpip", "westus")
    gw2 = n.virtual_network_gateways.begin_create_or_update(
        "TestRG2", "VNet2GW", gateway_body("westus", gateway_subnet_id(vnet2), pip2.id, "VpnGw2AZ",
                                           generation="Generation2")).result()
    return Topology(vnet1, vnet2, gw1, gw2, site6, s2s)


def snapshot(session: Any) -> dict[str, Any]:
    """Everything the emulator holds, read through the SDK (for "nothing changed" assertions)."""
    n = session.network
    out: dict[str, Any] = {}
    for rg in session.resources.resource_groups.list():
        out[rg.id] = rg.as_dict()
        for ops in (n.virtual_networks, n.public_ip_addresses, n.virtual_network_gateways, n.local_network_gateways,
                    n.virtual_network_gateway_connections):
            for item in ops.list(rg.name):
                out[item.id] = item.as_dict()
    for c in [k for k in out if "/connections/" in k]:
        rg, name = c.split("/")[4], c.split("/")[-1]
        out[c + "#key"] = n.virtual_network_gateway_connections.get_shared_key(rg, name).value
    return out
