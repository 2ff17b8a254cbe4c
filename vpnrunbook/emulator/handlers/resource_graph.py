"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources`` for the query shapes vpnrunbook sends.

Resource Graph takes a KQL text and a list of subscriptions. The emulator does not interpret KQL: it serves
exactly the shapes in :data:`SERVED_QUERIES` (whitespace-insensitive) — the ones ``vpnrunbook.fleet.resource_graph``
sends — over the emulated subscriptions' stored resources. Any other query is answered with Azure's envelope for
a query it cannot run (400 ``BadRequest`` with an ``InvalidQuery`` detail).

Body (``QueryRequest``): ``{"subscriptions": [...], "query": "...", "options": {"$top": n, "$skipToken": "...",
"resultFormat": "objectArray"}}``. Answer (``QueryResponse``): ``{"totalRecords", "count", "resultTruncated":
"false", "data": [...], "$skipToken"?}``; ``$top`` 1..1000 (default 100), a page per request, ``$skipToken``
opaque. Rows are what Azure's index holds: ``type`` lower-cased, ``resourceGroup`` lower-cased,
``subscriptionId``, and ``properties`` as a GET of the resource answers them.

Access: a subscription listed by ``POST /_emulator/resource-graph {"denied_subscriptions": [...]}`` (simulated
RBAC: the principal may not read that subscription through Resource Graph) makes a query that includes it answer
403 ``AuthorizationFailed``, as Azure does when Resource Graph is not permitted there.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import connections
from vpnrunbook.emulator.models import Ctx, RawJson, Response

API_VERSIONS = ("2019-04-01", "2021-03-01", "2022-10-01", "2024-04-01")  # azure-mgmt-resourcegraph 8.0.1: 2021-03-01
DEFAULT_TOP = 100
MAX_TOP = 1000
MAX_SUBSCRIPTIONS = 1000
DENIED_SETTING = "resource_graph_denied"
GRAPH_ACTION = "Microsoft.ResourceGraph/resources/read"

# The served shapes, written out here on purpose (not imported from the reader): a change to the reader's query
# that the emulator does not implement is refused, and tests/fleet/test_resource_graph.py says so.
CONNECTIONS_WITH_GATEWAYS = """
resources
| where type =~ 'microsoft.network/connections'
| extend gatewayId = tolower(tostring(properties.virtualNetworkGateway1.id))
| join kind=leftouter (
    resources
    | where type =~ 'microsoft.network/virtualnetworkgateways'
    | project gatewayId = tolower(id), gatewayName = name, gatewaySku = tostring(properties.sku.name)
  ) on gatewayId
| project id, name, subscriptionId, resourceGroup, location, properties, gatewayName, gatewaySku
| order by id asc
"""


def normalize_query(text: str) -> str:
    """KQL with its whitespace collapsed (the only difference between two texts of one shape we accept)."""
    return re.sub(r"\s+", " ", text).strip()


# ---- the shapes ----------------------------------------------------------------------------------------
# Resource Graph is an index: rows are rendered when a resource (or what its row shows of another) changed, not
# for every query. A connection's row is kept rendered with the fingerprint of what it was rendered from: its
# ETag and operation, and those of the one other resource its status comes from (a site-to-site connection's
# local network gateway, a connected VNet-to-VNet connection's other direction). A kept row is sent as it was
# serialized.
INDEX_TABLE = ("CREATE TABLE IF NOT EXISTS graph_index (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
               "dependency TEXT NOT NULL, gateway TEXT NOT NULL, row TEXT NOT NULL)")


def page_sql(subscriptions: int, visible: str) -> str:
    """A page in id order after an id (keyset: the store's (type, id) index, no sort of every row), with what the
    index keeps of each row."""
    marks = ",".join("?" * subscriptions)
    return ("SELECT r.key, r.id, r.etag, r.op_kind, r.op_done, g.fingerprint, g.dependency, g.gateway, g.row "
            "FROM resources r INDEXED BY resources_type_id LEFT JOIN graph_index g ON g.key = r.key "
            f"WHERE r.type = ? AND r.id > ? AND r.sub IN ({marks}) AND {visible} ORDER BY r.id LIMIT ?")


