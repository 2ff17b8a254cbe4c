"""Microsoft.Network/virtualNetworks: address space and subnets checked by the shared layout rules."""

from __future__ import annotations

import copy
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import common
from vpnrunbook.emulator.models import (
    GATEWAY_TYPE,
    SUBNET_TYPE,
    VNET_TYPE,
    Ctx,
    parse_id,
    resource_id,
)
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy import rules
from vpnrunbook.policy.rules import Problem

READ_ONLY = {"provisioningState", "resourceGuid", "virtualNetworkPeerings"}
SUBNET_READ_ONLY = {"provisioningState", "ipConfigurations", "purpose"}


def subnet_prefix(subnet: dict[str, Any]) -> Any:
    props = subnet.get("properties") or {}
    if "addressPrefix" in props:
        return props["addressPrefix"]
    prefixes = props.get("addressPrefixes")
    if isinstance(prefixes, list) and prefixes:
        return prefixes[0]
    return None


def address_space(props: dict[str, Any]) -> Any:
    return (props.get("addressSpace") or {}).get("addressPrefixes")


def layout_problems(space: Any, subnets: list[dict[str, Any]], *, gateway_subnet_role: str | None = None) -> list[Problem]:
    """The shared rules (prefix syntax, inside the space, no overlap, GatewaySubnet size/name), REST-labelled."""
    pairs = [(str(s.get("name")), subnet_prefix(s)) for s in subnets]
    problems = rules.check_vnet_layout(space if isinstance(space, list) else [], pairs,
                                       gateway_subnet_role=gateway_subnet_role)
    out = []
    for p in problems:
        field = p.field.replace("address_space", "properties.addressSpace.addressPrefixes")
        if field.startswith("subnets["):
            name = field[len("subnets["):field.index("]")]
            field = f"properties.subnets[{name}].properties.addressPrefix"
        out.append(Problem(field, p.value, p.message, p.allowed, p.code))
    return out


def gateway_subnet_users(ctx: Ctx, vnet: Record) -> dict[str, list[str]]:
    """Subnet name (lower) → ipConfiguration ids of gateways placed in it."""
    users: dict[str, list[str]] = {}
    for gw in ctx.store.list_where(ctx.db, ctx.now, type=GATEWAY_TYPE, sub=vnet.sub, body_contains=vnet.key):
        for cfg in gw.body.get("properties", {}).get("ipConfigurations", []):
            sid = common.ref((cfg.get("properties") or {}).get("subnet"))
            parsed = parse_id(sid)
            if parsed and fold(parsed.parent_id) == vnet.key and parsed.child_name:
                users.setdefault(fold(parsed.child_name), []).append(f"{gw.id}/ipConfigurations/{cfg.get('name')}")
    return users


def normalize_subnets(ctx: Ctx, vnet_id: str, subnets: Any) -> list[dict[str, Any]]:
    if subnets is None:
        return []
    if not isinstance(subnets, list):
        raise errors.InvalidRequestFormat("properties.subnets must be a list of subnets.")
    out = []
    seen: set[str] = set()
    for i, s in enumerate(subnets):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            raise errors.ValidationFailed([Problem(f"properties.subnets[{i}].name", None, "is required",
                                                   "a subnet name such as FrontEnd", "InvalidSubnetName")],
                                          subject="The virtual network is invalid")
        if fold(s["name"]) in seen:
            raise errors.ValidationFailed([Problem(f"properties.subnets[{i}].name", s["name"], "appears twice",
                                                   "unique subnet names", "DuplicateResourceName")],
                                          subject="The virtual network is invalid")
        seen.add(fold(s["name"]))
        errors.check_resource_name(s["name"])  # it becomes part of the subnet's id (a URL)
        props = {k: v for k, v in (s.get("properties") or {}).items() if k not in SUBNET_READ_ONLY}
        out.append({"name": s["name"], "id": f"{vnet_id}/subnets/{s['name']}", "properties": props})
    return out


def check_in_use(ctx: Ctx, vnet: Record | None, new_subnets: list[dict[str, Any]]) -> None:
    """A subnet that holds a gateway can be neither removed nor re-addressed."""
    if vnet is None:
        return
    users = gateway_subnet_users(ctx, vnet)
    old = {fold(s["name"]): subnet_prefix(s) for s in vnet.body["properties"].get("subnets", [])}
    new = {fold(s["name"]): subnet_prefix(s) for s in new_subnets}
    for name, ids in users.items():
        if name not in new:
            raise errors.InUseSubnetCannotBeDeleted(
                f"Subnet {name} is in use by {', '.join(ids)} and cannot be deleted. In order to delete the subnet, "
                "delete all the resources within the subnet.")
        if new[name] != old.get(name):
            raise errors.ArmError(f"Subnet {name} is in use by {', '.join(ids)}; its address prefix cannot change "
                                  f"from {old.get(name)} to {new[name]}.", code="InUseSubnetCannotBeUpdated")


def validate(ctx: Ctx, body: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    name = ctx.params["name"]
    vnet_id = existing.id if existing else resource_id(ctx.sub, ctx.rg, KIND.segment, name)
    subnets = normalize_subnets(ctx, vnet_id, props.get("subnets"))
    space = address_space(props)
    problems = layout_problems(space, subnets)
    common.fail_if(problems, KIND, name)
    check_in_use(ctx, existing, subnets)
    props["subnets"] = subnets
    return props


def render_subnet(ctx: Ctx, vnet: Record, subnet: dict[str, Any], users: dict[str, list[str]]) -> dict[str, Any]:
    props = copy.deepcopy(subnet.get("properties") or {})
    props["provisioningState"] = vnet.provisioning_state(ctx.now) if vnet.op_kind != "delete" else "Deleting"
    ipcfgs = users.get(fold(subnet["name"]))
    if ipcfgs:
        props["ipConfigurations"] = [{"id": i} for i in ipcfgs]
    return {"name": subnet["name"], "id": subnet["id"], "etag": vnet.etag, "type": SUBNET_TYPE, "properties": props}


def render_properties(ctx: Ctx, rec: Record) -> dict[str, Any]:
    props = copy.deepcopy(rec.body["properties"])
    users = gateway_subnet_users(ctx, rec)
    props["subnets"] = [render_subnet(ctx, rec, s, users) for s in rec.body["properties"].get("subnets", [])]
    props.setdefault("virtualNetworkPeerings", [])
    props.setdefault("enableDdosProtection", False)
    props["provisioningState"] = rec.provisioning_state(ctx.now)
    return props


def check_delete(ctx: Ctx, rec: Record) -> None:
    users = gateway_subnet_users(ctx, rec)
    if users:
        ids = [i for v in users.values() for i in v]
        raise errors.InUseSubnetCannotBeDeleted(
            f"Virtual network {rec.name} cannot be deleted: its subnets are in use by {', '.join(ids)}.")


KIND = common.Kind(segment="virtualNetworks", arm_type=VNET_TYPE, label="virtual network", validate=validate,
                   render_properties=render_properties, check_delete=check_delete)

