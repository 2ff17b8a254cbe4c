"""Issue 24: a rollout's run folder names each plan once — every unit, field change, warning and verify result
still findable from the manifest and the ledger, and the manifest grows per connection by a bounded amount."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fleet.conftest import arm_writes, change_dpd_elsewhere
from vpnrunbook.evidence import index, ledger, record
from vpnrunbook.fleet.audit import audit_fleet
from vpnrunbook.fleet.rollout import rollout

MAX_BYTES_PER_CONNECTION = 300   # issue 24: <= ~0.3 KB per connection (4.1 KB before)


def _targets(session: Any, kind: str | None = "IPsec") -> list[str]:
    frame = audit_fleet(session).frame
    return [f"{r}/{c}" for r, c, t in zip(frame["resource_group"], frame["connection"], frame["type"], strict=True)
            if kind is None or t == kind]


def _manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def _lines(run: Path) -> dict[int, dict[str, Any]]:
    return {e["seq"]: e for _, _, e in ledger.read(run.parent) if e is not None and e.get("run_id") == run.name}


def _written_rows(lines: dict[int, dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(connection, field, current, desired) of every change the ledger's intent lines wrote."""
    return {(w["label"], c["field"], json.dumps(c["current"]), json.dumps(c["desired"]))
            for e in lines.values() if e.get("kind") == "intent" for w in e["writes"] for c in w["changes"]}


def _planned_rows(manifest: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(label, c["field"], json.dumps(c["current"]), json.dumps(c["desired"]))
            for p in manifest["plans"] for label in p["connections"] for c in p["changes"]}


def test_the_manifest_names_each_plan_once_and_every_unit_with_its_ledger_lines(session, fleet):
    """A fleet of mixed current policies (and two VNet-to-VNet pairs): each distinct change set once, with every
    connection that gets it; every field change the ledger holds is in the plans; each unit names its lines."""
    targets = _targets(session, None)
    result = rollout(session, targets, policy="strong-modern", max_workers=4)
    manifest, lines = _manifest(result.evidence_dir), _lines(result.evidence_dir)
    assert "changes" not in manifest and "outcomes" not in manifest, "no row per field per connection, twice"
    plans = manifest["plans"]
    keys = [json.dumps(p["changes"], sort_keys=True) for p in plans]
    assert len(keys) == len(set(keys)), "each distinct change set once"
    assert len(plans) >= 2, "the fleet's mixed current policies make more than one plan"
    labels = [label for p in plans for label in p["connections"]]
    assert len(labels) == len(set(labels)), "each connection in one plan"
    for p in plans:   # a plan groups connections whose current values are the same
        assert len({(c["field"], json.dumps(c["current"])) for c in p["changes"]}) == len(p["changes"])
    # every (connection, field, current, desired) the ledger wrote is recoverable from the manifest's plans
    written = _written_rows(lines)
    assert written and written <= _planned_rows(manifest)
    # every unit: one row per row of the outcome table (a pair is one unit, its peer named)
    units = manifest["units"]
    assert [u["connection"] for u in units] == [f"{r}/{c}" for r, c in
                                               zip(result.frame["resource_group"], result.frame["connection"],
                                                   strict=True)]
    assert {u["connection"] for u in units} | {u["peer"] for u in units if u.get("peer")} == set(targets)
    assert any(u.get("peer") for u in units), "the fleet's pairs are units of two connections"
    by_label = {label: p["plan"] for p in plans for label in p["connections"]}
    assert {u["outcome"] for u in units} == {"applied", "unchanged"}
    for u in units:
        if u["outcome"] == "unchanged":   # already strong-modern: no plan, nothing written
            assert "plans" not in u and "intent_seq" not in u, u
            continue
        intent, outcome = lines[u["intent_seq"]], lines[u["outcome_seq"]]
        assert intent["kind"] == "intent" and outcome["kind"] == "outcome"
        assert outcome["intent_id"] == intent["intent_id"] and outcome["status"] == "applied"
        assert intent["writes"][0]["label"].replace("/connections/", "/") == u["connection"]
        assert u["plans"] == [by_label[w["label"]] for w in intent["writes"] if w["changes"]]
        assert u["verify"] == ", ".join(v["status"] for v in outcome["verify"].values())
    # the journal: every intent/outcome line of the run, pinned by its hash
    raws = [raw for _, raw, e in ledger.read(result.evidence_dir.parent)
            if e is not None and e.get("run_id") == result.evidence_dir.name and e.get("kind") != "run"]
    assert manifest["journal"]["lines"] == len(raws) == 2 * result.counts["applied"]
    assert manifest["journal"]["sha256"] == ledger.sha256_bytes(b"".join(r + b"\n" for r in raws))
    # the change record: grouped, and its rows back are what the ledger says (evidence show's record)
    rec = manifest["change_record"]
    assert rec["grouped"] and rec["connection_count"] == len(labels) and set(rec["plans"]) == {p["plan"] for p in plans}
    verified = [label for g in rec["verify"] for label in g["connections"]]
    assert sorted(verified) == sorted(labels) and all(g["status"] for g in rec["verify"])
    rows = record.change_of(manifest)
    shown = record.for_run(result.evidence_dir.parent, result.evidence_dir.name)
    assert sorted(map(json.dumps, rows["plan"])) == sorted(map(json.dumps, shown["plan"]))
    assert sorted(map(json.dumps, rows["verify"])) == sorted(map(json.dumps, shown["verify"]))
    assert rows["warnings"] == shown["warnings"] and rows["notes"] == shown["notes"]
    assert sorted(rows["connections"]) == sorted(shown["change"]["connections"])
    _entries, findings = ledger.verify(result.evidence_dir.parent)
    assert findings == []


