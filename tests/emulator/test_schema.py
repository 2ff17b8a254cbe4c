"""Emulator bodies for gateways and connections validate against networkGateway.json (2026-03-01), and the
official example requests are accepted with responses shaped like the examples' responses."""

from __future__ import annotations

import copy
import re
from collections import deque
from typing import Any

import pytest

from tests.emulator import seed, spec_schema

SUB = "00000000-0000-0000-0000-000000000000"
RESOURCE_SCHEMAS = [  # (path regex, method, status, definition)
    (r"/connections/[^/]+/sharedkey$", "GET", 200, "ConnectionSharedKey"),
    (r"/connections/[^/]+/sharedkey$", "PUT", 200, "ConnectionSharedKey"),
    (r"/connections/[^/]+$", None, None, "VirtualNetworkGatewayConnection"),
    (r"/connections$", "GET", 200, "VirtualNetworkGatewayConnectionListResult"),
    (r"/virtualNetworkGateways/[^/]+$", None, None, "VirtualNetworkGateway"),
    (r"/virtualNetworkGateways$", "GET", 200, "VirtualNetworkGatewayListResult"),
    (r"/localNetworkGateways/[^/]+$", None, None, "LocalNetworkGateway"),
    (r"/localNetworkGateways$", "GET", 200, "LocalNetworkGatewayListResult"),
]


def definition_for(method: str, url: str, status: int) -> str | None:
    path = url.split("?")[0]
    for pattern, m, st, definition in RESOURCE_SCHEMAS:
        if re.search(pattern, path, re.IGNORECASE) and (m is None or m == method) and (st is None or st == status):
            return definition
    return None


def test_every_gateway_and_connection_body_validates(session):
    session.transport.exchanges = deque(maxlen=10_000)
    topo = seed.build_topology(session)
    c = session.network.virtual_network_gateway_connections
    c.begin_create_or_update("TestRG1", "VNet1toVNet2", seed.v2v_body("eastus", topo.gw1.id, topo.gw2.id,
                                                                      policy=seed.V2V_POLICY)).result()
    c.begin_create_or_update("TestRG2", "VNet2toVNet1", seed.v2v_body("westus", topo.gw2.id, topo.gw1.id,
                                                                      policy=seed.V2V_POLICY)).result()
    conn = c.get("TestRG1", "VNet1toSite6")
    conn.ipsec_policies = []
    c.begin_create_or_update("TestRG1", "VNet1toSite6", conn).result()
    c.begin_update_tags("TestRG1", "VNet1toSite6", {"tags": {"a": "b"}}).result()
    c.begin_set_shared_key("TestRG1", "VNet1toSite6", {"value": "Abc123xyz"}).result()
    c.get_shared_key("TestRG1", "VNet1toSite6")
    list(c.list("TestRG1"))
    list(session.network.virtual_network_gateways.list("TestRG2"))
    list(session.network.local_network_gateways.list("TestRG1"))
    checked: dict[str, int] = {}
    for method, url, status, _headers, body in session.transport.exchanges:
        definition = definition_for(method, url, status)
        if definition is None or body is None or status >= 400:
            continue
        problems = spec_schema.errors(definition, body)
        assert problems == [], f"{method} {url} ({status}) does not match {definition}: {problems}"
        checked[definition] = checked.get(definition, 0) + 1
    keys = [b for m, u, _s, _h, b in session.transport.exchanges if u.split("?")[0].endswith("/sharedkey")]
    assert keys and all(b["value"] == "<redacted>" for b in keys)  # the inspection log never keeps a key
    # Every kind of body was seen, including the 201 'Updating' answers to PUT.
    assert set(checked) == {d for *_x, d in RESOURCE_SCHEMAS}, checked
    assert any(m == "PUT" and s == 201 and b["properties"]["provisioningState"] == "Updating"
               for m, u, s, _h, b in session.transport.exchanges if "/virtualNetworkGateways/" in u)


def test_schema_is_closed_so_it_would_catch_an_unknown_field():
    body = {"name": "x", "properties": {"connectionType": "IPsec", "virtualNetworkGateway1": {"id": "x"},
                                        "sharedSecretInPlainText": "nope"}}
    assert any("sharedSecretInPlainText" in e for e in spec_schema.errors("VirtualNetworkGatewayConnection", body))
    assert spec_schema.errors("VirtualNetworkGateway", {"properties": {"sku": {"name": "VpnGw9"}}})


