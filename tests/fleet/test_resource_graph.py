"""Fleet reads through Azure Resource Graph over several emulated subscriptions; rollouts per subscription within
ARM's per-subscription limits."""

from __future__ import annotations

import math
import re

import pytest
from azure.core.exceptions import HttpResponseError

from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.emulator.handlers import resource_graph as served
from vpnrunbook.fleet import resource_graph
from vpnrunbook.fleet.audit import audit_fleet
from vpnrunbook.fleet.resource_graph import CONNECTIONS_QUERY, audit_resource_graph, graph_client, query_pages
from vpnrunbook.fleet.seed import seed_subscriptions
from vpnrunbook.fleet.write_limits import Limit, SubscriptionBudget, TokenBucket

GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"


@pytest.fixture
def estate(session):
    """3 subscriptions × (8 connections in 2 resource groups, one VNet-to-VNet pair each)."""
    return seed_subscriptions(session, subscriptions=3, connections=8, resource_groups=2, vnet_to_vnet_pairs=1,
                              seed=3)


def _made_since(session, before):
    return session.transport.requests[before:]


def test_one_query_over_every_subscription_gives_the_list_audit_table(session, estate):
    subs = list(estate.by_subscription)
    before = len(session.transport.requests)
    audit = audit_resource_graph(session)
    made = _made_since(session, before)
    assert sorted(audit.subscriptions) == sorted(subs)          # listed with GET /subscriptions
    assert audit.graph_subscriptions == audit.subscriptions and audit.fallback_subscriptions == []
    assert [(m, p) for m, p, _s in made if p.startswith(GRAPH_PATH)] == [("POST", GRAPH_PATH)]
    assert not [p for _m, p, _s in made if "/resourceGroups/" in p]   # no per-resource-group list call
    assert len(made) == audit.requests == 2 and not audit.errors
    assert audit.frame.groupby("subscription").size().to_dict() == {s: 8 for s in subs}
    lists = audit_fleet(session, subscriptions=subs)
    assert audit.frame.equals(lists.frame)                     # the same rows, built from the index
    assert set(audit.frame["gateway_sku"].dropna()) and audit.frame["gateway_sku"].notna().all()


def test_pages_with_skip_token_until_every_row_is_read(session, estate, monkeypatch):
    monkeypatch.setattr(resource_graph, "PAGE_SIZE", 5)
    before = len(session.transport.requests)
    audit = audit_resource_graph(session)
    posts = [p for m, p, _s in _made_since(session, before) if m == "POST"]
    assert len(audit.frame) == estate.connections == 24
    assert len(posts) == audit.graph_requests == math.ceil(24 / 5)
    assert audit.frame["id"].is_unique


def test_subscription_where_resource_graph_is_not_permitted_falls_back_to_list_calls(session, estate):
    subs = list(estate.by_subscription)
    denied = subs[1]
    EmulatorControl(session).deny_resource_graph([denied])
    before = len(session.transport.requests)
    audit = audit_resource_graph(session)
    made = _made_since(session, before)
    assert audit.fallback_subscriptions == [denied]
    assert sorted(audit.graph_subscriptions) == sorted(s for s in subs if s != denied)
    refused = [s for m, p, s in made if p.startswith(GRAPH_PATH)]
    assert refused.count(403) == 2                              # the whole batch, then the denied one alone
    listed = {p.split("/")[2] for _m, p, _s in made if "/resourceGroups/" in p}
    assert listed == {denied}                                   # list calls only where Resource Graph refused
    assert audit.frame.equals(audit_fleet(session, subscriptions=subs).frame) and not audit.errors
    assert denied in audit.summary()


def test_resource_graph_denied_everywhere_still_audits_with_list_calls(session, estate):
    subs = list(estate.by_subscription)
    EmulatorControl(session).deny_resource_graph(subs)
    audit = audit_resource_graph(session)
    assert sorted(audit.fallback_subscriptions) == sorted(subs) and audit.graph_subscriptions == []
    assert len(audit.frame) == estate.connections


