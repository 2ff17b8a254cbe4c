"""The overview's tables (07 notebook) and the audit's compact notebook view: plain values, short rows, every
finding still shown once with the connections that have it."""

from __future__ import annotations

import re

from vpnrunbook.fleet.audit import COMPACT_COLUMNS, COMPACT_LABELS, audit_fleet, split_findings
from vpnrunbook.fleet.report import html_fragment
from vpnrunbook.runbook.overview import connections_overview, gateways_table


def test_gateways_table_shows_plain_values(session, fleet):
    table = gateways_table(session, fleet.resource_groups + ["no-such-rg"])
    net = session.network
    expected = {(rg, g.name) for rg in fleet.resource_groups for g in net.virtual_network_gateways.list(rg)}
    assert set(zip(table["resource group"], table["gateway"], strict=True)) == expected and expected
    for row in table.to_dict(orient="records"):
        gw = net.virtual_network_gateways.get(row["resource group"], row["gateway"])
        assert row["sku"] == str(gw.sku.name.value if hasattr(gw.sku.name, "value") else gw.sku.name)
        assert row["state"] == str(getattr(gw.provisioning_state, "value", gw.provisioning_state))
        for value in row.values():   # no SDK enum repr such as VirtualNetworkGatewaySkuName.VPN_GW1
            assert type(value) in (str, bool, type(None)), (value, type(value))
    assert "." not in "".join(str(v) for v in table["sku"]) + "".join(str(v) for v in table["state"])


def test_connections_overview_lists_each_connection_with_its_policy(session, fleet):
    before = len(session.transport.requests)
    table, views = connections_overview(session, fleet.resource_groups)
    made = session.transport.requests[before:]
    assert not [p for _m, p, _s in made if re.search(r"/connections/[^/]+$", p)], "list endpoints only"
    assert len(table) == fleet.connections == len(views)
    audit = audit_fleet(session)
    by_name = {(r["resource_group"], r["connection"]): r for r in audit.frame.to_dict(orient="records")}
    for row in table.to_dict(orient="records"):
        ref = by_name[(row["resource group"], row["connection"])]
        assert row["type"] == ref["type"] and row["DPD (s)"] == ref["dpd_timeout_seconds"]
        assert (row["policy"] == "Azure defaults") == (ref["policy"] == "default")


def test_compact_audit_view_keeps_rows_short_and_every_finding(session, fleet):
    audit = audit_fleet(session)
    compact = audit.compact()
    assert list(compact.columns) == [COMPACT_LABELS.get(c, c) for c in COMPACT_COLUMNS]
    assert len(compact) == len(audit.frame)
    for full, short in zip(audit.frame.to_dict(orient="records"), compact.to_dict(orient="records"), strict=True):
        assert short["findings"] == len(split_findings(full["findings"]))
        policy = short[COMPACT_LABELS["policy"]]
        if full["policy"] == "default":
            assert policy == "default"
        else:
            assert policy.startswith(f"{full['ike_encryption']}/{full['ike_integrity']}/{full['dh_group']} · ")
            assert f"/{full['pfs_group']}" in policy
        assert max(len(str(v)) for v in short.values()) <= 80
    table = audit.findings_table()
    assert table["connections"].sum() == sum(len(split_findings(t)) for t in audit.frame["findings"])
    assert set(table["finding"]) == {f for t in audit.frame["findings"] for f in split_findings(t)}
    html = html_fragment(audit)
    assert "<h4>Findings</h4>" in html and "min-width:40em" not in html
    assert 'max-width:70ch' in html                     # the finding text wraps in a narrow column
    report = html_fragment(audit, max_rows=None, compact=False)
    assert all(str(v) in report for v in audit.frame["id"])   # the report keeps every column


def test_split_findings_keeps_messages_with_semicolons():
    text = "ERROR dh_group=DHGroup99: not allowed; allowed: DHGroup14, DHGroup24; WARNING ike_integrity=SHA1 [weak]: x"
    assert split_findings(text) == ["ERROR dh_group=DHGroup99: not allowed; allowed: DHGroup14, DHGroup24",
                                    "WARNING ike_integrity=SHA1 [weak]: x"]
    assert split_findings("") == [] and split_findings(None) == []
