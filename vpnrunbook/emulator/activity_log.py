"""The emulator's Activity Log: the management events Azure records for every write, kept with the state.

Azure Resource Manager writes an Activity Log event when a write (PUT, PATCH, DELETE, POST action) begins and
when it ends: ``Started`` (eventName ``BeginRequest``), then ``Accepted`` for a long-running operation followed by
``Succeeded``/``Failed`` when the operation ends, or ``Succeeded``/``Failed`` at once for a synchronous answer.
Each event names the ``caller`` (the identity in the bearer token), the ``operationName``
(``Microsoft.Network/connections/write``), the ``resourceId``, ``resourceGroupName``, the ``correlationId``
(the client's ``x-ms-correlation-request-id``, else one ARM makes up) and ``httpRequest.clientRequestId`` (the
client's ``x-ms-client-request-id``).

The emulator does the same from one place: :func:`record` runs after :meth:`EmulatorApp.handle` answered a write
(in-process and over HTTPS alike) and stores the events in the ``activity_log`` table of the state database. The
terminal event of a long-running operation is stored with the operation's end time and is visible once that time
has come (as provisioning state is derived from the clock, so every process sees the same log). Events older than
:data:`RETENTION_DAYS` are not served, as Azure keeps 90 days. Nothing of a request body is kept: a connection's
shared key never enters the log.

``caller`` comes from the token: a JWT's ``upn`` / ``unique_name`` / ``preferred_username`` / ``email`` /
``appid`` / ``oid`` claim (read, not verified: the emulator trusts its token, not the claims), else — the
emulator's own opaque token — ``token-<first 12 hex of its SHA-256>@emulator`` (one name per token, never the
token itself).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vpnrunbook.emulator.models import Response

if TYPE_CHECKING:
    from vpnrunbook.emulator.app import EmulatorApp

WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})
RETENTION_DAYS = 90
DEFAULT_PAGE_SIZE = 200
PAGE_SIZE_SETTING = "activity_log_page_size"
TENANT = "00000000-0000-0000-0000-000000000001"  # the emulator's tenant (handlers/identity.py)
CLAIM_ORDER = ("upn", "unique_name", "preferred_username", "email", "appid", "azp", "oid")
KEPT_CLAIMS = ("upn", "unique_name", "preferred_username", "email", "name", "appid", "azp", "oid", "tid", "idtyp")
_TICKS_AT_EPOCH = 621355968000000000  # .NET ticks of 1970-01-01, as Azure's event ids carry them

# Azure's spelling of the resource types in operation names and resource ids (paths arrive in any case).
TYPE_CASE = {t.lower(): t for t in (
    "resourceGroups", "deployments", "virtualNetworks", "subnets", "publicIPAddresses", "virtualNetworkGateways",
    "localNetworkGateways", "connections", "natRules", "sharedKey", "reset", "resetconnection", "getikesas",
    "vpndeviceconfigurationscript", "startPacketCapture", "stopPacketCapture", "supportedvpndevices",
    "getbgppeerstatus", "getlearnedroutes", "getadvertisedroutes")}
NAMESPACE_CASE = {"microsoft.network": "Microsoft.Network", "microsoft.resources": "Microsoft.Resources"}
SUB_STATUS = {200: "OK", 201: "Created", 202: "Accepted", 204: "NoContent", 400: "BadRequest", 401: "Unauthorized",
              403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict",
              412: "PreconditionFailed", 413: "RequestEntityTooLarge", 429: "TooManyRequests",
              500: "InternalServerError", 503: "ServiceUnavailable"}


@dataclass(frozen=True)
class Target:
    """What a write request names: its resource id (as Azure spells it), operation name, type and provider."""

    resource_id: str
    operation: str
    resource_type: str
    provider: str
    sub: str
    rg: str | None


# ---- what a request names ---------------------------------------------------------------------------------
def target_of(method: str, path: str) -> Target | None:
    """The resource and operation of a write on an ARM resource route; None for anything else (reads, login,
    control API, Resource Graph queries, unknown routes)."""
    if method not in WRITE_METHODS:
        return None
    from vpnrunbook.emulator import routes  # (routes → handlers → this module's reader: imported when used)

    found = routes.match(path)
    if found is None or found[0].kind != "arm" or method not in found[0].methods:
        return None
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        return None
    sub = parts[1]
    action = None
    if method == "POST":
        action, parts = parts[-1], parts[:-1]
    if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
        rg: str | None = parts[3]
        rest = parts[4:]
    else:
        rg, rest = None, parts[2:]
    if not rest:  # the resource group itself
        provider, types = "Microsoft.Resources", ["subscriptions", "resourceGroups"]
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}"
    else:
        if rest[0].lower() != "providers" or len(rest) < 3:
            return None
        provider = NAMESPACE_CASE.get(rest[1].lower(), rest[1])
        segments = rest[2:]
        types = [TYPE_CASE.get(s.lower(), s) for s in segments[0::2]]
        names = segments[1::2]
        spelled = "/".join(x for pair in zip(types, [*names, ""], strict=False) for x in pair if x)
        base = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
        rid = f"{base}/providers/{provider}/{spelled}"
    resource_type = f"{provider}/{'/'.join(types)}"
    if action is not None:
        verb = f"{TYPE_CASE.get(action.lower(), action)}/action"
    else:
        verb = "delete" if method == "DELETE" else "write"
    return Target(rid, f"{resource_type}/{verb}", resource_type, provider, sub, rg)


# ---- who is calling ---------------------------------------------------------------------------------------
def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def caller_of(headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``(caller, claims)`` for the request's bearer token (see the module text). Never returns the token."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "anonymous", {}
    claims = _jwt_claims(token)
    if claims is not None:
        kept = {k: str(claims[k]) for k in KEPT_CLAIMS if isinstance(claims.get(k), str | int)}
        for name in CLAIM_ORDER:
            if kept.get(name):
                return kept[name], kept
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"token-{digest}@emulator", {}


# ---- events -------------------------------------------------------------------------------------------------
def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _localized(value: str) -> dict[str, str]:
    return {"value": value, "localizedValue": value}


@dataclass(frozen=True)
class Request:
    """The facts of one write request every event of it repeats."""

    target: Target
    method: str
    uri: str
    caller: str
    claims: dict[str, str]
    correlation_id: str
    client_request_id: str
    operation_id: str


def _event(req: Request, *, ts: float, status: str, sub_status: str, begin: bool,
           properties: dict[str, str]) -> dict[str, Any]:
    t = req.target
    event_data_id = str(uuid.uuid4())
    ticks = _TICKS_AT_EPOCH + int(ts * 10_000_000)
    level = "Error" if status == "Failed" else "Informational"
    event: dict[str, Any] = {
        "authorization": {"action": t.operation, "scope": t.resource_id},
        "caller": req.caller,
        "channels": "Operation",
        "claims": dict(req.claims),
        "correlationId": req.correlation_id,
        "description": "",
        "eventDataId": event_data_id,
        "eventName": _localized("BeginRequest" if begin else "EndRequest"),
        "category": _localized("Administrative"),
        "eventTimestamp": iso(ts),
        "id": f"{t.resource_id}/events/{event_data_id}/ticks/{ticks}",
        "level": level,
        "operationId": req.operation_id,
        "operationName": _localized(t.operation),
        "resourceGroupName": t.rg or "",
        "resourceProviderName": _localized(t.provider),
        "resourceType": _localized(t.resource_type),
        "resourceId": t.resource_id,
        "status": _localized(status),
        "subStatus": _localized(sub_status),
        "submissionTimestamp": iso(ts),
        "subscriptionId": t.sub,
        "tenantId": TENANT,
        "httpRequest": {"clientRequestId": req.client_request_id, "clientIpAddress": "127.0.0.1",
                        "method": req.method, "uri": req.uri},
        "properties": {"eventCategory": "Administrative", "entity": t.resource_id, "message": t.operation,
                       "hierarchy": f"{TENANT}/{t.sub}", **properties},
    }
    return event


def _error_message(body: Any) -> str:
    """The ARM error of a failed write as Azure's ``statusMessage`` holds it (code and message, JSON text)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    return json.dumps({"error": {"code": error.get("code"), "message": str(error.get("message", ""))[:2000]}})


