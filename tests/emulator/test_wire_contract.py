"""The ARM wire contract as the SDK sees it: LROs, errors, ETags, paging, api-versions, control API and faults."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceResponseError

from tests.emulator import seed


def test_put_lro_is_201_updating_with_async_operation_then_inprogress_then_succeeded(session, ctl):
    body = seed.gateway_parts(session)
    ctl.set_time_factor(0.0002)  # 45 min → 0.54 s
    session.transport.fast_sleep = False
    start = len(session.transport.exchanges)
    poller = session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body, polling_interval=0.05)
    gw = poller.result()
    assert gw.provisioning_state == "Succeeded"
    ex = list(session.transport.exchanges)[start:]
    method, _url, status, headers, first = ex[0]
    assert (method, status) == ("PUT", 201)
    assert first["properties"]["provisioningState"] == "Updating"
    assert "/operations/" in headers["Azure-AsyncOperation"] and "Retry-After" not in headers
    polls = [e for e in ex if "/operations/" in e[1]]
    statuses = [e[4]["status"] for e in polls]
    assert statuses[0] == "InProgress" and statuses[-1] == "Succeeded" and set(statuses) == {"InProgress", "Succeeded"}
    assert ex[-1][0] == "GET" and ex[-1][1].split("?")[0].endswith("/virtualNetworkGateways/GW")
    # An update answers 200 and also goes through Updating.
    ctl.set_time_factor(0)
    again = session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body)
    assert again.result().provisioning_state == "Succeeded"
    assert [e for e in session.transport.exchanges if e[0] == "PUT"][-1][2] == 200


def test_delete_is_202_with_location(session, ctl):
    seed.network(session, "RG", "VNet", "eastus", ["10.5.0.0/16"], {"A": "10.5.0.0/24"})
    ctl.set_time_factor(0.01)  # 10 s → 0.1 s
    session.transport.fast_sleep = False
    start = len(session.transport.exchanges)
    session.network.virtual_networks.begin_delete("RG", "VNet", polling_interval=0.02).result()
    ex = list(session.transport.exchanges)[start:]
    assert ex[0][0] == "DELETE" and ex[0][2] == 202
    assert "/operationResults/" in ex[0][3]["Location"] and "Azure-AsyncOperation" in ex[0][3]
    with pytest.raises(ResourceNotFoundError):
        session.network.virtual_networks.get("RG", "VNet")
    # Deleting what is gone succeeds (204), as ARM does.
    session.network.virtual_networks.begin_delete("RG", "VNet").result()
    assert session.transport.requests[-1][2] == 204


def test_mid_creation_state_and_conflicting_operations(session, ctl, topology):
    body = seed.gateway_parts(session)
    ctl.set_time_factor(1)  # a real 45 minutes: stays Updating for this test
    session.transport.fast_sleep = False  # the poller's thread really waits between polls
    poller = session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body, polling_interval=30)
    gw = session.network.virtual_network_gateways.get("RG", "GW")
    assert gw.provisioning_state == "Updating"
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body).result()
    assert info.value.status_code == 409 and info.value.error.code == "AnotherOperationInProgress"
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateway_connections.begin_create_or_update(
            "RG", "C", seed.s2s_body("eastus", gw.id, topology.site6.id)).result()
    assert info.value.error.code == "ReferencedResourceNotProvisioned"
    assert poller.status() == "InProgress" and not poller.done()


def test_not_found_codes(session, topology):
    n = session.network
    with pytest.raises(ResourceNotFoundError) as info:
        n.virtual_networks.get("TestRG1", "Nope")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        n.virtual_networks.get("NoSuchRG", "Nope")
    assert info.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        n.subnets.get("TestRG1", "Nope", "GatewaySubnet")
    assert info.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        n.virtual_network_gateway_connections.get_shared_key("TestRG1", "Nope")
    assert info.value.error.code == "ResourceNotFound"


def test_unknown_api_version_is_rejected_naming_the_supported_one(session, topology):
    # Stable versions clients send (the Azure CLI: 2021-08-01 … 2025-09-01) are served with the same model.
    assert session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version="2024-05-01").name == "TestVNet1"
    for version in ("2024-05-02", "2024-05-01-preview"):  # unknown or preview: Azure's refusal
        with pytest.raises(HttpResponseError) as info:
            session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version=version)
        assert info.value.status_code == 400 and info.value.error.code == "NoRegisteredProviderFound"
        assert "2026-03-01" in info.value.error.message and version in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version="latest")
    assert info.value.error.code == "InvalidApiVersionParameter"


def test_stale_etag_is_412_and_changes_nothing(session, topology):
    c = session.network.virtual_network_gateway_connections
    first = c.get("TestRG1", "VNet1toSite6")
    first.dpd_timeout_seconds = 30
    second = c.begin_create_or_update("TestRG1", "VNet1toSite6", first, headers={"If-Match": first.etag}).result()
    assert second.etag != first.etag
    stale = c.get("TestRG1", "VNet1toSite6")
    stale.dpd_timeout_seconds = 90
    before = seed.snapshot(session)
    with pytest.raises(HttpResponseError) as info:
        c.begin_create_or_update("TestRG1", "VNet1toSite6", stale, headers={"If-Match": first.etag}).result()
    assert info.value.status_code == 412 and info.value.error.code == "PreconditionFailed"
    with pytest.raises(HttpResponseError) as info:
        c.begin_create_or_update("TestRG1", "VNet1toSite6", stale, headers={"If-None-Match": "*"}).result()
    assert info.value.status_code == 412
    assert seed.snapshot(session) == before
    assert c.begin_create_or_update("TestRG1", "VNet1toSite6", stale, headers={"If-Match": second.etag}).result() \
        .dpd_timeout_seconds == 90


def test_list_pages_with_next_link(session, ctl, topology):
    ctl.set_page_size(2)
    lg = session.network.local_network_gateways
    for i in range(4):
        lg.begin_create_or_update("TestRG1", f"Site{i}", {"location": "eastus", "properties": {
            "gatewayIpAddress": f"131.107.72.{30 + i}", "localNetworkAddressSpace": {"addressPrefixes": [f"10.7{i}.0.0/16"]}}}
        ).result()
    start = len(session.transport.exchanges)
    names = [x.name for x in lg.list("TestRG1")]
    assert names == ["Site6", "Site0", "Site1", "Site2", "Site3"]
    pages = list(session.transport.exchanges)[start:]
    assert len(pages) == 3 and all(len(p[4]["value"]) <= 2 for p in pages)
    assert "nextLink" in pages[0][4] and "nextLink" not in pages[-1][4]
    assert len(list(session.resources.resource_groups.list())) == 2  # TestRG1, TestRG2 over one page


def test_stats_count_writes_and_reset_forgets_everything(session, ctl, topology):
    ctl.reset()
    assert list(session.resources.resource_groups.list()) == []
    session.resources.resource_groups.create_or_update("A", {"location": "eastus"})
    session.resources.resource_groups.create_or_update("B", {"location": "eastus"})
    session.resources.resource_groups.get("A")
    stats = ctl.stats()
    assert stats["writes"] == 2
    assert stats["requests"]["PUT"] == 2 and stats["requests"]["GET"] == 2  # get + the list above
    status = ctl.status()
    assert status["resources"] == {"microsoft.resources/resourcegroups": 2}


def test_fault_429_is_retried_after_retry_after(session, ctl, topology):
    ctl.add_fault(status=429, method="GET", path_regex="/virtualNetworks/TestVNet1$", retry_after=1, count=1)
    start = len(session.transport.requests)
    assert session.network.virtual_networks.get("TestRG1", "TestVNet1").name == "TestVNet1"
    assert [r[2] for r in session.transport.requests[start:]] == [429, 200]
    assert 1.0 in session.transport.sleeps
    assert ctl.faults() == []  # used up


@pytest.mark.parametrize(("status", "code"), [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_fault_5xx(session, ctl, topology, status, code):
    ctl.add_fault(status=status, method="GET", path_regex="TestVNet1", count=1)
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.get("TestRG1", "TestVNet1", retry_total=0)
    assert info.value.status_code == status and info.value.error.code == code
    ctl.add_fault(status=status, method="GET", path_regex="TestVNet1", count=1)
    assert session.network.virtual_networks.get("TestRG1", "TestVNet1").name == "TestVNet1"  # retried


def test_fault_drop_and_fraction(session, ctl, topology):
    ctl.add_fault(status=0, method="GET", path_regex="TestVNet1", count=1)
    with pytest.raises(ServiceResponseError):
        session.network.virtual_networks.get("TestRG1", "TestVNet1", retry_total=0)
    ctl.add_fault(status=503, method="PUT", fraction=1.0)
    for _ in range(3):
        with pytest.raises(HttpResponseError):
            session.resources.resource_groups.create_or_update("X", {"location": "eastus"}, retry_total=0)
    ctl.clear_faults()
    session.resources.resource_groups.create_or_update("X", {"location": "eastus"})


def test_bad_control_requests_name_the_field(session, ctl):
    with pytest.raises(HttpResponseError) as info:
        ctl.add_fault(status=418)
    assert "status" in info.value.message and "429" in info.value.message
    with pytest.raises(HttpResponseError) as info:
        ctl.set_time_factor(-1)
    assert "factor" in info.value.message


def test_bad_json_and_missing_location(session, topology):
    from azure.core.rest import HttpRequest

    req = HttpRequest("PUT", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/TestRG1/providers/"
                             "Microsoft.Network/virtualNetworks/x?api-version=2026-03-01", content=b"{not json",
                      headers={"Content-Type": "application/json"})
    resp = session.network.send_request(req)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "InvalidRequestFormat"
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.begin_create_or_update("TestRG1", "x", {"properties": {
            "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}}).result()
    assert info.value.error.code == "LocationRequired"


def test_changing_the_time_factor_rescales_running_operations(session, ctl):
    body = seed.gateway_parts(session)
    session.transport.fast_sleep = False  # the poller's thread really waits between polls
    ctl.set_time_factor(1)  # 45 real minutes
    session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body, polling_interval=30)
    assert session.network.virtual_network_gateways.get("RG", "GW").provisioning_state == "Updating"
    ctl.set_time_factor(0.0001)  # what remains (≈45 min simulated) now takes ≈0.27 s
    assert session.network.virtual_network_gateways.get("RG", "GW").provisioning_state == "Updating"
    ctl.set_time_factor(0)
    assert session.network.virtual_network_gateways.get("RG", "GW").provisioning_state == "Succeeded"
    assert ctl.status()["operations_in_progress"] == 0
