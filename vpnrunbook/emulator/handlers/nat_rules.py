"""Microsoft.Network/virtualNetworkGateways/natRules: a gateway's NAT rules (child resources in its body).

PUT validates ``type`` (Static/Dynamic) and ``mode`` (EgressSnat/IngressSnat), case-insensitively with the
canonical spelling stored, and the address-space mappings (CIDR prefixes); the write is an update of the
gateway (same operation, same duration). GET / LIST / DELETE read and change the gateway's ``natRules``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro
from vpnrunbook.emulator.handlers import common, gateways
from vpnrunbook.emulator.models import Ctx, Response, new_etag
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy.rules import Problem

NAT_TYPE = "Microsoft.Network/virtualNetworkGateways/natRules"
TYPES, MODES = ("Static", "Dynamic"), ("EgressSnat", "IngressSnat")


def _gateway(ctx: Ctx) -> Record:
    rec = ctx.get(gateways.KIND.key(ctx.sub, ctx.rg, ctx.params["name"]))
    if rec is None:
        raise errors.ParentResourceNotFound(
            f"Can not perform requested operation on nested resource. Parent resource '{ctx.params['name']}' not found.")
    return rec


def _canonical(value: Any, allowed: tuple[str, ...]) -> Any:
    return next((a for a in allowed if isinstance(value, str) and a.lower() == value.lower()), value)


def _validate(props: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    out = {k: v for k, v in props.items() if k != "provisioningState"}
    out["type"] = _canonical(out.get("type", "Static"), TYPES)
    out["mode"] = _canonical(out.get("mode", "EgressSnat"), MODES)
    problems = []
    if out["type"] not in TYPES:
        problems.append(Problem("properties.type", out["type"], "is not a NAT rule type", ", ".join(TYPES),
                                "InvalidNatRuleType"))
    if out["mode"] not in MODES:
        problems.append(Problem("properties.mode", out["mode"], "is not a NAT rule mode", ", ".join(MODES),
                                "InvalidNatRuleMode"))
    for field in ("internalMappings", "externalMappings"):
        maps = out.get(field) or []
        if not isinstance(maps, list) or not maps:
            problems.append(Problem(f"properties.{field}", maps, "needs at least one mapping",
                                    '[{"addressSpace": "10.0.0.0/24"}]', "InvalidNatRuleMapping"))
            continue
        for i, m in enumerate(maps):
            space = m.get("addressSpace") if isinstance(m, dict) else None
            try:
                ipaddress.ip_network(str(space), strict=False)
            except ValueError:
                problems.append(Problem(f"properties.{field}[{i}].addressSpace", space, "is not a CIDR prefix",
                                        "a prefix such as 10.0.0.0/24", "InvalidNatRuleMapping"))
    return out, problems


def _render(ctx: Ctx, gw: Record, rule: dict[str, Any]) -> dict[str, Any]:
    return {"name": rule["name"], "id": f"{gw.id}/natRules/{rule['name']}", "etag": gw.etag, "type": NAT_TYPE,
            "properties": {**rule.get("properties", {}), "provisioningState": gw.provisioning_state(ctx.now)}}


def _rules(gw: Record) -> list[dict[str, Any]]:
    return gw.body["properties"].setdefault("natRules", [])


def put(ctx: Ctx) -> Response:
    gw = _gateway(ctx)
    common.require_idle(ctx, gw, "virtual network gateway")
    name = ctx.params["child"]
    if not any(fold(r["name"]) == fold(name) for r in _rules(gw)):
        errors.check_resource_name(name)
    props, problems = _validate(ctx.json().get("properties") or {})
    if problems:
        raise errors.ValidationFailed(problems, subject=f"The NAT rule {name!r} is invalid")
    rules = _rules(gw)
    existing = next((r for r in rules if fold(r["name"]) == fold(name)), None)
    if existing is not None:
        existing["properties"] = props
    else:
        rules.append({"name": name, "id": f"{gw.id}/natRules/{name}", "properties": props})
    gw.etag = new_etag()
    op_id = lro.start(ctx, gw, "update")
    ctx.store.save(ctx.db, gw)
    gw.extra["accepted"] = True
    rule = next(r for r in rules if fold(r["name"]) == fold(name))
    return Response(200 if existing else 201, _render(ctx, gw, rule), lro.async_headers(ctx, gw, op_id))


def get(ctx: Ctx) -> Response:
    gw = _gateway(ctx)
    rule = next((r for r in _rules(gw) if fold(r["name"]) == fold(ctx.params["child"])), None)
    if rule is None:
        raise errors.ResourceNotFound(f"NAT rule '{ctx.params['child']}' of gateway '{gw.name}' was not found.")
    return Response(200, _render(ctx, gw, rule))


def list_(ctx: Ctx) -> Response:
    gw = _gateway(ctx)
    return Response(200, {"value": [_render(ctx, gw, r) for r in _rules(gw)]})


def delete(ctx: Ctx) -> Response:
    gw = _gateway(ctx)
    rules = _rules(gw)
    kept = [r for r in rules if fold(r["name"]) != fold(ctx.params["child"])]
    if len(kept) == len(rules):
        return Response(204)
    common.require_idle(ctx, gw, "virtual network gateway")
    gw.body["properties"]["natRules"] = kept
    gw.etag = new_etag()
    op_id = lro.start(ctx, gw, "update")
    ctx.store.save(ctx.db, gw)
    return Response(202, None, lro.async_headers(ctx, gw, op_id, with_location=True))
