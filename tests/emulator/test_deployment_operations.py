"""Template deployments beyond the PUT: validate, what-if, GET/list/delete and operations (issue 26 item 2)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.emulator.test_client_endpoints import BASE, SUB, TEMPLATE, TOKEN, _topology, call
from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.store import Store

Q = "api-version=2024-11-01"
DEPS = f"/subscriptions/{SUB}/resourcegroups/RG/providers/Microsoft.Resources/deployments"
LNG = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
       "contentVersion": "1.0.0.0",
       "parameters": {"name": {"type": "string"}, "ip": {"type": "string", "defaultValue": "131.107.72.30"}},
       "resources": [{"type": "Microsoft.Network/localNetworkGateways", "apiVersion": "2020-11-01",
                      "name": "[parameters('name')]", "location": "[resourceGroup().location]",
                      "properties": {"gatewayIpAddress": "[parameters('ip')]",
                                     "localNetworkAddressSpace": {"addressPrefixes": ["10.70.0.0/16"]}}}]}


@pytest.fixture
def app(tmp_path):
    emulator = EmulatorApp(Store(str(tmp_path / "e.sqlite3")), token=TOKEN)
    with emulator.store.write() as db:
        emulator.store.set_setting(db, "time_factor", "0")
    yield emulator
    emulator.store.close()


def _body(template, **params):
    return {"properties": {"template": template, "mode": "Incremental",
                           "parameters": {k: {"value": v} for k, v in params.items()}}}


def _count(app, type_):
    with app.store.read() as db:
        return db.execute("SELECT COUNT(*) FROM resources WHERE type = ?", (type_,)).fetchone()[0]


def test_validate_answers_the_validated_resources_and_creates_nothing(app):
    _topology(app)
    before = _count(app, "microsoft.network/localnetworkgateways")
    got = call(app, "POST", f"{DEPS}/v1/validate", _body(LNG, name="L9"), query=Q)
    assert got.status == 200, got.body
    props = got.body["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["validatedResources"] == [{"id": f"/subscriptions/{SUB}/resourceGroups/RG/providers/"
                                                  "Microsoft.Network/localNetworkGateways/L9"}]
    assert _count(app, "microsoft.network/localnetworkgateways") == before
    assert call(app, "GET", f"{DEPS}/v1", query=Q).status == 404  # no deployment recorded either


def test_validate_refuses_a_resource_its_handler_refuses_naming_it(app):
    _topology(app)
    got = call(app, "POST", f"{DEPS}/v1/validate", _body(LNG, name="L9", ip="not-an-ip"), query=Q)
    assert got.status == 400 and got.body["error"]["code"] == "InvalidTemplateDeployment"
    [detail] = got.body["error"]["details"]
    assert detail["code"] == "InvalidIPAddress" and detail["target"].endswith("/localNetworkGateways/L9")
    bad = call(app, "POST", f"{DEPS}/v1/validate", _body({"resources": [], "parameters": {"x": {"type": "string"}}}),
               query=Q)
    assert bad.status == 400 and bad.body["error"]["code"] == "InvalidTemplate"


def _what_if(app, body):
    started = call(app, "POST", f"{DEPS}/w1/whatIf", body, query=Q)
    assert started.status == 202 and "Location" in started.headers
    path, _, query = started.headers["Location"].split(BASE, 1)[1].partition("?")
    result = app.handle("GET", path, query, {"authorization": f"Bearer {TOKEN}"}, b"", BASE)
    assert result.status == 200
    return result.body


def test_what_if_lists_create_modify_nochange_and_ignore_in_arms_shape(app):
    _topology(app)
    created = _what_if(app, _body(LNG, name="L9"))
    assert created["status"] == "Succeeded"
    changes = {c["resourceId"].rsplit("/", 1)[1]: c for c in created["properties"]["changes"]}
    assert changes["L9"]["changeType"] == "Create"
    assert changes["L9"]["after"]["properties"]["gatewayIpAddress"] == "131.107.72.30"
    assert changes["L1"]["changeType"] == "Ignore"  # in the group, not in the template (Incremental)
    assert _count(app, "microsoft.network/localnetworkgateways") == 1  # L1 only: what-if keeps nothing

    same = copy.deepcopy(LNG)
    same["resources"][0]["properties"] = {"gatewayIpAddress": "131.107.72.22",
                                          "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}
    unchanged = {c["resourceId"].rsplit("/", 1)[1]: c for c in _what_if(app, _body(same, name="L1"))["properties"]
                 ["changes"]}
    assert unchanged["L1"]["changeType"] == "NoChange" and "delta" not in unchanged["L1"]

    moved = {c["resourceId"].rsplit("/", 1)[1]: c for c in
             _what_if(app, _body(same | {"resources": [same["resources"][0] | {"properties": {
                 "gatewayIpAddress": "131.107.72.99",
                 "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}]}, name="L1"))["properties"]
             ["changes"]}
    assert moved["L1"]["changeType"] == "Modify"
    assert moved["L1"]["delta"] == [{"path": "properties.gatewayIpAddress", "propertyChangeType": "Modify",
                                     "before": "131.107.72.22", "after": "131.107.72.99"}]


def test_what_if_of_an_invalid_resource_fails_with_the_preflight_error(app):
    _topology(app)
    result = _what_if(app, _body(LNG, name="L9", ip="not-an-ip"))
    assert result["status"] == "Failed" and result["error"]["code"] == "InvalidTemplateDeployment"


def test_deployments_list_get_operations_and_delete(app):
    _topology(app)
    secret = {"sharedKey": "Secret123abc"}
    assert call(app, "PUT", f"{DEPS}/d1", _body(TEMPLATE, **secret), query=Q).status == 201
    assert call(app, "PUT", f"{DEPS}/d2", _body(LNG, name="L9"), query=Q).status == 201
    listed = call(app, "GET", DEPS, query=Q)
    assert listed.status == 200 and [d["name"] for d in listed.body["value"]] == ["d1", "d2"]
    assert "Secret123abc" not in json.dumps(listed.body)
    ops = call(app, "GET", f"{DEPS}/d2/operations", query=Q).body["value"]
    # DeploymentOperations_List's own path has no provider segment (the Azure CLI uses it)
    assert call(app, "GET", f"/subscriptions/{SUB}/resourcegroups/RG/deployments/d2/operations", query=Q).body[
        "value"] == ops
    one = call(app, "GET", f"{DEPS}/d2/operations/{ops[0]['operationId']}", query=Q)
    assert one.status == 200 and one.body["properties"]["targetResource"]["resourceName"] == "L9"
    assert call(app, "GET", f"{DEPS}/d2/operations/NOPE", query=Q).status == 404
    assert call(app, "DELETE", f"{DEPS}/d2", query=Q).status == 204
    assert call(app, "GET", f"{DEPS}/d2", query=Q).status == 404
    assert [d["name"] for d in call(app, "GET", DEPS, query=Q).body["value"]] == ["d1"]
    assert call(app, "DELETE", f"{DEPS}/d2", query=Q).status == 204  # gone already: still 204, as ARM


@pytest.mark.parametrize("path", ["/validate", "/whatIf"])
def test_validate_and_what_if_need_the_resource_group(app, path):
    got = call(app, "POST", f"/subscriptions/{SUB}/resourcegroups/Nope/providers/Microsoft.Resources/deployments/x"
               + path, _body(LNG, name="L9"), query=Q)
    assert got.status == 404 and got.body["error"]["code"] == "ResourceGroupNotFound"


def test_the_azure_cli_jsonc_body_is_read_as_arm_reads_it(app):
    """The Azure CLI splices the template file verbatim after the other properties: ``…}, template:{…}}`` with
    the file's comments (its JsonCTemplatePolicy); ARM accepts that, so does the emulator."""
    _topology(app)
    head = json.dumps({"properties": {"mode": "Incremental", "parameters": {"name": {"value": "L9"}}}})
    template_text = json.dumps(LNG, indent=2).replace('"resources": [', '// the gateway\n  "resources": [', 1)
    raw = (head[:-2] + ", template:" + template_text + "}}").encode()
    got = app.handle("POST", f"{DEPS}/v1/validate", Q, {"authorization": f"Bearer {TOKEN}"}, raw, BASE)
    assert got.status == 200, got.body
    assert got.body["properties"]["validatedResources"][0]["id"].endswith("/localNetworkGateways/L9")
    broken = app.handle("POST", f"{DEPS}/v1/validate", Q, {"authorization": f"Bearer {TOKEN}"}, b"{nope", BASE)
    assert broken.status == 400 and broken.body["error"]["code"] == "InvalidRequestFormat"