def _fingerprint(etag: Any, op_kind: Any, op_done: Any) -> str:
    return f"{etag}|{op_kind or ''}|{op_done or ''}"


def _connections_with_gateways(ctx: Ctx, subs: list[str], after: str | None,
                               top: int) -> tuple[list[str], str | None]:
    """One page: the rows (JSON texts) of the connections after id ``after`` in id order, read by the store's
    index (a page costs its own rows, whatever its position), each joined with its gateway; and the last id."""
    db = ctx.db
    db.execute(INDEX_TABLE)
    listed = db.execute(page_sql(len(subs), ctx.store._VISIBLE),
                        (connections.KIND.arm_type.lower(), after or "", *subs, ctx.now, top)).fetchall()
    if not listed:
        return [], None
    deps = [row[6] for row in listed if row[8] is not None and row[6]]
    now_of: dict[str, str] = {}
    for start in range(0, len(deps), 500):
        chunk = deps[start:start + 500]
        for key, etag, op_kind, op_done in db.execute(
                f"SELECT key, etag, op_kind, op_done FROM resources WHERE key IN ({','.join('?' * len(chunk))}) "
                f"AND {ctx.store._VISIBLE}", (*chunk, ctx.now)).fetchall():
            now_of[key] = _fingerprint(etag, op_kind, op_done)
    texts: dict[str, tuple[str, str]] = {}   # key → (row without the gateway, gateway key)
    stale: list[str] = []
    for key, _id, etag, op_kind, op_done, fingerprint, dependency, gateway, row in listed:
        kept = row is not None and fingerprint == _fingerprint(etag, op_kind, op_done) + "#" + (
            now_of.get(dependency, "-") if dependency else "")
        if kept:
            texts[key] = (row, gateway)
        else:
            stale.append(key)
    if stale:
        texts.update(_render(ctx, stale))
    gateways = ctx.store.get_many(db, sorted({gw for _row, gw in texts.values() if gw}), ctx.now)
    in_scope = set(subs)
    out = []
    for key, *_rest in listed:
        text, gw_key = texts[key]
        gw = gateways.get(gw_key)
        name, sku = (gw.name, ((gw.body.get("properties") or {}).get("sku") or {}).get("name")) \
            if gw is not None and gw.sub in in_scope else (None, None)   # a join within the query's subscriptions
        out.append(f'{text[:-1]}, "gatewayName": {json.dumps(name)}, "gatewaySku": {json.dumps(sku)}}}')
    return out, listed[-1][1]


def _render(ctx: Ctx, keys: list[str]) -> dict[str, tuple[str, str]]:
    """Render the rows of ``keys`` (without their gateway); keep the site-to-site ones whose operation ended."""
    records = ctx.store.get_many(ctx.db, keys, ctx.now)
    refs = [fold(str((r.body.get("properties", {}).get("localNetworkGateway2") or {}).get("id") or ""))
            for r in records.values()]
    known = ctx.store.get_many(ctx.db, refs, ctx.now)
    page_ctx = _with_records(ctx, known)
    out: dict[str, tuple[str, str]] = {}
    for key in keys:
        rec = records[key]
        props = connections.render_properties(page_ctx, rec)
        gw_key = fold(str((props.get("virtualNetworkGateway1") or {}).get("id") or ""))
        text = json.dumps({"id": rec.id, "name": rec.name, "subscriptionId": rec.sub,
                           "resourceGroup": rec.rg.lower(), "location": rec.location, "properties": props})
        out[key] = (text, gw_key)
        if rec.in_progress(ctx.now) or rec.op_kind == "delete":
            continue   # its state changes with the clock: rendered again next time
        if props.get("connectionType") == "Vnet2Vnet":
            # Connected through the other direction found (same key, policy, Succeeded): the row holds while
            # neither changes. NotConnected: any new connection could change it, so it is not kept.
            other = connections.reverse_connection(page_ctx, rec) if props.get("connectionStatus") == "Connected" \
                else None
            if other is None:
                continue
            dep_key, dep = other.key, other
        else:
            dep_key = fold(str((props.get("localNetworkGateway2") or {}).get("id") or ""))
            dep = known.get(dep_key)
        fingerprint = _fingerprint(rec.etag, rec.op_kind, rec.op_done) + "#" + (
            (_fingerprint(dep.etag, dep.op_kind, dep.op_done) if dep is not None else "-") if dep_key else "")
        ctx.db.execute("INSERT OR REPLACE INTO graph_index (key, fingerprint, dependency, gateway, row) "
                       "VALUES (?, ?, ?, ?, ?)", (key, fingerprint, dep_key, gw_key, text))
    return out


