"""Plan/Change/OperationResult and snapshots: pure data, no secret ever inside."""

from __future__ import annotations

import json

import pytest

from vpnrunbook.operations.errors import ConcurrentChangeError, PrecheckError
from vpnrunbook.operations.plan import Change, OperationResult, Plan, Write, diff_fields, dig, scrub, snapshot
from vpnrunbook.policy.rules import PolicyValidationError, Problem

KEY = "Planted0Key0ForPlanTests"


def test_scrub_removes_secret_keys_at_any_depth():
    data = {"properties": {"sharedKey": KEY, "inner": [{"authorizationKey": KEY, "x": 1}]}, "name": "c"}
    out = scrub(data)
    assert KEY not in json.dumps(out)
    assert out["properties"]["inner"][0] == {"x": 1}
    assert data["properties"]["sharedKey"] == KEY  # input untouched


def test_scrub_gives_plain_json_data_for_every_kind_of_value():
    import datetime as dt
    import enum
    from collections import OrderedDict

    class Kind(str, enum.Enum):  # noqa: UP042 - as the SDK's enums
        IPSEC = "IPsec"

    data = OrderedDict(kind=Kind.IPSEC, when=dt.date(2026, 1, 2), pair=("a", 1), flags={True}, none=None,
                       nested=[{"shared_key": KEY, "rate": 1.5, "on": False}], obj=object)
    out = scrub(data)
    assert type(out) is dict and out["kind"] == "IPsec" and type(out["kind"]) is str
    assert out["when"] == "2026-01-02" and out["pair"] == ["a", 1] and out["flags"] == [True]
    assert out["nested"] == [{"rate": 1.5, "on": False}] and out["none"] is None
    assert out["obj"] == str(object)
    json.dumps(out)


def test_snapshot_of_sdk_model_uses_wire_names_without_key():
    from azure.mgmt.network.models import VirtualNetworkGatewayConnection

    conn = VirtualNetworkGatewayConnection(location="eastus", connection_type="IPsec", shared_key=KEY,
                                           dpd_timeout_seconds=30)
    snap = snapshot(conn)
    assert snap["properties"]["dpdTimeoutSeconds"] == 30
    assert "sharedKey" not in snap["properties"]
    assert snapshot(None) is None


def test_diff_fields_create_update_and_order_insensitive_lists():
    assert [c.action for c in diff_fields("r", None, {"a": 1, "b": 2})] == ["create", "create"]
    changes = diff_fields("r", {"p": ["10.2.0.0/16", "10.1.0.0/16"], "x": 1}, {"p": ["10.1.0.0/16", "10.2.0.0/16"],
                                                                              "x": 2})
    assert changes == [Change("r", "x", 1, 2, "update")]


def test_plan_table_and_empty():
    plan = Plan("step", [Change("rg/connections/c", "dpdTimeoutSeconds", 45, 30)])
    assert plan.empty  # no write planned
    frame = plan.to_frame()
    assert list(frame.columns) == ["resource", "field", "current", "desired", "action"]
    assert frame.iloc[0].to_dict()["desired"] == "30"
    assert "dpdTimeoutSeconds" in str(plan)
    plan.writes.append(Write("connection", "rg", "c", "/id", "rg/connections/c", {"properties": {}}, "e1", True))
    assert not plan.empty
    assert "1 change(s)" in plan.summary()


def test_write_refuses_a_body_with_a_key():
    with pytest.raises(ValueError, match="secret"):
        Write("connection", "rg", "c", "/id", "rg/connections/c", {"properties": {"sharedKey": KEY}}, None, False)


def test_result_record_is_json_and_scrubbed():
    plan = Plan("s", [Change("r", "sharedKey", "<redacted>", "(from env:K)")])
    res = OperationResult("s", plan, True, {"/id": {"properties": {"sharedKey": KEY}}}, {"/id": None})
    rec = res.to_record()
    text = json.dumps(rec)
    assert KEY not in text
    assert rec["plan"]["changes"][0]["field"] == "sharedKey"


def test_dig():
    d = {"a": {"b": [{"c": 1}]}}
    assert dig(d, "a", "b", 0, "c") == 1
    assert dig(d, "a", "x", default="n") == "n"
    assert dig(d, "a", "b", 3, default=None) is None


def test_errors_are_clear():
    err = PrecheckError([Problem("policy.dh_group", "X", "is not allowed", "one of ...")], step="connection c")
    assert isinstance(err, PolicyValidationError)
    assert "nothing was written" in str(err) and "policy.dh_group" in str(err)
    cc = ConcurrentChangeError("TestRG1/connections/VNet1toSite6", step="update", planned_etag='W/"1"')
    assert "VNet1toSite6" in str(cc) and "Re-run" in str(cc)
