"""Microsoft.Network/publicIPAddresses: SKU and allocation, an address assigned as Azure assigns it."""

from __future__ import annotations

import copy
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import common
from vpnrunbook.emulator.models import GATEWAY_TYPE, PUBLIC_IP_TYPE, Ctx, public_ip_for
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy.rules import Problem, check_choice

READ_ONLY = {"provisioningState", "resourceGuid", "ipAddress", "ipConfiguration"}
SKUS = ("Basic", "Standard")
ALLOCATIONS = ("Static", "Dynamic")
VERSIONS = ("IPv4", "IPv6")


def validate(ctx: Ctx, body: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    # Basic public IPs were retired on 30 September 2025 and cannot be created since 31 March 2025 (A17; the answer
    # Azure gives, IPv4BasicSkuPublicIpCountLimitReached, as reported in skypilot-org/skypilot#7977). A body without
    # a SKU therefore gets Standard, the SKU Azure creates today; an existing Basic address stays as it is.
    old_sku = (existing.body.get("sku") or {}).get("name") if existing is not None else None
    default_sku = old_sku or "Standard"
    sku = (body.get("sku") or {}).get("name", default_sku) if isinstance(body.get("sku"), dict) else default_sku
    if sku == "Basic" and old_sku != "Basic":
        raise errors.ArmError("Cannot create more than 0 IPv4 Basic SKU public IP addresses for this subscription in "
                              "this region.", code="IPv4BasicSkuPublicIpCountLimitReached")
    allocation = props.setdefault("publicIPAllocationMethod", "Static" if sku == "Standard" else "Dynamic")
    props.setdefault("publicIPAddressVersion", "IPv4")
    props.setdefault("idleTimeoutInMinutes", 4)
    problems = common.relabel(check_choice("sku", sku, SKUS), {"sku": "sku.name"})
    problems += common.relabel(check_choice("allocation", allocation, ALLOCATIONS),
                               {"allocation": "properties.publicIPAllocationMethod"})
    problems += common.relabel(check_choice("version", props["publicIPAddressVersion"], VERSIONS),
                               {"version": "properties.publicIPAddressVersion"})
    if not problems and sku == "Standard" and allocation != "Static":
        problems.append(Problem("properties.publicIPAllocationMethod", allocation,
                                "Standard SKU public IP addresses must use Static allocation", "Static",
                                "StandardSkuPublicIPAddressesMustBeStatic"))
    common.fail_if(problems, KIND, ctx.params["name"])
    tier = body["sku"].get("tier", "Regional") if isinstance(body.get("sku"), dict) else "Regional"
    body["sku"] = {"name": sku, "tier": tier}  # stored as Azure shows it
    if existing is not None and existing.body["properties"].get("ipAddress"):
        props["ipAddress"] = existing.body["properties"]["ipAddress"]
    elif allocation == "Static":
        props["ipAddress"] = public_ip_for(common.resource_id(ctx.sub, ctx.rg, KIND.segment, ctx.params["name"]))
    return props


def users(ctx: Ctx, rec: Record) -> list[str]:
    out = []
    for gw in ctx.store.list_where(ctx.db, ctx.now, type=GATEWAY_TYPE, sub=rec.sub, body_contains=rec.key):
        for cfg in gw.body.get("properties", {}).get("ipConfigurations", []):
            pid = common.ref((cfg.get("properties") or {}).get("publicIPAddress"))
            if pid and fold(pid) == rec.key:
                out.append(f"{gw.id}/ipConfigurations/{cfg.get('name')}")
    return out


def render_properties(ctx: Ctx, rec: Record) -> dict[str, Any]:
    props = copy.deepcopy(rec.body["properties"])
    used_by = users(ctx, rec)
    if used_by:
        props["ipConfiguration"] = {"id": used_by[0]}
        props.setdefault("ipAddress", public_ip_for(rec.key))  # Dynamic: assigned once attached
    props["provisioningState"] = rec.provisioning_state(ctx.now)
    return props


def check_delete(ctx: Ctx, rec: Record) -> None:
    used_by = users(ctx, rec)
    if used_by:
        raise errors.PublicIPAddressInUse(
            f"Public IP address {rec.id} can not be deleted since it is still allocated to resource {used_by[0]}.")


KIND = common.Kind(segment="publicIPAddresses", arm_type=PUBLIC_IP_TYPE, label="public IP address",
                   validate=validate, render_properties=render_properties, check_delete=check_delete,
                   top_level=("sku", "zones"))