def _with_records(ctx: Ctx, known: dict[str, Any]) -> Ctx:
    """``ctx`` whose ``get`` answers from ``known`` (records read for this page, same transaction) first."""
    read = ctx.get

    def get(key: str) -> Any:
        found = known.get(fold(key))
        return found if found is not None else read(key)

    page_ctx = dataclasses.replace(ctx)
    page_ctx.get = get  # type: ignore[method-assign]
    return page_ctx


def _count_connections(ctx: Ctx, subs: list[str]) -> int:
    return ctx.store.count_in(ctx.db, ctx.now, subs=subs, type=connections.KIND.arm_type)


# shape → (one page after an id, the total count)
SERVED_QUERIES: dict[str, tuple[Callable[[Ctx, list[str], str | None, int], tuple[list[str], str | None]],
                                Callable[[Ctx, list[str]], int]]] = {
    normalize_query(CONNECTIONS_WITH_GATEWAYS): (_connections_with_gateways, _count_connections),
}


# ---- errors ----------------------------------------------------------------------------------------------
def _invalid(message: str, detail_code: str = "InvalidQuery") -> errors.ArmError:
    return errors.ArmError(
        "Please provide below info when asking for support: the query could not be run by Azure Resource Graph "
        "(vpnrunbook emulator).", code="BadRequest",
        details=[{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the "
                                                     "Azure Resource Graph service and fix the error before retrying."},
                 {"code": detail_code, "message": message}])


def _bad_request(message: str) -> errors.ArmError:
    return errors.ArmError(message, code="BadRequest", details=[{"code": "InvalidRequestContent", "message": message}])


def _digest(query: str, subs: list[str]) -> str:
    return hashlib.sha256((normalize_query(query) + "|" + ",".join(subs)).encode()).hexdigest()[:16]