def _operation_of(headers: dict[str, str]) -> str | None:
    url = headers.get("Azure-AsyncOperation") or headers.get("Location") or ""
    m = re.search(r"/(?:operations|operationResults)/([^/?]+)", url, re.IGNORECASE)
    return m.group(1) if m else None


def events_for(app: EmulatorApp, db: sqlite3.Connection, req: Request, resp: Response, started: float,
               now: float) -> list[tuple[float, dict[str, Any]]]:
    """The events of one answered write: (event time, event)."""
    out = [(started, _event(req, ts=started, status="Started", sub_status="", begin=True, properties={}))]
    code = SUB_STATUS.get(resp.status, str(resp.status))
    if resp.status >= 400:
        props = {"statusCode": code, "statusMessage": _error_message(resp.body)}
        out.append((now, _event(req, ts=now, status="Failed", sub_status=code, begin=False, properties=props)))
        return out
    op_id = _operation_of(resp.headers)
    op = app.store.get_operation(db, op_id) if op_id else None
    if op is None:
        out.append((now, _event(req, ts=now, status="Succeeded", sub_status=code, begin=False,
                                properties={"statusCode": code})))
        return out
    out.append((now, _event(req, ts=now, status="Accepted", sub_status=code, begin=False,
                            properties={"statusCode": code})))
    done = max(float(op["done"]), now)
    if op["status"] == "Failed":
        props = {"statusCode": "BadRequest", "statusMessage": _error_message({"error": op["error"] or {}})}
        out.append((done, _event(req, ts=done, status="Failed", sub_status="", begin=False, properties=props)))
    else:
        out.append((done, _event(req, ts=done, status="Succeeded", sub_status="", begin=False,
                                 properties={"statusCode": "OK"})))
    return out


