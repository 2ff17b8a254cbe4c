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
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import connections
from vpnrunbook.emulator.models import Ctx, Response

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
def _connections_with_gateways(ctx: Ctx, subs: list[str], start: int, top: int) -> tuple[int, list[dict[str, Any]]]:
    """(total rows, the rows of one page): ids are ordered in SQL, only the page's resources are rendered."""
    marks = ",".join("?" * len(subs))
    visible = ctx.store._VISIBLE
    ids = ctx.db.execute(f"SELECT key FROM resources WHERE sub IN ({marks}) AND type = ? AND {visible} ORDER BY id",
                         (*subs, connections.KIND.arm_type.lower(), ctx.now)).fetchall()
    rows: list[dict[str, Any]] = []
    gws: dict[str, Any] = {}
    in_scope = set(subs)
    for (key,) in ids[start:start + top]:
        rec = ctx.get(key)
        if rec is None:
            continue
        props = connections.render_properties(ctx, rec)
        gw_id = fold(str((props.get("virtualNetworkGateway1") or {}).get("id") or ""))
        if gw_id not in gws:   # a join within the query's subscriptions only
            gw = ctx.get(gw_id)
            gws[gw_id] = (gw.name, ((gw.body.get("properties") or {}).get("sku") or {}).get("name")) \
                if gw is not None and gw.sub in in_scope else (None, None)
        gw_name, gw_sku = gws[gw_id]
        rows.append({"id": rec.id, "name": rec.name, "subscriptionId": rec.sub, "resourceGroup": rec.rg.lower(),
                     "location": rec.location, "properties": props, "gatewayName": gw_name, "gatewaySku": gw_sku})
    return len(ids), rows


SERVED_QUERIES: dict[str, Callable[[Ctx, list[str], int, int], tuple[int, list[dict[str, Any]]]]] = {
    normalize_query(CONNECTIONS_WITH_GATEWAYS): _connections_with_gateways,
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


def _token(query: str, subs: list[str], offset: int) -> str:
    digest = hashlib.sha256((normalize_query(query) + "|" + ",".join(subs)).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": digest}).encode()).decode().rstrip("=")


def _offset(token: str, query: str, subs: list[str]) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad_request(f"The $skipToken '{token[:40]}' is invalid ({type(exc).__name__}).") from None
    if _token(query, subs, offset) != token:
        raise _bad_request("The $skipToken does not belong to this query and these subscriptions; "
                           "send the same query and subscriptions as for the first page.")
    return offset


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
    run = SERVED_QUERIES.get(normalize_query(query))
    if run is None:
        raise _invalid(f"The vpnrunbook emulator serves only the Resource Graph query shapes vpnrunbook sends "
                       f"({len(SERVED_QUERIES)}); this one is not among them: {normalize_query(query)[:200]!r}.",
                       "UnsupportedQueryShape")
    denied = set(json.loads(ctx.store.get_setting(ctx.db, DENIED_SETTING) or "[]"))
    blocked = [s for s in subs if s in denied]
    if blocked:
        raise errors.ArmError(
            f"The client does not have authorization to perform action '{GRAPH_ACTION}' over scope "
            f"'/subscriptions/{blocked[0]}' or the scope is invalid.", code="AuthorizationFailed", status=403)
    skip = options.get("$skipToken")
    start = _offset(skip, query, subs) if skip else int(options.get("$skip") or 0)
    total, page = run(ctx, subs, start, top)
    out: dict[str, Any] = {"totalRecords": total, "count": len(page), "resultTruncated": "false",
                           "data": page, "facets": []}
    if start + top < total:
        out["$skipToken"] = _token(query, subs, start + top)
    return Response(200, out)


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
