"""audit_fleet: columns match the emulator's state, list endpoints only, reports written."""

from __future__ import annotations

import csv
import re

import pytest

from vpnrunbook.fleet.audit import COLUMNS, audit_fleet, audit_one_by_one
from vpnrunbook.fleet.report import strength_counts
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.strength import overall_strength


def test_columns_match_each_connection_read_on_its_own(session, fleet):
    audit = audit_fleet(session)
    frame = audit.frame
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == fleet.connections and not audit.errors
    net = session.network
    for row in frame.itertuples(index=False):
        conn = net.virtual_network_gateway_connections.get(row.resource_group, row.connection).as_dict()
        props = conn["properties"]
        gw_id = props["virtualNetworkGateway1"]["id"]
        gw = net.virtual_network_gateways.get(gw_id.split("/")[4], gw_id.split("/")[-1]).as_dict()
        assert row.type == props["connectionType"]
        assert row.status == props["connectionStatus"]
        assert row.gateway_sku == gw["properties"]["sku"]["name"]
        assert row.dpd_timeout_seconds == props["dpdTimeoutSeconds"]
        assert row.traffic_selectors == ("policy-based" if props["usePolicyBasedTrafficSelectors"] else "route-based")
        policies = props.get("ipsecPolicies") or []
        if policies:
            policy = IpsecIkePolicy.from_mapping(policies[0])
            assert row.policy == "custom"
            for spec in rules.FIELDS:
                assert getattr(row, spec.name) == getattr(policy, spec.name)
            assert row.strength == overall_strength(policy).label
        else:
            assert row.policy == "default" and row.strength == "default"
            assert all(getattr(row, spec.name) == "default" for spec in rules.FIELDS)
            assert "DHGroup2" in row.findings    # Azure's default proposals offer DH group 2 (rated weak)
    # the naive per-connection loop builds exactly the same table
    naive = audit_one_by_one(session, list(zip(frame["resource_group"], frame["connection"], strict=True)))
    assert naive.equals(frame)


def test_reads_with_list_endpoints_not_one_get_per_connection(session, fleet):
    before = len(session.transport.requests)
    audit = audit_fleet(session)
    made = session.transport.requests[before:]
    single = [p for m, p, _s in made if re.search(r"/connections/[^/]+$", p)]
    assert single == []                                   # no GET of a single connection
    assert len(made) == audit.requests <= 1 + 2 * len(fleet.resource_groups)
    assert {m for m, _p, _s in made} == {"GET"}


def test_audit_of_chosen_groups_and_a_missing_one(session, fleet):
    audit = audit_fleet(session, resource_groups=[fleet.resource_groups[1], "no-such-rg"], max_workers=2)
    assert set(audit.frame["resource_group"]) == {fleet.resource_groups[1]}
    assert [scope for scope, _ in audit.errors] == [f"{session.subscription_id}/no-such-rg"]
    assert "no-such-rg" in audit.errors[0][1]


def test_throttled_lists_are_retried_and_complete(session, fleet):
    from vpnrunbook.emulator.control import EmulatorControl

    EmulatorControl(session).add_fault(status=429, method="GET", path_regex=r"/connections$", retry_after=0.05,
                                       count=3)
    audit = audit_fleet(session)
    assert len(audit.frame) == fleet.connections and not audit.errors
    assert sum(1 for _m, _p, s in session.transport.requests if s == 429) == 3


def test_csv_and_html_reports(session, fleet, tmp_path):
    audit = audit_fleet(session)
    csv_path = audit.to_csv(tmp_path / "out" / "fleet.csv")
    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["connection"] for r in rows] == list(audit.frame["connection"])
    assert list(rows[0]) == list(COLUMNS)
    html_path = audit.to_html(tmp_path / "out" / "fleet.html")
    text = html_path.read_text(encoding="utf-8")
    assert "<svg" in text and "Connections by policy strength" in text
    for name in audit.frame["connection"]:
        assert f">{name}<" in text
    assert "<script" not in text and not re.search(r'(src|href)="(https?:)?//', text)   # self-contained
    counts = strength_counts(audit.frame)
    assert sum(counts.values()) == fleet.connections
    for label, n in counts.items():   # one bar per strength with its count
        shown = "default proposals" if label == "default" else label
        assert f"<title>{shown}: {n}</title>" in text


def test_bad_worker_count_is_refused(session):
    with pytest.raises(ValueError, match=r"max_workers=0 .*allowed: an integer from 1 to 64"):
        audit_fleet(session, max_workers=0)


def test_several_subscriptions_in_one_audit(session, fleet):
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.seed import seed_fleet

    other_sub = "11111111-1111-1111-1111-111111111111"
    seed_fleet(connect(target="emulator", subscription_id=other_sub), connections=3, resource_groups=1,
               prefix="other")
    audit = audit_fleet(session, subscriptions=[session.subscription_id, other_sub])
    assert audit.frame.groupby("subscription").size().to_dict() == {session.subscription_id: fleet.connections,
                                                                    other_sub: 3}
    assert set(audit.frame[audit.frame["subscription"] == other_sub]["resource_group"]) == {"other-rg-000"}


def test_list_retries_are_bounded_and_a_scope_still_throttled_is_reported(session, fleet):
    from vpnrunbook.emulator.control import EmulatorControl
    from vpnrunbook.fleet.audit import RETRY_TOTAL

    rg_ok, rg_bad = fleet.resource_groups[0], fleet.resource_groups[1]
    ctl = EmulatorControl(session)
    ctl.add_fault(status=429, method="GET", path_regex=f"/{rg_ok}/providers/Microsoft.Network/connections$",
                  retry_after=0.01, count=RETRY_TOTAL - 1)   # more than azure-core's default of 3 status retries
    ctl.add_fault(status=429, method="GET", path_regex=f"/{rg_bad}/providers/Microsoft.Network/connections$",
                  retry_after=0.01, count=100)
    audit = audit_fleet(session)
    assert rg_ok in set(audit.frame["resource_group"])
    assert [scope.split("/")[-1] for scope, _ in audit.errors] == [rg_bad]
    assert "429" in audit.errors[0][1] or "TooManyRequests" in audit.errors[0][1]
    bad_tries = [p for _m, p, s in session.transport.requests if s == 429 and f"/{rg_bad}/" in p]
    assert len(bad_tries) == RETRY_TOTAL + 1
