"""Issue 15.1: the other direction of a VNet-to-VNet pair is identified exactly, never guessed.

Two pairs between the same two gateways: updating the second never touches the first; verify names the right peer;
a pair without a record of its peer and several candidates is refused naming them; a half-applied pair (one write of
the two) is reported by verify and by the next plan.
"""

from __future__ import annotations

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.operations import PrecheckError
from vpnrunbook.operations.peers import PEER_TAG

from .conftest import LOC, RG1, RG2, build_vnet1, build_vnet2, v2v, writes


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Pair0Tests")


def _pair(session, a: str, b: str, policy: str = "seed-vnet2vnet", **kw):
    return ops.ensure_connection(session, resource_group=RG1, name=a, location=LOC, connection_type="Vnet2Vnet",
                                 gateway_name="VNet1GW", peer_resource_group=RG2, peer_gateway_name="VNet2GW",
                                 peer_connection_name=b, shared_key_ref="env:VPN_SEED_KEY", policy=policy,
                                 apply=True, **kw)


@pytest.fixture
def two_pairs(session):
    p1, p2 = build_vnet1(session), build_vnet2(session)
    p1.result(timeout=60), p2.result(timeout=60)
    v2v(session)                                    # VNet1toVNet2 + VNet2toVNet1
    _pair(session, "VNet1toVNet2b", "VNet2toVNet1b")  # a second pair between the same gateways
    return session


def _etag(session, rg, name):
    return session.network.virtual_network_gateway_connections.get(rg, name).etag


def test_a_pair_records_its_other_direction_on_both_sides(two_pairs):
    conn = two_pairs.network.virtual_network_gateway_connections
    a, b = conn.get(RG1, "VNet1toVNet2b"), conn.get(RG2, "VNet2toVNet1b")
    assert a.tags[PEER_TAG].lower() == b.id.lower() and b.tags[PEER_TAG].lower() == a.id.lower()


def test_updating_the_second_pair_never_touches_the_first(two_pairs):
    session = two_pairs
    first = {(RG1, "VNet1toVNet2"): _etag(session, RG1, "VNet1toVNet2"),
             (RG2, "VNet2toVNet1"): _etag(session, RG2, "VNet2toVNet1")}
    n = len(writes(session))
    result = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b", policy="seed-update",
                                   apply=True)
    assert {w.label for w in result.plan.writes} == {"TestRG1/connections/VNet1toVNet2b",
                                                      "TestRG2/connections/VNet2toVNet1b"}
    assert len(writes(session)) == n + 2
    for (rg, name), etag in first.items():
        assert _etag(session, rg, name) == etag  # the first pair is untouched
    status = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b")
    assert status.peer == "TestRG2/connections/VNet2toVNet1b" and status.status == "Connected"
    first_status = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2")
    assert first_status.peer == "TestRG2/connections/VNet2toVNet1" and first_status.status == "Connected"


def _untag(session, rg, name):
    conns = session.network.virtual_network_gateway_connections
    body = conns.get(rg, name).as_dict()
    body["tags"] = {}
    body["properties"]["sharedKey"] = "Seed0Key0For0Pair0Tests"
    conns.begin_create_or_update(rg, name, body).result()


def test_without_a_record_several_candidates_are_refused_naming_them(two_pairs):
    session = two_pairs
    for rg, name in ((RG1, "VNet1toVNet2b"), (RG2, "VNet2toVNet1b"), (RG1, "VNet1toVNet2"), (RG2, "VNet2toVNet1")):
        _untag(session, rg, name)
    n = len(writes(session))
    with pytest.raises(PrecheckError) as info:
        ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b", policy="seed-update",
                              apply=True)
    problem = next(p for p in info.value.problems if p.code == "PeerConnectionAmbiguous")
    assert problem.field == "peer_connection_name"
    assert "VNet2toVNet1b" in problem.allowed and "VNet2toVNet1" in problem.allowed
    assert len(writes(session)) == n
    status = ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b")
    assert status.peer is None and "cannot be determined" in status.reason  # never the wrong peer
    # given explicitly, it is planned with exactly that peer
    result = ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b",
                                   policy="seed-update", peer_resource_group=RG2,
                                   peer_connection_name="VNet2toVNet1b", apply=True)
    assert {w.name for w in result.plan.writes} == {"VNet1toVNet2b", "VNet2toVNet1b"}
    assert ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b").peer \
        == "TestRG2/connections/VNet2toVNet1b"


def test_a_half_applied_pair_is_reported_by_verify_and_the_next_plan(two_pairs):
    session = two_pairs
    # a kill between the pair's two writes: only one direction has the new policy
    ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b", policy="seed-update",
                          include_peer=False, apply=True)
    status = ops.verify_connection(session, resource_group=RG2, connection_name="VNet2toVNet1b")
    assert status.peer == "TestRG1/connections/VNet1toVNet2b"
    assert "HALF-APPLIED" in status.reason and status.status != "Connected"
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toVNet2b",
                                      policy="seed-update")
    assert any("HALF-APPLIED" in n for n in plan.notes)
    assert [w.name for w in plan.writes] == ["VNet2toVNet1b"]  # completes the other direction only
    redo = _pair(session, "VNet1toVNet2b", "VNet2toVNet1b", policy="seed-update")
    assert any("HALF-APPLIED" in n for n in redo.plan.notes)
    assert ops.verify_connection(session, resource_group=RG1, connection_name="VNet1toVNet2b").status == "Connected"