# ---- the official examples --------------------------------------------------------------------------------
# Read-only fields Azure fills from things the emulator does not model (NICs, DDoS plans, NAT rule state, ...).
NOT_MODELLED = {
    "properties.ipConfiguration",  # public IP examples: attached to a NIC the examples never create
    "properties.ddosSettings",
    "properties.bgpSettings.bgpPeeringAddresses[].customBgpIpAddresses[]",
    "properties.inboundDnsForwardingEndpoint",
    "properties.virtualNetworkGatewayMigrationStatus",  # Basic-IP gateway migration, not modelled
}
PLACEHOLDER_IP = "131.107.72.99"  # the examples write "x.x.x.x" for an address left to the reader


def shape(value: Any, prefix: str = "") -> dict[str, str]:
    """Key path → JSON type, list items merged under ``[]``."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else k
            out[path] = type(v).__name__
            out.update(shape(v, path))
    elif isinstance(value, list):
        for item in value:
            out.update(shape(item, prefix + "[]"))
    return out


def assert_same_shape(ours: Any, example: Any, name: str) -> None:
    mine, theirs = shape(ours), shape(example)
    missing = sorted(p for p in theirs if p not in mine
                     and not any(p.removeprefix("value[].").startswith(n) for n in NOT_MODELLED))
    assert missing == [], f"{name}: the emulator's answer lacks {missing}"
    wrong = sorted(p for p in theirs if p in mine and mine[p] != theirs[p])
    assert wrong == [], f"{name}: different JSON types at {wrong}"


def request(name: str, key: str = "parameters") -> dict[str, Any]:
    return _replace_placeholders(copy.deepcopy(spec_schema.example(name)["parameters"][key]))


def _replace_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _replace_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_placeholders(v) for v in value]
    return PLACEHOLDER_IP if value == "x.x.x.x" else value


def response(name: str, status: str) -> Any:
    return spec_schema.example(name)["responses"][status]["body"]


@pytest.fixture
def rg1(session):
    """What the gateway and connection examples refer to: rg1, vnet1 with its GatewaySubnet, gwpip, localgw, vpngw."""
    n = session.network
    session.resources.resource_groups.create_or_update("rg1", {"location": "centralus"})
    seed.network(session, "rg1", "vnet1", "centralus", ["10.0.0.0/16"], {"GatewaySubnet": "10.0.1.0/27"})
    seed.public_ip(session, "rg1", "gwpip", "centralus")
    return n


def _raw(session, method: str, path: str, body: Any = None) -> Any:
    from azure.core.rest import HttpRequest

    resp = session.network.send_request(HttpRequest(method, f"/subscriptions/{SUB}{path}?api-version=2026-03-01",
                                                    json=body))
    return resp


def test_example_requests_are_accepted_with_example_shaped_answers(session, rg1):
    n = rg1
    # LocalNetworkGateways_CreateOrUpdate (201) — location "Central US" comes back as "centralus".
    lgw_raw = _raw(session, "PUT", "/resourceGroups/rg1/providers/Microsoft.Network/localNetworkGateways/localgw",
                   request("LocalNetworkGatewayCreate.json"))
    assert lgw_raw.status_code == 201, lgw_raw.text()
    assert_same_shape(lgw_raw.json(), response("LocalNetworkGatewayCreate.json", "201"), "LocalNetworkGatewayCreate")
    assert lgw_raw.json()["location"] == "centralus"
    assert spec_schema.errors("LocalNetworkGateway", lgw_raw.json()) == []
    # VirtualNetworkGateways_CreateOrUpdate (201), then Get / List.
    gw_raw = _raw(session, "PUT", "/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworkGateways/vpngw",
                  request("VirtualNetworkGatewayUpdate.json"))
    assert gw_raw.status_code == 201, gw_raw.text()
    assert spec_schema.errors("VirtualNetworkGateway", gw_raw.json()) == []
    assert_same_shape(gw_raw.json(), response("VirtualNetworkGatewayUpdate.json", "201"), "VirtualNetworkGatewayUpdate")
    gw = n.virtual_network_gateways.get("rg1", "vpngw")
    assert_same_shape(gw.as_dict(), response("VirtualNetworkGatewayGet.json", "200"), "VirtualNetworkGatewayGet")
    listed = _raw(session, "GET", "/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworkGateways").json()
    assert_same_shape(listed, response("VirtualNetworkGatewayList.json", "200"), "VirtualNetworkGatewayList")
    # VirtualNetworkGatewayConnections_CreateOrUpdate under each name the connection examples use.
    for name in ("connS2S", "conn1", "test"):
        raw = _raw(session, "PUT", f"/resourceGroups/rg1/providers/Microsoft.Network/connections/{name}",
                   request("VirtualNetworkGatewayConnectionCreate.json"))
        assert raw.status_code == 201, raw.text()
        assert "sharedKey" not in raw.json()["properties"]
        assert spec_schema.errors("VirtualNetworkGatewayConnection", raw.json()) == []
    assert_same_shape(_raw(session, "PUT", "/resourceGroups/rg1/providers/Microsoft.Network/connections/connS2S",
                           request("VirtualNetworkGatewayConnectionCreate.json")).json(),
                      response("VirtualNetworkGatewayConnectionCreate.json", "200"), "ConnectionCreate (update)")
    conn = n.virtual_network_gateway_connections.get("rg1", "connS2S")
    assert_same_shape(conn.as_dict(), response("VirtualNetworkGatewayConnectionGet.json", "200"), "ConnectionGet")
    assert_same_shape(_raw(session, "GET", "/resourceGroups/rg1/providers/Microsoft.Network/connections").json(),
                      response("VirtualNetworkGatewayConnectionsList.json", "200"), "ConnectionsList")
    tagged = n.virtual_network_gateway_connections.begin_update_tags(
        "rg1", "test", request("VirtualNetworkGatewayConnectionUpdateTags.json")).result()
    assert_same_shape(tagged.as_dict(), response("VirtualNetworkGatewayConnectionUpdateTags.json", "200"), "UpdateTags")
    key = n.virtual_network_gateway_connections.begin_set_shared_key(
        "rg1", "connS2S", request("VirtualNetworkGatewayConnectionSetSharedKey.json")).result()
    assert_same_shape(key.as_dict(), response("VirtualNetworkGatewayConnectionSetSharedKey.json", "200"), "SetSharedKey")
    got = n.virtual_network_gateway_connections.get_shared_key("rg1", "connS2S")
    assert got.value == "AzureAbc123"
    assert_same_shape(got.as_dict(), response("VirtualNetworkGatewayConnectionGetSharedKey.json", "200"), "GetSharedKey")
    reset = n.virtual_network_gateway_connections.begin_reset_shared_key(
        "rg1", "conn1", request("VirtualNetworkGatewayConnectionResetSharedKey.json")).result()
    assert_same_shape(reset.as_dict(), response("VirtualNetworkGatewayConnectionResetSharedKey.json", "200"), "Reset")
    # Deletes: connection, gateway, local gateway (202 + Location, then gone).
    for name in ("connS2S", "conn1", "test"):
        n.virtual_network_gateway_connections.begin_delete("rg1", name).result()
    n.virtual_network_gateways.begin_delete("rg1", "vpngw").result()
    n.local_network_gateways.begin_delete("rg1", "localgw").result()
    assert list(n.virtual_network_gateways.list("rg1")) == [] and list(n.local_network_gateways.list("rg1")) == []


def test_network_examples_are_accepted(session):
    n = session.network
    session.resources.resource_groups.create_or_update("rg1", {"location": "eastus"})
    vnet = _raw(session, "PUT", "/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet",
                request("VirtualNetworkCreateSubnet.json"))
    assert vnet.status_code == 201
    assert_same_shape(vnet.json(), response("VirtualNetworkCreateSubnet.json", "201"), "VirtualNetworkCreateSubnet")
    for name in ("PublicIpAddressCreateDefaults.json", "PublicIpAddressCreateCustomizedValues.json"):
        body = request(name)
        if "zones" in spec_schema.example(name)["parameters"]:
            body["zones"] = spec_schema.example(name)["parameters"]["zones"]
        raw = _raw(session, "PUT", "/resourceGroups/rg1/providers/Microsoft.Network/publicIPAddresses/test-ip", body)
        assert raw.status_code in (200, 201), raw.text()
        assert_same_shape(raw.json(), response(name, "201"), name)
        n.public_ip_addresses.begin_delete("rg1", "test-ip").result()
    session.resources.resource_groups.create_or_update("subnet-test", {"location": "eastus"})
    n.virtual_networks.begin_create_or_update("subnet-test", "vnetname", seed.vnet_body("eastus", ["10.0.0.0/16"], {})
                                              ).result()
    sub = n.subnets.begin_create_or_update("subnet-test", "vnetname", "subnet1",
                                           request("SubnetCreate.json", "subnetParameters")).result()
    assert_same_shape(sub.as_dict(), response("SubnetCreate.json", "201"), "SubnetCreate")
    assert_same_shape(n.subnets.get("subnet-test", "vnetname", "subnet1").as_dict(), response("SubnetGet.json", "200"),
                      "SubnetGet")