def test_conflict_failed_unchanged_and_planned_units_are_all_present(session, fleet, monkeypatch):
    import vpnrunbook.operations as ops

    targets = _targets(session)[:6]
    conflict, failing, same = targets[0], targets[1], targets[2]
    rollout(session, [same], policy="strong-modern", evidence=False)   # already as desired: unchanged
    real_apply = ops.apply_plan

    def other_writers(sess, plan):
        rg, name = plan.writes[0].resource_group, plan.writes[0].name
        if f"{rg}/{name}" == conflict:   # someone else changes it between the plan and the write
            change_dpd_elsewhere(sess, rg, name)
        if f"{rg}/{name}" == failing:
            raise RuntimeError("the gateway is being upgraded")
        return real_apply(sess, plan)

    monkeypatch.setattr(ops, "apply_plan", other_writers)
    result = rollout(session, targets, policy="strong-modern", max_workers=2)
    manifest = _manifest(result.evidence_dir)
    units = {u["connection"]: u for u in manifest["units"]}
    assert set(units) == set(targets)
    assert units[conflict]["outcome"] == "conflict" and "changed by someone else" in units[conflict]["detail"]
    assert units[failing]["outcome"] == "failed" and "being upgraded" in units[failing]["detail"]
    assert units[same]["outcome"] == "unchanged" and "plans" not in units[same] and "intent_seq" not in units[same]
    for t in (conflict, failing):   # planned, never written: the plan is in the manifest (the ledger has none)
        assert units[t]["plans"] and "intent_seq" not in units[t]
        label = t.replace("/", "/connections/")
        assert any(label in p["connections"] for p in manifest["plans"] if p["plan"] in units[t]["plans"])
    applied = [u for u in manifest["units"] if u["outcome"] == "applied"]
    assert applied and all(u["intent_seq"] and u["outcome_seq"] for u in applied)
    assert len(applied) == manifest["counts"]["applied"] == len(targets) - 2 - manifest["counts"]["unchanged"]
    assert manifest["counts"]["conflict"] == manifest["counts"]["failed"] == 1 <= manifest["counts"]["unchanged"]
    # the change record's rows: the applied units only (conflict and failed wrote nothing)
    rows = record.change_of(manifest)
    assert {r["resource"] for r in rows["plan"]} == {t.replace("/", "/connections/") for t in
                                                     (u["connection"] for u in applied)}
    csv = (result.evidence_dir / "outcomes.csv").read_text(encoding="utf-8")
    assert all(t.split("/")[1] in csv for t in targets)


def test_a_plan_only_rollout_keeps_every_plan_in_its_manifest(session, fleet):
    targets = _targets(session)[:8]
    writes = len(arm_writes(session))
    result = rollout(session, targets, policy="strong-modern", apply=False)
    assert len(arm_writes(session)) == writes
    manifest = _manifest(result.evidence_dir)
    assert manifest["change_record"] is None and manifest["journal"]["lines"] == 0
    planned = [u for u in manifest["units"] if u["outcome"] == "planned"]
    assert planned and all(u["plans"] and "intent_seq" not in u for u in planned)
    labels = {label for p in manifest["plans"] for label in p["connections"]}
    assert {u["connection"].replace("/", "/connections/") for u in planned} == labels


def test_the_manifest_grows_per_connection_by_a_bounded_amount(session):
    """Two rollouts of the same fleet, one of 8 connections and one of 32: what each further connection adds to
    the manifest (a ratio of two sizes to a count), bounded — a row per field per connection (4 KB) fails."""
    from vpnrunbook.fleet.seed import seed_fleet

    seed_fleet(session, connections=40, resource_groups=4, vnet_to_vnet_pairs=0,
               policies={"default": 1, "seed-s2s": 1}, seed=3)
    targets = _targets(session)
    small = rollout(session, targets[:8], policy="strong-modern", max_workers=4)
    large = rollout(session, targets[8:40], policy="strong-modern", max_workers=4)
    assert small.counts["applied"] == 8 and large.counts["applied"] == 32
    sizes = [(r.evidence_dir / "manifest.json").stat().st_size for r in (small, large)]
    per_connection = (sizes[1] - sizes[0]) / (32 - 8)
    assert per_connection <= MAX_BYTES_PER_CONNECTION, (sizes, per_connection)
    # the plans are named once whatever the count: both rollouts hold the same few change sets
    assert len(_manifest(large.evidence_dir)["plans"]) == len(_manifest(small.evidence_dir)["plans"]) <= 2
    # the index names a rollout's many connections in one short line
    row = next(r for r in index.rows(large.evidence_dir.parent) if r["run"] == large.evidence_dir.name)
    assert row["connection"].startswith("32 connections: ") and row["verify"].count("×") >= 1
    assert len(row["change"]) < 2000


def test_group_plans_and_change_of_give_the_rows_back():
    """Pure data: connections with the same changes share a plan; the rows come back as every door's record."""
    a = [{"resource": "rg/connections/a", "field": "dhGroup", "current": "DHGroup2", "desired": "ECP384",
          "action": "update"}]
    b = [{**a[0], "resource": "rg/connections/b"}]
    c = [{**a[0], "resource": "rg/connections/c", "current": "DHGroup24"}]
    plans = record.group_plans([("rg/connections/a", a), ("rg/connections/b", b), ("rg/connections/c", c),
                                ("rg/connections/d", [])])
    assert [(p["plan"], p["connections"]) for p in plans] == [(1, ["rg/connections/a", "rg/connections/b"]),
                                                              (2, ["rg/connections/c"])]
    assert plans[0]["changes"] == [{"field": "dhGroup", "current": "DHGroup2", "desired": "ECP384",
                                    "action": "update"}]
