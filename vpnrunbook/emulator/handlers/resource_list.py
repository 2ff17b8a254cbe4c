"""Generic resource lists: ``GET /subscriptions/{s}/resources`` and ``GET …/resourceGroups/{rg}/resources``.

ARM's ``$filter`` grammar for these lists (Resources_List / Resources_ListByResourceGroup): clauses joined by
``and``, each ``field eq 'value'``, ``startswith(field, 'value')`` or ``substringof('value', field)``, over
``resourceType``, ``name``, ``resourceGroup``, ``location``, ``tagName`` and ``tagValue`` (keywords
case-insensitive, as the Azure CLI writes ``tagname``). ``tagName``/``tagValue`` together select resources
carrying that tag with that value. ``$top`` caps a page; ``nextLink`` carries ``$skiptoken`` (and the filter) on.
The Azure CLI's ``az resource list -g RG --resource-type T --tag k=v -n N`` sends exactly these clauses to the
subscription-wide list (``resourceGroup eq 'RG'``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import common
from vpnrunbook.emulator.models import Ctx, Response, parse_id

FIELDS = {"resourcetype": "resourceType", "name": "name", "resourcegroup": "resourceGroup", "location": "location",
          "tagname": "tagName", "tagvalue": "tagValue"}
TOP_MAX = 1000
_QUOTED = r"'((?:[^']|'')*)'"
_CLAUSES = (
    ("eq", re.compile(r"^\s*(\w+)\s+eq\s+" + _QUOTED + r"\s*$", re.IGNORECASE)),
    ("startswith", re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*" + _QUOTED + r"\s*\)\s*$", re.IGNORECASE)),
    ("substringof", re.compile(r"^\s*substringof\(\s*" + _QUOTED + r"\s*,\s*(\w+)\s*\)\s*$", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Clause:
    op: str  # eq | startswith | substringof
    field: str  # canonical name, e.g. resourceType
    value: str


def _invalid(text: str, why: str) -> errors.ArmError:
    return errors.ArmError(f"Invalid $filter '{text}': {why}. Allowed: clauses joined by 'and', each "
                           "\"field eq 'value'\", \"startswith(field, 'value')\" or \"substringof('value', field)\", "
                           f"over {', '.join(FIELDS.values())}.", code="InvalidFilterInQueryString")


def parse_filter(text: str) -> list[Clause]:
    """The clauses of an ARM resource-list ``$filter``; a clause outside the grammar is a 400 naming it."""
    if not text.strip():
        return []
    parts = re.split(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", text.strip(), flags=re.IGNORECASE)
    out = []
    for part in parts:
        for op, pattern in _CLAUSES:
            m = pattern.match(part)
            if m:
                field, value = (m.group(1), m.group(2)) if op != "substringof" else (m.group(2), m.group(1))
                canonical = FIELDS.get(field.lower())
                if canonical is None:
                    raise _invalid(text, f"'{field}' is not a field this list filters on")
                out.append(Clause(op, canonical, value.replace("''", "'")))
                break
        else:
            raise _invalid(text, f"cannot read the clause '{part.strip()}'")
    if any(c.field == "tagValue" for c in out) and not any(c.field == "tagName" for c in out):
        raise _invalid(text, "tagValue needs a tagName clause")
    return out


def _text_matches(clause: Clause, actual: str | None, *, case_sensitive: bool = False) -> bool:
    if actual is None:
        return False
    a, v = (actual, clause.value) if case_sensitive else (fold(actual), fold(clause.value))
    if clause.op == "eq":
        return a == v
    if clause.op == "startswith":
        return a.startswith(v)
    return v in a


def matches(item: dict[str, Any], rg: str, clauses: list[Clause]) -> bool:
    tags = item.get("tags") or {}
    tag_names = [c for c in clauses if c.field == "tagName"]
    tag_values = [c for c in clauses if c.field == "tagValue"]
    for c in clauses:
        if c.field in ("tagName", "tagValue"):
            continue
        actual = {"resourceType": item["type"], "name": item["name"], "resourceGroup": rg,
                  "location": item.get("location")}[c.field]
        if not _text_matches(c, actual):
            return False
    if tag_names:
        found = [(k, v) for k, v in tags.items() if all(_text_matches(c, k) for c in tag_names)]
        if not found:
            return False
        if tag_values and not any(all(_text_matches(c, v, case_sensitive=True) for c in tag_values)
                                  for _k, v in found):
            return False
    return True


def _top(ctx: Ctx) -> int | None:
    raw = ctx.query.get("$top")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= TOP_MAX:
        raise errors.ArmError(f"The value '{raw}' of $top is invalid; allowed: an integer from 1 to {TOP_MAX}.",
                              code="InvalidTopInQueryString")
    return int(raw)


def list_resources(ctx: Ctx) -> Response:
    """Both generic lists; by resource group when the route has ``rg`` (the group must exist)."""
    rg = ctx.params.get("rg")
    if rg is not None:
        common.require_rg(ctx)
    clauses = parse_filter(ctx.query.get("$filter", ""))
    top = _top(ctx)
    size = top if top is not None else common.page_size(ctx)
    after = ctx.query.get("$skiptoken", "0") or "0"
    if not after.isdigit():
        raise errors.ArmError(f"The $skiptoken '{after}' is invalid; use the nextLink as given.",
                              code="InvalidSkipToken")
    sql = (f"SELECT seq, id, type, name, location, rg, body FROM resources WHERE sub = ? AND seq > ? "
           f"AND type NOT LIKE 'microsoft.resources/%' AND {ctx.store._VISIBLE}")  # noqa: SLF001 - same package
    args: list[Any] = [fold(ctx.sub), int(after), ctx.now]
    if rg is not None:
        sql += " AND rg = ?"
        args.append(fold(rg))
    value: list[dict[str, Any]] = []
    last_seq = None
    more = False
    for seq, rid, rtype, name, location, row_rg, body in ctx.db.execute(sql + " ORDER BY seq", args):
        item = _generic(rid, rtype, name, location, json.loads(body))
        if not matches(item, row_rg, clauses):
            continue
        if len(value) == size:
            more = True
            break
        value.append(item)
        last_seq = seq
    out: dict[str, Any] = {"value": value}
    if more and last_seq is not None:
        query = f"api-version={ctx.api_version}&$skiptoken={last_seq}"
        if ctx.query.get("$filter"):
            query += "&$filter=" + quote(ctx.query["$filter"], safe="")
        if top is not None:
            query += f"&$top={top}"
        out["nextLink"] = f"{ctx.base_url}{ctx.path}?{query}"
    return Response(200, out)


def _generic(rid: str, rtype: str, name: str, location: str | None, body: dict[str, Any]) -> dict[str, Any]:
    parsed = parse_id(rid)
    arm_type = f"Microsoft.Network/{parsed.segment}" if parsed else rtype
    item: dict[str, Any] = {"id": rid, "name": name, "type": arm_type, "location": location}
    if isinstance(body.get("sku"), dict):
        item["sku"] = {"name": body["sku"].get("name")}
    if body.get("tags"):
        item["tags"] = body["tags"]
    return item
