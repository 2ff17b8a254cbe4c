"""rollout: applied through the operations layer, resumable, throttling-tolerant, pairs together, ETag-safe."""

from __future__ import annotations

import json

import pytest

from tests.fleet.conftest import arm_writes, change_dpd_elsewhere, connection_policy
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import ledger
from vpnrunbook.fleet.audit import audit_fleet
from vpnrunbook.fleet.planfile import RolloutPlanError
from vpnrunbook.fleet.rollout import COLUMNS, rollout
from vpnrunbook.policy import presets

STRONG = presets.get_preset("strong-modern").as_wire_dict()


def _targets(session, fleet, kind: str = "IPsec") -> list[str]:
    frame = audit_fleet(session).frame
    return [f"{r}/{c}" for r, c, t in zip(frame["resource_group"], frame["connection"], frame["type"], strict=True)
            if t == kind]


def test_rollout_applies_to_every_target_with_one_evidence_record(session, fleet, tmp_path):
    targets = _targets(session, fleet)
    result = rollout(session, targets, policy="strong-modern", state_file=tmp_path / "state.json", max_workers=4)
    assert list(result.frame.columns) == list(COLUMNS)
    assert result.complete and not result.stopped
    assert set(result.frame["outcome"]) <= {"applied", "unchanged"} and "applied" in set(result.frame["outcome"])
    for t in targets:
        assert connection_policy(session, *t.split("/")) == STRONG
    after = audit_fleet(session).frame
    assert set(after[after["type"] == "IPsec"]["strength"]) == {"strong"}
    # one evidence run with the outcome table, hashed into the ledger
    root = tmp_path / "evidence"
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert runs == [result.evidence_dir]
    manifest = json.loads((result.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["step"] == "fleet-rollout" and manifest["outcome"] == "succeeded"
    assert len(manifest["units"]) == len(targets)
    assert {u["connection"] for u in manifest["units"]} == set(targets)
    _entries, findings = ledger.verify(root)
    assert findings == []
    # no shared key in the evidence
    key = session.network.virtual_network_gateway_connections.get_shared_key(*targets[0].split("/")).value
    for f in result.evidence_dir.iterdir():
        assert key not in f.read_text(encoding="utf-8")


def test_plan_only_writes_nothing(session, fleet):
    before = len(arm_writes(session))
    result = rollout(session, _targets(session, fleet), policy="strong-modern", apply=False, evidence=False)
    assert set(result.frame["outcome"]) <= {"planned", "unchanged"}
    assert len(arm_writes(session)) == before


def test_stop_then_resume_skips_what_is_done(session, fleet, tmp_path):
    targets = _targets(session, fleet)
    state, stop = tmp_path / "state.json", tmp_path / "stop"
    seen: list[str] = []

    def stop_after_three(outcome):
        seen.append(outcome.connection)
        if len(seen) == 3:
            stop.touch()

    first = rollout(session, targets, policy="strong-modern", state_file=state, stop_file=stop, max_workers=1,
                    progress=stop_after_three)
    assert first.stopped and not first.complete
    done = set(first.frame[first.frame["outcome"].isin(["applied", "unchanged"])]["connection"])
    assert len(done) == 3 and (first.frame["outcome"] == "not_started").sum() == len(targets) - 3
    stop.unlink()
    before = len(session.transport.requests)
    second = rollout(session, targets, policy="strong-modern", state_file=state, stop_file=stop, max_workers=2)
    assert second.complete
    skipped = second.frame[second.frame["outcome"] == "skipped"]
    assert set(skipped["connection"]) == done
    # nothing was read or written for the skipped connections
    paths = [p for _m, p, _s in session.transport.requests[before:]]
    assert not any(p.endswith(f"/connections/{name}") for name in done for p in paths)
    for t in targets:
        assert connection_policy(session, *t.split("/")) == STRONG
    # a different policy for the same connections is new work, not "done"
    third = rollout(session, targets[:2], policy="seed-update", state_file=state)
    assert set(third.frame["outcome"]) == {"applied"}


def test_throttling_with_retry_after_is_honoured_and_completes(session, fleet):
    EmulatorControl(session).add_fault(status=429, method="PUT", path_regex=r"/connections/", retry_after=0.05,
                                       count=6)
    targets = _targets(session, fleet)
    result = rollout(session, targets, policy="strong-modern", max_workers=4, evidence=False)
    assert result.complete
    throttled = [r for r in session.transport.requests if r[2] == 429]
    assert len(throttled) == 6
    assert any(abs(s - 0.05) < 1e-9 for s in session.transport.sleeps)   # the SDK waited Retry-After
    for t in targets:
        assert connection_policy(session, *t.split("/")) == STRONG


def test_throttling_beyond_the_retry_budget_is_reported_then_resumed(session, fleet, tmp_path):
    targets = _targets(session, fleet)[:3]
    victim = targets[0].split("/")[1]
    ctl = EmulatorControl(session)
    ctl.add_fault(status=429, method="PUT", path_regex=f"/connections/{victim}$", retry_after=0.01, count=100)
    first = rollout(session, targets, policy="strong-modern", state_file=tmp_path / "s.json", evidence=False)
    row = first.frame[first.frame["connection"] == victim].iloc[0]
    assert row["outcome"] == "throttled" and "attempt 3" in row["detail"]
    # bounded: the SDK's tries (1 + 3 retries) for each of the 3 attempts, nothing more
    assert sum(1 for _m, p, s in session.transport.requests if s == 429 and p.endswith(victim)) == 12
    assert not first.complete
    ctl.clear_faults()
    second = rollout(session, targets, policy="strong-modern", state_file=tmp_path / "s.json", evidence=False)
    assert dict(zip(second.frame["connection"], second.frame["outcome"], strict=True))[victim] in ("applied",
                                                                                                  "unchanged")
    assert second.complete


def _v2v(session, fleet) -> tuple[str, str]:
    one = _targets(session, fleet, "Vnet2Vnet")[0]
    rg, name = one.split("/")
    a, b = name.split("-to-")
    peer_rg = next(g for g in fleet.resource_groups if g.endswith(b.split("-")[1]))
    return one, f"{peer_rg}/{b}-to-{a}"


def test_vnet_to_vnet_pair_is_updated_together(session, fleet):
    one, other = _v2v(session, fleet)
    result = rollout(session, [one], policy="seed-update", evidence=False)
    assert result.frame.iloc[0]["outcome"] == "applied"
    assert result.frame.iloc[0]["peer"] == other.split("/")[1]
    want = presets.get_preset("seed-update").as_wire_dict()
    assert connection_policy(session, *one.split("/")) == want == connection_policy(session, *other.split("/"))
    conn = session.network.virtual_network_gateway_connections.get(*one.split("/"))
    assert conn.connection_status == "Connected"
    # both directions listed: one unit of work, not two competing ones
    both = rollout(session, [one, other], policy="strong-modern", evidence=False)
    assert len(both.frame) == 1 and both.frame.iloc[0]["outcome"] == "applied"
    assert connection_policy(session, *other.split("/")) == STRONG


def test_pair_with_different_policies_is_refused_before_any_write(session, fleet, tmp_path):
    one, other = _v2v(session, fleet)
    plan = tmp_path / "plan.csv"
    plan.write_text(f"resource_group,connection,policy\n{one.replace('/', ',')},strong-modern\n"
                    f"{other.replace('/', ',')},seed-update\n", encoding="utf-8")
    before = len(arm_writes(session))
    with pytest.raises(RolloutPlanError, match="two directions of one VNet-to-VNet pair"):
        rollout(session, plan_file=plan, evidence=False)
    assert len(arm_writes(session)) == before


def test_stale_etag_is_reported_not_overwritten(session, fleet, monkeypatch):
    import vpnrunbook.operations as ops

    target = _targets(session, fleet)[0]
    rg, name = target.split("/")
    real_apply = ops.apply_plan

    def someone_else_changes_it_first(sess, plan):
        change_dpd_elsewhere(sess, rg, name)
        return real_apply(sess, plan)

    monkeypatch.setattr(ops, "apply_plan", someone_else_changes_it_first)
    result = rollout(session, [target], policy="strong-modern", evidence=False)
    row = result.frame.iloc[0]
    assert row["outcome"] == "conflict" and "changed by someone else" in row["detail"]
    conn = session.network.virtual_network_gateway_connections.get(rg, name).as_dict()["properties"]
    assert conn["dpdTimeoutSeconds"] == 77                     # the other writer's change survived
    assert (conn.get("ipsecPolicies") or [None])[0] != STRONG  # our policy was not written over it


def test_stop_method_lets_running_units_finish(session, fleet):
    from vpnrunbook.fleet.planfile import items_for
    from vpnrunbook.fleet.rollout import Rollout

    r = Rollout()
    items = items_for(_targets(session, fleet), "strong-modern")
    result = r.run(session, items, max_workers=1, evidence=False, progress=lambda _o: r.stop())
    assert result.stopped
    assert (result.frame["outcome"] != "not_started").sum() == 1


def test_ctrl_c_stops_after_running_units_and_the_rerun_finishes(session, fleet, tmp_path):
    targets = _targets(session, fleet)
    state = tmp_path / "state.json"

    def interrupt(_outcome):
        raise KeyboardInterrupt

    first = rollout(session, targets, policy="strong-modern", state_file=state, max_workers=2, progress=interrupt)
    assert first.stopped and not first.complete
    assert "interrupted (Ctrl-C)" in set(first.frame["detail"])
    assert len(first.frame) == len(targets)            # every target has a row: done, or not started
    second = rollout(session, targets, policy="strong-modern", state_file=state)
    assert second.complete and "skipped" in set(second.frame["outcome"])
