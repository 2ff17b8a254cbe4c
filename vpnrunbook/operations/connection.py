"""Connections: S2S (``IPsec``) and VNet-to-VNet pairs; show, plan, apply and remove the IPsec/IKE policy,
DPD timeout, policy-based traffic selectors and the prefix-pair table the on-premises device needs.

A ``Vnet2Vnet`` connection is always handled with its peer (the connection in the other direction):
both get the same shared key and policy, planned together and applied in one step.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vpnrunbook.azure.secrets import (
    SecretReferenceError,
    check_reference,
    describe_ref,
    materialize_reference,
    resolve_shared_key,
)
from vpnrunbook.operations import arm
from vpnrunbook.operations.apply import apply_plan, current_shared_key, finish
from vpnrunbook.operations.errors import PrecheckError
from vpnrunbook.operations.network import _location_guard, _rg_exists
from vpnrunbook.operations.peers import PEER_TAG, PeerLookup, find_peer, label_of, peer_tag
from vpnrunbook.operations.plan import (
    FAILED_STATES,
    REDACTED,
    Change,
    OperationResult,
    Plan,
    Write,
    diff_fields,
    dig,
    failed_retry,
    snapshot,
)
from vpnrunbook.operations.prechecks import Prechecks, require_text
from vpnrunbook.operations.verify import (
    ConnectionStatusView,
    device_of,
    new_connection_impact,
    one_sided_impact,
    policy_impact,
    verify_connection,
)
from vpnrunbook.policy import presets, rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.strength import Finding, lint, weakening

DEFAULT_TEXT = "(default proposals)"


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


# ---- inputs --------------------------------------------------------------------------------------
def _coerce_policy(checks: Prechecks, policy: Any) -> IpsecIkePolicy | None:
    """An IpsecIkePolicy, a preset name, a mapping of the eight fields, or None (Azure's default proposals)."""
    if policy is None or isinstance(policy, IpsecIkePolicy):
        return policy
    if isinstance(policy, str):
        if policy in presets.PRESETS:
            return presets.get_preset(policy)
        checks.error("policy", policy, "is not a known preset", "one of " + ", ".join(presets.PRESETS)
                     + ", an IpsecIkePolicy, or None for Azure's default proposals", "UnknownPreset")
        return None
    if isinstance(policy, Mapping):
        try:
            return IpsecIkePolicy.from_mapping(policy)
        except rules.PolicyValidationError as exc:
            checks.add(exc.problems)
            return None
    checks.error("policy", type(policy).__name__, "is not a policy", "an IpsecIkePolicy, a preset name or None",
                 "InvalidPolicy")
    return None


def _lint_policy(checks: Prechecks, policy: IpsecIkePolicy | None) -> list[Finding]:
    """Invalid values become pre-check errors; weak algorithms are returned as warnings."""
    if policy is None:
        return []
    findings = lint(policy)
    for f in findings:
        if f.severity == "error":
            checks.error(f"policy.{f.field}", f.value, f.message, "", "InvalidPolicy")
    return [f for f in findings if f.severity != "error"]


def _gateway_ref(session: Any, checks: Prechecks, field: str, resource_group: str,
                 name: str) -> tuple[dict[str, Any] | None, str]:
    """A referenced VPN gateway and its id; a missing one is a precheck problem on ``field``."""
    gw = arm.read_kind(session, "virtual_network_gateway", resource_group, name)
    if gw is None:
        checks.missing(field, name, f"VPN gateway {resource_group}/{name}",
                       "create it first with step 01 (01_create_vnet_gateway, parameter gateway_name)")
        return None, arm.resource_id(session, resource_group, "virtual_network_gateway", name)
    return gw, gw.get("id") or arm.resource_id(session, resource_group, "virtual_network_gateway", name)


def _check_gateway_for(checks: Prechecks, gateway: dict[str, Any], fieldname: str, *, policy: IpsecIkePolicy | None,
                       protocol: str | None, pbts: bool | None) -> None:
    name = gateway.get("name")
    sku = dig(gateway, "properties", "sku", "name", default="")
    vpn_type = dig(gateway, "properties", "vpnType", default="RouteBased")
    state = dig(gateway, "properties", "provisioningState", default="Succeeded")
    if policy is not None:
        refusal = rules.custom_policy_refusal(sku, vpn_type)
        if refusal:
            checks.error(fieldname, name, f"gateway {name} ({sku}, {vpn_type}): {refusal}",
                         "a RouteBased gateway of SKU VpnGw1AZ or higher, or policy: null (Azure's default "
                         "proposals)", "PolicyNotSupportedOnGateway")
    if protocol is not None:
        checks.add([rules.Problem(p.field, p.value, f"{p.message} (gateway {name})", p.allowed, p.code)
                    for p in rules.check_connection_protocol(protocol, sku=sku, vpn_type=vpn_type)])
    if pbts and sku == "Basic":
        checks.error("use_policy_based_traffic_selectors", True,
                     f"gateway {name} is Basic SKU, which has no policy-based traffic selectors", "False", "PbtsNotSupported")
    if state in FAILED_STATES:
        what = (f"gateway {name} ended provisioningState {state}: its deployment failed, it cannot carry a "
                "connection")
        if checks.apply:
            checks.error(fieldname, name, what, "re-run step 01 (01_create_vnet_gateway) with the same parameters (it "
                         "retries the failed deployment), then re-run this step", "GatewayFailed")
        else:
            checks.notes.append(f"{what}; applying now would be refused — re-run step 01 (01_create_vnet_gateway) first")
    elif state != "Succeeded":
        if checks.apply:
            checks.error(fieldname, name, f"gateway {name} is not ready (provisioningState {state})",
                         "wait until step 01 (01_create_vnet_gateway) has finished the gateway (re-run it to attach and "
                         "wait), then re-run this step", "GatewayNotReady")
        else:
            checks.notes.append(f"gateway {name} is still provisioning ({state}); applying now would be refused")


def _vnet_of_gateway(session: Any, gateway: dict[str, Any]) -> dict[str, Any] | None:
    sid = dig(gateway, "properties", "ipConfigurations", 0, "properties", "subnet", "id")
    if not sid:
        return None
    parts = arm.parse_id(sid)
    return arm.read_kind(session, "virtual_network", parts["resource_group"], parts["name"])


def _address_space(vnet: dict[str, Any] | None) -> list[str]:
    return list(dig(vnet, "properties", "addressSpace", "addressPrefixes", default=[]))


# ---- policy diffs --------------------------------------------------------------------------------
def current_policy(conn: Mapping[str, Any] | None) -> IpsecIkePolicy | None:
    policies = dig(conn, "properties", "ipsecPolicies", default=[])
    if not policies:
        return None
    return IpsecIkePolicy.from_mapping(policies[0], validate=False)


def _policy_changes(label: str, conn: Mapping[str, Any] | None, desired: IpsecIkePolicy | None) -> list[Change]:
    now = current_policy(conn)
    extra = len(dig(conn, "properties", "ipsecPolicies", default=[])) > 1
    if now is None and desired is None:
        return []
    if now is None:
        assert desired is not None
        return [Change(label, f"ipsecPolicies[0].{s.wire}", DEFAULT_TEXT, getattr(desired, s.name))
                for s in rules.FIELDS]
    if desired is None:
        return [Change(label, f"ipsecPolicies[0].{s.wire}", getattr(now, s.name), DEFAULT_TEXT)
                for s in rules.FIELDS]
    changes = [Change(label, f"ipsecPolicies[0].{s.wire}", getattr(now, s.name), getattr(desired, s.name))
               for s in rules.FIELDS if str(getattr(now, s.name)) != str(getattr(desired, s.name))]
    if extra:
        changes.append(Change(label, "ipsecPolicies", "more than one policy", "exactly one policy"))
    return changes


def _settings_changes(label: str, conn: Mapping[str, Any], dpd: int | None, pbts: bool | None) -> list[Change]:
    flat_now = {"dpdTimeoutSeconds": dig(conn, "properties", "dpdTimeoutSeconds"),
                "usePolicyBasedTrafficSelectors": bool(dig(conn, "properties", "usePolicyBasedTrafficSelectors",
                                                           default=False))}
    desired: dict[str, Any] = {}
    if dpd is not None:
        desired["dpdTimeoutSeconds"] = dpd
    if pbts is not None:
        desired["usePolicyBasedTrafficSelectors"] = bool(pbts)
    return diff_fields(label, flat_now, desired)


def _updated_body(conn: dict[str, Any], policy: IpsecIkePolicy | None | _Unchanged, dpd: int | None,
                  pbts: bool | None) -> dict[str, Any]:
    body = arm.writable(conn)
    props = body.setdefault("properties", {})
    if not isinstance(policy, _Unchanged):
        props["ipsecPolicies"] = [] if policy is None else [policy.as_wire_dict()]
    if dpd is not None:
        props["dpdTimeoutSeconds"] = dpd
    if pbts is not None:
        props["usePolicyBasedTrafficSelectors"] = bool(pbts)
    return body


def _add_weakening(plan: Plan, conn: Mapping[str, Any] | None, desired: IpsecIkePolicy | None) -> None:
    """A warning in the plan per field whose strength the change lowers (removal: Azure's default proposals,
    judged by the weakest offer Azure then accepts)."""
    if conn is None:
        return
    seen = {(w.field, str(w.value), w.message) for w in plan.warnings}
    for finding in weakening(current_policy(conn), desired):
        if (finding.field, str(finding.value), finding.message) not in seen:
            plan.warnings.append(finding)
            seen.add((finding.field, str(finding.value), finding.message))


# ---- ensure (create or align) --------------------------------------------------------------------
@dataclass
class _Side:
    resource_group: str
    name: str
    location: str
    gateway1: str              # id
    gateway2: str | None       # id (Vnet2Vnet)
    local_gateway2: str | None  # id (IPsec)


def ensure_connection(session: Any, *, resource_group: str, name: str, location: str, connection_type: str,
                      gateway_name: str, local_gateway_name: str | None = None,
                      peer_resource_group: str | None = None, peer_gateway_name: str | None = None,
                      peer_connection_name: str | None = None, peer_location: str | None = None,
                      shared_key_ref: str, policy: IpsecIkePolicy | str | None,
                      connection_protocol: str = "IKEv2", dpd_timeout_seconds: int | None = None,
                      use_policy_based_traffic_selectors: bool | None = False, apply: bool = False,
                      refuse_breaking: bool = False) -> OperationResult:
    """Create or align a connection (``IPsec``: gateway → local network gateway) or a VNet-to-VNet pair
    (``Vnet2Vnet``: ``name`` from ``gateway_name`` to ``peer_gateway_name`` and ``peer_connection_name``
    back, both with the same key and policy).

    ``shared_key_ref`` is ``env:NAME``, ``file:PATH`` or ``generate`` (a 0600 file named after the
    connection under the state dir, reused on re-runs). ``policy`` None means Azure's default proposals.
    ``dpd_timeout_seconds`` / ``use_policy_based_traffic_selectors`` None: an existing connection's value is left
    as it is; a new connection gets Azure's default (45 s, off).

    S2S with a tagged device on the local network gateway: a policy the device would not accept (a new
    connection that would not come up, or a change that breaks the tunnel) is a WARNING in the plan; with
    ``refuse_breaking=True`` it is refused before any write.
    """
    step = f"connection {name}" + (f" + {peer_connection_name}" if connection_type == "Vnet2Vnet" else "")
    checks = Prechecks(step, apply)
    for f, v in (("resource_group", resource_group), ("name", name), ("location", location),
                 ("gateway_name", gateway_name)):
        require_text(checks, f, v)
    checks.add(rules.check_choice("connection_type", connection_type, rules.CONNECTION_TYPES))
    checks.add(rules.check_choice("connection_protocol", connection_protocol, rules.CONNECTION_PROTOCOLS))
    peer_rg = peer_resource_group or resource_group
    if connection_type == "IPsec":
        require_text(checks, "local_gateway_name", local_gateway_name)
        if peer_gateway_name or peer_connection_name:
            checks.error("peer_gateway_name", peer_gateway_name, "applies only to Vnet2Vnet connections",
                         "None for an IPsec (site-to-site) connection", "InvalidArgument")
    elif connection_type == "Vnet2Vnet":
        require_text(checks, "peer_gateway_name", peer_gateway_name)
        require_text(checks, "peer_connection_name", peer_connection_name)
        if local_gateway_name:
            checks.error("local_gateway_name", local_gateway_name, "applies only to IPsec connections",
                         "None for a Vnet2Vnet connection", "InvalidArgument")
        if peer_connection_name == name and peer_rg == resource_group:
            checks.error("peer_connection_name", peer_connection_name, "is the same as name",
                         "a different name for the connection in the other direction", "InvalidArgument")
    if dpd_timeout_seconds is not None:
        checks.add(rules.check_dpd_timeout(dpd_timeout_seconds))
    if use_policy_based_traffic_selectors is not None and not isinstance(use_policy_based_traffic_selectors, bool):
        checks.error("use_policy_based_traffic_selectors", use_policy_based_traffic_selectors,
                     "must be True, False or None", "True, False or None (an existing connection: unchanged; a new "
                     "one: off, Azure's default)", "InvalidType")
    try:
        check_reference(shared_key_ref)
    except SecretReferenceError as exc:
        checks.error("shared_key_ref", "<withheld>", str(exc), "env:NAME, file:PATH or generate", "InvalidSecretRef")
        shared_key_ref = ""
    desired_policy = _coerce_policy(checks, policy)
    warnings = _lint_policy(checks, desired_policy)
    checks.raise_if_any()

    # shared key: resolve inside the step only (to check it and compare it with the current one)
    key_ref = materialize_reference(shared_key_ref, name=f"{resource_group}.{name}")
    try:
        key: str | None = resolve_shared_key(key_ref)
    except SecretReferenceError as exc:
        checks.error("shared_key_ref", shared_key_ref, str(exc), "a reference that resolves to a usable key",
                     "InvalidSecretRef")
        key = None

    # referenced resources and Azure's rules on them
    _rg_exists(session, checks, resource_group)
    gw1, gw1_id = _gateway_ref(session, checks, "gateway_name", resource_group, gateway_name)
    if gw1 is not None:
        _check_gateway_for(checks, gw1, "gateway_name", policy=desired_policy, protocol=connection_protocol,
                           pbts=use_policy_based_traffic_selectors)
    vnet1 = _vnet_of_gateway(session, gw1) if gw1 else None
    sides: list[_Side] = []
    if connection_type == "IPsec":
        assert local_gateway_name is not None
        lng = arm.read_kind(session, "local_network_gateway", resource_group, local_gateway_name)
        lng_id = arm.resource_id(session, resource_group, "local_network_gateway", local_gateway_name)
        if lng is None:
            checks.missing("local_gateway_name", local_gateway_name,
                           f"local network gateway {resource_group}/{local_gateway_name}",
                           "create it first with step 02 (02_create_local_gateway, parameter local_gateway_name)")
        else:
            lng_id = lng.get("id") or lng_id
            onprem = list(dig(lng, "properties", "localNetworkAddressSpace", "addressPrefixes", default=[]))
            for a, b in rules.overlapping(_address_space(vnet1), onprem):
                checks.error("local_gateway_name", local_gateway_name,
                             f"on-premises prefix {b} overlaps the VNet's address space {a}",
                             "on-premises prefixes outside the VNet's address space", "OverlappingAddressSpace")
        sides.append(_Side(resource_group, name, location, gw1_id, None, lng_id))
    else:
        assert peer_gateway_name is not None and peer_connection_name is not None
        gw2, gw2_id = _gateway_ref(session, checks, "peer_gateway_name", peer_rg, peer_gateway_name)
        if gw2 is not None:
            _check_gateway_for(checks, gw2, "peer_gateway_name", policy=desired_policy,
                               protocol=connection_protocol, pbts=use_policy_based_traffic_selectors)
            vnet2 = _vnet_of_gateway(session, gw2)
            for a, b in rules.overlapping(_address_space(vnet1), _address_space(vnet2)):
                checks.error("peer_gateway_name", peer_gateway_name,
                             f"the two VNets' address spaces overlap ({a} and {b})",
                             "VNet-to-VNet needs address spaces that do not overlap", "OverlappingAddressSpace")
        if peer_rg != resource_group:
            _rg_exists(session, checks, peer_rg)
        loc2 = peer_location or (gw2 or {}).get("location") or location
        sides.append(_Side(resource_group, name, location, gw1_id, gw2_id, None))
        sides.append(_Side(peer_rg, peer_connection_name, loc2, gw2_id, gw1_id, None))

    plan = Plan(step, warnings=warnings, target=getattr(session, "target", ""))
    side_ids = [arm.resource_id(session, side.resource_group, "connection", side.name) for side in sides]
    reads = [arm.read_kind(session, "connection", side.resource_group, side.name) for side in sides]
    if len(sides) == 2 and reads[0] is not None and reads[1] is not None:
        note = half_applied_note(reads[0], reads[1])
        if note:
            plan.notes.append(note)
    for index, side in enumerate(sides):
        rid = side_ids[index]
        label = arm.label(side.resource_group, "connection", side.name)
        conn = reads[index]
        # a Vnet2Vnet pair records its other direction on each side (tag), so its peer is found exactly later
        pair_tag = {PEER_TAG: side_ids[1 - index]} if len(sides) == 2 else None
        plan.resources.append(rid)
        plan.etags[rid] = (conn or {}).get("etag")
        plan.before[rid] = snapshot(conn)
        _location_guard(checks, label, conn, side.location)
        if conn is None:
            desired: dict[str, Any] = {"location": side.location, "connectionType": connection_type,
                                       "connectionProtocol": connection_protocol,
                                       "virtualNetworkGateway1.id": side.gateway1}
            if side.local_gateway2:
                desired["localNetworkGateway2.id"] = side.local_gateway2
            if side.gateway2:
                desired["virtualNetworkGateway2.id"] = side.gateway2
            desired["sharedKey"] = f"(from {describe_ref(key_ref).split(' (')[0]})"
            if dpd_timeout_seconds is not None:
                desired["dpdTimeoutSeconds"] = dpd_timeout_seconds
            desired["usePolicyBasedTrafficSelectors"] = bool(use_policy_based_traffic_selectors)
            changes = diff_fields(label, None, desired)
            changes += [Change(c.resource, c.field, None, c.desired, "create")
                        for c in _policy_changes(label, None, desired_policy)]
            props: dict[str, Any] = {"connectionType": connection_type, "connectionProtocol": connection_protocol,
                                     "virtualNetworkGateway1": {"id": side.gateway1},
                                     "usePolicyBasedTrafficSelectors": bool(use_policy_based_traffic_selectors),
                                     "ipsecPolicies": [] if desired_policy is None else [desired_policy.as_wire_dict()]}
            if side.local_gateway2:
                props["localNetworkGateway2"] = {"id": side.local_gateway2}
            if side.gateway2:
                props["virtualNetworkGateway2"] = {"id": side.gateway2}
            if dpd_timeout_seconds is not None:
                props["dpdTimeoutSeconds"] = dpd_timeout_seconds
            body = {"location": side.location, "properties": props}
            if pair_tag:
                body["tags"] = pair_tag
                changes.append(Change(label, f"tags.{PEER_TAG}", None, pair_tag[PEER_TAG], "create"))
            plan.changes += changes
            plan.writes.append(Write("connection", side.resource_group, side.name, rid, label, body, None, False,
                                     shared_key_ref=key_ref))
            if side.local_gateway2:
                device = device_of(session, {"properties": {"localNetworkGateway2": {"id": side.local_gateway2}}})
                if device is not None:
                    plan.impacts.append(new_connection_impact(label, device, desired_policy))
            continue
        # existing: immutable fields must match, the rest is aligned
        now_type = dig(conn, "properties", "connectionType")
        now_proto = dig(conn, "properties", "connectionProtocol", default="IKEv2")
        if now_type != connection_type:
            checks.error("connection_type", connection_type, f"{label} exists as {now_type}",
                         f"{now_type} (or delete the connection and create it again)", "ConnectionTypeImmutable")
        if now_proto != connection_protocol:
            checks.error("connection_protocol", connection_protocol, f"{label} exists with {now_proto}",
                         f"{now_proto} (the protocol cannot change; delete and recreate)", "ConnectionProtocolImmutable")
        refs = (("virtualNetworkGateway1", side.gateway1), ("virtualNetworkGateway2", side.gateway2),
                ("localNetworkGateway2", side.local_gateway2))
        for prop, want in refs:
            have = dig(conn, "properties", prop, "id")
            if want and not arm.same_id(have, want):
                checks.error(prop, want.rsplit("/", 1)[-1], f"{label} is attached to {have}",
                             f"{have} (or delete and recreate the connection)", "ConnectionEndpointImmutable")
        changes = _policy_changes(label, conn, desired_policy)
        if changes:
            _add_weakening(plan, conn, desired_policy)
        if changes and connection_type == "IPsec":
            device = device_of(session, conn)
            if device is not None:
                plan.impacts.append(policy_impact(label, device, current_policy(conn), desired_policy))
        changes += _settings_changes(label, conn, dpd_timeout_seconds, use_policy_based_traffic_selectors)
        retry = failed_retry(label, conn, "connection")
        if retry is not None:
            changes.insert(0, retry[0])
            plan.notes.append(retry[1])
        now_key = current_shared_key(session, side.resource_group, side.name, conn)
        if now_key is not None and key is not None and now_key != key:
            changes.append(Change(label, "sharedKey", REDACTED, f"(from {describe_ref(key_ref).split(' (')[0]})"))
        elif now_key is None:
            plan.notes.append(f"{label}: the current shared key is not readable here, so it was not compared")
        del now_key
        body = _updated_body(conn, desired_policy, dpd_timeout_seconds, use_policy_based_traffic_selectors)
        if pair_tag:
            if not arm.same_id(peer_tag(conn), pair_tag[PEER_TAG]):
                changes.append(Change(label, f"tags.{PEER_TAG}", peer_tag(conn), pair_tag[PEER_TAG]))
            body["tags"] = {**(body.get("tags") or {}), **pair_tag}
        if changes:
            plan.changes += changes
            plan.writes.append(Write("connection", side.resource_group, side.name, rid, label, body,
                                     conn.get("etag"), True, shared_key_ref=key_ref))
    del key
    plan.notes += checks.notes
    checks.raise_if_any()
    return finish(session, plan, apply, refuse_breaking=refuse_breaking, shared_key_ref=describe_ref(key_ref),
                  policy=None if desired_policy is None else desired_policy.as_wire_dict())


# ---- updates of an existing connection (and its VNet-to-VNet peer) -----------------------------------
def find_peer_connection(session: Any, conn: dict[str, Any], *, peer_resource_group: str | None = None,
                         peer_connection_name: str | None = None) -> dict[str, Any] | None:
    """The Vnet2Vnet connection in the other direction, identified exactly (:func:`peers.find_peer`): the one
    given, the one the pair's tag records, or the only connection back between the two gateways. None when it
    is absent or ambiguous (several connections back and none recorded)."""
    return find_peer(session, conn, peer_resource_group=peer_resource_group,
                     peer_connection_name=peer_connection_name).peer


def _pair_differences(conn: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    """What differs between the two directions of a pair (policy, DPD, selectors): a half-applied change."""
    out = []
    mine, theirs = current_policy(conn), current_policy(peer)
    if mine != theirs:
        out.append(f"policy {mine.summary() if mine else DEFAULT_TEXT} vs {theirs.summary() if theirs else DEFAULT_TEXT}")
    for prop, what in (("dpdTimeoutSeconds", "DPD timeout"), ("usePolicyBasedTrafficSelectors",
                                                              "policy-based traffic selectors")):
        a, b = dig(conn, "properties", prop), dig(peer, "properties", prop)
        if prop == "usePolicyBasedTrafficSelectors":
            a, b = bool(a), bool(b)
        if a != b:
            out.append(f"{what} {a} vs {b}")
    return out


def half_applied_note(conn: dict[str, Any], peer: dict[str, Any]) -> str | None:
    """A plan note when the two directions of a pair differ now (a change reached one of them only)."""
    diffs = _pair_differences(conn, peer)
    if not diffs:
        return None
    return (f"HALF-APPLIED PAIR — {label_of(conn)} and {label_of(peer)} differ now ({'; '.join(diffs)}): an earlier "
            "change reached one direction only, so the tunnel is down; this plan writes both directions to the same "
            "settings")


def _peer_problem(checks: Prechecks, conn: dict[str, Any], lookup: PeerLookup) -> None:
    name = conn.get("name")
    if lookup.ambiguous:
        checks.error("peer_connection_name", None,
                     f"{name} is Vnet2Vnet and its peer (the other direction) cannot be determined: {lookup.problem}",
                     "peer_connection_name set to one of " + ", ".join(c.rsplit("/", 1)[-1] for c in lookup.candidates)
                     + " (with peer_resource_group if it is in another resource group)", "PeerConnectionAmbiguous")
    else:
        checks.error("connection_name", name, f"is Vnet2Vnet but its peer connection (the other direction) was not "
                     f"found: {lookup.problem}",
                     "create the peer with step 04 (connect) first, or give it as peer_connection_name "
                     "(include_peer=False only for a deliberate one-sided change: the tunnel breaks until both "
                     "sides match)", "PeerConnectionNotFound")


def plan_connection_update(session: Any, *, resource_group: str, connection_name: str, policy: Any = UNCHANGED,
                           remove_policy: bool = False, dpd_timeout_seconds: int | None = None,
                           use_policy_based_traffic_selectors: bool | None = None,
                           include_peer: bool = True, peer_resource_group: str | None = None,
                           peer_connection_name: str | None = None) -> Plan:
    """Plan a change of policy (``policy``: IpsecIkePolicy, preset name, or None = Azure's defaults),
    DPD timeout and/or policy-based traffic selectors. A Vnet2Vnet connection's peer is planned with it
    (``include_peer=False`` only for a deliberate one-sided change, which breaks the tunnel). The peer is the one
    given (``peer_connection_name``), else the one the pair's tag records, else the only connection back between
    the two gateways; several candidates and none recorded: refused naming them (``PeerConnectionAmbiguous``)."""
    step = f"update connection {connection_name}"
    checks = Prechecks(step, True)
    require_text(checks, "resource_group", resource_group)
    require_text(checks, "connection_name", connection_name)
    if remove_policy and policy is not UNCHANGED and policy is not None:
        checks.error("remove_policy", True, "conflicts with the policy given", "either policy=... or remove_policy=True",
                     "InvalidArgument")
    if dpd_timeout_seconds is not None:
        checks.add(rules.check_dpd_timeout(dpd_timeout_seconds))
    if use_policy_based_traffic_selectors is not None and not isinstance(use_policy_based_traffic_selectors, bool):
        checks.error("use_policy_based_traffic_selectors", use_policy_based_traffic_selectors,
                     "must be True, False or None (unchanged)", "True, False or None", "InvalidType")
    desired: IpsecIkePolicy | None | _Unchanged = UNCHANGED
    if remove_policy:
        desired = None
    elif policy is not UNCHANGED:
        desired = _coerce_policy(checks, policy)
    warnings = _lint_policy(checks, desired if isinstance(desired, IpsecIkePolicy) else None)
    checks.raise_if_any()

    conn = arm.read_kind(session, "connection", resource_group, connection_name)
    if conn is None:
        raise PrecheckError([rules.Problem("connection_name", connection_name,
                                           f"connection {resource_group}/{connection_name} does not exist",
                                           "an existing connection (create it with step 04, 04_connect)",
                                           "ResourceNotFound")], step=step)
    conns = [conn]
    pair_note = None
    if dig(conn, "properties", "connectionType") == "Vnet2Vnet" and include_peer:
        lookup = find_peer(session, conn, peer_resource_group=peer_resource_group,
                           peer_connection_name=peer_connection_name)
        if lookup.peer is None:
            _peer_problem(checks, conn, lookup)
        else:
            conns.append(lookup.peer)
            pair_note = half_applied_note(conn, lookup.peer)
    for c in conns:
        gw_id = dig(c, "properties", "virtualNetworkGateway1", "id")
        parts = arm.parse_id(gw_id) if gw_id else None
        gw = arm.read_kind(session, "virtual_network_gateway", parts["resource_group"], parts["name"]) if parts else None
        if gw is None:
            checks.error("connection_name", c.get("name"), f"the gateway of {c.get('name')} ({gw_id}) does not exist",
                         "a connection whose gateway exists", "ResourceNotFound")
        else:
            _check_gateway_for(checks, gw, "connection_name",
                               policy=desired if isinstance(desired, IpsecIkePolicy) else None, protocol=None,
                               pbts=use_policy_based_traffic_selectors)
    checks.raise_if_any()

    plan = Plan(step, warnings=warnings, target=getattr(session, "target", ""))
    if pair_note:
        plan.notes.append(pair_note)
    for c in conns:
        parts = arm.parse_id(c["id"])
        rg, name = parts["resource_group"], parts["name"]
        rid = arm.resource_id(session, rg, "connection", name)
        label = arm.label(rg, "connection", name)
        plan.resources.append(rid)
        plan.etags[rid] = c.get("etag")
        plan.before[rid] = snapshot(c)
        changes = [] if isinstance(desired, _Unchanged) else _policy_changes(label, c, desired)
        if changes and not isinstance(desired, _Unchanged):
            _add_weakening(plan, c, desired)
        changes += _settings_changes(label, c, dpd_timeout_seconds, use_policy_based_traffic_selectors)
        retry = failed_retry(label, c, "connection")
        if retry is not None:
            changes.insert(0, retry[0])
            plan.notes.append(retry[1])
        body = _updated_body(c, desired, dpd_timeout_seconds, use_policy_based_traffic_selectors)
        if changes and len(conns) == 2:  # record the pair on both sides (the peer is found exactly next time)
            other = conns[1] if c is conns[0] else conns[0]
            if not arm.same_id(peer_tag(c), other["id"]):
                changes.append(Change(label, f"tags.{PEER_TAG}", peer_tag(c), other["id"]))
            body["tags"] = {**(body.get("tags") or {}), PEER_TAG: other["id"]}
        if changes:
            plan.changes += changes
            plan.writes.append(Write("connection", rg, name, rid, label, body, c.get("etag"), True))
    if len(conns) == 2 and len(plan.writes) == 1:
        # one side already matched: write the other too only if they differ afterwards (never one-sided)
        plan.notes.append(f"only {plan.writes[0].label} differs from the desired settings; the other direction "
                          "already matches")
    if not isinstance(desired, _Unchanged):
        _plan_impacts(session, plan, conns, desired, include_peer=include_peer, peer_resource_group=peer_resource_group,
                      peer_connection_name=peer_connection_name)
    return plan


def _plan_impacts(session: Any, plan: Plan, conns: list[dict[str, Any]], desired: IpsecIkePolicy | None, *,
                  include_peer: bool, peer_resource_group: str | None = None,
                  peer_connection_name: str | None = None) -> None:
    """Flag (never block) a policy change that breaks a tunnel: to the device a local network gateway's tags
    describe, or to the other direction of a Vnet2Vnet pair left unchanged (``include_peer=False``)."""
    written = {w.resource_id.lower() for w in plan.writes}
    for c in conns:
        parts = arm.parse_id(c["id"])
        rid = arm.resource_id(session, parts["resource_group"], "connection", parts["name"])
        label = arm.label(parts["resource_group"], "connection", parts["name"])
        if rid.lower() not in written or not _policy_changes(label, c, desired):
            continue
        if dig(c, "properties", "connectionType") == "Vnet2Vnet":
            if include_peer:
                continue
            peer = find_peer_connection(session, c, peer_resource_group=peer_resource_group,
                                        peer_connection_name=peer_connection_name)
            if peer is not None and current_policy(peer) != desired:
                prg = arm.parse_id(peer["id"])["resource_group"]
                plan.impacts.append(one_sided_impact(label, arm.label(prg, "connection", peer["name"])))
            continue
        device = device_of(session, c)
        if device is not None:
            plan.impacts.append(policy_impact(label, device, current_policy(c), desired))


def update_connection(session: Any, *, resource_group: str, connection_name: str, policy: Any = UNCHANGED,
                      remove_policy: bool = False, dpd_timeout_seconds: int | None = None,
                      use_policy_based_traffic_selectors: bool | None = None, include_peer: bool = True,
                      apply: bool = False, refuse_breaking: bool = False, peer_resource_group: str | None = None,
                      peer_connection_name: str | None = None) -> OperationResult:
    """Plan the update and, with ``apply=True``, apply it (If-Match on the ETags read for the plan).

    A policy that would break the tunnel to the device on the local network gateway (its ``vpnrunbook-device-*``
    tags) is flagged in the plan (``plan.breaks_tunnel``, a WARNING row) and still applied — the operator may be
    changing the device too — unless ``refuse_breaking=True`` (then ``PrecheckError`` ``UpdateBreaksTunnel``,
    nothing written). After the apply, ``result.verification`` is the connection's status with the reason.
    """
    plan = plan_connection_update(session, resource_group=resource_group, connection_name=connection_name,
                                  policy=policy, remove_policy=remove_policy, dpd_timeout_seconds=dpd_timeout_seconds,
                                  use_policy_based_traffic_selectors=use_policy_based_traffic_selectors,
                                  include_peer=include_peer, peer_resource_group=peer_resource_group,
                                  peer_connection_name=peer_connection_name)
    return finish(session, plan, apply, refuse_breaking=refuse_breaking)


def remove_policy(session: Any, *, resource_group: str, connection_name: str, include_peer: bool = True,
                  apply: bool = False, refuse_breaking: bool = False, peer_resource_group: str | None = None,
                  peer_connection_name: str | None = None) -> OperationResult:
    """Remove the custom policy: the connection (and its VNet-to-VNet peer) goes back to Azure's default proposals."""
    result = update_connection(session, resource_group=resource_group, connection_name=connection_name,
                               remove_policy=True, include_peer=include_peer, apply=apply,
                               refuse_breaking=refuse_breaking, peer_resource_group=peer_resource_group,
                               peer_connection_name=peer_connection_name)
    result.details["note"] = "without a custom policy the connection uses Azure's default proposals"
    return result


# ---- read-only views ------------------------------------------------------------------------------
def _default_proposals_text() -> str:
    ike = ", ".join(f"{e}/{i}" for e, i in presets.DEFAULT_IKE_OFFERS)
    ipsec = ", ".join(f"{e}/{i}/PFS {p}" for e, i, p in presets.DEFAULT_IPSEC_INITIATOR_OFFERS)
    return (f"IKE offers {ike} with {presets.DEFAULT_IKE_DH_GROUP} (SA {rules.IKE_SA_LIFETIME_SECONDS} s); "
            f"IPsec offers {ipsec} (SA {presets.DEFAULT_IPSEC_SA_LIFETIME_SECONDS} s / "
            f"{presets.DEFAULT_IPSEC_SA_DATA_SIZE_KILOBYTES} KB)")


def default_proposals_rows() -> list[dict[str, str]]:
    """Azure's default proposals (what a connection without a custom policy offers), one mapping per offer."""
    rows = [{"phase": "IKE (main mode)", "encryption": e, "integrity": i, "group": presets.DEFAULT_IKE_DH_GROUP}
            for e, i in presets.DEFAULT_IKE_OFFERS]
    rows += [{"phase": "IPsec (quick mode, initiator)", "encryption": e, "integrity": i, "group": f"PFS {p}"}
             for e, i, p in presets.DEFAULT_IPSEC_INITIATOR_OFFERS]
    return rows


def default_proposals_table() -> Any:
    """Azure's default proposals as a DataFrame (:func:`default_proposals_rows`)."""
    import pandas as pd

    return pd.DataFrame(default_proposals_rows())


@dataclass
class PolicyView:
    """A connection's policy as read: ``policy`` None means no custom policy, i.e. Azure's default proposals."""

    connection: str
    connection_type: str
    policy: IpsecIkePolicy | None
    dpd_timeout_seconds: int | None
    use_policy_based_traffic_selectors: bool
    connection_status: str | None
    warnings: list[Finding] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None

    @property
    def uses_default(self) -> bool:
        return self.policy is None

    @property
    def text(self) -> str:
        head = (f"{self.connection} ({self.connection_type}; DPD {self.dpd_timeout_seconds} s; policy-based traffic "
                f"selectors {'on' if self.use_policy_based_traffic_selectors else 'off'})")
        if self.policy is None:
            return (f"{head}: no custom IPsec/IKE policy — the connection uses Azure's default proposals: "
                    f"{_default_proposals_text()}")
        text = f"{head}: custom policy {self.policy.summary()}"
        if self.warnings:
            text += "\n" + "\n".join(f"  {w}" for w in self.warnings)
        return text

    def table(self) -> Any:
        """The policy as a one-row table, or Azure's default proposals when there is no custom policy."""
        if self.policy is None:
            return default_proposals_table()
        return self.policy.to_table(name=self.connection)

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<p>{self.text}</p>" + self.table().to_html()

    def to_record(self) -> dict[str, Any]:
        return {"connection": self.connection, "connection_type": self.connection_type,
                "policy": None if self.policy is None else self.policy.as_wire_dict(),
                "uses_default_proposals": self.uses_default, "dpd_timeout_seconds": self.dpd_timeout_seconds,
                "use_policy_based_traffic_selectors": self.use_policy_based_traffic_selectors,
                "connection_status": self.connection_status, "warnings": [w.as_dict() for w in self.warnings],
                "snapshot": self.snapshot}


def _read_connection(session: Any, resource_group: str, connection_name: str, *,
                     step: str | None = None) -> dict[str, Any]:
    """The connection, or a refusal labelled with the caller's step (an update's refusal says "update ...")."""
    conn = arm.read_kind(session, "connection", resource_group, connection_name)
    if conn is None:
        raise PrecheckError([rules.Problem("connection_name", connection_name,
                                           f"connection {resource_group}/{connection_name} does not exist",
                                           f"the name of an existing connection in {resource_group} (step 04, "
                                           "04_connect, creates one)", "ResourceNotFound")],
                            step=step or f"show connection {connection_name}")
    return conn


def show_policy(session: Any, *, resource_group: str, connection_name: str, step: str | None = None) -> PolicyView:
    """Read a connection's IPsec/IKE policy, DPD timeout and traffic-selector setting (no write). ``step`` labels
    a refusal (a missing connection) with the step the operator runs, e.g. ``update connection X``."""
    return policy_view(_read_connection(session, resource_group, connection_name, step=step),
                       resource_group=resource_group)


def policy_view(conn: dict[str, Any], *, resource_group: str) -> PolicyView:
    """The :class:`PolicyView` of a connection's REST dict already read (e.g. from a list page)."""
    connection_name = conn.get("name", "")
    pol = current_policy(conn)
    return PolicyView(arm.label(resource_group, "connection", connection_name),
                      dig(conn, "properties", "connectionType", default=""), pol,
                      dig(conn, "properties", "dpdTimeoutSeconds"),
                      bool(dig(conn, "properties", "usePolicyBasedTrafficSelectors", default=False)),
                      dig(conn, "properties", "connectionStatus"),
                      [] if pol is None else [f for f in lint(pol) if f.severity != "error"], snapshot(conn))


def traffic_selector_pairs(session: Any, *, resource_group: str, connection_name: str) -> Any:
    """Every Azure-prefix × remote-prefix pair: with policy-based traffic selectors on, the on-premises
    device must define one selector per row (device local = ``remote_prefix``, device remote = ``azure_prefix``).

    Uses the connection's ``trafficSelectorPolicies`` when it has any, else the VNet's address space ×
    the local network gateway's prefixes (or the peer VNet's space for Vnet2Vnet).
    """
    import pandas as pd

    conn = _read_connection(session, resource_group, connection_name)
    label = arm.label(resource_group, "connection", connection_name)
    pairs: list[tuple[str, str]] = []
    for tsp in dig(conn, "properties", "trafficSelectorPolicies", default=[]):
        pairs += list(itertools.product(tsp.get("localAddressRanges", []), tsp.get("remoteAddressRanges", [])))
    source = "trafficSelectorPolicies"
    if not pairs:
        source = "address spaces"
        gw_id = dig(conn, "properties", "virtualNetworkGateway1", "id")
        gw = None
        if gw_id:
            p = arm.parse_id(gw_id)
            gw = arm.read_kind(session, "virtual_network_gateway", p["resource_group"], p["name"])
        azure = _address_space(_vnet_of_gateway(session, gw)) if gw else []
        remote: list[str] = []
        lng_id = dig(conn, "properties", "localNetworkGateway2", "id")
        gw2_id = dig(conn, "properties", "virtualNetworkGateway2", "id")
        if lng_id:
            p = arm.parse_id(lng_id)
            lng = arm.read_kind(session, "local_network_gateway", p["resource_group"], p["name"])
            remote = list(dig(lng, "properties", "localNetworkAddressSpace", "addressPrefixes", default=[]))
        elif gw2_id:
            p = arm.parse_id(gw2_id)
            gw2 = arm.read_kind(session, "virtual_network_gateway", p["resource_group"], p["name"])
            remote = _address_space(_vnet_of_gateway(session, gw2)) if gw2 else []
        pairs = list(itertools.product(azure, remote))
    pbts = bool(dig(conn, "properties", "usePolicyBasedTrafficSelectors", default=False))
    frame = pd.DataFrame([{"connection": label, "azure_prefix": a, "remote_prefix": r,
                           "device_local": r, "device_remote": a} for a, r in pairs],
                         columns=["connection", "azure_prefix", "remote_prefix", "device_local", "device_remote"])
    frame.attrs.update({"use_policy_based_traffic_selectors": pbts, "source": source,
                        "note": "the on-premises device needs one traffic selector per row" if pbts else
                        "policy-based traffic selectors are off: the tunnel uses any-to-any selectors"})
    return frame


__all__ = [
    "UNCHANGED", "ConnectionStatusView", "PolicyView", "verify_connection", "apply_plan", "default_proposals_table", "ensure_connection", "find_peer_connection",
    "plan_connection_update", "remove_policy", "show_policy", "traffic_selector_pairs", "update_connection",
]
