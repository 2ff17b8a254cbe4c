"""The crosscheck's rules on handed-in ledger entries and Activity Log events (no emulator, no SDK): one query per
subscription, read-only actions ignored, failed attempts informational, records older than the retention
unconfirmed, a record without request ids matched by time only before the ledger's first intent that has them."""

from __future__ import annotations

import datetime as dt
import uuid

from vpnrunbook.evidence import crosscheck, journal

NOW = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)
SUB_A, SUB_B = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"


def _rid(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/RG/providers/Microsoft.Network/connections/{name}"


def _records(sub: str, name: str, at: dt.datetime, *, ids: bool = True, etag: str = 'W/"1"') -> list[dict]:
    iid = uuid.uuid4().hex
    intent = {"kind": "intent", "intent_id": iid, "run_id": f"run-{name}", "step": "05", "time": at.isoformat(),
              "target": "emulator", "subscription_id": sub,
              "writes": [{"resource_id": _rid(sub, name), "kind": "connection", "resource_group": "RG", "name": name}]}
    if ids:
        intent["correlation_id"] = journal.request_ids(intent, _rid(sub, name))["correlation_id"]
    outcome = {"kind": "outcome", "intent_id": iid, "run_id": f"run-{name}", "step": "05",
               "time": (at + dt.timedelta(seconds=2)).isoformat(), "status": "applied", "target": "emulator",
               "subscription_id": sub, "written": [{"resource_id": _rid(sub, name), "etag": etag}]}
    return [intent, outcome]


def _event(sub: str, name: str, at: dt.datetime, *, op: str = "write", status: str = "Succeeded",
           crid: str = "", corr: str = "", caller: str = "alice@contoso.example", opid: str | None = None) -> dict:
    return {"operationName": {"value": f"Microsoft.Network/connections/{op}"}, "status": {"value": status},
            "resourceId": _rid(sub, name), "resourceGroupName": "RG", "subscriptionId": sub, "caller": caller,
            "eventTimestamp": at.isoformat(), "correlationId": corr or str(uuid.uuid4()),
            "operationId": opid or str(uuid.uuid4()), "httpRequest": {"clientRequestId": crid, "method": "PUT"}}


def _tool_events(records: list[dict], at: dt.datetime) -> list[dict]:
    intent = records[0]
    w = intent["writes"][0]
    ids = journal.request_ids(intent, w["resource_id"])
    sub, name = w["resource_id"].split("/")[2], w["name"]
    return [_event(sub, name, at, crid=ids["client_request_id"], corr=ids["correlation_id"], opid=intent["intent_id"])]


class FakeLog:
    def __init__(self, events: list[dict]) -> None:
        self.all, self.calls, self.pages_read = events, [], 0

    def events(self, subscription_id, start, end):
        self.calls.append((subscription_id, start, end))
        self.pages_read += 1
        return [e for e in self.all if e["subscriptionId"] == subscription_id]


def _live(etags: dict[str, str]):
    return lambda write: {"etag": etags[write["name"]]} if write["name"] in etags else None


def _check(records, events, etags, **kw):
    log = FakeLog(events)
    report = crosscheck.crosscheck(records, activity=log, live=_live(etags), target="emulator", now=NOW, **kw)
    return report, log


def test_one_query_per_subscription_over_the_span_the_ledger_covers():
    t = NOW - dt.timedelta(days=3)
    recs = _records(SUB_A, "c1", t) + _records(SUB_A, "c2", t) + _records(SUB_B, "c3", t + dt.timedelta(days=1))
    events = [e for i in range(0, len(recs), 2) for e in _tool_events(recs[i:i + 2], t + dt.timedelta(seconds=1))]
    report, log = _check(recs, events, {"c1": 'W/"1"', "c2": 'W/"1"', "c3": 'W/"1"'})
    assert report.exit_code == crosscheck.EXIT_CONSISTENT and report.confirmed == 3
    assert sorted(c[0] for c in log.calls) == [SUB_A, SUB_B]
    assert all(c[1] <= t and c[2] == NOW for c in log.calls)


def test_read_actions_are_not_changes_and_failed_attempts_are_information():
    t = NOW - dt.timedelta(hours=1)
    recs = _records(SUB_A, "c1", t)
    events = _tool_events(recs, t) + [
        _event(SUB_A, "c1", t + dt.timedelta(minutes=5), op="getikesas/action"),
        _event(SUB_A, "c1", t + dt.timedelta(minutes=6), status="Failed", caller="mallory@contoso.example")]
    report, _ = _check(recs, events, {"c1": 'W/"1"'})
    assert [f.kind for f in report.findings] == [crosscheck.FAILED_ATTEMPT]
    assert report.findings[0].caller == "mallory@contoso.example" and report.exit_code == crosscheck.EXIT_CONSISTENT


def test_outside_the_retention_a_record_is_unconfirmed_not_forged():
    old = NOW - dt.timedelta(days=200)
    recs = _records(SUB_A, "c1", old)
    report, log = _check(recs, [], {"c1": 'W/"1"'})
    assert [f.kind for f in report.findings] == [crosscheck.UNCONFIRMED]
    assert log.calls[0][1] == NOW - crosscheck.RETENTION  # the query never asks beyond what Azure keeps


def test_records_without_ids_match_by_time_only_before_the_first_with_ids():
    t = NOW - dt.timedelta(hours=2)
    legacy = _records(SUB_A, "c1", t, ids=False)
    events = [_event(SUB_A, "c1", t + dt.timedelta(seconds=1), crid="sdk-generated")]
    report, _ = _check(legacy, events, {"c1": 'W/"1"'})
    assert report.findings == [] and report.confirmed == 1
    # after an intent with ids, one without them is taken at its word no more
    later = _records(SUB_A, "c2", t + dt.timedelta(minutes=1))
    stripped = _records(SUB_A, "c1", t + dt.timedelta(minutes=2), ids=False)
    events = _tool_events(later, t + dt.timedelta(minutes=1)) + [
        _event(SUB_A, "c1", t + dt.timedelta(minutes=2, seconds=1), crid="someone-else")]
    report, _ = _check(later + stripped, events, {"c1": 'W/"1"', "c2": 'W/"1"'})
    assert {f.kind for f in report.findings} == {crosscheck.OUT_OF_BAND, crosscheck.NEVER_SEEN}


def test_an_unreadable_log_concludes_nothing():
    class Denied(FakeLog):
        def events(self, subscription_id, start, end):
            raise PermissionError("AuthorizationFailed")

    recs = _records(SUB_A, "c1", NOW - dt.timedelta(hours=1))
    report = crosscheck.crosscheck(recs, activity=Denied([]), live=_live({}), target="emulator", now=NOW)
    assert report.exit_code == crosscheck.EXIT_UNREADABLE and report.findings == []
    assert "Reader role" in report.errors[0]


def test_a_record_cannot_claim_another_records_write():
    t = NOW - dt.timedelta(hours=1)
    real = _records(SUB_A, "c1", t)
    events = _tool_events(real, t)
    # a forged intent copying the real one's request ids, and a forged outcome reusing the real intent id
    copy = _records(SUB_A, "c1", t + dt.timedelta(minutes=5))
    copy[0]["writes"][0]["client_request_id"] = events[0]["httpRequest"]["clientRequestId"]
    copy[0]["correlation_id"] = events[0]["correlationId"]
    reuse = {**real[1], "time": (t + dt.timedelta(minutes=6)).isoformat(), "run_id": "forged"}
    report, _ = _check(real + copy + [reuse], events, {"c1": 'W/"1"'})
    never = [f for f in report.findings if f.kind == crosscheck.NEVER_SEEN]
    assert sorted(f.run_id for f in never) == ["forged", "run-c1"]  # the copy (its run is run-c1 too) and the reuse
    assert report.confirmed == 1 and report.exit_code == crosscheck.EXIT_CONTRADICTED


def test_a_marked_write_of_another_key_is_out_of_band_not_rollback():
    t = NOW - dt.timedelta(hours=1)
    mine = _records(SUB_A, "c1", t)
    other = _records(SUB_A, "c1", t + dt.timedelta(minutes=3))[0]  # another operator's ledger, another key
    mine_gone = _records(SUB_A, "c1", t + dt.timedelta(minutes=5))[0]  # a line of this ledger, since removed
    foreign = journal.request_ids(other, _rid(SUB_A, "c1"), key_tag="abcdef12")
    removed = journal.request_ids(mine_gone, _rid(SUB_A, "c1"))
    events = _tool_events(mine, t) + [
        _event(SUB_A, "c1", t + dt.timedelta(minutes=3), crid=foreign["client_request_id"]),
        _event(SUB_A, "c1", t + dt.timedelta(minutes=5), crid=removed["client_request_id"])]
    report, _ = _check(mine, events, {"c1": 'W/"1"'})
    assert journal.tool_key_tag(foreign["client_request_id"]) == "abcdef12"
    kinds = {f.client_request_id: f.kind for f in report.findings if f.client_request_id}
    assert kinds == {foreign["client_request_id"]: crosscheck.OUT_OF_BAND,
                     removed["client_request_id"]: crosscheck.ROLLBACK}


def test_a_retried_request_is_one_write_and_an_async_end_without_request_id_joins_it():
    t = NOW - dt.timedelta(hours=1)
    recs = _records(SUB_A, "c1", t)
    [ok] = _tool_events(recs, t)
    failed_first = {**ok, "status": {"value": "Failed"}, "operationId": "attempt-1"}  # a 500, retried by the SDK
    async_end = {**ok, "operationId": "async-end", "httpRequest": {}, "status": {"value": "Succeeded"},
                 "eventTimestamp": (t + dt.timedelta(minutes=1)).isoformat()}  # the final event of the operation
    report, _ = _check(recs, [failed_first, {**ok, "status": {"value": "Accepted"}}, async_end], {"c1": 'W/"1"'})
    assert report.findings == [] and report.confirmed == 1
    [write] = crosscheck.merge_events([failed_first, ok, async_end])
    assert write.status == "Succeeded" and write.client_request_id == ok["httpRequest"]["clientRequestId"]
