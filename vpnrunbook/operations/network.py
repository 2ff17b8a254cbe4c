"""Resource group, virtual network with subnets, public IP: ensure-style steps (plan, then apply when asked)."""

from __future__ import annotations

from typing import Any

from vpnrunbook.operations import arm
from vpnrunbook.operations.apply import finish
from vpnrunbook.operations.plan import (
    Change,
    OperationResult,
    Plan,
    Write,
    diff_fields,
    dig,
    failed_retry,
    snapshot,
)
from vpnrunbook.operations.prechecks import Prechecks, normal_location, require_text
from vpnrunbook.policy import rules

PUBLIC_IP_SKUS = ("Standard", "StandardV2", "Basic")
ALLOCATIONS = ("Static", "Dynamic")


def _location_guard(checks: Prechecks, label: str, current: dict[str, Any] | None, location: str) -> None:
    if current is not None and normal_location(current.get("location")) != normal_location(location):
        checks.error("location", location, f"{label} already exists in {current.get('location')}; a resource "
                     "cannot move", f"{current.get('location')} (or delete it first)", "LocationMismatch")


def _rg_exists(session: Any, checks: Prechecks, resource_group: str) -> bool:
    if arm.read_kind(session, "resource_group", resource_group, resource_group) is None:
        checks.missing("resource_group", resource_group, f"resource group {resource_group}",
                       "step 01, 01_create_vnet_gateway, creates it: parameter resource_group")
        return False
    return True


def _read_existing(session: Any, checks: Prechecks, kind: str, resource_group: str, name: str,
                   location: str) -> tuple[str, str, dict[str, Any] | None]:
    """The resource's id, its label for messages and its current state (None: absent), after checking that the
    resource group exists and that an existing resource is not being moved to another region."""
    rid = arm.resource_id(session, resource_group, kind, name)
    label = arm.label(resource_group, kind, name)
    _rg_exists(session, checks, resource_group)
    current = arm.read_kind(session, kind, resource_group, name)
    _location_guard(checks, label, current, location)
    return rid, label, current


def ensure_resource_group(session: Any, *, name: str, location: str, tags: dict[str, str] | None = None,
                          apply: bool = False) -> OperationResult:
    """Create the resource group, or add missing/changed ``tags``; an existing group elsewhere is refused."""
    step = f"resource group {name}"
    checks = Prechecks(step, apply)
    require_text(checks, "name", name)
    require_text(checks, "location", location)
    if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
        checks.error("tags", tags, "must map tag names to strings", "{'env': 'test'}", "InvalidTags")
    checks.raise_if_any()
    rid = arm.resource_id(session, name, "resource_group", name)
    label = arm.label(name, "resource_group", name)
    current = arm.read_kind(session, "resource_group", name, name)
    _location_guard(checks, label, current, location)
    checks.raise_if_any()
    desired: dict[str, Any] = {} if current else {"location": location}
    for k, v in (tags or {}).items():
        desired[f"tags.{k}"] = v
    flat_now = None if current is None else {f"tags.{k}": v for k, v in (current.get("tags") or {}).items()}
    changes = diff_fields(label, flat_now, desired)
    plan = Plan(step, changes, etags={rid: None}, before={rid: snapshot(current)}, resources=[rid],
                notes=checks.notes, target=getattr(session, "target", ""))
    if changes:
        body = {"location": current["location"] if current else location,
                "tags": {**((current or {}).get("tags") or {}), **(tags or {})}}
        plan.writes.append(Write("resource_group", name, name, rid, label, body, None, current is not None))
    return finish(session, plan, apply)


def _gateway_subnet_role(subnets: dict[str, str]) -> str | None:
    """A subnet that looks meant for the gateway (``gatewaysubnet``, ``Gateway-Subnet``) but is misnamed."""
    for name in subnets:
        squashed = "".join(c for c in name.lower() if c.isalnum())
        if squashed.startswith("gateway") and name != rules.GATEWAY_SUBNET_NAME:
            return name
    return None


