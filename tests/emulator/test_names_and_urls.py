"""Names that reach URLs: Azure's resource group rule in the emulator, validated and encoded names in the fleet
audit (a crafted name cannot reach another endpoint such as ``sharedkey``), no Host header reflected into
operation or login URLs, and no RADIUS server secret echoed by a served gateway."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.emulator import seed
from vpnrunbook.azure.names import InvalidNameError, check_resource_group, resource_group_problem, segment
from vpnrunbook.fleet import audit, planfile

BAD_RG = ["..", ".", "rg.", "a" * 91, "bad name", "x'y", "a;b", "tab\there", "semi:colon", "ends-with-dot."]
GOOD_RG = ["a", "A" * 90, "rg-1_(x).y", "über-gruppe", "TestRG1"]
SUB = "00000000-0000-0000-0000-000000000000"


# ---- the rule ------------------------------------------------------------------------------------------
def test_the_resource_group_rule():
    for name in BAD_RG + ["", "a/b", "a?b", "a#b", "a%2Fb"]:
        assert resource_group_problem(name), name
        with pytest.raises(InvalidNameError, match="allowed"):
            check_resource_group(name)
    for name in GOOD_RG:
        assert resource_group_problem(name) is None, name
    assert resource_group_problem(5) and "not a string" in resource_group_problem(5)
    assert segment("a/b?c#d%e f") == "a%2Fb%3Fc%23d%25e%20f"


# ---- the emulator refuses them with Azure's code ----------------------------------------------------------
@pytest.mark.parametrize("name", BAD_RG)
def test_emulator_refuses_invalid_resource_group_names(session, name):
    rgs = session.resources.resource_groups
    with pytest.raises(HttpResponseError) as info:
        rgs.create_or_update(name, {"location": "eastus"})
    assert info.value.status_code == 400 and info.value.error.code == "InvalidResourceGroup", info.value.message
    with pytest.raises(HttpResponseError) as info:
        rgs.get(name)
    assert info.value.error.code == "InvalidResourceGroup"
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.begin_create_or_update(
            name, "v", seed.vnet_body("eastus", ["10.0.0.0/16"], {})).result()
    assert info.value.error.code == "InvalidResourceGroup"
    assert [g.name for g in rgs.list()] == []


def test_emulator_accepts_valid_resource_group_names(session):
    for name in GOOD_RG:
        assert session.resources.resource_groups.create_or_update(name, {"location": "eastus"}).name == name


# ---- the fleet audit: validated and encoded names -------------------------------------------------------
CRAFTED = ["TestRG1/providers/Microsoft.Network/connections/VNet1toSite6/sharedkey?api-version=2026-03-01&x=",
           "TestRG1/providers/Microsoft.Network/connections/VNet1toSite6/sharedkey#",
           "..", "../resourceGroups/TestRG1/providers/Microsoft.Network/connections/VNet1toSite6/sharedkey",
           "TestRG1%2Fproviders%2FMicrosoft.Network%2Fconnections%2FVNet1toSite6%2Fsharedkey"]


def _paths(session) -> list[str]:
    return [path.lower() for _method, path, _status in session.transport.requests]


@pytest.mark.parametrize("crafted", CRAFTED)
def test_a_crafted_resource_group_never_reaches_another_endpoint(session, crafted):
    seed.build_topology(session)
    before = len(session.transport.requests)
    with pytest.raises(ValueError, match="resource group name"):
        audit.audit_fleet(session, resource_groups=[crafted])
    with pytest.raises(InvalidNameError):
        audit.list_resource_group(session, crafted, "connections")  # a name listed by the server, too
    assert len(session.transport.requests) == before, "a request was sent for a refused name"
    assert not any("sharedkey" in p for p in _paths(session))


def test_a_crafted_name_listed_by_the_server_is_an_error_row_not_a_request(session, monkeypatch):
    seed.build_topology(session)
    listed = [SimpleNamespace(name="TestRG1"), SimpleNamespace(name=CRAFTED[0])]
    monkeypatch.setattr(session.resources.resource_groups, "list", lambda **_kw: listed)
    result = audit.audit_fleet(session)
    assert set(result.frame["resource_group"]) == {"TestRG1"}
    assert any("resource group name" in text for _scope, text in result.errors), result.errors
    assert not any("sharedkey" in p for p in _paths(session))


NAMES = st.one_of(st.text(max_size=100), st.text(alphabet="./?#%&=;: ()-_aZ9", max_size=40),
                  st.sampled_from(CRAFTED + BAD_RG + GOOD_RG))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_any_name_is_refused_or_sent_as_exactly_one_path_segment(session, name):
    """The class: whatever the name, the audit either refuses it before any request or asks for exactly the
    list of that one resource group (the path the server decodes has the name whole, nothing else)."""
    before = len(session.transport.requests)
    try:
        audit.list_resource_group(session, name, "connections")
    except InvalidNameError:
        assert resource_group_problem(name) and len(session.transport.requests) == before
        return
    assert resource_group_problem(name) is None
    sent = [path for _m, path, _s in session.transport.requests[before:]]
    expected = f"/subscriptions/{session.subscription_id}/resourceGroups/{name}/providers/Microsoft.Network/connections"
    assert sent == [expected]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_the_emulator_creates_a_group_only_when_azure_would(session, name):
    rgs = session.resources.resource_groups
    if "/" in name or "?" in name or "#" in name or not name:  # not one path segment: never a group route
        return
    try:
        created = rgs.create_or_update(name, {"location": "eastus"})
    except HttpResponseError as exc:
        assert resource_group_problem(name), (name, exc.message)
        assert exc.status_code == 400 and exc.error.code == "InvalidResourceGroup"
        return
    assert resource_group_problem(name) is None, name
    assert created.name == name and rgs.get(name).name == name
    rgs.begin_delete(name).result()  # the session outlives the example: "A" after "a" would find "a" (ARM names
    # are case-insensitive and keep the first spelling)


def test_names_are_sent_encoded(session):
    session.resources.resource_groups.create_or_update("rg(1)", {"location": "eastus"})
    assert audit.list_resource_group(session, "rg(1)", "connections") == []
    sent = session.transport.requests[-1][1]
    assert sent.lower().startswith(f"/subscriptions/{session.subscription_id}/resourcegroups/rg(1)/providers/")


def test_next_link_is_followed_only_to_the_same_list():
    fake = SimpleNamespace(base_url="https://management.azure.com")
    first = f"/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Network/connections"
    same = f"https://management.azure.com{first}?api-version=2026-03-01&$skiptoken=5"
    assert audit._next_link(fake, same, first) == same
    assert audit._next_link(fake, None, first) is None
    for other in (f"https://evil.example{first}?x=1",
                  f"http://management.azure.com{first}",
                  f"https://management.azure.com{first}/VNet1toSite6/sharedkey?api-version=2026-03-01"):
        with pytest.raises(HttpResponseError, match="not followed"):
            audit._next_link(fake, other, first)


def test_a_rollout_plan_refuses_invalid_resource_group_names(tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text("resource_group,connection,policy\n..,c1,strong-modern\nrg.,c2,strong-modern\n"
                    "RG,c/sharedkey,strong-modern\n")
    with pytest.raises(planfile.RolloutPlanError) as info:
        planfile.load_plan(plan)
    codes = [p.code for p in info.value.problems]
    assert codes.count("InvalidResourceGroup") == 2 and codes.count("InvalidResourceName") == 1, codes


# ---- no Host header reflected -----------------------------------------------------------------------------
def test_host_header_is_not_reflected(served):
    auth = {"Authorization": f"Bearer {served.token}"}
    base = f"{served.url}/subscriptions/{SUB}/resourceGroups/RG"
    r = requests.put(f"{base}?api-version=2025-04-01", json={"location": "eastus"}, headers=auth,
                     verify=str(served.ca), timeout=10)
    assert r.status_code == 201
    for host in ("evil.example", "evil.example:443", f"127.0.0.1:{served.httpd.server_address[1]}@evil.example",
                 "127.0.0.1:1"):
        r = requests.put(f"{base}/providers/Microsoft.Network/publicIPAddresses/p?api-version=2026-03-01",
                         json={"location": "eastus"}, headers={**auth, "Host": host}, verify=str(served.ca),
                         timeout=10)
        assert r.status_code in (200, 201), r.text
        for header in ("Azure-AsyncOperation", "Location"):
            if header in r.headers:
                assert r.headers[header].startswith(served.url + "/"), (host, r.headers[header])
        r = requests.delete(f"{base}/providers/Microsoft.Network/publicIPAddresses/p?api-version=2026-03-01",
                            headers={**auth, "Host": host}, verify=str(served.ca), timeout=10)
        assert r.headers["Location"].startswith(served.url + "/"), (host, r.headers)
        r = requests.get(f"{served.url}/common/v2.0/.well-known/openid-configuration", headers={"Host": host},
                         verify=str(served.ca), timeout=10)
        assert r.json()["token_endpoint"].startswith(served.url + "/"), host
    port = served.httpd.server_address[1]
    r = requests.get(f"{served.url}/common/v2.0/.well-known/openid-configuration",
                     headers={"Host": f"localhost:{port}"}, verify=str(served.ca), timeout=10)
    assert r.json()["token_endpoint"].startswith(f"https://localhost:{port}/")  # one of its own names


# ---- RADIUS secrets are write-only ---------------------------------------------------------------------
RADIUS_SECRET, SERVER_SECRET = "Radius-Top-Secret-1", "Radius-Server-Secret-2"


def _radius_gateway(session):
    body = seed.gateway_parts(session)
    body["properties"]["vpnClientConfiguration"] = {
        "vpnClientAddressPool": {"addressPrefixes": ["172.16.201.0/24"]},
        "vpnClientProtocols": ["IkeV2"],
        "radiusServerAddress": "10.5.0.4", "radiusServerSecret": RADIUS_SECRET,
        "radiusServers": [{"radiusServerAddress": "10.5.0.5", "radiusServerScore": 1,
                           "radiusServerSecret": SERVER_SECRET}],
    }
    return body


def test_served_gateway_never_echoes_radius_secrets(session):
    body = _radius_gateway(session)
    rg_url = f"/subscriptions/{session.subscription_id}/resourceGroups/RG/providers/Microsoft.Network"
    from azure.core.rest import HttpRequest

    put = session.network.send_request(HttpRequest("PUT", f"{rg_url}/virtualNetworkGateways/gw?api-version=2026-03-01",
                                                   json=body))
    assert put.status_code in (200, 201), put.text()
    got = session.network.send_request(HttpRequest("GET", f"{rg_url}/virtualNetworkGateways/gw?api-version=2026-03-01"))
    listed = session.network.send_request(HttpRequest("GET", f"{rg_url}/virtualNetworkGateways?api-version=2026-03-01"))
    for response in (put, got, listed):
        assert RADIUS_SECRET not in response.text() and SERVER_SECRET not in response.text()
        assert "radiusServerSecret" not in response.text()
    cfg = got.json()["properties"]["vpnClientConfiguration"]
    assert cfg["radiusServerAddress"] == "10.5.0.4" and cfg["radiusServers"][0]["radiusServerAddress"] == "10.5.0.5"
    # A PUT of what GET returned keeps the secrets; they are in the secrets table, not in any resource body.
    again = session.network.send_request(HttpRequest(
        "PUT", f"{rg_url}/virtualNetworkGateways/gw?api-version=2026-03-01", json=got.json()))
    assert again.status_code == 200 and RADIUS_SECRET not in again.text()
    store = session.transport.app.store
    with sqlite3.connect(store.path) as db:
        bodies = " ".join(row[0] for row in db.execute("SELECT body FROM resources"))
        assert RADIUS_SECRET not in bodies and SERVER_SECRET not in bodies
        kept = [row[0] for row in db.execute("SELECT shared_key FROM secrets WHERE resource_key LIKE '%#radius'")]
    assert len(kept) == 1 and json.loads(kept[0]) == {"": RADIUS_SECRET, "10.5.0.5": SERVER_SECRET}


def test_sdk_gateway_model_has_no_secret_after_a_get(session):
    body = _radius_gateway(session)
    gw = session.network.virtual_network_gateways.begin_create_or_update("RG", "gw", body).result()
    assert gw.vpn_client_configuration.radius_server_secret is None
    assert gw.vpn_client_configuration.radius_servers[0].radius_server_secret is None
    got = session.network.virtual_network_gateways.get("RG", "gw")
    assert got.vpn_client_configuration.radius_server_secret is None


# ---- network resource names: Azure's InvalidResourceName -------------------------------------------------
BAD_NAMES = ["..", ".", "vnet.", "-vnet", "a b", "a" * 81, "x'y"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_emulator_refuses_invalid_network_resource_names(session, name):
    session.resources.resource_groups.create_or_update("RG", {"location": "eastus"})
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.begin_create_or_update(
            "RG", name, seed.vnet_body("eastus", ["10.0.0.0/16"], {})).result()
    assert info.value.status_code == 400 and info.value.error.code == "InvalidResourceName"
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.begin_create_or_update(
            "RG", "v", seed.vnet_body("eastus", ["10.0.0.0/16"], {name: "10.0.0.0/24"})).result()
    assert info.value.error.code == "InvalidResourceName"  # a subnet's name becomes part of its id too
    assert list(session.network.virtual_networks.list("RG")) == []


def test_operations_refuse_ids_built_from_invalid_names(session):
    from vpnrunbook.operations import arm

    assert arm.resource_id(session, "rg-1_(x)", "connection", "c.1_x").endswith("/connections/c.1_x")
    for rg, name in (("..", "c"), ("RG/x", "c"), ("RG", ".."), ("RG", "c/sharedkey"), ("RG", "c?x=")):
        with pytest.raises(InvalidNameError):
            arm.resource_id(session, rg, "connection", name)