def _deployment_events(app: EmulatorApp, db: sqlite3.Connection, req: Request, now: float
                       ) -> list[tuple[float, dict[str, Any]]]:
    """A template deployment writes its resources as the deployer, under the deployment's correlation id (as ARM
    logs them): one Started and one terminal event per resource it wrote."""
    rec = app.store.get(db, req.target.resource_id, now)
    out: list[tuple[float, dict[str, Any]]] = []
    for op in (rec.body.get("operations") or []) if rec else []:
        target = target_of("PUT", str(op.get("resourceId", "")))
        if target is None:
            continue
        inner = Request(target, "PUT", req.uri, req.caller, req.claims, req.correlation_id, req.client_request_id,
                        str(op.get("operationId") or uuid.uuid4()))
        start, done = float(op.get("start") or now), float(op.get("done") or now)
        failed = op.get("error") is not None or int(op.get("statusCode") or 200) >= 400
        out.append((start, _event(inner, ts=start, status="Started", sub_status="", begin=True, properties={})))
        props = {"statusCode": "BadRequest", "statusMessage": _error_message({"error": op.get("error") or {}})} \
            if failed else {"statusCode": "OK"}
        out.append((done, _event(inner, ts=done, status="Failed" if failed else "Succeeded", sub_status="",
                                 begin=False, properties=props)))
    return out


