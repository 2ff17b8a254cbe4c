"""The whole seed workflow through the real SDK against the in-process emulator."""

from __future__ import annotations

from tests.emulator import seed


def test_seed_topology_is_created_and_readable(session, topology):
    n = session.network
    vnet1 = n.virtual_networks.get("TestRG1", "TestVNet1")
    assert vnet1.address_space.address_prefixes == ["10.1.0.0/16"]
    assert {s.name: s.address_prefix for s in vnet1.subnets} == {
        "FrontEnd": "10.1.0.0/24", "Backend": "10.1.1.0/24", "GatewaySubnet": "10.1.255.0/27"}
    gw1 = n.virtual_network_gateways.get("TestRG1", "VNet1GW")
    assert (gw1.sku.name, gw1.vpn_type, gw1.gateway_type, gw1.provisioning_state) == \
        ("VpnGw1AZ", "RouteBased", "Vpn", "Succeeded")
    assert gw1.vpn_gateway_generation == "Generation1"
    gw2 = n.virtual_network_gateways.get("TestRG2", "VNet2GW")
    assert (gw2.sku.name, gw2.vpn_gateway_generation) == ("VpnGw2AZ", "Generation2")
    site6 = n.local_network_gateways.get("TestRG1", "Site6")
    assert site6.gateway_ip_address == "131.107.72.22"
    assert site6.local_network_address_space.address_prefixes == ["10.61.0.0/16", "10.62.0.0/16"]
    conn = n.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6")
    assert conn.connection_type == "IPsec" and conn.connection_protocol == "IKEv2"
    assert conn.ipsec_policies[0].as_dict() == seed.SEED_POLICY
    assert conn.connection_status == "Connected"
    assert "sharedKey" not in conn.as_dict()["properties"]
    assert n.virtual_network_gateway_connections.get_shared_key("TestRG1", "VNet1toSite6").value == seed.S2S_KEY
    # The gateway subnet shows the gateway's IP configuration; the public IP shows who holds it.
    gws = next(s for s in vnet1.subnets if s.name == "GatewaySubnet")
    assert gws.ip_configurations[0].id.startswith(gw1.id + "/ipConfigurations/")
    pip = n.public_ip_addresses.get("TestRG1", "VNet1GWpip")
    assert pip.ip_configuration.id == gw1.ip_configurations[0].id and pip.ip_address


def test_vnet_to_vnet_pair_connects_only_when_both_directions_match(session, topology):
    c = session.network.virtual_network_gateway_connections
    one = c.begin_create_or_update("TestRG1", "VNet1toVNet2", seed.v2v_body(
        "eastus", topology.gw1.id, topology.gw2.id, policy=seed.V2V_POLICY)).result()
    assert one.connection_status == "NotConnected"  # the other direction does not exist yet
    two = c.begin_create_or_update("TestRG2", "VNet2toVNet1", seed.v2v_body(
        "westus", topology.gw2.id, topology.gw1.id, policy=seed.V2V_POLICY)).result()
    assert two.connection_status == "Connected"
    assert c.get("TestRG1", "VNet1toVNet2").connection_status == "Connected"
    # A different shared key on one side breaks the pair ...
    c.begin_set_shared_key("TestRG2", "VNet2toVNet1", {"value": "Other1Key2"}).result()
    assert c.get("TestRG1", "VNet1toVNet2").connection_status == "NotConnected"
    c.begin_set_shared_key("TestRG2", "VNet2toVNet1", {"value": seed.V2V_KEY}).result()
    assert c.get("TestRG1", "VNet1toVNet2").connection_status == "Connected"
    # ... and so does a policy on one side only; removing it on both sides (defaults) reconnects.
    body = seed.v2v_body("westus", topology.gw2.id, topology.gw1.id, policy=None)
    del body["properties"]["sharedKey"]  # the key stays as it was
    c.begin_create_or_update("TestRG2", "VNet2toVNet1", body).result()
    assert c.get("TestRG1", "VNet1toVNet2").connection_status == "NotConnected"
    body1 = seed.v2v_body("eastus", topology.gw1.id, topology.gw2.id, policy=None)
    del body1["properties"]["sharedKey"]
    c.begin_create_or_update("TestRG1", "VNet1toVNet2", body1).result()
    assert c.get("TestRG1", "VNet1toVNet2").connection_status == "Connected"
    assert c.get("TestRG2", "VNet2toVNet1").ipsec_policies == []


def test_show_update_and_remove_policy(session, topology):
    c = session.network.virtual_network_gateway_connections
    conn = c.get("TestRG1", "VNet1toSite6")
    assert conn.ipsec_policies[0].ike_integrity == "SHA384"
    etag = conn.etag
    # Update: read-modify-write of the SDK model, guarded by If-Match.
    conn.ipsec_policies[0].sa_life_time_seconds = 27000
    conn.ipsec_policies[0].pfs_group = "PFS24"
    conn.dpd_timeout_seconds = 60
    poller = c.begin_create_or_update("TestRG1", "VNet1toSite6", conn, headers={"If-Match": etag})
    updated = poller.result()
    assert updated.ipsec_policies[0].sa_life_time_seconds == 27000 and updated.ipsec_policies[0].pfs_group == "PFS24"
    assert updated.dpd_timeout_seconds == 60 and updated.etag != etag
    assert c.get_shared_key("TestRG1", "VNet1toSite6").value == seed.S2S_KEY  # a PUT without the key keeps it
    # Remove: an empty list returns the connection to Azure's default proposals.
    updated.ipsec_policies = []
    removed = c.begin_create_or_update("TestRG1", "VNet1toSite6", updated).result()
    assert removed.ipsec_policies == []
    assert c.get("TestRG1", "VNet1toSite6").ipsec_policies == []


def test_tags_shared_key_reset_and_deletes(session, topology):
    n = session.network
    c = n.virtual_network_gateway_connections
    tagged = c.begin_update_tags("TestRG1", "VNet1toSite6", {"tags": {"owner": "netops"}}).result()
    assert tagged.tags == {"owner": "netops"}
    reset = c.begin_reset_shared_key("TestRG1", "VNet1toSite6", {"keyLength": 64}).result()
    assert reset.key_length == 64
    new_key = c.get_shared_key("TestRG1", "VNet1toSite6").value
    assert len(new_key) == 64 and new_key != seed.S2S_KEY
    c.begin_delete("TestRG1", "VNet1toSite6").result()
    assert [x.name for x in c.list("TestRG1")] == []
    n.virtual_network_gateways.begin_delete("TestRG1", "VNet1GW").result()
    n.local_network_gateways.begin_delete("TestRG1", "Site6").result()
    assert [g.name for g in n.virtual_network_gateways.list("TestRG1")] == []
    rg = session.resources.resource_groups.update("TestRG2", {"tags": {"env": "lab"}})
    assert rg.tags == {"env": "lab"} and rg.location == "westus"
    session.resources.resource_groups.begin_delete("TestRG2").result()
    assert not session.resources.resource_groups.check_existence("TestRG2")
    assert [v.name for v in n.virtual_networks.list_all()] == ["TestVNet1"]
