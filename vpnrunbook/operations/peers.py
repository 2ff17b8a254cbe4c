"""The other direction of a VNet-to-VNet pair, identified exactly.

Two pairs may join the same two gateways (gateway1 and gateway2 swapped is not unique), so the peer is found by:

1. an explicit ``peer_resource_group`` / ``peer_connection_name`` (the operator says which one);
2. the ``vpnrunbook-peer-connection`` tag: ``ensure_connection`` writes it on both connections of a pair, each
   naming the other's resource id (tags survive in Azure and in the emulator);
3. failing both: the connection back between the two gateways — only when there is exactly one (a candidate whose
   own tag names a different connection is not one).

More than one candidate is *ambiguous*: the plans refuse (naming the candidates), verify says so and names no peer.
Read-only: GETs and list calls only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from vpnrunbook.azure.names import fold
from vpnrunbook.operations import arm
from vpnrunbook.operations.plan import dig

PEER_TAG = "vpnrunbook-peer-connection"


@dataclass
class PeerLookup:
    """The result of looking for a Vnet2Vnet connection's peer.

    ``peer``: the peer's REST dict (None: not found or ambiguous); ``source``: ``explicit``, ``tag`` or
    ``only reverse connection``; ``candidates``: labels of every connection that could be the peer when
    ``ambiguous``; ``problem``: why no peer is named, in the operator's words.
    """

    peer: dict[str, Any] | None
    source: str = ""
    candidates: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def ambiguous(self) -> bool:
        return self.peer is None and len(self.candidates) > 1

    @property
    def label(self) -> str | None:
        return None if self.peer is None else label_of(self.peer)


def label_of(conn: dict[str, Any]) -> str:
    parts = arm.parse_id(conn["id"])
    return arm.label(parts["resource_group"], "connection", parts["name"])


def _reverse(conn: dict[str, Any], other: dict[str, Any]) -> bool:
    """``other`` goes back: its gateway1 is ``conn``'s gateway2 and the other way round."""
    return (arm.same_id(dig(other, "properties", "virtualNetworkGateway1", "id"),
                        dig(conn, "properties", "virtualNetworkGateway2", "id"))
            and arm.same_id(dig(other, "properties", "virtualNetworkGateway2", "id"),
                            dig(conn, "properties", "virtualNetworkGateway1", "id")))


def _read_id(session: Any, rid: str) -> dict[str, Any] | None:
    try:
        parts = arm.parse_id(rid)
        return arm.read_kind(session, "connection", parts["resource_group"], parts["name"])
    except (KeyError, ValueError, IndexError):
        return None


def _list(session: Any, resource_group: str) -> list[dict[str, Any]]:
    try:
        return [c.as_dict() for c in session.network.virtual_network_gateway_connections.list(resource_group)]
    except ResourceNotFoundError:  # the resource group is gone
        return []


def peer_tag(conn: dict[str, Any] | None) -> str | None:
    return ((conn or {}).get("tags") or {}).get(PEER_TAG)


def find_peer(session: Any, conn: dict[str, Any], *, peer_resource_group: str | None = None,
              peer_connection_name: str | None = None) -> PeerLookup:
    """The peer of a Vnet2Vnet connection (see the module text for the order). Never raises for a missing peer."""
    gw1 = dig(conn, "properties", "virtualNetworkGateway1", "id")
    gw2 = dig(conn, "properties", "virtualNetworkGateway2", "id")
    if not gw1 or not gw2:
        return PeerLookup(None, problem="the connection names no second gateway (not Vnet2Vnet)")
    me = arm.parse_id(conn["id"])
    gw2_name = str(gw2).rsplit("/", 1)[-1]
    gw1_name = str(gw1).rsplit("/", 1)[-1]

    def checked(peer: dict[str, Any] | None, source: str, what: str) -> PeerLookup:
        """A peer named explicitly or by the pair tag: it must exist and go back between the two gateways."""
        if peer is None:
            return PeerLookup(None, source, problem=f"{what} does not exist")
        if not _reverse(conn, peer):
            return PeerLookup(None, source, problem=f"{what} does not go back from {gw2_name} to {gw1_name}")
        return PeerLookup(peer, source)

    if peer_connection_name:
        rg = peer_resource_group or arm.parse_id(gw2)["resource_group"]
        label = arm.label(rg, "connection", peer_connection_name)
        return checked(arm.read_kind(session, "connection", rg, peer_connection_name), "explicit",
                       f"the peer given, {label},")
    tagged = peer_tag(conn)
    if tagged:
        return checked(_read_id(session, tagged), "tag",
                       f"the recorded peer {tagged.rsplit('/', 1)[-1]} (tag {PEER_TAG})")
    groups = [arm.parse_id(gw2)["resource_group"]]
    if fold(me["resource_group"]) not in (fold(g) for g in groups):
        groups.append(me["resource_group"])
    candidates: list[dict[str, Any]] = []
    for rg in groups:
        for other in _list(session, rg):
            if arm.same_id(other.get("id"), conn.get("id")) or not _reverse(conn, other):
                continue
            theirs = peer_tag(other)
            if theirs and not arm.same_id(theirs, conn.get("id")):
                continue  # paired with another connection
            candidates.append(other)
    pointing = [c for c in candidates if peer_tag(c)]
    if len(pointing) == 1:
        return PeerLookup(pointing[0], "tag (on the peer)")
    if len(candidates) == 1:
        return PeerLookup(candidates[0], "only reverse connection")
    if not candidates:
        return PeerLookup(None, problem=f"no connection goes back from {gw2_name} to {gw1_name}")
    labels = sorted(label_of(c) for c in candidates)
    return PeerLookup(None, candidates=labels,
                      problem=f"{len(labels)} connections go back from {gw2_name} to {gw1_name} "
                              f"({', '.join(labels)}) and none is recorded as this connection's peer")


__all__ = ["PEER_TAG", "PeerLookup", "find_peer", "label_of", "peer_tag"]
