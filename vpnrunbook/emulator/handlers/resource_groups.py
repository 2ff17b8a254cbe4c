"""Microsoft.Resources/resourceGroups: create (synchronous), get, head, list, delete (LRO, cascades)."""

from __future__ import annotations

from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro
from vpnrunbook.emulator.handlers.common import check_preconditions, page_size
from vpnrunbook.emulator.models import RESOURCE_GROUP_TYPE, Ctx, Response, new_etag, normalize_location, rg_id
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy.rules import Problem


def _render(ctx: Ctx, rec: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"id": rec.id, "name": rec.name, "type": RESOURCE_GROUP_TYPE, "location": rec.location}
    if rec.body.get("tags") is not None:
        body["tags"] = rec.body["tags"]
    if rec.body.get("managedBy"):
        body["managedBy"] = rec.body["managedBy"]
    body["properties"] = {"provisioningState": rec.provisioning_state(ctx.now)}
    return body


def _key(ctx: Ctx) -> str:
    return fold(rg_id(ctx.sub, ctx.rg))


def put(ctx: Ctx) -> Response:
    errors.check_resource_group_name(ctx.rg)  # also for callers that skip the app (seed, deployments)
    existing = ctx.get(_key(ctx))
    check_preconditions(ctx, existing)
    body = ctx.json()
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise errors.ValidationFailed([Problem("location", location, "is required", "an Azure region such as westus",
                                               "LocationRequired")],
                                      subject=f"The resource group {ctx.rg!r} is invalid")
    location = normalize_location(location)
    tags = body.get("tags")
    if tags is not None and not isinstance(tags, dict):
        raise errors.InvalidRequestFormat("tags must be a JSON object of strings.")
    if existing is not None:
        if existing.op_kind == "delete":
            raise errors.Conflict(f"Resource group '{ctx.rg}' is being deleted; retry after it is gone.",
                                  code="ResourceGroupBeingDeleted")
        if location.replace(" ", "").lower() != (existing.location or "").replace(" ", "").lower():
            raise errors.Conflict(
                f"Invalid resource group location '{location}'. The Resource group already exists in location "
                f"'{existing.location}'.", code="InvalidResourceGroupLocation")
        existing.body = {"tags": tags, "managedBy": body.get("managedBy")}
        existing.etag = new_etag()
        ctx.store.save(ctx.db, existing)
        return Response(200, _render(ctx, existing))
    rec = Record(key=_key(ctx), id=rg_id(ctx.sub, ctx.rg), sub=fold(ctx.sub), rg=fold(ctx.rg),
                 type=RESOURCE_GROUP_TYPE.lower(), name=ctx.rg, location=location,
                 body={"tags": tags, "managedBy": body.get("managedBy")}, etag=new_etag(), created_at=ctx.now)
    ctx.store.save(ctx.db, rec)
    return Response(201, _render(ctx, rec))


def patch(ctx: Ctx) -> Response:
    """ResourceGroups_Update: tags (and managedBy) change; the location cannot."""
    rec = _require(ctx)
    check_preconditions(ctx, rec)
    body = ctx.json()
    if "tags" in body:
        tags = body["tags"]
        if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
            raise errors.ValidationFailed([Problem("tags", tags, "must be an object of string values",
                                                   '{"name": "value"}', "InvalidTags")],
                                          subject=f"The resource group {ctx.rg!r} is invalid")
        rec.body["tags"] = tags
    if "managedBy" in body:
        rec.body["managedBy"] = body["managedBy"]
    rec.etag = new_etag()
    ctx.store.save(ctx.db, rec)
    return Response(200, _render(ctx, rec))


def _require(ctx: Ctx) -> Record:
    rec = ctx.get(_key(ctx))
    if rec is None:
        raise errors.ResourceGroupNotFound(f"Resource group '{ctx.rg}' could not be found.")
    return rec


def get(ctx: Ctx) -> Response:
    return Response(200, _render(ctx, _require(ctx)))


def head(ctx: Ctx) -> Response:
    return Response(204 if ctx.get(_key(ctx)) is not None else 404)


def list_(ctx: Ctx) -> Response:
    size = page_size(ctx)
    after = int(ctx.query.get("$skiptoken", "0") or 0)
    recs = ctx.store.list(ctx.db, ctx.now, sub=ctx.sub, type=RESOURCE_GROUP_TYPE, after_seq=after, limit=size + 1)
    body: dict[str, Any] = {"value": [_render(ctx, r) for r in recs[:size]]}
    if len(recs) > size:
        body["nextLink"] = f"{ctx.base_url}{ctx.path}?api-version={ctx.api_version}&$skiptoken={recs[size - 1].seq}"
    return Response(200, body)


def delete(ctx: Ctx) -> Response:
    rec = ctx.get(_key(ctx))
    if rec is None:
        return Response(204)
    if rec.op_kind == "delete":
        return Response(202, None, lro.async_headers(ctx, rec, rec.op_id or "", with_location=True))
    op_id = lro.start(ctx, rec, "delete")
    ctx.store.save(ctx.db, rec)
    # Everything inside goes with it, finishing when the group does.
    for row in ctx.db.execute("SELECT key FROM resources WHERE sub = ? AND rg = ? AND key != ?",
                              (rec.sub, rec.rg, rec.key)).fetchall():
        child = ctx.get(row[0])
        if child is None:
            continue
        child.op_id, child.op_kind, child.op_start, child.op_done = op_id, "delete", rec.op_start, rec.op_done
        ctx.store.save(ctx.db, child)
    return Response(202, None, lro.async_headers(ctx, rec, op_id, with_location=True))
