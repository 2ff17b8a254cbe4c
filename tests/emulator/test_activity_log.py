"""The emulator's Activity Log, read through the real client (azure-mgmt-monitor ``activity_logs.list``), in-process
and over HTTPS: every write leaves Started / Accepted / Succeeded|Failed events with its caller, operation,
resource, correlation id and client request id; ``$filter``, ``$select`` and ``nextLink`` behave as Azure's."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed
from vpnrunbook.azure.connect import StaticTokenCredential, connect
from vpnrunbook.azure.monitor import monitor_client
from vpnrunbook.emulator import activity_log

RG = "TestRG1"
CONN = "VNet1toSite6"


def _since(minutes: int = 60) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _events(session, extra: str = "", **kwargs):
    return list(monitor_client(session).activity_logs.list(filter=f"eventTimestamp ge '{_since()}'{extra}", **kwargs))


def _conn_id(session) -> str:
    return (f"/subscriptions/{session.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/"
            f"connections/{CONN}")


def _update_policy(session, policy: dict, **kwargs):
    n = session.network.virtual_network_gateway_connections
    conn = n.get(RG, CONN).as_dict()  # the REST body
    conn["properties"]["ipsecPolicies"] = [policy]
    return n.begin_create_or_update(RG, CONN, conn, **kwargs).result()


WEAK = {"saLifeTimeSeconds": 3600, "saDataSizeKilobytes": 102400000, "ipsecEncryption": "DES",
        "ipsecIntegrity": "MD5", "ikeEncryption": "DES", "ikeIntegrity": "MD5", "dhGroup": "DHGroup1",
        "pfsGroup": "None"}


def test_a_write_leaves_started_accepted_succeeded_with_its_ids(session, topology):
    _update_policy(session, WEAK, headers={"x-ms-client-request-id": "11111111-2222-3333-4444-555555555555",
                                           "x-ms-correlation-request-id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"})
    events = _events(session, " and correlationId eq 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'")
    assert [e.status.value for e in events] == ["Succeeded", "Accepted", "Started"]  # newest first
    for e in events:
        assert e.operation_name.value == "Microsoft.Network/connections/write"
        assert e.resource_id == _conn_id(session) and e.resource_group_name == RG
        assert e.http_request.client_request_id == "11111111-2222-3333-4444-555555555555"
        assert e.http_request.method == "PUT" and e.level == "Informational"
        assert e.caller.startswith("token-") and e.caller.endswith("@emulator")  # the token's name, not the token
        assert e.subscription_id == session.subscription_id and e.category.value == "Administrative"
    assert [e.event_name.value for e in events] == ["EndRequest", "EndRequest", "BeginRequest"]
    assert events[-1].event_timestamp <= events[0].event_timestamp
    # the shared key sent with the PUT never enters the log
    stored = session.transport.app.store
    with stored.read() as db:
        text = " ".join(r[0] for r in db.execute("SELECT body FROM activity_log"))
    assert seed.S2S_KEY not in text and "emulator" not in json.dumps([e.claims for e in events])


def test_a_refused_write_is_logged_failed_with_its_error(session, topology):
    n = session.network.virtual_network_gateway_connections
    with pytest.raises(HttpResponseError):
        n.begin_create_or_update(RG, CONN, n.get(RG, CONN).as_dict(), headers={"If-Match": 'W/"stale"',
                                                                               "x-ms-client-request-id": "refused-1"})
    failed = [e for e in _events(session, f" and resourceUri eq '{_conn_id(session)}'")
              if e.http_request.client_request_id == "refused-1"]
    assert [e.status.value for e in failed] == ["Failed", "Started"]
    assert failed[0].level == "Error" and failed[0].sub_status.value == "PreconditionFailed"
    assert json.loads(failed[0].properties["statusMessage"])["error"]["code"] == "PreconditionFailed"


def test_a_long_operation_ends_in_the_log_when_it_ends(session, topology, ctl):
    ctl.set_time_factor(1.0)  # a connection update now takes 60 s: only Started and Accepted are in the log yet
    n = session.network.virtual_network_gateway_connections
    n.begin_create_or_update(RG, CONN, n.get(RG, CONN).as_dict(), headers={"x-ms-client-request-id": "slow-1"})
    mine = [e for e in _events(session, f" and resourceGroupName eq '{RG}'")
            if e.http_request.client_request_id == "slow-1"]
    assert [e.status.value for e in mine] == ["Accepted", "Started"]


def test_filters_select_and_paging(session, topology):
    shared = session.network.virtual_network_gateway_connections
    shared.begin_set_shared_key(RG, CONN, {"value": "AnotherKey123"}).result()
    by_resource = _events(session, f" and resourceUri eq '{_conn_id(session)}'")
    ops = {e.operation_name.value for e in by_resource}
    assert ops == {"Microsoft.Network/connections/write", "Microsoft.Network/connections/sharedKey/write"}
    assert all(e.resource_id.lower().startswith(_conn_id(session).lower()) for e in by_resource)
    assert "AnotherKey123" not in json.dumps([e.as_dict() for e in by_resource], default=str)
    assert {e.resource_group_name for e in _events(session, " and resourceGroupName eq 'testrg2'")} == {"TestRG2"}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert list(monitor_client(session).activity_logs.list(filter=f"eventTimestamp ge '{future}'")) == []
    # $select: only the named properties come back
    picked = _events(session, select="eventTimestamp,operationName,status")[0].as_dict()
    assert set(picked) == {"event_timestamp", "operation_name", "status"}
    # nextLink: the client follows it; every event once, newest first
    everything = _events(session)
    with session.transport.app.store.write() as db:
        session.transport.app.store.set_setting(db, activity_log.PAGE_SIZE_SETTING, "7")
    before = len(session.transport.requests)
    paged = _events(session)
    pages = [r for r in session.transport.requests[before:] if "eventtypes" in r[1]]
    assert [e.event_data_id for e in paged] == [e.event_data_id for e in everything]
    assert len(pages) == -(-len(everything) // 7) > 1
    assert [e.event_timestamp for e in paged] == sorted((e.event_timestamp for e in paged), reverse=True)


def test_bad_filters_are_refused_with_what_is_allowed(session):
    client = monitor_client(session)
    for bad in ("resourceGroupName eq 'x'", f"eventTimestamp ge '{_since()}' and operationName eq 'x'",
                "eventTimestamp ge 'yesterday'"):
        with pytest.raises(HttpResponseError) as info:
            list(client.activity_logs.list(filter=bad))
        assert info.value.status_code == 400 and "eventTimestamp ge" in str(info.value.message)


def test_caller_is_read_from_a_jwt(session, topology):
    claims = base64.urlsafe_b64encode(json.dumps({"upn": "mallory@contoso.example", "oid": "x"}).encode()).decode()
    other = connect(polling_interval=0)
    other.transport = session.transport
    from azure.mgmt.network import NetworkManagementClient

    net = NetworkManagementClient(StaticTokenCredential(f"e30.{claims.rstrip('=')}.c2ln"), session.subscription_id,
                                  base_url=session.base_url, transport=session.transport, polling_interval=0)
    other.network = net
    _update_policy(other, WEAK, headers={"x-ms-client-request-id": "jwt-1"})
    mine = [e for e in _events(session) if e.http_request.client_request_id == "jwt-1"]
    assert {e.caller for e in mine} == {"mallory@contoso.example"}
    assert mine[0].claims["upn"] == "mallory@contoso.example"


def test_over_https_the_sdk_and_a_plain_request_are_both_logged(served, tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path))
    s = connect(emulator_url=served.url, polling_interval=0.01)
    seed.network(s, "RG", "VNet", "eastus", ["10.5.0.0/16"], {"GatewaySubnet": "10.5.255.0/27"})
    import ssl

    url = (f"{served.url}/subscriptions/{s.subscription_id}/resourceGroups/RG/providers/Microsoft.Network/"
           "publicIPAddresses/p?api-version=2026-03-01")
    req = urllib.request.Request(url, data=json.dumps({"location": "eastus"}).encode(), method="PUT", headers={
        "Authorization": f"Bearer {served.token}", "Content-Type": "application/json",
        "x-ms-client-request-id": "curl-1"})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(served.ca)), timeout=10) as r:
        assert r.status == 201
    unauthenticated = urllib.request.Request(url.replace("/p?", "/q?"), data=b"{}", method="PUT")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(unauthenticated, context=ssl.create_default_context(cafile=str(served.ca)), timeout=10)
    events = _events(s, " and resourceGroupName eq 'RG'")
    ops = {(e.operation_name.value, e.http_request.client_request_id) for e in events if e.status.value == "Started"}
    assert ("Microsoft.Network/publicIPAddresses/write", "curl-1") in ops
    assert any(op == "Microsoft.Network/virtualNetworks/write" for op, _ in ops)
    assert not any("/q" in e.resource_id for e in events)  # refused before authentication: ARM never saw it
    callers = {e.caller for e in events}
    assert len(callers) == 1 and served.token not in next(iter(callers))
    assert all(e.http_request.uri.startswith(served.url) for e in events)


def test_events_older_than_the_retention_are_neither_served_nor_kept(session, topology):
    store = session.transport.app.store
    with store.write() as db:
        (body,) = db.execute("SELECT body FROM activity_log ORDER BY seq LIMIT 1").fetchone()
        old = {**json.loads(body), "eventDataId": "old-event", "eventTimestamp": "2026-01-01T00:00:00Z"}
        activity_log.store_events(db, [(store.now() - (activity_log.RETENTION_DAYS + 1) * 86400, old)])
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=120)).isoformat()
    served_ids = {e.event_data_id for e in monitor_client(session).activity_logs.list(
        filter=f"eventTimestamp ge '{long_ago}'")}
    assert "old-event" not in served_ids and served_ids
    session.transport.app._activity_writes = 0  # the next write purges (one in PURGE_EVERY does)
    _update_policy(session, WEAK)  # and drops what Azure would no longer hold
    with store.read() as db:
        assert db.execute("SELECT COUNT(*) FROM activity_log WHERE body LIKE '%old-event%'").fetchone()[0] == 0