def test_a_query_shape_the_package_does_not_send_is_refused_with_azures_error(session, estate):
    client = graph_client(session)
    subs = list(estate.by_subscription)
    with pytest.raises(HttpResponseError) as caught:
        query_pages(client, subs, "resources | where type =~ 'microsoft.network/connections' | take 1")
    exc = caught.value
    assert exc.status_code == 400 and exc.error.code == "BadRequest"
    assert [d.code for d in exc.error.details][0] == "InvalidQuery"
    # the reader's query is exactly a served shape; one more column and it is refused too
    assert served.normalize_query(CONNECTIONS_QUERY) in served.SERVED_QUERIES
    with pytest.raises(HttpResponseError, match="InvalidQuery|Query is invalid"):
        query_pages(client, subs, CONNECTIONS_QUERY.replace("gatewaySku\n", "gatewaySku, etag\n"))
    rows, _ = query_pages(client, subs, re.sub(r"\s+", "  ", CONNECTIONS_QUERY))   # whitespace does not matter
    assert len(rows) == estate.connections


def test_bad_paging_and_scope_are_refused(session, estate):
    from azure.core.rest import HttpRequest

    subs = list(estate.by_subscription)

    def post(body):
        req = HttpRequest("POST", f"{GRAPH_PATH}?api-version=2021-03-01", json=body)
        return session.resources.send_request(req, retry_total=0)

    first = post({"subscriptions": subs, "query": CONNECTIONS_QUERY, "options": {"$top": 3}}).json()
    assert first["count"] == 3 and first["totalRecords"] == 24 and first["$skipToken"]
    other = post({"subscriptions": subs[:1], "query": CONNECTIONS_QUERY,
                  "options": {"$top": 3, "$skipToken": first["$skipToken"]}})
    assert other.status_code == 400 and "skipToken" in other.text()
    assert post({"subscriptions": subs, "query": CONNECTIONS_QUERY, "options": {"$top": 5000}}).status_code == 400
    assert post({"subscriptions": [], "query": CONNECTIONS_QUERY}).status_code == 400
    bad_version = session.resources.send_request(
        HttpRequest("POST", f"{GRAPH_PATH}?api-version=2099-01-01",
                    json={"subscriptions": subs, "query": CONNECTIONS_QUERY}), retry_total=0)
    assert bad_version.status_code == 400 and bad_version.json()["error"]["code"] == "NoRegisteredProviderFound"


def test_cli_audit_through_resource_graph(session, estate, capsys):
    from vpnrunbook.cli import main

    # the CLI builds its own in-process session over the same store (the state dir's SQLite file)
    assert main(["audit", "--resource-graph", "--rows", "0"]) == 0
    out = capsys.readouterr().out
    assert "24 connections" in out and "via Resource Graph (3 subscription(s), 1 queries)" in out


# ---- write limits --------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_allows_a_burst_then_the_refill_rate():
    clock = FakeClock()
    bucket = TokenBucket(Limit(3, 2.0), clock=clock, sleep=clock.sleep)
    waits = [bucket.take() for _ in range(7)]
    assert waits[:3] == [0, 0, 0] and all(w > 0 for w in waits[3:])
    assert clock.now == pytest.approx((7 - 3) / 2.0)             # 4 tokens at 2 per second


