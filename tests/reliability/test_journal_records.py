"""The change journal through the operations, in process: the intent is in the ledger before the PUT is sent, the
outcome after it holds the new ETag and the verify result; a failed deployment ends with a failed outcome; another
writer's change that lands between this apply's write and its read-back is flagged in the outcome record and in
the result the notebook prints."""

from __future__ import annotations

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.evidence import journal, ledger
from vpnrunbook.operations import apply as apply_mod


def _session():
    from vpnrunbook.azure.connect import connect

    return connect(target="emulator", polling_interval=0)


def _journal(root):
    return [e for _, _, e in ledger.read(root) if e and e.get("kind") in journal.JOURNAL_KINDS]


def test_intent_before_the_put_outcome_after(seeded, monkeypatch):
    root = seeded["evidence"]
    session = _session()
    plan = ops.plan_connection_update(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                      dpd_timeout_seconds=42)
    seen_at_put: list[list[str]] = []
    real = apply_mod.start_write

    def spy(*args, **kw):
        seen_at_put.append([e["kind"] for e in _journal(root)])
        return real(*args, **kw)

    monkeypatch.setattr(apply_mod, "start_write", spy)
    result = ops.apply_plan(session, plan)
    assert seen_at_put == [["intent"]], "the intent is on disk when the PUT goes out"
    intent, outcome = _journal(root)
    (w,) = intent["writes"]
    assert w["etag"] == plan.etags[w["resource_id"]] and w["action"] == "update"
    assert [(c["field"], c["desired"]) for c in w["changes"]] == [("dpdTimeoutSeconds", 42)], w["changes"]
    assert "sharedKey" not in str(w["body"]) and intent["subscription_id"] and intent["operator"]["user"]
    assert outcome["status"] == "applied" and outcome["intent_id"] == intent["intent_id"]
    new_etag = result.after[w["resource_id"]]["etag"]
    assert outcome["written"][0]["etag"] == new_etag != w["etag"]
    assert outcome["verify"], "the verify result read back after the write"
    assert "unplanned_changes" not in outcome and "WARNING" not in result.summary()
    assert result.details["evidence"]["run_id"] == intent["run_id"]


def test_failed_deployment_records_a_failed_outcome(seeded):
    from vpnrunbook.emulator.control import EmulatorControl

    root = seeded["evidence"]
    session = _session()
    EmulatorControl(session).add_lro_failure(path_regex="connections/VNet1toSite6$")
    plan = ops.plan_connection_update(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                      dpd_timeout_seconds=43)
    with pytest.raises(ops.ProvisioningFailedError):
        ops.apply_plan(session, plan)
    intent, outcome = _journal(root)
    assert outcome["status"] == "failed" and outcome["error"]["type"] == "ProvisioningFailedError"
    assert outcome["attempted"] == intent["writes"][0]["resource_id"]


def test_another_writers_change_after_the_write_is_flagged(seeded, monkeypatch):
    root = seeded["evidence"]
    session, other = _session(), _session()
    plan = ops.plan_connection_update(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                      dpd_timeout_seconds=44)
    real = apply_mod.finish_write
    calls: list[int] = []

    def then_someone_else(pending):
        done = real(pending)
        calls.append(1)
        if len(calls) == 1:  # another operator's update lands before this apply reads the connection back
            ops.update_connection(other, resource_group="TestRG1", connection_name="VNet1toSite6",
                                  use_policy_based_traffic_selectors=True, apply=True)
            return other.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6").as_dict()
        return done

    monkeypatch.setattr(apply_mod, "finish_write", then_someone_else)
    seeded_selectors = plan.before[plan.writes[0].resource_id]["properties"]["usePolicyBasedTrafficSelectors"]
    assert seeded_selectors is False, "the seed has them off; the other writer turns them on"
    result = ops.apply_plan(session, plan)
    flagged = result.details["unplanned_changes"]
    assert [(r["field"], r["written"], r["after"]) for r in flagged] == [
        ("properties.usePolicyBasedTrafficSelectors", False, True)]
    outcome = [e for e in _journal(root) if e["kind"] == "outcome" and e["run_id"] == result.details["evidence"][
        "run_id"]][-1]
    assert outcome["unplanned_changes"] == flagged
    assert "WARNING — another writer changed the resource" in result.summary()
    assert "usePolicyBasedTrafficSelectors" in result.summary(), "what the notebook prints names the field"


def test_apply_control_shows_a_refusal_when_the_intent_cannot_be_written(seeded, monkeypatch):
    import errno

    from vpnrunbook.ui import apply_control

    session = _session()
    planned = ops.update_connection(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                    dpd_timeout_seconds=46, apply=False)
    etag = session.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6").etag

    def full(root, entry):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ledger, "append", full)
    control = apply_control(planned, lambda: ops.apply_plan(session, planned.plan), interactive=False)
    assert control.click() is None and isinstance(control.error, journal.EvidenceUnavailableError)
    assert "No space left on device" in control.outcome.value and "nothing was changed" in control.outcome.value
    assert session.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6").etag == etag
