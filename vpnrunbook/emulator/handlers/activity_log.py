"""``GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values`` — the Activity Log.

Answers as Azure Monitor does (api-version 2015-04-01): ``$filter`` is required and must hold the start of the
time span (``eventTimestamp ge '…'``); it may add its end (``eventTimestamp le '…'``) and one of
``resourceGroupName``, ``resourceUri`` (also spelled ``resourceId``, as the Azure CLI sends it), ``correlationId``,
``resourceProvider``, then ``caller`` and ``status`` — all ``eq``, joined by ``and``. Times are ISO 8601, quoted or
not; one without a zone is UTC (the Azure CLI sends ``datetime.utcnow().isoformat()``). ``$select`` keeps only the
named properties. Events come newest first, :data:`activity_log.DEFAULT_PAGE_SIZE` a page, with ``nextLink``.
``resourceUri`` also matches what lies under the resource (a connection's ``sharedKey``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from vpnrunbook.emulator import activity_log, errors
from vpnrunbook.emulator.models import Ctx, Response

API_VERSION = "2015-04-01"
SELECTABLE = ("authorization", "caller", "category", "channels", "claims", "correlationId", "description",
              "eventDataId", "eventName", "eventTimestamp", "httpRequest", "id", "level", "operationId",
              "operationName", "properties", "resourceGroupName", "resourceProviderName", "resourceId",
              "resourceType", "status", "submissionTimestamp", "subStatus", "subscriptionId", "tenantId")
FIELDS = {"eventtimestamp": "eventTimestamp", "resourcegroupname": "rg", "resourceuri": "resource",
          "resourceid": "resource", "correlationid": "correlation_id", "resourceprovider": "provider",
          "caller": "caller", "status": "status"}
FILTER_HELP = ("eventTimestamp ge '2026-01-01T00:00:00Z' [and eventTimestamp le '…'] [and resourceGroupName eq "
               "'…' | resourceUri eq '…' | correlationId eq '…' | resourceProvider eq '…'] [and caller eq '…'] "
               "[and status eq '…']")
_CONDITION = re.compile(r"\s*(?P<field>[A-Za-z]+)\s+(?P<op>eq|ge|gt|le|lt)\s+"
                        r"(?P<value>'(?:[^']|'')*'|[^\s']+)\s*", re.IGNORECASE)


def _bad_filter(message: str) -> errors.ArmError:
    return errors.ArmError(f"The $filter is not valid: {message}. Allowed: {FILTER_HELP}.", code="BadRequest")


def parse_time(value: str) -> float:
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    m = re.fullmatch(r"(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)", text)
    if m:  # .NET's seven fractional digits: Python takes at most six
        text = f"{m.group(1)}.{m.group(2)[:6]}{m.group(3)}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_filter(f"{value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_filter(text: str) -> activity_log.Query:
    if not text.strip():
        raise _bad_filter("it is required and must give the start time (eventTimestamp ge)")
    parts = re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE)
    start: tuple[float, bool] | None = None
    end: tuple[float, bool] | None = None
    equal: dict[str, str] = {}
    for part in parts:
        m = _CONDITION.fullmatch(part)
        if m is None:
            raise _bad_filter(f"cannot read {part.strip()!r}")
        field, op = FIELDS.get(m["field"].lower()), m["op"].lower()
        value = m["value"]
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        if field is None:
            raise _bad_filter(f"{m['field']!r} cannot be filtered on")
        if field == "eventTimestamp":
            if op in ("ge", "gt"):
                start = (parse_time(value), op == "ge")
            elif op in ("le", "lt"):
                end = (parse_time(value), op == "le")
            else:
                raise _bad_filter("eventTimestamp takes ge/gt and le/lt")
            continue
        if op != "eq":
            raise _bad_filter(f"{m['field']} takes eq only")
        if field in equal:
            raise _bad_filter(f"{m['field']} is given twice")
        equal[field] = value
    if start is None:
        raise _bad_filter("the start of the time span (eventTimestamp ge '…') is required")
    scopes = [f for f in ("rg", "resource", "correlation_id", "provider") if f in equal]
    if len(scopes) > 1:
        raise _bad_filter("give at most one of resourceGroupName, resourceUri, correlationId, resourceProvider")
    q = activity_log.Query(start=start[0], start_inclusive=start[1], **equal)
    if end is not None:
        q.end, q.end_inclusive = end
    return q


def parse_select(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    by_lower = {s.lower(): s for s in SELECTABLE}
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise errors.ArmError(f"The $select names {', '.join(repr(n) for n in unknown)}, which events do not have. "
                              f"Allowed: {', '.join(SELECTABLE)}.", code="BadRequest")
    return [by_lower[n.lower()] for n in names]


def list_events(ctx: Ctx) -> Response:
    version = ctx.query.get("api-version")
    if version != API_VERSION:
        if not version:
            raise errors.MissingApiVersionParameter(
                f"The api-version query parameter (?api-version=) is required for all requests. Supported "
                f"api-versions for Microsoft.Insights/eventtypes: {API_VERSION}.")
        raise errors.NoRegisteredProviderFound(
            f"No registered resource provider found for API version '{version}' of Microsoft.Insights/eventtypes. "
            f"The supported api-versions are '{API_VERSION}'.")
    q = parse_filter(ctx.query.get("$filter", ""))
    select = parse_select(ctx.query.get("$select"))
    after = None
    token = ctx.query.get("$skiptoken")
    if token:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)_(\d+)", token)
        if m is None:
            raise errors.ArmError(f"The $skiptoken {token!r} is not one this service gave.", code="BadRequest")
        after = (float(m.group(1)), int(m.group(2)))
    size = activity_log.page_size(ctx.db, ctx.store)
    rows = activity_log.query(ctx.db, ctx.sub, q, now=ctx.now, limit=size + 1, after=after)
    events = [e for _, _, e in rows[:size]]
    if select is not None:
        events = [{k: e[k] for k in select if k in e} for e in events]
    body: dict[str, Any] = {"value": events}
    if len(rows) > size:
        ts, seq, _ = rows[size - 1]
        params = {"api-version": API_VERSION, "$filter": ctx.query.get("$filter", "")}
        if ctx.query.get("$select"):
            params["$select"] = ctx.query["$select"]
        params["$skiptoken"] = f"{ts!r}_{seq}"
        body["nextLink"] = f"{ctx.base_url}{ctx.path}?{urlencode(params, quote_via=quote)}"
    return Response(200, body)
