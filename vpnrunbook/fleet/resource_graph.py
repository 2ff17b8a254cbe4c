"""Fleet audit through Azure Resource Graph: one paged query over every subscription the credential sees.

``audit_resource_graph(session)`` lists the subscriptions (``GET /subscriptions``), then sends
:data:`CONNECTIONS_QUERY` — every VPN connection joined with its gateway — through ``azure-mgmt-resourcegraph``'s
``ResourceGraphClient.resources``, :data:`PAGE_SIZE` rows a page (``$skipToken``), at most
:data:`SUBSCRIPTIONS_PER_QUERY` subscriptions a request. Where Resource Graph is not permitted (403: the
principal may read the resources but not query the index there, or the provider is blocked) the subscriptions
that answer 403 are found one by one and only they are read with the per-resource-group list calls of
:func:`vpnrunbook.fleet.audit.audit_fleet`. Rows are built by the same :func:`connection_row` as the list
audit, so both give the same table (:data:`vpnrunbook.fleet.audit.COLUMNS`).

The query text is fixed (the emulator serves exactly this shape, see
``vpnrunbook/emulator/handlers/resource_graph.py``); Resource Graph's own quota is 15 queries per 5 seconds
per principal (https://learn.microsoft.com/en-us/azure/governance/resource-graph/concepts/guidance-for-throttled-requests),
far above what one audit sends (1 + pages), and the SDK's retry policy honours its 429 + Retry-After.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError

from vpnrunbook.fleet.audit import (
    COLUMNS,
    FleetAudit,
    _get_gateway,
    _message,
    _request_count,
    _session_for,
    audit_fleet,
    connection_row,
    retry_options,
)

PAGE_SIZE = 1000                 # Resource Graph's maximum $top
SUBSCRIPTIONS_PER_QUERY = 1000   # subscriptions per query request
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
SKIPPED_STATES = ("Disabled", "Deleted")
CONNECTIONS_QUERY = """
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


class GraphNotPermitted(Exception):  # noqa: N818 - a condition, handled by falling back
    """Resource Graph answered 403 for a set of subscriptions."""


@dataclass
class GraphAudit(FleetAudit):
    """A :class:`FleetAudit` read through Resource Graph: which subscriptions came from the index, which fell
    back to list calls (Resource Graph not permitted there), and how many query requests were sent."""

    graph_subscriptions: list[str] = field(default_factory=list)
    fallback_subscriptions: list[str] = field(default_factory=list)
    graph_requests: int = 0

    def summary(self) -> str:
        text = super().summary()
        via = f"via Resource Graph ({len(self.graph_subscriptions)} subscription(s), {self.graph_requests} queries)"
        if self.fallback_subscriptions:
            via += f"; list calls where Resource Graph is not permitted: {', '.join(self.fallback_subscriptions)}"
        return f"{text}; {via}"

    def to_record(self) -> dict[str, Any]:
        return {**super().to_record(), "source": "resource graph",
                "graph_subscriptions": list(self.graph_subscriptions),
                "fallback_subscriptions": list(self.fallback_subscriptions), "graph_requests": self.graph_requests}


def _client_kwargs(session: Any) -> dict[str, Any]:
    """Same transport (in-process emulator) or the served emulator's CA; nothing extra for Azure."""
    if getattr(session, "transport", None) is not None:
        return {"transport": session.transport}
    if session.target == "emulator":
        state = Path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook")
        return {"connection_verify": os.environ.get("VPNRUNBOOK_EMULATOR_CA") or str(state / "emulator-ca.pem")}
    return {}


def graph_client(session: Any) -> Any:
    """A ``ResourceGraphClient`` with the session's credential and target (no subscription: the query names them)."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    return ResourceGraphClient(session.credential, base_url=session.base_url, **_client_kwargs(session))


def list_subscriptions(session: Any) -> list[str]:
    """Every subscription the credential sees (``GET /subscriptions``, paged), without disabled/deleted ones."""
    from azure.core.rest import HttpRequest

    url: str | None = f"/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
    subs: list[str] = []
    while url:
        response = session.resources.send_request(HttpRequest("GET", url), **retry_options())
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        page = response.json() or {}
        subs += [s["subscriptionId"] for s in page.get("value") or []
                 if s.get("subscriptionId") and s.get("state") not in SKIPPED_STATES]
        url = page.get("nextLink")
    return subs


def iter_query_pages(client: Any, subscriptions: Sequence[str], query: str = CONNECTIONS_QUERY, *,
                     page_size: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``query`` over ``subscriptions``, one page (``page_size`` rows, default :data:`PAGE_SIZE`) at a
    time, so a caller keeps what it needs of a page and not every row of a large estate. 403 → GraphNotPermitted.

    The request is the SDK's own (``QueryRequest`` serialized by the package, the ``resources`` operation's URL and
    api-version, through the client's pipeline: authentication, retries); the answer is read as JSON, without
    the SDK walking every row into its model (which costs more than the query for large estates)."""
    from azure.core.rest import HttpRequest
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    page_size = page_size or PAGE_SIZE
    url = f"/providers/Microsoft.ResourceGraph/resources?api-version={client._config.api_version}"
    # 8.0.1 names it _send_request (other generated clients: send_request): the client's own pipeline either way
    send = getattr(client, "send_request", None) or client._send_request
    token: str | None = None
    while True:
        body = QueryRequest(subscriptions=list(subscriptions), query=query,
                            options=QueryRequestOptions(top=page_size, skip_token=token,
                                                        result_format="objectArray")).serialize()
        # streamed, then read and parsed once here (not also by the pipeline's ContentDecodePolicy)
        response = send(HttpRequest("POST", url, json=body), stream=True, **retry_options())
        data = response.read()
        if response.status_code == 403:
            raise GraphNotPermitted(_message(HttpResponseError(response=response)))
        if response.status_code != 200:
            raise _graph_error(response)
        page = json.loads(data) if data else {}
        token = page.get("$skipToken")
        yield list(page.get("data") or [])
        if not token:
            return


