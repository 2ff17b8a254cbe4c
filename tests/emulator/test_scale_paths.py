"""The emulator's paths that must stay linear as a fleet grows: Resource Graph pages, and saving a resource."""

from __future__ import annotations

from azure.core.rest import HttpRequest

from vpnrunbook.fleet.resource_graph import CONNECTIONS_QUERY
from vpnrunbook.fleet.seed import seed_subscriptions

GRAPH = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"


def _plan(db, sql, args=()):
    return " | ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())


def test_a_resource_graph_page_reads_only_its_own_rows_in_index_order(session):
    from vpnrunbook.emulator.handlers import resource_graph as served

    store = session.transport.app.store
    with store.write() as db:
        db.execute(served.INDEX_TABLE)
        sql = served.page_sql(1, store._VISIBLE)
        plan = _plan(db, sql, ("microsoft.network/connections", "", "x", 0.0, 5))
        assert "resources_type_id" in plan and "TEMP B-TREE" not in plan   # no sort of every row per page
        assert "COVERING INDEX resources_seq" in _plan(db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM resources")


def test_keyset_pages_hold_every_row_once_while_rows_are_added_behind_them(session):
    estate = seed_subscriptions(session, subscriptions=2, connections=10, resource_groups=2, seed=5)
    subs = list(estate.by_subscription)

    def post(options):
        req = HttpRequest("POST", GRAPH, json={"subscriptions": subs, "query": CONNECTIONS_QUERY,
                                               "options": options})
        return session.resources.send_request(req, retry_total=0).json()

    first = post({"$top": 7})
    ids = [row["id"] for row in first["data"]]
    assert first["totalRecords"] == 20 and ids == sorted(ids)
    token = first["$skipToken"]
    pages = [first]
    while token:
        page = post({"$top": 7, "$skipToken": token})
        assert page["totalRecords"] == 20          # the total of the query, carried by the token
        pages.append(page)
        token = page.get("$skipToken")
    every = [row["id"] for page in pages for row in page["data"]]
    assert len(every) == 20 and len(set(every)) == 20 and every == sorted(every)
    assert [page["count"] for page in pages] == [7, 7, 6]
    # $skip (without a token) still answers from that position
    assert [r["id"] for r in post({"$top": 3, "$skip": 7})["data"]] == every[7:10]


def test_the_transport_log_keeps_large_bodies_serialized_within_a_budget(session, monkeypatch):
    from vpnrunbook.emulator import transport

    monkeypatch.setattr(transport, "LARGE_BODY", 200)
    monkeypatch.setattr(transport, "LARGE_BODIES_BUDGET", 5000)
    seed_subscriptions(session, subscriptions=1, connections=10, resource_groups=2, seed=5)
    sub = session.subscription_id

    def page() -> dict:
        req = HttpRequest("POST", GRAPH, json={"subscriptions": [sub], "query": CONNECTIONS_QUERY})
        return session.resources.send_request(req, retry_total=0).json()

    first = page()
    kept = session.transport.exchanges[-1][4]
    assert isinstance(kept, transport.KeptBody) and kept["count"] == first["count"] == 10   # read on access
    assert dict(kept) == first
    for _ in range(3):
        page()
    assert sum(k.size for k in session.transport._large) <= 5000 or len(session.transport._large) == 1
    assert kept.data is None and dict(kept) == {"_dropped": f"{kept.size} bytes"}   # the oldest went first


def test_resource_graph_rows_kept_in_the_index_follow_every_change_they_show(session):
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.resource_graph import audit_resource_graph
    from vpnrunbook.fleet.rollout import rollout

    seed_subscriptions(session, subscriptions=1, connections=12, resource_groups=2, vnet_to_vnet_pairs=1, seed=9)

    def same() -> object:
        graph = audit_resource_graph(session).frame
        lists = audit_fleet(session).frame
        assert graph.equals(lists)
        return graph

    first = same()
    assert same().equals(first)                       # the second query is served from the index, unchanged
    s2s = first[first["type"] == "IPsec"].iloc[0]
    v2v = first[first["type"] == "Vnet2Vnet"].iloc[0]
    rollout(session, [f"{s2s.resource_group}/{s2s.connection}"], policy="seed-update", evidence=False)
    after = same().set_index("id").loc[s2s["id"]]      # the connection's own change
    assert after["policy"] == "custom" and not after.equals(s2s.drop("id"))
    # its local network gateway now describes a device that refuses the policy: the status follows it
    conn = session.network.virtual_network_gateway_connections.get(s2s.resource_group, s2s.connection).as_dict()
    lng_id = conn["properties"]["localNetworkGateway2"]["id"]
    lng_rg, lng_name = lng_id.split("/")[4], lng_id.split("/")[-1]
    lng = session.network.local_network_gateways.get(lng_rg, lng_name).as_dict()
    body = {"location": lng["location"], "properties": {k: lng["properties"][k] for k in (
        "gatewayIpAddress", "localNetworkAddressSpace")},
            "tags": {"vpnrunbook-device-ike": "3des-md5-modp1024", "vpnrunbook-device-esp": "3des-md5"}}
    session.network.local_network_gateways.begin_create_or_update(lng_rg, lng_name, body).result()
    tagged = same().set_index("id").loc[s2s["id"], "status"]
    assert tagged == "NotConnected"
    # both directions of a VNet-to-VNet pair change together, then one alone: the other's row (status) follows
    rollout(session, [f"{v2v.resource_group}/{v2v.connection}"], policy="strong-modern", evidence=False)
    assert same().set_index("id").loc[v2v["id"], "status"] == "Connected"
    ops = session.network.virtual_network_gateway_connections
    one = ops.get(v2v.resource_group, v2v.connection).as_dict()
    peer_rg, peer_name = one["tags"]["vpnrunbook-peer-connection"].split("/")[4::4]
    peer = ops.get(peer_rg, peer_name).as_dict()
    peer_id = peer["id"]
    body = {"location": peer["location"], "tags": peer.get("tags"), "properties": {
        k: v for k, v in peer["properties"].items()
        if k not in ("provisioningState", "connectionStatus", "resourceGuid", "ingressBytesTransferred",
                     "egressBytesTransferred")}}
    body["properties"]["ipsecPolicies"] = []          # this direction only: Azure's default proposals
    ops.begin_create_or_update(peer_rg, peer_name, body).result()
    now = same().set_index("id")
    assert now.loc[v2v["id"], "status"] == "NotConnected" == now.loc[peer_id, "status"]
