"""Microsoft.Network/localNetworkGateways: the on-premises side (public IP or FQDN, address prefixes)."""

from __future__ import annotations

import copy
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import common
from vpnrunbook.emulator.models import CONNECTION_TYPE, LOCAL_GATEWAY_TYPE, Ctx
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy import rules
from vpnrunbook.policy.rules import Problem

READ_ONLY = {"provisioningState", "resourceGuid"}
NAMES = {"gateway_ip_address": "properties.gatewayIpAddress",
         "address_prefixes": "properties.localNetworkAddressSpace.addressPrefixes"}


def validate(ctx: Ctx, body: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    problems: list[Problem] = []
    ip, fqdn = props.get("gatewayIpAddress"), props.get("fqdn")
    if ip is None and not fqdn:
        problems.append(Problem("gateway_ip_address", None, "is required (or fqdn)",
                                "an IPv4 address such as 131.107.72.22", "InvalidIPAddress"))
    elif ip is not None:
        problems += rules.check_gateway_ip_address("gateway_ip_address", ip)
    prefixes = (props.get("localNetworkAddressSpace") or {}).get("addressPrefixes")
    if prefixes is not None or not props.get("bgpSettings"):
        problems += rules.check_prefixes("address_prefixes", prefixes)
    common.fail_if(common.relabel(problems, NAMES), KIND, ctx.params["name"])
    return props


def render_properties(ctx: Ctx, rec: Record) -> dict[str, Any]:
    props = copy.deepcopy(rec.body["properties"])
    props["provisioningState"] = rec.provisioning_state(ctx.now)
    return props


def users(ctx: Ctx, rec: Record) -> list[str]:
    return [c.id for c in ctx.store.list_where(ctx.db, ctx.now, type=CONNECTION_TYPE, sub=rec.sub,
                                                     body_contains=rec.key)
            if fold(common.ref(c.body["properties"].get("localNetworkGateway2")) or "") == rec.key]


def check_delete(ctx: Ctx, rec: Record) -> None:
    used = users(ctx, rec)
    if used:
        raise errors.ResourceInUse(f"Local network gateway {rec.id} cannot be deleted: it is used by connection "
                                   f"{', '.join(used)}. Delete the connection first.")


KIND = common.Kind(segment="localNetworkGateways", arm_type=LOCAL_GATEWAY_TYPE, label="local network gateway",
                   validate=validate, render_properties=render_properties, check_delete=check_delete)