def test_rollout_is_planned_per_subscription_and_keeps_to_each_subscriptions_write_budget(session, tmp_path):
    from vpnrunbook.fleet.subscription_rollout import plan_by_subscription, rollout_by_subscription

    estate = seed_subscriptions(session, subscriptions=2, connections=4, resource_groups=2, vnet_to_vnet_pairs=0,
                                policies=["seed-s2s"])
    audit = audit_resource_graph(session)
    plans = plan_by_subscription(session, audit.frame, "strong-modern")
    assert {s: p.connections for s, p in plans.items()} == {s: 4 for s in estate.by_subscription}
    clock = FakeClock()
    budget = SubscriptionBudget(limits={"read": Limit(10_000, 1000.0), "write": Limit(2, 1.0),
                                        "delete": Limit(2, 1.0)}, clock=clock, sleep=clock.sleep)
    before = len(session.transport.requests)
    # one subscription at a time: the fake clock is shared, so another's sleeps would refill this one's bucket
    result = rollout_by_subscription(session, audit.frame, policy="strong-modern", budget=budget,
                                     parallel_subscriptions=1, state_dir=tmp_path / "state", evidence_root=tmp_path / "evidence")
    made = _made_since(session, before)
    assert result.complete and result.counts["applied"] == 8
    for sub, one in result.by_subscription.items():
        assert one.counts["applied"] == 4
        puts = [p for m, p, _s in made if m == "PUT" and p.lower().startswith(f"/subscriptions/{sub}")]
        assert budget.taken[(sub, "write")] == len(puts) == 4      # every write took its subscription's token
        assert budget.waited[(sub, "write")] > 0                     # 4 writes, a bucket of 2: it waited
        assert (tmp_path / "state" / f"rollout-{sub}.json").exists()
    assert clock.sleeps
    manifests = sorted((tmp_path / "evidence").glob("*/manifest.json"))
    import json

    assert sorted(json.loads(m.read_text())["subscription"] for m in manifests) == sorted(estate.by_subscription)


def test_resource_graph_over_https_against_the_served_emulator(served, tmp_path, monkeypatch):
    from vpnrunbook.azure.connect import connect

    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path))   # the served emulator's token and CA
    estate = seed_subscriptions(None, subscriptions=2, connections=4, resource_groups=1, vnet_to_vnet_pairs=0)
    remote = connect(emulator_url=served.url)
    audit = audit_resource_graph(remote)
    assert sorted(audit.subscriptions) == sorted(estate.by_subscription) and audit.graph_requests == 1
    assert len(audit.frame) == 8 and not audit.errors and audit.frame["gateway_sku"].notna().all()


def test_cli_rollout_over_all_subscriptions(session, tmp_path, capsys):
    from vpnrunbook.cli import main

    estate = seed_subscriptions(session, subscriptions=2, connections=3, resource_groups=1, vnet_to_vnet_pairs=0,
                                policies=["default"])
    state = tmp_path / "state" / "rollout-state.json"
    assert main(["rollout", "--all-subscriptions", "--policy", "strong-modern", "--strength", "default", "--apply",
                 "--state", str(state), "--evidence-dir", str(tmp_path / "evidence")]) == 0
    out = capsys.readouterr().out
    assert "rollout over 2 subscription(s) within ARM's per-subscription limits" in out
    for sub in estate.by_subscription:
        assert f"{sub}: rollout of 3 connection(s)" in out and (state.parent / f"rollout-{sub}.json").exists()
    after = audit_resource_graph(session)
    assert set(after.frame["strength"]) == {"strong"}
    assert main(["rollout", "--all-subscriptions", "--plan", "x.csv"]) == 2


def test_subscriptions_are_queried_in_batches_and_a_denied_batch_is_split(session, estate, monkeypatch):
    monkeypatch.setattr(resource_graph, "SUBSCRIPTIONS_PER_QUERY", 2)
    subs = sorted(estate.by_subscription)
    EmulatorControl(session).deny_resource_graph([subs[0]])
    before = len(session.transport.requests)
    audit = audit_resource_graph(session, subscriptions=subs)
    graph_answers = [s for _m, p, s in _made_since(session, before) if p.startswith(GRAPH_PATH)]
    # batch [s0, s1] refused → s0 alone refused, s1 alone read; batch [s2] read
    assert graph_answers == [403, 403, 200, 200] and audit.graph_requests == 4
    assert audit.fallback_subscriptions == [subs[0]] and sorted(audit.graph_subscriptions) == subs[1:]
    assert len(audit.frame) == estate.connections
