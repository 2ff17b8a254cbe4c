"""The connection rules added to vpnrunbook.policy.rules for the emulator (shared with the pre-checks)."""

from __future__ import annotations

from vpnrunbook.policy import rules


def test_connection_peer_rules():
    assert rules.check_connection_peer("Vnet2Vnet", has_gateway2=True, has_local_gateway2=False) == []
    assert rules.check_connection_peer("IPsec", has_gateway2=False, has_local_gateway2=True) == []
    [p] = rules.check_connection_peer("Vnet2Vnet", has_gateway2=False, has_local_gateway2=True)
    assert (p.field, p.code) == ("virtual_network_gateway2", "Vnet2VnetConnectionRequiresGateway2")
    [p] = rules.check_connection_peer("IPsec", has_gateway2=True, has_local_gateway2=False)
    assert (p.field, p.code) == ("local_network_gateway2", "IPsecConnectionRequiresLocalNetworkGateway")
    [p] = rules.check_connection_peer("ExpressRoute", has_gateway2=True, has_local_gateway2=True)
    assert p.code == "InvalidValue" and "IPsec" in p.allowed


def test_custom_policy_allowed():
    policy = [{"ikeEncryption": "AES256"}]
    assert rules.check_custom_policy_allowed(policy, sku="VpnGw1", vpn_type="RouteBased") == []
    assert rules.check_custom_policy_allowed([], sku="Basic", vpn_type="PolicyBased") == []
    [p] = rules.check_custom_policy_allowed(policy, sku="Basic", vpn_type="RouteBased")
    assert p.code == "CustomIpsecPolicyNotSupported" and "Basic" in p.message
    [p] = rules.check_custom_policy_allowed(policy, sku="Basic", vpn_type="PolicyBased")
    assert "Basic" in p.message
    [p] = rules.check_custom_policy_allowed(policy, sku="VpnGw1", vpn_type="PolicyBased")
    assert "PolicyBased" in p.message


def test_immutable():
    assert rules.check_immutable("gateway_type", "Vpn", "Vpn") == []
    assert rules.check_immutable("virtual_network_gateway1", "/a/B", "/A/b") == []  # ids are case-insensitive
    [p] = rules.check_immutable("connection_protocol", "IKEv2", "IKEv1")
    assert (p.code, p.value) == ("PropertyChangeNotAllowed", "IKEv1") and "IKEv2" in p.message
    assert "connection_protocol" in rules.IMMUTABLE_CONNECTION_FIELDS
    assert "gateway_type" in rules.IMMUTABLE_GATEWAY_FIELDS
