"""Emulator bodies for gateways and connections validate against networkGateway.json (2026-03-01), those for
virtual networks, subnets and public IP addresses against virtualNetwork.json (the stored extract), and the
official example requests are accepted with responses shaped like the examples' responses."""

from __future__ import annotations

import copy
import re
from collections import deque
from typing import Any

import pytest

from tests.emulator import seed, spec_schema
from vpnrunbook.policy import rules

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

NETWORK_SCHEMAS = [  # the same, for definitions of virtualNetwork.extract.json (file "vnet")
    (r"/virtualNetworks/[^/]+/subnets/[^/]+$", None, None, "Subnet"),
    (r"/virtualNetworks/[^/]+/subnets$", "GET", 200, "SubnetListResult"),
    (r"/virtualNetworks/[^/]+$", None, None, "VirtualNetwork"),
    (r"/virtualNetworks$", "GET", 200, "VirtualNetworkListResult"),
    (r"/publicIPAddresses/[^/]+$", None, None, "PublicIPAddress"),
    (r"/publicIPAddresses$", "GET", 200, "PublicIPAddressListResult"),
]


def definition_for(method: str, url: str, status: int, table: list[Any] = RESOURCE_SCHEMAS) -> str | None:
    path = url.split("?")[0]
    for pattern, m, st, definition in table:
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


def test_every_network_subnet_and_public_ip_body_validates(session):
    session.transport.exchanges = deque(maxlen=10_000)
    seed.build_topology(session)  # VNets with subnets, Standard public IPs, gateways that use both
    n = session.network
    n.public_ip_addresses.begin_create_or_update("TestRG1", "basicpip", {"location": "eastus"}).result()  # no SKU given
    n.public_ip_addresses.update_tags("TestRG1", "basicpip", {"tags": {"a": "b"}})
    n.subnets.begin_create_or_update("TestRG1", "TestVNet1", "Extra", {"properties": {"addressPrefix": "10.1.2.0/24"}}
                                     ).result()
    n.subnets.begin_create_or_update("TestRG1", "TestVNet1", "Extra", {"properties": {"addressPrefix": "10.1.3.0/24"}}
                                     ).result()
    n.subnets.get("TestRG1", "TestVNet1", "GatewaySubnet")
    list(n.subnets.list("TestRG1", "TestVNet1"))
    n.subnets.begin_delete("TestRG1", "TestVNet1", "Extra").result()
    # Read-modify-write with the SDK's models, as the runbook's operations do: what was read goes back in.
    vnet = n.virtual_networks.get("TestRG2", "TestVNet2")
    vnet.subnets.append(type(vnet.subnets[0])(name="Spare", address_prefix="10.21.9.0/24"))
    n.virtual_networks.begin_create_or_update("TestRG2", "TestVNet2", vnet).result()
    n.subnets.begin_create_or_update("TestRG2", "TestVNet2", "GatewaySubnet",
                                     n.subnets.get("TestRG2", "TestVNet2", "GatewaySubnet")).result()
    n.public_ip_addresses.begin_create_or_update("TestRG2", "VNet2GWpip",
                                                 n.public_ip_addresses.get("TestRG2", "VNet2GWpip")).result()
    n.virtual_networks.update_tags("TestRG2", "TestVNet2", {"tags": {"env": "test"}})
    n.virtual_networks.get("TestRG1", "TestVNet1")
    list(n.virtual_networks.list("TestRG1"))
    list(n.virtual_networks.list_all())
    n.public_ip_addresses.get("TestRG1", "VNet1GWpip")
    list(n.public_ip_addresses.list("TestRG2"))
    list(n.public_ip_addresses.list_all())
    checked: dict[str, int] = {}
    for method, url, status, _headers, body in session.transport.exchanges:
        definition = definition_for(method, url, status, NETWORK_SCHEMAS)
        if definition is None or body is None or status >= 400:
            continue
        problems = spec_schema.errors(definition, body, file="vnet")
        assert problems == [], f"{method} {url} ({status}) does not match {definition}: {problems}"
        checked[definition] = checked.get(definition, 0) + 1
    assert set(checked) == {d for *_x, d in NETWORK_SCHEMAS}, checked
    bodies = [(m, u.split("?")[0], s, b) for m, u, s, _h, b in session.transport.exchanges if b is not None]
    # The 201 'Updating' answers to PUT were among them, for each of the three types.
    for segment in ("/virtualNetworks/TestVNet1", "/subnets/Extra", "/publicIPAddresses/basicpip"):
        assert any(m == "PUT" and s == 201 and p.endswith(segment) and b["properties"]["provisioningState"] == "Updating"
                   for m, p, s, b in bodies), segment
    # The read-only fields filled from other resources were validated too: the gateway's ipConfiguration on the
    # GatewaySubnet and on its public IP, the address of a Standard IP, and none for an unattached Dynamic one.
    gw_subnet = next(b for m, p, s, b in reversed(bodies) if m == "GET" and p.endswith("/TestVNet1/subnets/GatewaySubnet"))
    assert gw_subnet["properties"]["ipConfigurations"][0]["id"].endswith("/VNet1GW/ipConfigurations/gwipconfig1")
    pip = next(b for m, p, s, b in reversed(bodies) if m == "GET" and p.endswith("/publicIPAddresses/VNet1GWpip"))
    assert pip["properties"]["ipConfiguration"]["id"].endswith("/VNet1GW/ipConfigurations/gwipconfig1")
    assert pip["properties"]["ipAddress"] and pip["sku"] == {"name": "Standard", "tier": "Regional"}
    basic = next(b for m, p, s, b in bodies if m == "PATCH" and p.endswith("/publicIPAddresses/basicpip"))
    # no SKU given: Standard (Basic IPs can no longer be created), hence Static with its address at once
    assert basic["sku"]["name"] == "Standard" and basic["properties"]["publicIPAllocationMethod"] == "Static"
    assert basic["properties"]["ipAddress"]


