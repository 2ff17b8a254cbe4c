"""seed_fleet: the fleet it reports is the fleet the SDK reads back."""

from __future__ import annotations

import pytest

from tests.fleet.conftest import connection_policy
from vpnrunbook.fleet.seed import SeedError, seed_fleet


def test_seeded_fleet_is_readable_through_the_sdk(session, fleet):
    net = session.network
    groups = [g.name for g in session.resources.resource_groups.list()]
    assert sorted(groups) == sorted(fleet.resource_groups)
    conns = [c.as_dict() for rg in groups for c in net.virtual_network_gateway_connections.list(rg)]
    assert len(conns) == fleet.connections == 24
    assert sum(c["properties"]["connectionType"] == "Vnet2Vnet" for c in conns) == 2 * fleet.vnet_to_vnet_pairs
    assert sum(fleet.by_policy.values()) == 24
    assert all(c["properties"]["provisioningState"] == "Succeeded" for c in conns)
    gws = [g.as_dict() for rg in groups for g in net.virtual_network_gateways.list(rg)]
    assert len(gws) == 4 and all(g["properties"]["provisioningState"] == "Succeeded" for g in gws)


def test_vnet_to_vnet_pairs_share_policy_and_key_and_connect(session, fleet):
    net = session.network
    pairs = [c.as_dict() for rg in fleet.resource_groups for c in net.virtual_network_gateway_connections.list(rg)
             if c.as_dict()["properties"]["connectionType"] == "Vnet2Vnet"]
    for c in pairs:
        rg, name = c["id"].split("/")[4], c["name"]
        a, b = name.split("-to-")
        peer_rg = next(g for g in fleet.resource_groups if g.endswith(b.split("-")[1]))
        assert connection_policy(session, rg, name) == connection_policy(session, peer_rg, f"{b}-to-{a}")
        assert net.virtual_network_gateway_connections.get_shared_key(rg, name).value == \
            net.virtual_network_gateway_connections.get_shared_key(peer_rg, f"{b}-to-{a}").value
        assert c["properties"]["connectionStatus"] == "Connected"


def test_seed_refuses_bad_arguments_naming_field_value_and_allowed(session):
    with pytest.raises(SeedError, match=r"connections=-1 .*allowed: an integer from 0"):
        seed_fleet(session, connections=-1)
    with pytest.raises(SeedError, match=r"resource_groups=0 .*allowed"):
        seed_fleet(session, resource_groups=0)
    with pytest.raises(SeedError, match=r"'nope' is not a preset; allowed: .*strong-modern"):
        seed_fleet(session, connections=2, resource_groups=1, policies=["nope"])


def test_seed_refuses_azure_target(session):
    import dataclasses

    with pytest.raises(SeedError, match="target='azure' is not allowed"):
        seed_fleet(dataclasses.replace(session, target="azure"), connections=1, resource_groups=1)


def test_emulator_seed_command_fills_the_state_database(session, capsys):
    from vpnrunbook.cli import main

    assert main(["emulator", "seed", "--connections", "6", "--resource-groups", "2"]) == 0
    assert "seeded 6 connections" in capsys.readouterr().out
    # the CLI wrote into the same state database the session reads ($VPNRUNBOOK_DB)
    names = [c.name for c in session.network.virtual_network_gateway_connections.list("fleet-rg-001")]
    assert len(names) == 3
