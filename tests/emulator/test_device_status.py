"""S2S connectionStatus follows the emulated on-premises device described by the local gateway's tags."""

from __future__ import annotations

import sys
import types

import pytest

from tests.emulator import seed

IKE, ESP = "vpnrunbook-device-ike", "vpnrunbook-device-esp"


def _site(session, tags):
    return session.network.local_network_gateways.begin_create_or_update("TestRG1", "Device", {
        "location": "eastus", "tags": tags, "properties": {
            "gatewayIpAddress": "131.107.72.40", "localNetworkAddressSpace": {"addressPrefixes": ["10.81.0.0/16"]}}}
    ).result()


def test_status_uses_predict_connection_status(session, topology, monkeypatch):
    calls = []

    def predict(policy, ike, esp):
        calls.append((policy, ike, esp))
        return ("Connected", "ok") if policy is not None and policy.dh_group == "DHGroup24" else ("NotConnected", "no")

    fake = types.ModuleType("vpnrunbook.device.negotiate")
    fake.predict_connection_status = predict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vpnrunbook.device.negotiate", fake)
    site = _site(session, {IKE: "aes256-sha384-modp2048s256, aes128-sha1-modp1024", ESP: "aes256-sha256"})
    c = session.network.virtual_network_gateway_connections
    conn = c.begin_create_or_update("TestRG1", "ToDevice", seed.s2s_body(
        "eastus", topology.gw1.id, site.id, policy=seed.SEED_POLICY)).result()
    assert conn.connection_status == "Connected"
    policy, ike, esp = calls[-1]
    assert policy.ike_integrity == "SHA384" and ike == ["aes256-sha384-modp2048s256", "aes128-sha1-modp1024"]
    assert esp == ["aes256-sha256"]
    conn.ipsec_policies = []
    assert c.begin_create_or_update("TestRG1", "ToDevice", conn).result().connection_status == "NotConnected"
    assert calls[-1][0] is None  # no custom policy: Azure's defaults


def test_without_device_tags_s2s_is_connected(session, topology):
    site = _site(session, {"owner": "netops"})
    conn = session.network.virtual_network_gateway_connections.begin_create_or_update("TestRG1", "ToDevice", seed.s2s_body(
        "eastus", topology.gw1.id, site.id, policy=seed.SEED_POLICY)).result()
    assert conn.connection_status == "Connected"


def test_with_the_real_negotiation_module(session, topology):
    negotiate = pytest.importorskip("vpnrunbook.device.negotiate")
    if not hasattr(negotiate, "predict_connection_status"):
        pytest.skip("vpnrunbook.device.negotiate has no predict_connection_status yet")
    site = _site(session, {IKE: "aes256-sha384-modp2048s256", ESP: "aes256-sha256"})
    c = session.network.virtual_network_gateway_connections
    ok = c.begin_create_or_update("TestRG1", "ToDevice", seed.s2s_body(
        "eastus", topology.gw1.id, site.id, policy=seed.SEED_POLICY)).result()
    assert ok.connection_status == "Connected"
    session.network.local_network_gateways.update_tags("TestRG1", "Device", {
        "tags": {IKE: "aes128-sha1-modp1024", ESP: "3des-md5"}})
    assert c.get("TestRG1", "ToDevice").connection_status == "NotConnected"