def record(app: EmulatorApp, method: str, path: str, query_string: str, headers: dict[str, str], resp: Response,
           started: float, base_url: str) -> None:
    """Store the Activity Log events of one answered request (nothing for reads, login, control, or a request
    refused before authentication)."""
    target = target_of(method, path)
    if target is None or resp.status in (401, 429):  # unauthenticated or throttled: ARM never took it up
        return
    caller, claims = caller_of(headers)
    correlation = headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
    client_request_id = headers.get("x-ms-client-request-id") or ""
    uri = f"{base_url}{path}" + (f"?{query_string}" if query_string else "")
    req = Request(target, method, uri, caller, claims, correlation, client_request_id, str(uuid.uuid4()))
    with app.store.write() as db:
        now = app.store.now()
        events = events_for(app, db, req, resp, started, now)
        if target.operation == "Microsoft.Resources/deployments/write" and resp.status < 300:
            events += _deployment_events(app, db, req, now)
        store_events(db, events)
        if events and _purge_due(app):  # Azure keeps 90 days
            db.execute("DELETE FROM activity_log WHERE ts < ?", (now - RETENTION_DAYS * 86400,))


PURGE_EVERY = 100  # writes between two purges of events past the retention (one process's count)


def _purge_due(app: EmulatorApp) -> bool:
    count = getattr(app, "_activity_writes", 0)
    app._activity_writes = count + 1  # type: ignore[attr-defined]
    return count % PURGE_EVERY == 0


def store_events(db: sqlite3.Connection, events: list[tuple[float, dict[str, Any]]]) -> None:
    """Store events (time, event); the filterable properties also in their own lower-cased columns."""
    db.executemany(
        "INSERT INTO activity_log (ts, sub, rg, resource_id, correlation_id, provider, caller, status, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(ts, e["subscriptionId"].lower(), e["resourceGroupName"].lower(), e["resourceId"].lower(),
          e["correlationId"].lower(), e["resourceProviderName"]["value"].lower(), e["caller"].lower(),
          e["status"]["value"].lower(), json.dumps(e, sort_keys=True)) for ts, e in events])


# ---- reading ------------------------------------------------------------------------------------------------
@dataclass
class Query:
    """A parsed ``$filter``: the time span and at most the equality conditions Azure allows."""

    start: float
    end: float | None = None
    start_inclusive: bool = True
    end_inclusive: bool = True
    rg: str | None = None
    resource: str | None = None
    correlation_id: str | None = None
    provider: str | None = None
    caller: str | None = None
    status: str | None = None


def query(db: sqlite3.Connection, sub: str, q: Query, *, now: float, limit: int,
          after: tuple[float, int] | None = None) -> list[tuple[float, int, dict[str, Any]]]:
    """Events of ``sub`` matching ``q``, newest first, up to ``limit``; ``after``: the (time, seq) the previous
    page ended with. Returns (time, seq, event)."""
    sql = ("SELECT ts, seq, body FROM activity_log WHERE sub = ? AND ts <= ? AND ts >= ? "
           f"AND ts {'>=' if q.start_inclusive else '>'} ?")
    args: list[Any] = [sub.lower(), now, now - RETENTION_DAYS * 86400, q.start]
    if q.end is not None:
        sql += f" AND ts {'<=' if q.end_inclusive else '<'} ?"
        args.append(q.end)
    for column, value in (("rg", q.rg), ("correlation_id", q.correlation_id), ("provider", q.provider),
                          ("caller", q.caller), ("status", q.status)):
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value.lower())
    if q.resource is not None:  # the resource and what lies under it (its sharedKey, its subnets)
        rid = q.resource.lower().rstrip("/")
        sql += " AND (resource_id = ? OR substr(resource_id, 1, ?) = ?)"
        args += [rid, len(rid) + 1, rid + "/"]
    if after is not None:
        sql += " AND (ts < ? OR (ts = ? AND seq < ?))"
        args += [after[0], after[0], after[1]]
    sql += " ORDER BY ts DESC, seq DESC LIMIT ?"
    args.append(limit)
    return [(ts, seq, json.loads(body)) for ts, seq, body in db.execute(sql, args).fetchall()]


def page_size(db: sqlite3.Connection, store: Any) -> int:
    raw = store.get_setting(db, PAGE_SIZE_SETTING)
    return int(raw) if raw else DEFAULT_PAGE_SIZE