def _token(query: str, subs: list[str], offset: int, after: str, total: int) -> str:
    """Opaque to the client: the page's position (rows before it, the last id sent) and the query's total."""
    data = {"o": offset, "a": after, "t": total, "q": _digest(query, subs)}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _position(token: str, query: str, subs: list[str]) -> tuple[int, str, int]:
    """(offset, last id sent, total) of a ``$skipToken`` made by :func:`_token` for this query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, after, total, digest = int(data["o"]), str(data["a"]), int(data["t"]), str(data["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad_request(f"The $skipToken '{token[:40]}' is invalid ({type(exc).__name__}).") from None
    if digest != _digest(query, subs):
        raise _bad_request("The $skipToken does not belong to this query and these subscriptions; "
                           "send the same query and subscriptions as for the first page.")
    return offset, after, total


# ---- the endpoint ----------------------------------------------------------------------------------------
def query_resources(ctx: Ctx) -> Response:
    version = ctx.api_version
    if not version:
        raise errors.MissingApiVersionParameter(
            "The api-version query parameter (?api-version=) is required for all requests. Supported api-versions "
            f"for Microsoft.ResourceGraph: {', '.join(API_VERSIONS)}.")
    if version not in API_VERSIONS:
        raise errors.NoRegisteredProviderFound(
            f"No registered resource provider found for API version '{version}' of Microsoft.ResourceGraph. "
            f"The supported api-versions are '{', '.join(API_VERSIONS)}'.")
    body = ctx.json()
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise _bad_request("The request must contain a query (a KQL text).")
    subs = body.get("subscriptions")
    if body.get("managementGroups"):
        raise _invalid("Management group scopes are not served by the vpnrunbook emulator; list subscriptions.",
                       "UnsupportedScope")
    if not isinstance(subs, list) or not subs or not all(isinstance(s, str) and s for s in subs):
        raise _bad_request("subscriptions must be a non-empty list of subscription ids.")
    if len(subs) > MAX_SUBSCRIPTIONS:
        raise _bad_request(f"At most {MAX_SUBSCRIPTIONS} subscriptions per request; {len(subs)} were given.")
    subs = sorted({s.lower() for s in subs})
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise _bad_request("options must be a JSON object.")
    top = options.get("$top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise _bad_request(f"$top={top!r} is not allowed; allowed: an integer from 1 to {MAX_TOP}.")
    fmt = options.get("resultFormat", "objectArray")
    if fmt != "objectArray":
        raise _bad_request(f"resultFormat {fmt!r} is not served by the vpnrunbook emulator; allowed: objectArray.")
    served = SERVED_QUERIES.get(normalize_query(query))
    if served is None:
        raise _invalid(f"The vpnrunbook emulator serves only the Resource Graph query shapes vpnrunbook sends "
                       f"({len(SERVED_QUERIES)}); this one is not among them: {normalize_query(query)[:200]!r}.",
                       "UnsupportedQueryShape")
    denied = set(json.loads(ctx.store.get_setting(ctx.db, DENIED_SETTING) or "[]"))
    blocked = [s for s in subs if s in denied]
    if blocked:
        raise errors.ArmError(
            f"The client does not have authorization to perform action '{GRAPH_ACTION}' over scope "
            f"'/subscriptions/{blocked[0]}' or the scope is invalid.", code="AuthorizationFailed", status=403)
    page_of, count_of = served
    skip = options.get("$skipToken")
    if skip:
        start, after, total = _position(skip, query, subs)
        page, last = page_of(ctx, subs, after, top)
    else:
        start, total = int(options.get("$skip") or 0), count_of(ctx, subs)
        page, last = page_of(ctx, subs, None, start + top)
        page = page[start:]
    # the rows are JSON texts already (kept in the index): the answer is written around them
    text = (f'{{"totalRecords": {total}, "count": {len(page)}, "resultTruncated": "false", '
            f'"data": [{", ".join(page)}], "facets": []')
    if page and last and start + len(page) < total:
        text += f', "$skipToken": {json.dumps(_token(query, subs, start + len(page), last, total))}'
    return Response(200, RawJson((text + "}").encode("utf-8")))


# ---- the control API: simulated Resource Graph access -------------------------------------------------------
def control(store: Any, db: Any, method: str, body: dict[str, Any]) -> Response:
    """``GET|POST /_emulator/resource-graph`` ``{"denied_subscriptions": [...]}``."""
    if method == "POST":
        denied = body.get("denied_subscriptions")
        if not isinstance(denied, list) or not all(isinstance(s, str) for s in denied):
            raise errors.ArmError(f"denied_subscriptions: {denied!r} is not allowed; allowed: a list of "
                                  "subscription ids", code="InvalidControlRequest")
        store.set_setting(db, DENIED_SETTING, json.dumps(sorted({s.lower() for s in denied})) if denied else None)
    return Response(200, {"denied_subscriptions": json.loads(store.get_setting(db, DENIED_SETTING) or "[]")})
