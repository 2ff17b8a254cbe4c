"""The emulator's paths that must stay linear as a fleet grows: Resource Graph pages, and saving a resource."""

from __future__ import annotations

from azure.core.rest import HttpRequest

from vpnrunbook.fleet.resource_graph import CONNECTIONS_QUERY
from vpnrunbook.fleet.seed import seed_subscriptions

GRAPH = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"


def _plan(db, sql, args=()):
    return " | ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())


def test_a_resource_graph_page_reads_only_its_own_rows_in_index_order(session):
    store = session.transport.app.store
    with store.write() as db:
        sql = ("SELECT key FROM resources INDEXED BY resources_type_id WHERE type = ? AND id > ? AND sub IN (?) "
               "ORDER BY id LIMIT 5")
        plan = _plan(db, sql, ("microsoft.network/connections", "", "x"))
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