def test_network_schema_is_closed_so_it_would_catch_an_unknown_field_or_a_wrong_type():
    vnet = {"name": "v", "location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "s", "properties": {"addressPrefix": "10.0.0.0/24", "gatewayIpAddress": "1.2.3.4"}}]}}
    assert spec_schema.errors("VirtualNetwork", copy.deepcopy(vnet), file="vnet") != []
    assert any("gatewayIpAddress" in e for e in spec_schema.errors("VirtualNetwork", vnet, file="vnet"))
    del vnet["properties"]["subnets"][0]["properties"]["gatewayIpAddress"]
    assert spec_schema.errors("VirtualNetwork", vnet, file="vnet") == []
    vnet["properties"]["addressSpace"]["addressPrefix"] = "10.0.0.0/16"  # singular: not a field of AddressSpace
    assert any("addressPrefix" in e for e in spec_schema.errors("VirtualNetwork", vnet, file="vnet"))
    assert spec_schema.errors("Subnet", {"name": "s", "properties": {"provisioningState": "Done"}}, file="vnet")
    assert spec_schema.errors("PublicIPAddress", {"properties": {"idleTimeoutInMinutes": "4"}}, file="vnet")
    assert spec_schema.errors("PublicIPAddress", {"sku": {"name": "Premium"}}, file="vnet")
    assert spec_schema.errors("PublicIPAddressListResult", {"items": []}, file="vnet")
    # Definitions the extract left out (NICs, NSGs, ...) are any object, not any value.
    assert spec_schema.errors("Subnet", {"properties": {"networkSecurityGroup": {"id": "x", "etag": "y"}}},
                              file="vnet") == []
    assert spec_schema.errors("Subnet", {"properties": {"networkSecurityGroup": "nsg1"}}, file="vnet")
    with pytest.raises(KeyError):
        spec_schema.validator("VirtualNetworkGateway", file="vnet")
    with pytest.raises(ValueError, match="allowed are ng, vnet"):
        spec_schema.validator("VirtualNetwork", file="virtualNetwork")


@pytest.mark.parametrize(("name", "status", "definition"), [
    ("VirtualNetworkCreateSubnet.json", "201", "VirtualNetwork"), ("VirtualNetworkGet.json", "200", "VirtualNetwork"),
    ("SubnetCreate.json", "201", "Subnet"), ("SubnetGet.json", "200", "Subnet"),
    ("PublicIpAddressCreateDefaults.json", "201", "PublicIPAddress"),
    ("PublicIpAddressCreateCustomizedValues.json", "201", "PublicIPAddress"),
    ("PublicIpAddressGet.json", "200", "PublicIPAddress")])
def test_official_network_examples_validate_against_the_extract(name, status, definition):
    """The schema is not stricter than Azure: the examples' own response bodies pass it."""
    assert spec_schema.errors(definition, response(name, status), file="vnet") == []


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
    "properties.defaultPublicNatGateway",  # VirtualNetworkGet: a NAT gateway, not modelled
    "properties.subnets[].properties.ipConfigurations",  # VirtualNetworkGet: a load balancer's frontend, not modelled
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


def today(body: dict[str, Any]) -> dict[str, Any]:
    """The examples predate the SKU consolidation and the Basic public IP retirement (their gateway is VpnGw1, their
    addresses Basic/Dynamic): sent as today's Azure still creates them — the AZ SKU of the same number, a Standard,
    Static address (tests/emulator/test_retired_skus.py pins the refusal of the old values)."""
    body = copy.deepcopy(body)
    sku = (body.get("properties") or {}).get("sku")
    if isinstance(sku, dict) and sku.get("name") in rules.CURRENT_EQUIVALENT:
        now = rules.CURRENT_EQUIVALENT[sku["name"]]
        body["properties"]["sku"] = {**sku, "name": now, **({"tier": now} if "tier" in sku else {})}
    if "gatewayType" not in (body.get("properties") or {}) and (body.get("sku") or {}).get("name", "Basic") == "Basic":
        body["sku"] = {**(body.get("sku") or {}), "name": "Standard"}
        body.setdefault("properties", {})["publicIPAllocationMethod"] = "Static"
    return body


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
                  today(request("VirtualNetworkGatewayUpdate.json")))
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


