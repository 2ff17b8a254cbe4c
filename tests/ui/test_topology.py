"""The topology SVG: drawn from plain dicts and from SDK objects, self-contained and escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace as NS

from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.ui.topology import collect_topology, render_topology_svg

SVG = "{http://www.w3.org/2000/svg}"
ID = "/subscriptions/0/resourceGroups/{}/providers/Microsoft.Network/{}/{}"


def rid(rg: str, kind: str, name: str) -> str:
    return ID.format(rg, kind, name)


def sample() -> dict:
    gw1, gw2 = rid("RG1", "virtualNetworkGateways", "GW1"), rid("RG2", "virtualNetworkGateways", "GW2")
    return {"resource_groups": [
        {"name": "RG1",
         "vnets": [{"id": rid("RG1", "virtualNetworks", "VNet1"), "name": "VNet1", "address_space": ["10.11.0.0/16", "10.12.0.0/16"]}],
         "gateways": [{"id": gw1, "name": "GW1", "vnet_id": rid("RG1", "virtualNetworks", "VNet1"), "sku": "VpnGw2",
                       "vpn_type": "RouteBased"}],
         "local_gateways": [{"id": rid("RG1", "localNetworkGateways", "Site6"), "name": "Site6",
                             "gateway_ip_address": "131.107.72.22", "address_prefixes": ["10.61.0.0/16", "10.62.0.0/16"]}],
         "connections": [
             {"name": "VNet1toSite6", "type": "IPsec", "status": "Connected", "gateway_id": gw1,
              "peer_id": rid("RG1", "localNetworkGateways", "Site6"), "policy": PRESETS["seed-s2s"].policy.summary()},
             {"name": "VNet1toVNet2", "type": "Vnet2Vnet", "status": "NotConnected", "gateway_id": gw1, "peer_id": gw2,
              "policy": "Azure default policy"}]},
        {"name": "RG2",
         "vnets": [{"id": rid("RG2", "virtualNetworks", "VNet2"), "name": "VNet2", "address_space": ["10.21.0.0/16"]}],
         "gateways": [{"id": gw2, "name": "GW2", "vnet_id": rid("RG2", "virtualNetworks", "VNet2"), "sku": "VpnGw3",
                       "vpn_type": "RouteBased"}],
         "local_gateways": [], "connections": []},
    ]}


def texts(root: ET.Element) -> str:
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def groups(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    return {g.get("data-name"): g for g in root.iter(f"{SVG}g") if g.get("class") == cls}


def test_every_element_is_drawn_with_its_details():
    svg = render_topology_svg(sample(), title="Seed")
    root = ET.fromstring(svg)  # well-formed XML
    assert set(groups(root, "resource-group")) == {"RG1", "RG2"}
    assert set(groups(root, "vnet")) == {"VNet1", "VNet2"}
    assert set(groups(root, "gateway")) == {"GW1", "GW2"}
    assert set(groups(root, "local-gateway")) == {"Site6"}
    conns = groups(root, "connection")
    assert set(conns) == {"VNet1toSite6", "VNet1toVNet2"}
    assert conns["VNet1toSite6"].get("data-status") == "Connected"
    # each connection with both ends known is drawn as a line
    assert all(list(c.iter(f"{SVG}path")) for c in conns.values())
    body = texts(root)
    for needle in ("10.11.0.0/16", "10.12.0.0/16", "10.21.0.0/16", "SKU VpnGw2", "SKU VpnGw3", "10.61.0.0/16",
                   "131.107.72.22", "VNet1toSite6 — IPsec — Connected", "VNet1toVNet2 — Vnet2Vnet — NotConnected",
                   PRESETS["seed-s2s"].policy.summary(), "Azure default policy"):
        assert needle in body, needle


def test_self_contained_no_script_no_external_reference():
    svg = render_topology_svg(sample())
    assert "<script" not in svg.lower() and "href" not in svg.lower()
    assert svg.count("http") == 1  # the xmlns only


def test_names_are_escaped():
    data = sample()
    data["resource_groups"][0]["vnets"][0]["name"] = "<script>alert(1)</script>&"
    svg = render_topology_svg(data)
    ET.fromstring(svg)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_empty_and_unknown_ends():
    ET.fromstring(render_topology_svg({"resource_groups": []}))
    data = sample()
    data["resource_groups"][0]["connections"][1]["peer_id"] = rid("Gone", "virtualNetworkGateways", "X")
    root = ET.fromstring(render_topology_svg(data))
    conns = groups(root, "connection")
    assert not list(conns["VNet1toVNet2"].iter(f"{SVG}path"))  # no line to nowhere, but still in the legend
    assert "VNet1toVNet2" in texts(root)


class FakeOps:
    def __init__(self, items, by_name=None):
        self.items, self.by_name = items, by_name or {}

    def list(self, rg):
        return [i for i in self.items if f"/resourceGroups/{rg}/" in i.id]

    def get(self, rg, name):
        return self.by_name[name]


def test_collect_from_sdk_objects():
    policy = PRESETS["seed-s2s"].policy.to_sdk()
    vnet = NS(id=rid("RG1", "virtualNetworks", "VNet1"), name="VNet1", location="eastus",
              address_space=NS(address_prefixes=["10.11.0.0/16"]))
    from azure.mgmt.network.models import VirtualNetworkGatewayConnectionStatus, VirtualNetworkGatewaySkuName

    gw = NS(id=rid("RG1", "virtualNetworkGateways", "GW1"), name="GW1", sku=NS(name=VirtualNetworkGatewaySkuName.VPN_GW2),
            vpn_type="RouteBased",
            vpn_gateway_generation="Generation2", provisioning_state="Succeeded",
            ip_configurations=[NS(subnet=NS(id=rid("RG1", "virtualNetworks", "VNet1") + "/subnets/GatewaySubnet"),
                                  public_ip_address=NS(id=rid("RG1", "publicIPAddresses", "GW1-ip")))])
    lng = NS(id=rid("RG1", "localNetworkGateways", "Site6"), name="Site6", gateway_ip_address="131.107.72.22",
             local_network_address_space=NS(address_prefixes=["10.61.0.0/16"]))
    conn = NS(id=rid("RG1", "connections", "C1"), name="C1", connection_type="IPsec",
              connection_status=VirtualNetworkGatewayConnectionStatus.CONNECTED,
              connection_protocol="IKEv2", virtual_network_gateway1=NS(id=gw.id), virtual_network_gateway2=None,
              local_network_gateway2=NS(id=lng.id), ipsec_policies=[policy])
    network = NS(virtual_networks=FakeOps([vnet]), virtual_network_gateways=FakeOps([gw]),
                 local_network_gateways=FakeOps([lng]),
                 virtual_network_gateway_connections=FakeOps([NS(id=conn.id, name="C1")], {"C1": conn}),
                 public_ip_addresses=NS(get=lambda rg, name: NS(ip_address="20.1.2.3")))
    data = collect_topology(NS(network=network), ["RG1"])
    (group,) = data["resource_groups"]
    assert group["gateways"][0]["vnet_id"] == vnet.id
    assert group["gateways"][0]["public_ip"] == "20.1.2.3"
    assert group["connections"][0]["policy"] == PRESETS["seed-s2s"].policy.summary()
    assert group["connections"][0]["peer_id"] == lng.id
    root = ET.fromstring(render_topology_svg(data))
    assert list(groups(root, "connection")["C1"].iter(f"{SVG}path"))
    assert "public IP: 20.1.2.3" in texts(root)
    assert "SKU VpnGw2" in texts(root)  # SDK enums drawn as their REST value
    assert groups(root, "connection")["C1"].get("data-status") == "Connected"


def test_many_resource_groups_wrap_into_rows_and_undrawn_connections_say_so():
    import re

    from vpnrunbook.ui.topology import COL_GAP, COL_WIDTH, COLUMNS_PER_ROW, render_topology_svg

    groups = [{"name": f"RG{i}", "vnets": [], "gateways": [], "local_gateways": [], "connections": []}
              for i in range(5)]
    groups[0]["connections"] = [{"name": "Dangling", "type": "IPsec", "status": "Unknown",
                                 "gateway_id": "/x/gw", "peer_id": "/y/missing"}]
    svg = render_topology_svg({"resource_groups": groups})
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    assert width < (COLUMNS_PER_ROW + 1) * (COL_WIDTH + COL_GAP)  # no fifth column off to the right
    assert all(f'data-name="RG{i}"' in svg for i in range(5))
    ys = {float(m) for m in re.findall(r'class="resource-group" data-name="RG\d"><rect x="[\d.]+" y="([\d.]+)"', svg)}
    assert len(ys) == 2  # two rows
    assert "Dangling" in svg and "not drawn" in svg
