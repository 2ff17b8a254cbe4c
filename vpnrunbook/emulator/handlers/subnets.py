"""Microsoft.Network/virtualNetworks/subnets: stored inside their virtual network, as Azure does."""

from __future__ import annotations

from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro
from vpnrunbook.emulator.handlers import common, virtual_networks
from vpnrunbook.emulator.models import Ctx, Response, new_etag
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy.rules import Problem


def _vnet(ctx: Ctx) -> Record:
    common.require_rg(ctx)
    vnet = ctx.get(virtual_networks.KIND.key(ctx.sub, ctx.rg, ctx.params["name"]))
    if vnet is None:
        raise errors.ParentResourceNotFound(
            f"Can not perform requested operation on nested resource. Parent resource '{ctx.params['name']}' "
            "not found.")
    return vnet


def _find(vnet: Record, name: str) -> tuple[int, dict[str, Any]] | None:
    for i, s in enumerate(vnet.body["properties"].get("subnets", [])):
        if fold(s["name"]) == fold(name):
            return i, s
    return None


def _not_found(ctx: Ctx, name: str) -> errors.ArmError:
    return errors.ResourceNotFound(
        f"Resource /subscriptions/{ctx.sub}/resourceGroups/{ctx.rg}/providers/Microsoft.Network/virtualNetworks/"
        f"{ctx.params['name']}/subnets/{name} not found.", code="NotFound")


def get(ctx: Ctx) -> Response:
    vnet = _vnet(ctx)
    found = _find(vnet, ctx.params["child"])
    if found is None:
        raise _not_found(ctx, ctx.params["child"])
    users = virtual_networks.gateway_subnet_users(ctx, vnet)
    return Response(200, virtual_networks.render_subnet(ctx, vnet, found[1], users))


def list_(ctx: Ctx) -> Response:
    vnet = _vnet(ctx)
    users = virtual_networks.gateway_subnet_users(ctx, vnet)
    return Response(200, {"value": [virtual_networks.render_subnet(ctx, vnet, s, users)
                                    for s in vnet.body["properties"].get("subnets", [])]})


def put(ctx: Ctx) -> Response:
    vnet = _vnet(ctx)
    name = ctx.params["child"]
    found = _find(vnet, name)
    common.check_preconditions(ctx, vnet if found is not None else None)
    common.require_idle(ctx, vnet, "virtual network")
    body = ctx.json()
    subnets = [s for s in vnet.body["properties"].get("subnets", []) if fold(s["name"]) != fold(name)]
    new = virtual_networks.normalize_subnets(ctx, vnet.id, [{"name": name, "properties": body.get("properties")}])[0]
    if found is not None:
        subnets.insert(found[0], new)
    else:
        subnets.append(new)
    space = virtual_networks.address_space(vnet.body["properties"])
    problems = virtual_networks.layout_problems(space, subnets)
    if virtual_networks.subnet_prefix(new) is None:
        problems.insert(0, Problem("properties.addressPrefix", None, "is required", "a CIDR prefix such as 10.1.0.0/24",
                                   "InvalidAddressPrefix"))
    if problems:
        raise errors.ValidationFailed(problems, subject=f"The subnet {name!r} is invalid")
    virtual_networks.check_in_use(ctx, vnet, subnets)
    vnet.body["properties"]["subnets"] = subnets
    vnet.etag = new_etag()
    op_id = lro.start(ctx, vnet, "update")
    ctx.store.save(ctx.db, vnet)
    users = virtual_networks.gateway_subnet_users(ctx, vnet)
    vnet.extra["accepted"] = True
    return Response(200 if found else 201, virtual_networks.render_subnet(ctx, vnet, new, users),
                    lro.async_headers(ctx, vnet, op_id))


def delete(ctx: Ctx) -> Response:
    vnet = _vnet(ctx)
    name = ctx.params["child"]
    found = _find(vnet, name)
    if found is None:
        return Response(204)
    common.require_idle(ctx, vnet, "virtual network")
    subnets = [s for s in vnet.body["properties"].get("subnets", []) if fold(s["name"]) != fold(name)]
    virtual_networks.check_in_use(ctx, vnet, subnets)
    vnet.body["properties"]["subnets"] = subnets
    vnet.etag = new_etag()
    op_id = lro.start(ctx, vnet, "update")
    ctx.store.save(ctx.db, vnet)
    return Response(202, None, lro.async_headers(ctx, vnet, op_id, with_location=True))