def _example_response_fields(ours: dict[str, Any], example: dict[str, Any], fields: list[str]) -> None:
    """The key fields carry the example's values (dotted paths; a list item by its index)."""
    for path in fields:
        mine, theirs = ours, example
        for part in path.split("."):
            key: Any = int(part) if part.isdigit() else part
            mine, theirs = mine[key], theirs[key]
        assert mine == theirs, f"{path}: {mine!r} != the example's {theirs!r}"


def test_network_examples_are_accepted(session):
    n = session.network
    base = "/resourceGroups/rg1/providers/Microsoft.Network"
    session.resources.resource_groups.create_or_update("rg1", {"location": "eastus"})
    # VirtualNetworks_CreateOrUpdate (201), then Get (the VNet is the example's test-vnet, its location westus).
    for name in ("VirtualNetworkCreateSubnet.json",):
        vnet = _raw(session, "PUT", f"{base}/virtualNetworks/test-vnet", request(name))
        assert vnet.status_code == 201, vnet.text()
        assert spec_schema.errors("VirtualNetwork", vnet.json(), file="vnet") == []
        assert_same_shape(vnet.json(), response(name, "201"), name)
        _example_response_fields(vnet.json(), response(name, "201"), [
            "id", "name", "type", "location", "properties.addressSpace", "properties.subnets.0.id",
            "properties.subnets.0.name", "properties.subnets.0.properties.addressPrefix", "properties.virtualNetworkPeerings"])
    n.virtual_networks.begin_delete("rg1", "test-vnet").result()
    get_example = response("VirtualNetworkGet.json", "200")
    created = _raw(session, "PUT", f"{base}/virtualNetworks/test-vnet", {
        "location": get_example["location"], "properties": {
            "addressSpace": get_example["properties"]["addressSpace"],
            "subnets": [{"name": s["name"], "properties": {"addressPrefix": s["properties"]["addressPrefix"]}}
                        for s in get_example["properties"]["subnets"]]}})
    assert created.status_code == 201, created.text()
    got = _raw(session, "GET", f"{base}/virtualNetworks/test-vnet")
    assert got.status_code == 200 and spec_schema.errors("VirtualNetwork", got.json(), file="vnet") == []
    assert_same_shape(got.json(), get_example, "VirtualNetworkGet")
    _example_response_fields(got.json(), get_example, [
        "id", "name", "type", "location", "properties.addressSpace", "properties.provisioningState",
        "properties.subnets.0.id", "properties.subnets.0.name", "properties.subnets.0.properties.addressPrefix",
        "properties.subnets.0.properties.provisioningState", "properties.virtualNetworkPeerings"])
    listed = _raw(session, "GET", f"{base}/virtualNetworks").json()
    assert spec_schema.errors("VirtualNetworkListResult", listed, file="vnet") == []
    # PublicIPAddresses_CreateOrUpdate (201) for both examples; "zones" sits beside the body in the example file.
    for name in ("PublicIpAddressCreateDefaults.json", "PublicIpAddressCreateCustomizedValues.json"):
        body = request(name)
        if "zones" in spec_schema.example(name)["parameters"]:
            body["zones"] = spec_schema.example(name)["parameters"]["zones"]
        raw = _raw(session, "PUT", f"{base}/publicIPAddresses/test-ip", today(body))
        assert raw.status_code == 201, raw.text()
        assert spec_schema.errors("PublicIPAddress", raw.json(), file="vnet") == []
        assert_same_shape(raw.json(), response(name, "201"), name)
        _example_response_fields(raw.json(), response(name, "201"), [
            "id", "type", "location", "properties.idleTimeoutInMinutes", "properties.publicIPAddressVersion"])
        assert raw.json().get("zones") == response(name, "201").get("zones")
        n.public_ip_addresses.begin_delete("rg1", "test-ip").result()
    # PublicIPAddresses_Get: testDNS-ip as the example shows it (westus, Dynamic, its ipTags).
    pip_example = response("PublicIpAddressGet.json", "200")
    props = {k: pip_example["properties"][k] for k in ("idleTimeoutInMinutes", "publicIPAddressVersion",
                                                       "publicIPAllocationMethod", "ipTags")}
    assert _raw(session, "PUT", f"{base}/publicIPAddresses/testDNS-ip",
                today({"location": pip_example["location"], "properties": props})).status_code == 201
    pip = _raw(session, "GET", f"{base}/publicIPAddresses/testDNS-ip")
    assert pip.status_code == 200 and spec_schema.errors("PublicIPAddress", pip.json(), file="vnet") == []
    assert_same_shape(pip.json(), pip_example, "PublicIpAddressGet")
    _example_response_fields(pip.json(), pip_example, [
        "id", "name", "type", "location", "properties.idleTimeoutInMinutes", "properties.ipTags",
        "properties.provisioningState", "properties.publicIPAddressVersion"])
    assert spec_schema.errors("PublicIPAddressListResult", _raw(session, "GET", f"{base}/publicIPAddresses").json(),
                              file="vnet") == []
    # Subnets_CreateOrUpdate (201) and Get, in the example's subnet-test/vnetname.
    session.resources.resource_groups.create_or_update("subnet-test", {"location": "eastus"})
    n.virtual_networks.begin_create_or_update("subnet-test", "vnetname", seed.vnet_body("eastus", ["10.0.0.0/16"], {})
                                              ).result()
    sub_path = "/resourceGroups/subnet-test/providers/Microsoft.Network/virtualNetworks/vnetname/subnets"
    sub = _raw(session, "PUT", f"{sub_path}/subnet1", request("SubnetCreate.json", "subnetParameters"))
    assert sub.status_code == 201, sub.text()
    assert spec_schema.errors("Subnet", sub.json(), file="vnet") == []
    assert_same_shape(sub.json(), response("SubnetCreate.json", "201"), "SubnetCreate")
    _example_response_fields(sub.json(), response("SubnetCreate.json", "201"), ["id", "name", "properties.addressPrefix"])
    got_sub = _raw(session, "GET", f"{sub_path}/subnet1")
    assert got_sub.status_code == 200 and spec_schema.errors("Subnet", got_sub.json(), file="vnet") == []
    assert_same_shape(got_sub.json(), response("SubnetGet.json", "200"), "SubnetGet")
    _example_response_fields(got_sub.json(), response("SubnetGet.json", "200"), [
        "id", "name", "properties.addressPrefix", "properties.provisioningState"])
    assert spec_schema.errors("SubnetListResult", _raw(session, "GET", sub_path).json(), file="vnet") == []
    assert n.subnets.get("subnet-test", "vnetname", "subnet1").address_prefix == "10.0.0.0/16"  # and the SDK reads it