def query_pages(client: Any, subscriptions: Sequence[str], query: str = CONNECTIONS_QUERY, *,
                page_size: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """All rows of ``query`` over ``subscriptions`` (:func:`iter_query_pages`); (rows, requests)."""
    rows: list[dict[str, Any]] = []
    requests = 0
    for page in iter_query_pages(client, subscriptions, query, page_size=page_size):
        requests += 1
        rows += page
    return rows, requests


def _kept_pages(client: Any, subscriptions: Sequence[str], keep: Callable[[dict[str, Any]], Any]
                ) -> tuple[list[Any], int]:
    """``keep(row)`` for every row, page by page (a page's raw rows are dropped once kept); (kept, requests)."""
    kept: list[Any] = []
    requests = 0
    for page in iter_query_pages(client, subscriptions):
        requests += 1
        kept += [keep(row) for row in page]
    return kept, requests


def _graph_error(response: Any) -> HttpResponseError:
    """The error the SDK's operation raises for this answer (ARM error model: code, message, details)."""
    from azure.mgmt.core.exceptions import ARMErrorFormat

    return HttpResponseError(response=response, error_format=ARMErrorFormat)


def _query_permitted(client: Any, subs: list[str], errors: list[tuple[str, str]],
                     keep: Callable[[dict[str, Any]], Any] = dict) -> tuple[list[Any], list[str], list[str], int]:
    """(``keep(row)`` of every row, subscriptions read, subscriptions where Resource Graph is not permitted,
    requests)."""
    rows: list[Any] = []
    read: list[str] = []
    denied: list[str] = []
    requests = 0
    for start in range(0, len(subs), SUBSCRIPTIONS_PER_QUERY):
        batch = subs[start:start + SUBSCRIPTIONS_PER_QUERY]
        try:
            got, n = _kept_pages(client, batch, keep)
            requests += n
            rows += got
            read += batch
            continue
        except GraphNotPermitted:
            requests += 1
        except HttpResponseError as exc:
            requests += 1
            errors += [(f"subscription {s}", f"Resource Graph: {_message(exc)}") for s in batch]
            continue
        if len(batch) == 1:
            denied += batch
            continue
        for sub in batch:   # which of them refuse: only those fall back
            try:
                got, n = _kept_pages(client, [sub], keep)
                requests += n
                rows += got
                read.append(sub)
            except GraphNotPermitted:
                requests += 1
                denied.append(sub)
            except HttpResponseError as exc:
                requests += 1
                errors.append((f"subscription {sub}", f"Resource Graph: {_message(exc)}"))
    return rows, read, denied, requests


def _as_connection(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A query row as the connection's REST dict and its gateway's (name and SKU: what the audit reads of it)."""
    conn = {"id": row.get("id"), "name": row.get("name"), "location": row.get("location"),
            "properties": row.get("properties") or {}}
    gateway = None
    if row.get("gatewayName") is not None:
        gateway = {"name": row.get("gatewayName"), "properties": {"sku": {"name": row.get("gatewaySku")}}}
    return conn, gateway


def audit_resource_graph(session: Any, *, subscriptions: Sequence[str] | None = None,
                         max_workers: int = 8) -> GraphAudit:
    """Audit every connection of ``subscriptions`` (default: all the credential sees) through Resource Graph;
    list calls only for the subscriptions where Resource Graph answers 403. ``max_workers`` bounds the list
    audit of those."""
    import pandas as pd

    if isinstance(subscriptions, str):
        subscriptions = [subscriptions]
    started = time.perf_counter()
    sessions = [session]
    before = _request_count(sessions)
    errors: list[tuple[str, str]] = []
    subs = list(subscriptions) if subscriptions is not None else list_subscriptions(session)
    client = graph_client(session)

    def keep(row: dict[str, Any]) -> dict[str, Any]:
        """A query row as the audit's table row (what the audit keeps of it, page by page)."""
        conn, gateway = _as_connection(row)
        if gateway is None:   # its gateway is outside the queried subscriptions: read it once
            gw_id = str((conn["properties"].get("virtualNetworkGateway1") or {}).get("id") or "")
            gw_sub = gw_id.split("/")[2] if gw_id.count("/") > 2 else session.subscription_id
            gateway = _get_gateway(_session_for(session, gw_sub), gw_id) if gw_id else None
        return connection_row(conn, gateway, subscription=str(row.get("subscriptionId") or ""))

    built, read, denied, graph_requests = _query_permitted(client, subs, errors, keep)
    frame = pd.DataFrame(built, columns=list(COLUMNS))
    groups = set(frame["resource_group"]) if len(frame) else set()
    if denied:
        fallback = audit_fleet(session, subscriptions=denied, max_workers=max_workers)
        errors += fallback.errors
        groups |= set(fallback.resource_groups)
        frame = pd.concat([frame, fallback.frame], ignore_index=True) if len(frame) else fallback.frame
    frame = frame.sort_values(["subscription", "resource_group", "connection"], kind="stable").reset_index(drop=True)
    after = _request_count(sessions)
    requests = None if before is None or after is None else after - before   # in-process: every request
    return GraphAudit(frame, errors, time.perf_counter() - started, sorted(groups, key=str.lower), subs, requests,
                      graph_subscriptions=read, fallback_subscriptions=denied, graph_requests=graph_requests)


__all__ = ["CONNECTIONS_QUERY", "GraphAudit", "audit_resource_graph", "graph_client", "iter_query_pages",
           "list_subscriptions", "query_pages"]
