"""Rules Azure enforces on connections, each pinned with the source it was decided from (issue 26 item 5).

Sources (IDs of vpnrunbook/policy/rules.py and shared/reference/azure-ipsec-ike-rules.md):
  R1  hashicorp/terraform-provider-azurerm#4698 — Azure accepts routing weight 0;
  R2  hashicorp/terraform-provider-azurerm#5540 — "increase routing_weight maximum to 32000";
  B2/B3 azure-docs vpn-gateway-bgp-resource-manager-ps.md — BGP goes on the gateway (ASN) and on the local network
      gateway / peer gateway before a connection sets EnableBgp;
  I1-I3 MicrosoftDocs/azure-docs#118987, Azure/azure-rest-api-specs#27628, terraform-provider-azurerm#24746 —
      GCMAES in ikeIntegrity is in the REST enum but the service does not honour it (stored blank).
"""

from __future__ import annotations

import re

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed
from tests.emulator.test_validation import refused
from vpnrunbook.policy import rules


def _s2s(session, topology, name="C", **props):
    body = seed.s2s_body("eastus", topology.gw1.id, topology.site6.id, **props)
    return session.network.virtual_network_gateway_connections.begin_create_or_update("TestRG1", name, body).result()


# ---- routingWeight: 0..32000 (R1, R2) -----------------------------------------------------------------------
@pytest.mark.parametrize("weight", [0, 10, 32000])
def test_routing_weight_inside_the_range_is_accepted_r1_r2(session, topology, weight):
    conn = _s2s(session, topology, routingWeight=weight)
    assert conn.routing_weight == weight


@pytest.mark.parametrize("weight", [-1, 32001, 100000])
def test_routing_weight_outside_0_to_32000_is_refused_r2(session, topology, weight):
    err = refused(session, "OutOfRange", lambda: _s2s(session, topology, routingWeight=weight),
                  field="properties.routingWeight")
    assert "0 to 32000" in err.error.message


def test_routing_weight_rule_is_shared():
    assert rules.check_routing_weight(32000) == []
    [p] = rules.check_routing_weight(32001)
    assert (p.field, p.code) == ("routing_weight", "OutOfRange")


# ---- enableBgp needs BGP on both ends (B2, B3) -----------------------------------------------------------------
def test_enable_bgp_on_a_connection_whose_gateways_have_bgp_off_is_refused_b2(session, topology):
    err = refused(session, "BgpNotEnabledOnGateway", lambda: _s2s(session, topology, enableBgp=True),
                  field="properties.enableBgp")
    assert "virtualNetworkGateway1" in err.error.message and "localNetworkGateway2" in err.error.message


def test_enable_bgp_false_is_accepted_without_bgp(session, topology):
    assert _s2s(session, topology, enableBgp=False).enable_bgp is False


def test_enable_bgp_with_bgp_on_both_ends_is_accepted_and_peer_status_names_the_neighbor_b2(session, topology):
    n = session.network
    gw = seed.gateway_body("eastus", seed.gateway_subnet_id(topology.vnet1),
                           topology.gw1.ip_configurations[0].public_ip_address.id, "VpnGw1AZ")
    gw["properties"] |= {"enableBgp": True, "bgpSettings": {"asn": 65010}}
    n.virtual_network_gateways.begin_create_or_update("TestRG1", "VNet1GW", gw).result()
    lgw = n.local_network_gateways.begin_create_or_update("TestRG1", "SiteBgp", {
        "location": "eastus", "properties": {"gatewayIpAddress": "131.107.72.23",
                                             "localNetworkAddressSpace": {"addressPrefixes": ["10.63.0.0/16"]},
                                             "bgpSettings": {"asn": 65050, "bgpPeeringAddress": "10.52.255.254"}}}
    ).result()
    body = seed.s2s_body("eastus", topology.gw1.id, lgw.id, enableBgp=True)
    conn = n.virtual_network_gateway_connections.begin_create_or_update("TestRG1", "CBgp", body).result()
    assert conn.enable_bgp is True
    peers = n.virtual_network_gateways.begin_get_bgp_peer_status("TestRG1", "VNet1GW").result().value
    assert [p.neighbor for p in peers] == ["10.52.255.254"]


def test_enable_bgp_on_vnet2vnet_needs_both_gateways_b3(session, topology):
    body = seed.v2v_body("eastus", topology.gw1.id, topology.gw2.id, enableBgp=True)
    err = refused(session, "BgpNotEnabledOnGateway", lambda: session.network.virtual_network_gateway_connections
                  .begin_create_or_update("TestRG1", "V2V", body).result(), field="properties.enableBgp")
    assert "virtualNetworkGateway2" in err.error.message


# ---- messages name wire fields ------------------------------------------------------------------------------
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


@pytest.mark.parametrize("policy", [
    {**seed.SEED_POLICY, "ipsecEncryption": "GCMAES256", "ipsecIntegrity": "SHA256"},
    {**seed.SEED_POLICY, "ipsecEncryption": "AES256", "ipsecIntegrity": "GCMAES256"},
    {**seed.SEED_POLICY, "ikeIntegrity": "GCMAES256"},
    {**seed.SEED_POLICY, "saLifeTimeSeconds": 10},
    {k: v for k, v in seed.SEED_POLICY.items() if k != "dhGroup"},
])
def test_policy_errors_name_wire_fields_not_python_names(session, topology, policy):
    with pytest.raises(HttpResponseError) as info:
        _s2s(session, topology, policy=policy)
    err = info.value.error
    texts = [err.message] + [d.message for d in err.details] + [d.target for d in err.details]
    for text in texts:
        assert not SNAKE.search(text), f"a Python name in an ARM error: {text}"
    assert "properties.ipsecPolicies[0]." in err.message


def test_gcm_pairing_message_names_the_encryption_field_as_the_caller_does():
    [p] = rules.check_policy({**{s.name: v for s, v in zip(rules.FIELDS, seed.SEED_POLICY.values(), strict=True)},
                              "ipsec_encryption": "GCMAES256", "ipsec_integrity": "SHA256"},
                             names={s.name: s.wire for s in rules.FIELDS})
    assert "ipsecEncryption 'GCMAES256'" in p.message and "ipsec_encryption" not in p.message


# ---- GCM in ikeIntegrity: refused (I1-I3) ---------------------------------------------------------------------
@pytest.mark.parametrize("value", ["GCMAES128", "GCMAES256"])
def test_gcm_ike_integrity_is_refused_not_stored_blank_i1_i3(session, topology, value):
    """The REST enum lists them; the service stores the field blank (I3) and the docs dropped them (I1), so the
    emulator refuses them with a message saying what to use instead rather than losing the field silently."""
    err = refused(session, "InvalidValue", lambda: _s2s(session, topology,
                                                        policy={**seed.SEED_POLICY, "ikeIntegrity": value}),
                  field="properties.ipsecPolicies[0].ikeIntegrity")
    assert "SHA256" in err.error.message
