"""Long-running operations that end Failed (control-API ``lro_outcome`` fault), seen through the SDK only."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed
from vpnrunbook.azure.connect import connect
from vpnrunbook.emulator.control import DEFAULT_LRO_ERROR, EmulatorControl

GW_PATH = "/virtualNetworkGateways/GW$"


def test_failed_gateway_deployment_raises_with_the_code_and_leaves_the_gateway_failed(session, ctl):
    body = seed.gateway_parts(session)
    ctl.add_lro_failure(path_regex=GW_PATH, code="VpnGatewayDeploymentFailed",
                        message="Gateway deployment failed: allocation failure in the region.")
    poller = session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body)
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert info.value.error.code == "VpnGatewayDeploymentFailed"
    assert "allocation failure" in info.value.message
    assert poller.status() == "Failed"
    # The PUT itself was accepted (201, Updating); the status URL answered Failed with the ARM error object.
    put = next(e for e in session.transport.exchanges if e[0] == "PUT" and "virtualNetworkGateways/GW" in e[1])
    assert put[2] == 201 and put[4]["properties"]["provisioningState"] == "Updating"
    last_poll = [e for e in session.transport.exchanges if "/operations/" in e[1]][-1]
    assert last_poll[4]["status"] == "Failed"
    assert last_poll[4]["error"] == {"code": "VpnGatewayDeploymentFailed",
                                     "message": "Gateway deployment failed: allocation failure in the region."}
    # Another client of the same state (a second session, its own store connection) sees Failed.
    other = connect(polling_interval=0)
    try:
        gw = other.network.virtual_network_gateways.get("RG", "GW")
        assert gw.provisioning_state == "Failed"
        assert gw.ip_configurations[0].provisioning_state == "Failed"
        assert EmulatorControl(other).status()["resources_failed"] == 1
    finally:
        other.transport.app.store.close()
    assert ctl.faults() == []  # count 1: used up


def test_re_put_on_a_failed_gateway_retries_the_deployment_and_succeeds(session, ctl):
    body = seed.gateway_parts(session)
    ctl.add_lro_failure(path_regex=GW_PATH)
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body).result()
    assert info.value.error.code == DEFAULT_LRO_ERROR["code"]
    etag_failed = session.network.virtual_network_gateways.get("RG", "GW").etag
    start = len(session.transport.exchanges)
    gw = session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body).result()
    assert gw.provisioning_state == "Succeeded" and gw.etag != etag_failed
    ex = list(session.transport.exchanges)[start:]
    assert (ex[0][0], ex[0][2]) == ("PUT", 200) and ex[0][4]["properties"]["provisioningState"] == "Updating"
    assert [e[4]["status"] for e in ex if "/operations/" in e[1]][-1] == "Succeeded"
    assert EmulatorControl(session).status()["resources_failed"] == 0


def test_retry_of_a_failed_create_takes_the_create_duration(session, ctl):
    """Azure redeploys a gateway whose creation failed: the retry is a whole create (45 min), not an update."""
    body = seed.gateway_parts(session)
    ctl.add_lro_failure(path_regex=GW_PATH)
    with pytest.raises(HttpResponseError):
        session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body).result()
    ctl.set_time_factor(1)
    session.transport.fast_sleep = False
    session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body, polling_interval=30)
    op_url = [e for e in session.transport.exchanges if e[0] == "PUT"][-1][3]["Azure-AsyncOperation"]
    store = session.transport.app.store
    with store.read() as db:
        op = store.get_operation(db, op_url.split("/operations/")[1].split("?")[0])
    assert op["kind"] == "create" and op["done"] - op["start"] == pytest.approx(45 * 60, rel=0.01)
    ctl.set_time_factor(0)


def test_failed_connection_is_failed_with_status_unknown_and_recovers(session, ctl, topology):
    n = session.network
    ctl.add_lro_failure(path_regex="/connections/VNet1toSite6$", code="ConnectionProvisioningFailed",
                        message="The connection could not be provisioned.")
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id, policy=seed.V2V_POLICY)
    with pytest.raises(HttpResponseError) as info:
        n.virtual_network_gateway_connections.begin_create_or_update("TestRG1", "VNet1toSite6", body).result()
    assert info.value.error.code == "ConnectionProvisioningFailed"
    conn = n.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6")
    assert conn.provisioning_state == "Failed" and conn.connection_status == "Unknown"
    fixed = n.virtual_network_gateway_connections.begin_create_or_update("TestRG1", "VNet1toSite6", body).result()
    assert fixed.provisioning_state == "Succeeded" and fixed.connection_status == "Connected"
    assert fixed.ipsec_policies[0].ipsec_encryption == "GCMAES128"


def test_a_refused_put_does_not_use_up_the_fault(session, ctl):
    body = seed.gateway_parts(session)
    ctl.add_lro_failure(path_regex=GW_PATH)
    bad = {**body, "properties": {**body["properties"], "sku": {"name": "NoSuchSku", "tier": "NoSuchSku"}}}
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", bad).result()
    assert info.value.status_code == 400 and info.value.error.code != DEFAULT_LRO_ERROR["code"]
    assert len(ctl.faults()) == 1 and ctl.faults()[0]["lro_outcome"] == "Failed"
    with pytest.raises(HttpResponseError):
        session.network.virtual_network_gateways.begin_create_or_update("RG", "GW", body).result()
    assert ctl.faults() == []


def test_a_gateway_that_failed_cannot_carry_a_connection_until_it_is_fixed(session, ctl, topology):
    ctl.add_lro_failure(path_regex="/virtualNetworkGateways/VNet1GW$")
    body = session.network.virtual_network_gateways.get("TestRG1", "VNet1GW")  # PUT of GET: an update
    with pytest.raises(HttpResponseError):
        session.network.virtual_network_gateways.begin_create_or_update("TestRG1", "VNet1GW", body).result()
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_network_gateway_connections.begin_create_or_update(
            "TestRG1", "Other", seed.s2s_body("eastus", topology.gw1.id, topology.site6.id)).result()
    assert info.value.error.code == "ReferencedResourceNotProvisioned" and "Failed" in info.value.message


@pytest.mark.parametrize(("spec", "field"), [
    ({"lro_outcome": "Exploded"}, "lro_outcome"),
    ({"lro_outcome": "Failed", "status": 500}, "status"),
    ({"lro_outcome": "Failed", "match": {"method": "DELETE"}}, "match.method"),
    ({"lro_outcome": "Failed", "error": {"code": "X"}}, "error.message"),
    ({"lro_outcome": "Failed", "error": "boom"}, "error"),
    ({"status": 500, "error": {"code": "X", "message": "y"}}, "error"),
])
def test_bad_lro_fault_requests_name_the_field(session, ctl, spec, field):
    with pytest.raises(HttpResponseError) as info:
        ctl._call("POST", "faults", {"match": {}, **spec})
    assert info.value.error.code == "InvalidControlRequest"
    assert info.value.error.message.startswith(f"{field}:") and "allowed" in info.value.error.message
    assert ctl.faults() == []


def test_lro_faults_do_not_touch_other_requests(session, ctl, topology):
    ctl.add_lro_failure(path_regex="/virtualNetworks/TestVNet1$")
    assert session.network.virtual_networks.get("TestRG1", "TestVNet1").provisioning_state == "Succeeded"
    session.network.virtual_network_gateways.get("TestRG1", "VNet1GW")
    assert len(ctl.faults()) == 1  # a GET neither fires nor uses it
    vnet = session.network.virtual_networks.get("TestRG1", "TestVNet1")
    with pytest.raises(HttpResponseError):
        session.network.virtual_networks.begin_create_or_update("TestRG1", "TestVNet1", vnet).result()
    assert session.network.virtual_networks.get("TestRG1", "TestVNet1").provisioning_state == "Failed"
