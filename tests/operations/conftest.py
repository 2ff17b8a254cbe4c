"""Fixtures for operations tests: an emulator session per test (own state dir), write counting, seed steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vpnrunbook import operations as ops

WRITE_METHODS = {"PUT", "PATCH", "POST", "DELETE"}
SUB = "00000000-0000-0000-0000-000000000000"
# Seed values (issue 5)
RG1, RG2, LOC = "TestRG1", "TestRG2", "EastUS"
VNET1_SPACE = ["10.1.0.0/16"]
VNET1_SUBNETS = {"FrontEnd": "10.1.0.0/24", "Backend": "10.1.1.0/24", "GatewaySubnet": "10.1.255.0/27"}
VNET2_SPACE = ["10.21.0.0/16", "10.22.0.0/16"]
VNET2_SUBNETS = {"FrontEnd": "10.21.0.0/24", "Backend": "10.22.0.0/24", "GatewaySubnet": "10.22.255.0/27"}
SITE6_IP, SITE6_PREFIXES = "131.107.72.22", ["10.61.0.0/16", "10.62.0.0/16"]


@pytest.fixture
def session(monkeypatch):
    """An in-process emulator session with fast simulated durations (a gateway takes ~0.5 s)."""
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0002")
    from vpnrunbook.azure.connect import connect

    return connect(target="emulator")


def writes(session: Any) -> list[tuple[str, str, int]]:
    """ARM write requests the emulator received from this session (control API excluded)."""
    return [r for r in session.transport.requests
            if r[0] in WRITE_METHODS and "/_emulator" not in r[1]]


@pytest.fixture
def count_writes(session) -> Callable[[], int]:
    return lambda: len(writes(session))


def build_vnet1(session: Any, *, sku: str = "VpnGw1AZ", vpn_type: str = "RouteBased", gateway: str = "VNet1GW") -> Any:
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC, address_space=VNET1_SPACE,
                               subnets=VNET1_SUBNETS, apply=True)
    ops.ensure_public_ip(session, resource_group=RG1, name=f"{gateway}IP", location=LOC, apply=True)
    return ops.begin_create_vpn_gateway(session, resource_group=RG1, name=gateway, location=LOC, vnet_name="TestVNet1",
                                        public_ip_name=f"{gateway}IP", sku=sku, vpn_type=vpn_type, apply=True,
                                        progress=False)


def build_vnet2(session: Any, *, space: list[str] | None = None) -> Any:
    ops.ensure_resource_group(session, name=RG2, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG2, name="TestVNet2", location=LOC,
                               address_space=space or VNET2_SPACE,
                               subnets=VNET2_SUBNETS if space is None else {"GatewaySubnet": space[0].replace(
                                   "0.0/16", "255.0/27")}, apply=True)
    ops.ensure_public_ip(session, resource_group=RG2, name="VNet2GWIP", location=LOC, apply=True)
    return ops.begin_create_vpn_gateway(session, resource_group=RG2, name="VNet2GW", location=LOC,
                                        vnet_name="TestVNet2", public_ip_name="VNet2GWIP", sku="VpnGw2AZ",
                                        generation="Generation2", apply=True, progress=False)


def build_site6(session: Any, **kw: Any) -> Any:
    return ops.ensure_local_network_gateway(session, resource_group=RG1, name="Site6", location=LOC,
                                            gateway_ip_address=SITE6_IP, address_prefixes=SITE6_PREFIXES,
                                            apply=True, **kw)


def s2s(session: Any, *, key_ref: str = "env:VPN_SEED_KEY", policy: Any = "seed-s2s", apply: bool = True,
        **kw: Any) -> Any:
    return ops.ensure_connection(session, resource_group=RG1, name="VNet1toSite6", location=LOC,
                                 connection_type="IPsec", gateway_name="VNet1GW", local_gateway_name="Site6",
                                 shared_key_ref=key_ref, policy=policy, apply=apply, **kw)


def v2v(session: Any, *, key_ref: str = "env:VPN_SEED_KEY", policy: Any = "seed-vnet2vnet", apply: bool = True,
        **kw: Any) -> Any:
    return ops.ensure_connection(session, resource_group=RG1, name="VNet1toVNet2", location=LOC,
                                 connection_type="Vnet2Vnet", gateway_name="VNet1GW", peer_resource_group=RG2,
                                 peer_gateway_name="VNet2GW", peer_connection_name="VNet2toVNet1",
                                 shared_key_ref=key_ref, policy=policy, apply=apply, **kw)
