"""A rollout's reads: shared list calls instead of per-resource GETs and polls, with every write still exact."""

from __future__ import annotations

import json
import re

from tests.fleet.conftest import arm_writes, change_dpd_elsewhere, connection_policy
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import ledger
from vpnrunbook.fleet.audit import audit_fleet
from vpnrunbook.fleet.rollout import rollout
from vpnrunbook.policy import presets

STRONG = presets.get_preset("strong-modern").as_wire_dict()
ONE_RESOURCE = re.compile(r"/providers/Microsoft\.Network/(connections|virtualNetworkGateways|localNetworkGateways)"
                          r"/[^/?]+(\?|$)")


def _targets(session, kind: str | None = None) -> list[str]:
    frame = audit_fleet(session).frame
    return [f"{r}/{c}" for r, c, t in zip(frame["resource_group"], frame["connection"], frame["type"], strict=True)
            if kind is None or t == kind]


def _reads(session, start: int) -> list[tuple[str, str, int]]:
    return [r for r in session.transport.requests[start:] if r[0] == "GET" and "/_emulator" not in r[1]]


def test_rollout_reads_lists_not_a_get_per_resource_and_poll(session, fleet):
    targets = _targets(session)
    start = len(session.transport.requests)
    writes_before = len(arm_writes(session))
    result = rollout(session, targets, policy="strong-modern", max_workers=4)
    assert result.complete and "applied" in set(result.frame["outcome"])
    reads = _reads(session, start)
    writes = len(arm_writes(session)) - writes_before
    assert writes > 0
    # no LRO status polls and no final GETs: the writes' ends come from the resource groups' lists
    assert not [p for _m, p, _s in reads if "/operations/" in p]
    # a GET of one resource only for the second direction of each pair written (read fresh before the first)
    pairs = int(((result.frame["outcome"] == "applied") & (result.frame["peer"] != "")).sum())
    assert len([p for _m, p, _s in reads if ONE_RESOURCE.search(p)]) <= pairs
    assert len(reads) <= 2.5 * writes
    # the same outcome as through the operations layer alone: every target strong, each write recorded
    for t in targets:
        assert connection_policy(session, *t.split("/")) == STRONG
    manifest = json.loads((result.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    final = {c["id"].lower(): c["etag"] for rg in {t.split("/")[0] for t in targets}
             for c in (x.as_dict() for x in session.network.virtual_network_gateway_connections.list(rg))}
    # each applied unit names its outcome line in the ledger, which holds the ETag each write left
    lines = {e["seq"]: e for _, _, e in ledger.read(result.evidence_dir.parent) if e}
    applied = [u for u in manifest["units"] if u["outcome"] == "applied"]
    recorded = {w["resource_id"].lower(): w["etag"] for u in applied for w in lines[u["outcome_seq"]]["written"]}
    assert recorded and all(final[rid] == etag for rid, etag in recorded.items())
    # the verify step's read-back is in each applied unit's record, from the write's final state
    assert all(lines[u["outcome_seq"]]["status"] == "applied" and u["verify"] for u in applied)


def test_without_shared_reads_the_operations_layer_reads_each_resource(session, fleet):
    targets = _targets(session, "IPsec")[:4]
    start = len(session.transport.requests)
    from vpnrunbook.fleet.planfile import items_for
    from vpnrunbook.fleet.rollout import Rollout

    result = Rollout().run(session, items_for(targets, "strong-modern"), evidence=False, shared_reads=False)
    assert result.complete
    reads = _reads(session, start)
    assert [p for _m, p, _s in reads if "/operations/" in p]          # the SDK's pollers
    assert len([p for _m, p, _s in reads if ONE_RESOURCE.search(p)]) >= 3 * 4


def test_a_connection_changed_after_the_rollout_listed_it_is_a_conflict_not_overwritten(session, fleet, monkeypatch):
    import vpnrunbook.fleet.rollout as ro

    target = _targets(session, "IPsec")[0]
    rg, name = target.split("/")
    real_pair = ro._pair_units

    def listed_then_changed(sess, items, fleet=None):
        units = real_pair(sess, items, fleet)
        change_dpd_elsewhere(session, rg, name)
        return units

    monkeypatch.setattr(ro, "_pair_units", listed_then_changed)
    result = rollout(session, [target], policy="strong-modern", evidence=False)
    row = result.frame.iloc[0]
    assert row["outcome"] == "conflict" and "412" in row["detail"]
    conn = session.network.virtual_network_gateway_connections.get(rg, name).as_dict()["properties"]
    assert conn["dpdTimeoutSeconds"] == 77                     # the other writer's change survived
    assert (conn.get("ipsecPolicies") or [None])[0] != STRONG
    # the next rollout lists it again and applies over the new state
    monkeypatch.undo()
    again = rollout(session, [target], policy="strong-modern", evidence=False)
    assert again.frame.iloc[0]["outcome"] == "applied"
    assert connection_policy(session, rg, name) == STRONG


def test_pair_whose_second_direction_changed_is_refused_before_either_is_written(session, fleet, monkeypatch):
    import vpnrunbook.operations as ops

    one = _targets(session, "Vnet2Vnet")[0]
    real_apply = ops.apply_plan
    changed: list[str] = []

    def second_direction_changes_first(sess, plan):
        second = plan.writes[1]
        body = session.network.virtual_network_gateway_connections.get(second.resource_group, second.name).as_dict()
        body["properties"]["dpdTimeoutSeconds"] = 78
        for k in ("etag", "id", "type", "name"):
            body.pop(k, None)
        body["properties"].pop("provisioningState", None)
        session.network.virtual_network_gateway_connections.begin_create_or_update(
            second.resource_group, second.name, body).result()
        changed.append(plan.writes[0].name)
        return real_apply(sess, plan)

    monkeypatch.setattr(ops, "apply_plan", second_direction_changes_first)
    start = len(arm_writes(session))
    result = rollout(session, [one], policy="strong-modern", evidence=False)
    assert result.frame.iloc[0]["outcome"] == "conflict"
    # only the other writer's PUT: neither direction was written by the rollout
    assert len(arm_writes(session)) - start == 1
    assert connection_policy(session, *one.split("/")) != STRONG


def test_a_write_that_ends_failed_is_reported_with_its_error_then_retried(session, fleet):
    target = _targets(session, "IPsec")[0]
    rg, name = target.split("/")
    ctl = EmulatorControl(session)
    ctl.add_lro_failure(path_regex=f"/connections/{name}$", code="VpnConnectionUpdateFailed",
                        message="the gateway refused the update", count=1)
    first = rollout(session, [target], policy="strong-modern", evidence=False)
    row = first.frame.iloc[0]
    assert row["outcome"] == "failed" and "VpnConnectionUpdateFailed" in row["detail"]
    second = rollout(session, [target], policy="strong-modern", evidence=False)
    assert second.frame.iloc[0]["outcome"] == "applied"
    assert connection_policy(session, rg, name) == STRONG
