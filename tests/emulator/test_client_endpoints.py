"""The endpoints stock clients (the Azure CLI) need: login without a token, subscriptions, providers, template
deployments, ``//`` paths, case-insensitive enums, Retry-After, gateway/connection actions (in-process)."""

from __future__ import annotations

import json
import re
from collections import deque
from urllib.parse import urlencode

import pytest

from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.store import Store

SUB = "00000000-0000-0000-0000-000000000000"
BASE = "https://127.0.0.1:1"
TOKEN = "the-emulator-token"


@pytest.fixture
def app(tmp_path):
    app = EmulatorApp(Store(str(tmp_path / "e.sqlite3")), token=TOKEN)
    with app.store.write() as db:
        app.store.set_setting(db, "time_factor", "0")
    return app


def call(app, method, path, body=None, *, token=TOKEN, query="", form=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    raw = json.dumps(body).encode() if body is not None else (urlencode(form).encode() if form else b"")
    resp = app.handle(method, path, query, headers, raw, BASE)
    return resp


def test_login_endpoints_answer_without_a_token_and_hand_out_the_emulators(app):
    tenant = "00000000-0000-0000-0000-000000000001"
    cfg = call(app, "GET", f"/{tenant}/v2.0/.well-known/openid-configuration", token=None)
    assert cfg.status == 200 and cfg.body["token_endpoint"] == f"{BASE}/{tenant}/oauth2/v2.0/token"
    tok = call(app, "POST", f"/{tenant}/oauth2/v2.0/token", token=None,
               form={"grant_type": "client_credentials", "client_id": "x", "client_secret": "s3cr3t-value"})
    assert tok.status == 200 and tok.body["access_token"] == TOKEN and "s3cr3t-value" not in json.dumps(tok.body)
    assert call(app, "GET", "/msi/token", token=None, query="resource=https://x/").body["access_token"] == TOKEN
    assert call(app, "GET", "/metadata/endpoints", token=None).body["resourceManager"] == BASE + "/"
    bad = call(app, "POST", f"/{tenant}/oauth2/v2.0/token", token=None, form={"grant_type": "password"})
    assert bad.status == 400 and bad.body["error"] == "unsupported_grant_type"
    # Everything else still needs the token.
    assert call(app, "GET", "/subscriptions", token=None, query="api-version=2022-12-01").status == 401
    subs = call(app, "GET", "/subscriptions", query="api-version=2022-12-01")
    assert [s["subscriptionId"] for s in subs.body["value"]] == [SUB]
    assert call(app, "GET", "/tenants", query="api-version=2022-12-01").body["value"][0]["tenantId"] == tenant
    prov = call(app, "GET", f"/subscriptions/{SUB}/providers/Microsoft.Network", query="api-version=2021-04-01")
    types = {t["resourceType"]: t["apiVersions"] for t in prov.body["resourceTypes"]}
    assert "2025-09-01" in types["connections"] and "2026-03-01" in types["virtualNetworkGateways"]


def _topology(app):
    q = "api-version=2024-11-01"
    assert call(app, "PUT", f"//subscriptions/{SUB}/resourcegroups/RG", {"location": "eastus"}, query=q).status == 201
    net = f"/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Network"
    q = "api-version=2025-01-01"
    call(app, "PUT", f"{net}/virtualNetworks/V1", {"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "GatewaySubnet", "properties": {"addressPrefix": "10.1.255.0/27"}}]}}, query=q)
    call(app, "PUT", f"{net}/publicIPAddresses/P1", {"location": "eastus", "sku": {"name": "Standard"},
                                                     "properties": {"publicIPAllocationMethod": "Static"}}, query=q)
    gw = call(app, "PUT", f"{net}/virtualNetworkGateways/G1", {"location": "eastus", "properties": {
        "gatewayType": "Vpn", "vpnType": "RouteBased", "sku": {"name": "VpnGw2AZ"}, "vpnGatewayGeneration": "Generation2",
        "ipConfigurations": [{"name": "c", "properties": {
            "subnet": {"id": f"{net}/virtualNetworks/V1/subnets/GatewaySubnet"},
            "publicIPAddress": {"id": f"{net}/publicIPAddresses/P1"}}}]}}, query=q)
    assert gw.status == 201, gw.body
    assert gw.headers["Retry-After"].isdigit()  # served (a token is set): whole seconds for az
    call(app, "PUT", f"{net}/localNetworkGateways/L1", {"location": "eastus", "properties": {
        "gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}},
         query=q)
    return net


TEMPLATE = {"$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"sharedKey": {"type": "securestring"}, "lgw": {"type": "string", "defaultValue": "L1"}},
            "variables": {"gw": "[resourceId('Microsoft.Network/virtualNetworkGateways', 'G1')]"},
            "resources": [{"type": "Microsoft.Network/connections", "name": "C1", "location": "eastus",
                           "apiVersion": "2025-01-01", "dependsOn": [], "properties": {
                               "virtualNetworkGateway1": {"id": "[variables('gw')]"}, "connectionType": "IPSec",
                               "localNetworkGateway2": {"id": "[resourceId('Microsoft.Network/localNetworkGateways', "
                                                              "parameters('lgw'))]"},
                               "sharedKey": "[parameters('sharedKey')]"}}],
            "outputs": {"resource": {"type": "object", "value": "[reference('C1')]"}}}


def test_template_deployment_creates_the_connection_through_the_handlers(app):
    net = _topology(app)
    dep = f"/subscriptions/{SUB}/resourcegroups/RG/providers/Microsoft.Resources/deployments/d1"
    body = {"properties": {"template": TEMPLATE, "parameters": {"sharedKey": {"value": "Secret123abc"}},
                           "mode": "Incremental"}}
    put = call(app, "PUT", dep, body, query="api-version=2024-11-01")
    assert put.status == 201 and "Azure-AsyncOperation" in put.headers
    assert "Secret123abc" not in json.dumps(put.body)
    got = call(app, "GET", dep, query="api-version=2024-11-01").body["properties"]
    assert got["provisioningState"] == "Succeeded"
    assert got["outputs"]["resource"]["value"]["connectionType"] == "IPsec"  # canonical spelling
    assert got["outputResources"] == [{"id": f"{net}/connections/C1"}]
    ops = call(app, "GET", dep + "/operations", query="api-version=2024-11-01").body["value"]
    assert ops[0]["properties"]["targetResource"]["resourceName"] == "C1"
    key = call(app, "GET", f"{net}/connections/C1/sharedkey", query="api-version=2025-01-01").body["value"]
    assert key == "Secret123abc"
    with app.store.read() as db:
        rows = db.execute("SELECT body FROM resources WHERE type = 'microsoft.resources/deployments'").fetchall()
    assert rows and "Secret123abc" not in rows[0][0]
    sas = call(app, "POST", f"{net}/connections/C1/getikesas", query="api-version=2025-01-01")
    assert sas.status == 202
    result = call(app, "GET", sas.headers["Location"].split(BASE, 1)[1].split("?")[0], query="api-version=2025-01-01")
    assert json.loads(result.body)[0]["remoteEndpoint"] == "131.107.72.22"


def test_a_failing_resource_fails_the_deployment_with_azures_envelope(app):
    _topology(app)
    dep = f"/subscriptions/{SUB}/resourcegroups/RG/providers/Microsoft.Resources/deployments/d2"
    template = json.loads(json.dumps(TEMPLATE))
    template["resources"][0]["properties"]["dpdTimeoutSeconds"] = 1  # below Azure's minimum
    put = call(app, "PUT", dep, {"properties": {"template": template, "mode": "Incremental",
                                                "parameters": {"sharedKey": {"value": "Secret123abc"}}}},
               query="api-version=2024-11-01")
    assert put.status == 201
    got = call(app, "GET", dep, query="api-version=2024-11-01").body["properties"]
    assert got["provisioningState"] == "Failed" and got["error"]["code"] == "DeploymentFailed"
    assert got["error"]["details"][0]["target"].endswith("/connections/C1")
    missing = call(app, "PUT", dep, {"properties": {"template": {"parameters": {"x": {"type": "string"}},
                                                                 "resources": []}, "mode": "Incremental"}},
                   query="api-version=2024-11-01")
    assert missing.status == 400 and missing.body["error"]["code"] == "InvalidTemplate"


def test_gateway_action_answers_validate_against_network_gateway_json(session):
    """Through the real SDK (in-process): the action answers match networkGateway.json's definitions."""
    from tests.emulator import seed, spec_schema

    session.transport.exchanges = deque(maxlen=10_000)
    seed.build_topology(session)
    g = session.network.virtual_network_gateways
    routes = g.begin_get_learned_routes("TestRG1", "VNet1GW").result()
    assert any(r.network == "10.61.0.0/16" for r in routes.value)  # Site6's prefixes, once connected
    g.begin_get_advertised_routes("TestRG1", "VNet1GW", peer="10.61.0.1").result()
    g.begin_get_bgp_peer_status("TestRG1", "VNet1GW").result()
    assert [c.name for c in g.list_connections("TestRG1", "VNet1GW")] == ["VNet1toSite6"]
    assert "Vendor" in g.supported_vpn_devices("TestRG1", "VNet1GW")
    g.begin_reset("TestRG1", "VNet1GW").result()
    c = session.network.virtual_network_gateway_connections
    c.begin_reset_connection("TestRG1", "VNet1toSite6").result()
    sas = json.loads(c.begin_get_ike_sas("TestRG1", "VNet1toSite6").result())
    assert sas[0]["remoteEndpoint"] == "131.107.72.22"
    table = [(r"/getlearnedroutes$|/getadvertisedroutes$", "GET", 200, "GatewayRouteListResult"),
             (r"/getbgppeerstatus$", "GET", 200, "BgpPeerStatusListResult"),
             (r"/virtualNetworkGateways/[^/]+/connections$", "GET", 200,
              "VirtualNetworkGatewayListConnectionsResult")]
    checked = set()
    results = {}
    for method, url, status, headers, body in session.transport.exchanges:
        path = url.split("?")[0]
        if method == "POST" and status == 202:
            results[headers.get("Location", "").split("?")[0]] = path
        kind = results.get(path, path)
        for pattern, _m, _s, definition in table:
            if re.search(pattern, kind, re.IGNORECASE) and status == 200 and body is not None:
                assert spec_schema.errors(definition, body) == [], (kind, body)
                checked.add(definition)
    assert checked == {d for *_x, d in table}, checked


def test_nat_rules_crud_through_the_sdk_validates_and_canonicalises(session):
    from azure.core.exceptions import HttpResponseError

    from tests.emulator import seed, spec_schema

    seed.build_topology(session)
    n = session.network.virtual_network_gateway_nat_rules
    body = {"properties": {"type": "static", "mode": "egresssnat", "internalMappings": [{"addressSpace": "10.1.0.0/24"}],
                           "externalMappings": [{"addressSpace": "100.64.0.0/24"}]}}
    rule = n.begin_create_or_update("TestRG1", "VNet1GW", "nat1", body).result()
    assert (rule.properties.type, rule.properties.mode) == ("Static", "EgressSnat")
    raw = n.get("TestRG1", "VNet1GW", "nat1").as_dict()
    assert spec_schema.errors("VirtualNetworkGatewayNatRule", raw) == []
    assert [r.name for r in n.list_by_virtual_network_gateway("TestRG1", "VNet1GW")] == ["nat1"]
    bad = {"properties": {"type": "Static", "mode": "Sideways", "internalMappings": [{"addressSpace": "nope"}],
                          "externalMappings": [{"addressSpace": "100.64.0.0/24"}]}}
    with pytest.raises(HttpResponseError) as info:
        n.begin_create_or_update("TestRG1", "VNet1GW", "nat2", bad).result()
    assert info.value.error.code == "InvalidNatRuleMode" and "internalMappings[0]" in info.value.error.message
    n.begin_delete("TestRG1", "VNet1GW", "nat1").result()
    assert list(n.list_by_virtual_network_gateway("TestRG1", "VNet1GW")) == []


def test_recent_connection_properties_are_validated_and_returned(app):
    net = _topology(app)
    q = "api-version=2025-09-01"
    base = {"virtualNetworkGateway1": {"id": f"{net}/virtualNetworkGateways/G1"}, "connectionType": "ipsec",
            "localNetworkGateway2": {"id": f"{net}/localNetworkGateways/L1"}}
    bad = call(app, "PUT", f"{net}/connections/C2", {"location": "eastus", "properties": {
        **base, "authenticationType": "certificate", "connectionMode": "sideways",
        "trafficSelectorPolicies": [{"localAddressRanges": ["10.61.0.0/16"], "remoteAddressRanges": ["nope"]}],
        "gatewayCustomBgpIpAddresses": [{"ipConfigurationId": "x", "customBgpIpAddress": "10.0.0.1"}]}}, query=q)
    codes = {d["code"] for d in bad.body["error"]["details"]}
    assert bad.status == 400 and {"CertificateAuthenticationRequired", "InvalidConnectionMode",
                                  "InvalidAddressPrefix", "InvalidCustomBgpIpAddress"} <= codes, bad.body
    good = call(app, "PUT", f"{net}/connections/C2", {"location": "eastus", "properties": {
        **base, "authenticationType": "certificate", "connectionMode": "responderonly",
        "certificateAuthentication": {"outboundAuthCertificate": "https://kv.vault.azure.net/secrets/out",
                                      "inboundAuthCertificateSubjectName": "onprem.example"},
        "trafficSelectorPolicies": [{"localAddressRanges": ["10.1.0.0/16"], "remoteAddressRanges": ["10.61.0.0/16"]}],
        "tunnelProperties": [{"tunnelIpAddress": "131.107.72.22"}]}}, query=q)
    assert good.status == 201, good.body
    props = call(app, "GET", f"{net}/connections/C2", query=q).body["properties"]
    assert (props["authenticationType"], props["connectionMode"], props["connectionType"]) == \
        ("Certificate", "ResponderOnly", "IPsec")
    assert props["certificateAuthentication"]["inboundAuthCertificateSubjectName"] == "onprem.example"
    assert props["tunnelProperties"] == [{"tunnelIpAddress": "131.107.72.22"}]