def _subnet_prefix(subnet: dict[str, Any]) -> str | None:
    props = subnet.get("properties", {})
    return props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]


def ensure_virtual_network(session: Any, *, resource_group: str, name: str, location: str,
                           address_space: list[str] | None, subnets: dict[str, str] | None,
                           gateway_subnet: str | None = None, apply: bool = False) -> OperationResult:
    """Create or align a VNet: ``address_space`` exactly, each of ``subnets`` (name → prefix) present with its prefix.

    ``None`` leaves an existing VNet's address space (or subnets) as it is; creating a VNet needs both.

    Existing subnets not named in ``subnets`` are kept (and noted). Refused before any write: a gateway
    subnet not named ``GatewaySubnet`` (``gateway_subnet`` names the one you meant, else it is guessed
    from the names), a prefix outside the address space, overlapping subnets, a gateway subnet smaller than /29.
    """
    step = f"virtual network {name}"
    checks = Prechecks(step, apply)
    require_text(checks, "resource_group", resource_group)
    require_text(checks, "name", name)
    require_text(checks, "location", location)
    keep_subnets = subnets is None
    if subnets is None:
        subnets = {}
    elif not isinstance(subnets, dict):
        checks.error("subnets", subnets, "must map subnet names to prefixes", "{'FrontEnd': '10.1.0.0/24'}",
                     "InvalidSubnets")
        subnets = {}
    if address_space is not None:
        role = gateway_subnet if gateway_subnet is not None else _gateway_subnet_role(subnets)
        checks.add(rules.check_vnet_layout(list(address_space or []), list(subnets.items()),
                                           gateway_subnet_role=role))
    checks.raise_if_any()
    rid, label, current = _read_existing(session, checks, "virtual_network", resource_group, name, location)
    if current is None:  # "leave as it is" has nothing to leave: creating needs the values
        for fieldname, value in (("address_space", address_space), ("subnets", None if keep_subnets else subnets)):
            if value is None:
                checks.error(fieldname, None, f"is required to create the virtual network {name} (it does not exist "
                             "yet); null only leaves an existing VNet's value as it is",
                             "e.g. [10.1.0.0/16]" if fieldname == "address_space" else
                             "e.g. {FrontEnd: 10.1.0.0/24, GatewaySubnet: 10.1.255.0/27}", "MissingField")
        checks.raise_if_any()
    if address_space is None:  # the existing VNet's space: the subnets given must fit it
        address_space = list(dig(current, "properties", "addressSpace", "addressPrefixes", default=[]))
        role = gateway_subnet if gateway_subnet is not None else _gateway_subnet_role(subnets)
        checks.add(rules.check_vnet_layout(address_space, list(subnets.items()), gateway_subnet_role=role))
        checks.raise_if_any()
    existing = {s["name"]: _subnet_prefix(s) for s in dig(current, "properties", "subnets", default=[])}
    kept = {n: p for n, p in existing.items() if n not in subnets and p}
    if kept:
        checks.add(rules.check_vnet_layout(list(address_space), list({**kept, **subnets}.items())))
    checks.raise_if_any()

    desired: dict[str, Any] = {"addressSpace.addressPrefixes": list(address_space)}
    desired.update({f"subnets[{n}].addressPrefix": p for n, p in subnets.items()})
    if current is None:
        desired = {"location": location, **desired}
        flat_now = None
    else:
        flat_now = {"addressSpace.addressPrefixes": dig(current, "properties", "addressSpace", "addressPrefixes",
                                                        default=[])}
        flat_now.update({f"subnets[{n}].addressPrefix": p for n, p in existing.items()})
    changes: list[Change] = diff_fields(label, flat_now, desired)
    notes = list(checks.notes) + [f"subnet {n} ({p}) exists but is not in the parameters; left as it is"
                                  for n, p in kept.items()]
    retry = failed_retry(label, current, "virtual network")
    if retry is not None:
        changes.insert(0, retry[0])
        notes.append(retry[1])
    plan = Plan(step, changes, etags={rid: (current or {}).get("etag")}, before={rid: snapshot(current)},
                resources=[rid], notes=notes, target=getattr(session, "target", ""))
    if changes:
        if current is None:
            body: dict[str, Any] = {"location": location, "properties": {
                "addressSpace": {"addressPrefixes": list(address_space)},
                "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets.items()]}}
        else:
            body = arm.writable(current)
            props = body.setdefault("properties", {})
            props["addressSpace"] = {**props.get("addressSpace", {}), "addressPrefixes": list(address_space)}
            merged = []
            for s in props.get("subnets", []):
                if s.get("name") in subnets:
                    sp = {k: v for k, v in s.get("properties", {}).items() if k != "addressPrefixes"}
                    sp["addressPrefix"] = subnets[s["name"]]
                    s = {**s, "properties": sp}
                merged.append(s)
            have = {s.get("name") for s in merged}
            merged += [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets.items() if n not in have]
            props["subnets"] = merged
        plan.writes.append(Write("virtual_network", resource_group, name, rid, label, body,
                                 (current or {}).get("etag"), current is not None))
    return finish(session, plan, apply)


def ensure_public_ip(session: Any, *, resource_group: str, name: str, location: str, sku: str = "Standard",
                     allocation: str = "Static", apply: bool = False) -> OperationResult:
    """Create a public IP for a gateway: Standard SKU, Static (Basic public IPs are retired for VPN gateways)."""
    step = f"public IP {name}"
    checks = Prechecks(step, apply)
    require_text(checks, "resource_group", resource_group)
    require_text(checks, "name", name)
    require_text(checks, "location", location)
    checks.add(rules.check_choice("sku", sku, PUBLIC_IP_SKUS))
    checks.add(rules.check_choice("allocation", allocation, ALLOCATIONS))
    if sku == "Basic":
        checks.error("sku", sku, "Basic public IPs are not accepted for VPN gateways "
                     "(PublicIpWithBasicSkuNotAllowedOnVPNGateways; Basic IPs are retired)", "Standard",
                     "PublicIpWithBasicSkuNotAllowedOnVPNGateways")
    if sku in ("Standard", "StandardV2") and allocation == "Dynamic":
        checks.error("allocation", allocation, f"a {sku} public IP is always Static", "Static",
                     "StandardSkuPublicIPAddressesMustBeStatic")
    checks.raise_if_any()
    rid, label, current = _read_existing(session, checks, "public_ip", resource_group, name, location)
    if current is not None:
        now_sku = dig(current, "sku", "name")
        now_alloc = dig(current, "properties", "publicIPAllocationMethod")
        if now_sku and now_sku != sku:
            checks.error("sku", sku, f"{label} exists with SKU {now_sku}; a public IP's SKU cannot be changed here",
                         f"{now_sku} (or delete the IP first)", "PublicIpSkuMismatch")
        if now_alloc and now_alloc != allocation:
            checks.error("allocation", allocation, f"{label} exists with {now_alloc} allocation",
                         f"{now_alloc} (or delete the IP first)", "PublicIpAllocationMismatch")
    checks.raise_if_any()
    desired = {"location": location, "sku.name": sku, "publicIPAllocationMethod": allocation,
               "publicIPAddressVersion": "IPv4"}
    changes = [] if current is not None else diff_fields(label, None, desired)
    plan = Plan(step, changes, etags={rid: (current or {}).get("etag")}, before={rid: snapshot(current)},
                resources=[rid], notes=checks.notes, target=getattr(session, "target", ""))
    retry = failed_retry(label, current, "public IP")
    if retry is not None and current is not None:
        plan.changes.append(retry[0])
        plan.notes.append(retry[1])
        plan.writes.append(Write("public_ip", resource_group, name, rid, label, arm.writable(current),
                                 current.get("etag"), True))
    elif changes:
        body = {"location": location, "sku": {"name": sku, "tier": "Regional"},
                "properties": {"publicIPAllocationMethod": allocation, "publicIPAddressVersion": "IPv4"}}
        plan.writes.append(Write("public_ip", resource_group, name, rid, label, body, None, False))
    return finish(session, plan, apply)
