"""The flow every tracked ARM resource shares: PUT (validate → store → LRO), GET, LIST (paged), DELETE, PATCH tags.

A resource type plugs in through :class:`Kind`: its URL segment, ARM type, simulated durations, a
``validate`` hook that turns a request body into the stored body (raising ``ValidationFailed`` with the
shared rules' problems, storing nothing), a ``render`` hook that adds the read-only fields Azure fills,
and a ``check_delete`` hook (resources still in use cannot go).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import control, errors, lro
from vpnrunbook.emulator.models import (
    Ctx,
    Response,
    new_etag,
    new_guid,
    normalize_location,
    resource_id,
    rg_id,
)
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy.rules import Problem

DEFAULT_PAGE_SIZE = 50


@dataclass
class Kind:
    segment: str  # URL segment, e.g. "virtualNetworks"
    arm_type: str  # e.g. "Microsoft.Network/virtualNetworks"
    label: str  # for messages, e.g. "virtual network"
    validate: Callable[[Ctx, dict[str, Any], Record | None], dict[str, Any]]
    render_properties: Callable[[Ctx, Record], dict[str, Any]]
    check_delete: Callable[[Ctx, Record], None] | None = None
    after_write: Callable[[Ctx, Record, dict[str, Any]], None] | None = None
    top_level: tuple[str, ...] = ()  # extra top-level keys kept from the request (e.g. "sku")
    has_etag: bool = True

    def key(self, sub: str, rg: str, name: str) -> str:
        return fold(resource_id(sub, rg, self.segment, name))


# ---- helpers shared by the resource modules -------------------------------------------------------
def relabel(problems: Sequence[Problem], names: dict[str, str], prefix: str = "") -> list[Problem]:
    """Name fields as the REST body names them (``vpn_type`` → ``properties.vpnType``)."""
    out = []
    for p in problems:
        field = p.field
        for py, wire in names.items():
            if field == py or field.startswith(py + "[") or field.startswith(py + "."):
                field = wire + field[len(py):]
                break
        out.append(dataclasses.replace(p, field=prefix + field))
    return out


def fail_if(problems: Sequence[Problem], kind: Kind, name: str) -> None:
    if problems:
        raise errors.ValidationFailed(problems, subject=f"The {kind.label} {name!r} is invalid")


def require_rg(ctx: Ctx) -> Record:
    rec = ctx.get(rg_id(ctx.sub, ctx.rg))
    if rec is None:
        raise errors.ResourceGroupNotFound(f"Resource group '{ctx.rg}' could not be found.")
    return rec


def not_found(kind: Kind, ctx: Ctx, name: str) -> errors.ArmError:
    return errors.ResourceNotFound(
        f"The Resource '{kind.arm_type}/{name}' under resource group '{ctx.rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def check_preconditions(ctx: Ctx, existing: Record | None) -> None:
    """``If-Match`` (ETag or ``*``) and ``If-None-Match: *``; a mismatch is 412 PreconditionFailed."""
    if_match = ctx.headers.get("if-match")
    if_none = ctx.headers.get("if-none-match")
    if if_match:
        if existing is None:
            raise errors.PreconditionFailed(f"If-Match {if_match} was given but the resource does not exist.")
        wanted = {t.strip() for t in if_match.split(",")}
        if "*" not in wanted and existing.etag not in wanted:
            raise errors.PreconditionFailed(
                f"The resource was changed since ETag {if_match} was read (current ETag {existing.etag}).")
    if if_none and existing is not None:
        wanted = {t.strip() for t in if_none.split(",")}
        if "*" in wanted or existing.etag in wanted:
            raise errors.PreconditionFailed(
                f"If-None-Match {if_none} was given and the resource exists (ETag {existing.etag}).")


def ref(value: Any) -> str | None:
    """The id of a ``{"id": ...}`` sub-resource reference, or None."""
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def render(ctx: Ctx, kind: Kind, rec: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"name": rec.name, "id": rec.id}
    if kind.has_etag:
        body["etag"] = rec.etag
    body["type"] = kind.arm_type
    if rec.location is not None:
        body["location"] = rec.location
    for key in kind.top_level:
        if key in rec.body:
            body[key] = copy.deepcopy(rec.body[key])
    tags = rec.body.get("tags")
    if tags is not None:
        body["tags"] = copy.deepcopy(tags)
    body["properties"] = kind.render_properties(ctx, rec)
    return body


# ---- the flow ------------------------------------------------------------------------------------
def require_idle(ctx: Ctx, rec: Record, label: str) -> None:
    """409 AnotherOperationInProgress while a write or delete on ``rec`` is still running (ARM refuses both)."""
    if rec.in_progress(ctx.now) or rec.op_kind == "delete":
        raise errors.AnotherOperationInProgress(
            f"Operation on {label} '{rec.name}' cannot be performed: another operation ({rec.op_kind}) is in "
            "progress. Retry after it completes.")


def put(kind: Kind, ctx: Ctx, name: str | None = None) -> Response:
    name = name or ctx.params["name"]
    require_rg(ctx)
    key = kind.key(ctx.sub, ctx.rg, name)
    existing = ctx.get(key)
    check_preconditions(ctx, existing)
    if existing is None:
        errors.check_resource_name(name)
    if existing is not None:
        require_idle(ctx, existing, kind.label)
    body = ctx.json()
    location = body.get("location")
    if existing is None and not isinstance(location, str):
        raise errors.ValidationFailed([Problem("location", location, "is required", "an Azure region such as westus",
                                               "LocationRequired")], subject=f"The {kind.label} {name!r} is invalid")
    if existing is not None and isinstance(location, str) and \
            location.replace(" ", "").lower() != (existing.location or "").replace(" ", "").lower():
        raise errors.ValidationFailed([Problem("location", location, f"cannot change from {existing.location!r}",
                                               existing.location or "", "LocationNotAvailableForUpdate")],
                                      subject=f"The {kind.label} {name!r} is invalid")
    if isinstance(location, str):
        location = normalize_location(location)
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise errors.InvalidRequestFormat(f"properties of {kind.label} {name!r} must be a JSON object.")
    stored_props = kind.validate(ctx, body, existing)
    stored: dict[str, Any] = {"properties": stored_props}
    if "tags" in body and body["tags"] is not None:
        if not isinstance(body["tags"], dict):
            raise errors.InvalidRequestFormat("tags must be a JSON object of strings.")
        stored["tags"] = body["tags"]
    for extra in kind.top_level:
        if extra in body:
            stored[extra] = body[extra]
    guid = (existing.body["properties"].get("resourceGuid") if existing else None) or new_guid()
    stored["properties"]["resourceGuid"] = guid
    if existing is None:
        rec = Record(key=key, id=resource_id(ctx.sub, ctx.rg, kind.segment, name), sub=fold(ctx.sub),
                     rg=fold(ctx.rg), type=fold(kind.arm_type), name=name, location=location,
                     body=stored, etag=new_etag(), created_at=ctx.now)
        op_kind, status = "create", 201
    else:
        rec = existing
        # A PUT on a Failed resource retries its deployment, as Azure does; a failed create is redone whole.
        redo_create = existing.op_fails and existing.op_base_kind == "create"
        rec.body, rec.etag = stored, new_etag()
        op_kind, status = ("create" if redo_create else "update"), 200
    failure = control.take_lro_failure(ctx.db, ctx.method, ctx.path)
    op_id = lro.start(ctx, rec, op_kind, error=failure)
    ctx.store.save(ctx.db, rec)
    if kind.after_write:
        kind.after_write(ctx, rec, body)
    rec.extra["accepted"] = True  # Azure answers a PUT with provisioningState Updating, whatever the duration
    return Response(status, render(ctx, kind, rec), lro.async_headers(ctx, rec, op_id))


def get(kind: Kind, ctx: Ctx, name: str | None = None) -> Response:
    name = name or ctx.params["name"]
    rec = ctx.get(kind.key(ctx.sub, ctx.rg, name))
    if rec is None:
        if ctx.get(rg_id(ctx.sub, ctx.rg)) is None:
            raise errors.ResourceGroupNotFound(f"Resource group '{ctx.rg}' could not be found.")
        raise not_found(kind, ctx, name)
    return Response(200, render(ctx, kind, rec))


def page_size(ctx: Ctx) -> int:
    raw = ctx.store.get_setting(ctx.db, "page_size")
    return int(raw) if raw else DEFAULT_PAGE_SIZE


def list_(kind: Kind, ctx: Ctx, *, by_rg: bool) -> Response:
    rg = ctx.params["rg"] if by_rg else None
    if by_rg:
        require_rg(ctx)
    size = page_size(ctx)
    after = int(ctx.query.get("$skiptoken", "0") or 0)
    recs = ctx.store.list(ctx.db, ctx.now, sub=ctx.sub, type=kind.arm_type, rg=rg, after_seq=after, limit=size + 1)
    body: dict[str, Any] = {"value": [render(ctx, kind, r) for r in recs[:size]]}
    if len(recs) > size:
        body["nextLink"] = f"{ctx.base_url}{ctx.path}?api-version={ctx.api_version}&$skiptoken={recs[size - 1].seq}"
    return Response(200, body)


def delete(kind: Kind, ctx: Ctx, name: str | None = None) -> Response:
    name = name or ctx.params["name"]
    rec = ctx.get(kind.key(ctx.sub, ctx.rg, name))
    if rec is None:
        return Response(204)  # ARM: deleting what is not there succeeds with 204
    check_preconditions(ctx, rec)
    if rec.op_kind == "delete":
        op_id = rec.op_id or ""
        return Response(202, None, lro.async_headers(ctx, rec, op_id, with_location=True))
    if rec.in_progress(ctx.now):
        raise errors.AnotherOperationInProgress(
            f"{kind.label} '{name}' cannot be deleted while another operation ({rec.op_kind}) is in progress.")
    if kind.check_delete:
        kind.check_delete(ctx, rec)
    op_id = lro.start(ctx, rec, "delete")
    ctx.store.save(ctx.db, rec)
    return Response(202, None, lro.async_headers(ctx, rec, op_id, with_location=True))


def patch_tags(kind: Kind, ctx: Ctx, name: str | None = None) -> Response:
    """UpdateTags: only ``tags`` changes; answered at once (200, Succeeded), no operation to poll."""
    name = name or ctx.params["name"]
    rec = ctx.get(kind.key(ctx.sub, ctx.rg, name))
    if rec is None:
        raise not_found(kind, ctx, name)
    check_preconditions(ctx, rec)
    body = ctx.json()
    tags = body.get("tags")
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise errors.ValidationFailed([Problem("tags", tags, "must be an object of string values",
                                               '{"name": "value"}', "InvalidTags")],
                                      subject=f"The tags of {kind.label} {name!r} are invalid")
    rec.body["tags"] = tags
    rec.etag = new_etag()
    ctx.store.save(ctx.db, rec)
    return Response(200, render(ctx, kind, rec))
