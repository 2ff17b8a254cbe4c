"""Microsoft.Network/connections: S2S and VNet-to-VNet, IPsec/IKE policy, shared key, connectionStatus.

The shared key is kept in the store's ``secrets`` table and is never part of a connection body; only the
``sharedkey`` endpoints return it, as Azure does.
"""

from __future__ import annotations

import copy
import ipaddress
import secrets
import string
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro
from vpnrunbook.emulator.handlers import common, gateways, local_gateways, virtual_networks
from vpnrunbook.emulator.models import CONNECTION_TYPE, Ctx, Response, new_etag, parse_id
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy import rules
from vpnrunbook.policy.rules import Problem

READ_ONLY = {"provisioningState", "resourceGuid", "connectionStatus", "tunnelConnectionStatus",
             "egressBytesTransferred", "ingressBytesTransferred", "sharedKey"}
NAMES = {"connection_type": "properties.connectionType", "connection_protocol": "properties.connectionProtocol",
         "virtual_network_gateway1": "properties.virtualNetworkGateway1",
         "virtual_network_gateway2": "properties.virtualNetworkGateway2",
         "local_network_gateway2": "properties.localNetworkGateway2", "shared_key": "properties.sharedKey",
         "ipsec_policies": "properties.ipsecPolicies", "dpd_timeout_seconds": "properties.dpdTimeoutSeconds",
         "routing_weight": "properties.routingWeight", "enable_bgp": "properties.enableBgp"}
REFS = ("virtualNetworkGateway1", "virtualNetworkGateway2", "localNetworkGateway2")
KEY_ALPHABET = string.ascii_letters + string.digits
DEVICE_IKE_TAG = "vpnrunbook-device-ike"
DEVICE_ESP_TAG = "vpnrunbook-device-esp"


ENUMS = {"connectionType": ("IPsec", "Vnet2Vnet", "ExpressRoute", "VPNClient"),
         "connectionProtocol": ("IKEv1", "IKEv2"),
         "connectionMode": ("Default", "ResponderOnly", "InitiatorOnly"),
         "authenticationType": ("PSK", "Certificate")}
APIPA_BGP = ipaddress.ip_network("169.254.21.0/24"), ipaddress.ip_network("169.254.22.0/24")


def recent_property_problems(props: dict[str, Any]) -> list[Problem]:
    """Connection properties of recent api-versions: connectionMode, authenticationType/certificateAuthentication,
    trafficSelectorPolicies, tunnelProperties, gatewayCustomBgpIpAddresses (shapes of networkGateway.json)."""
    out: list[Problem] = []
    for field in ("connectionMode", "authenticationType"):
        if props.get(field) is not None and props[field] not in ENUMS[field]:
            out.append(Problem(f"properties.{field}", props[field], "is not allowed", ", ".join(ENUMS[field]),
                               f"Invalid{field[0].upper()}{field[1:]}"))
    cert = props.get("certificateAuthentication")
    if props.get("authenticationType") == "Certificate" and not (
            isinstance(cert, dict) and cert.get("outboundAuthCertificate") and cert.get("inboundAuthCertificateSubjectName")):
        out.append(Problem("properties.certificateAuthentication", cert, "is required with authenticationType "
                           "Certificate", "outboundAuthCertificate (Key Vault secret id) and "
                           "inboundAuthCertificateSubjectName", "CertificateAuthenticationRequired"))

    def cidr(field: str, value: Any) -> None:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            out.append(Problem(field, value, "is not a CIDR prefix", "a prefix such as 10.1.0.0/16",
                               "InvalidAddressPrefix"))

    for i, tsp in enumerate(props.get("trafficSelectorPolicies") or []):
        for side in ("localAddressRanges", "remoteAddressRanges"):
            ranges = tsp.get(side) if isinstance(tsp, dict) else None
            if not isinstance(ranges, list) or not ranges:
                out.append(Problem(f"properties.trafficSelectorPolicies[{i}].{side}", ranges, "needs at least one "
                                   "prefix", "a list of CIDR prefixes", "InvalidTrafficSelectorPolicy"))
                continue
            for j, r in enumerate(ranges):
                cidr(f"properties.trafficSelectorPolicies[{i}].{side}[{j}]", r)
    for i, tun in enumerate(props.get("tunnelProperties") or []):
        try:
            ipaddress.ip_address(str((tun or {}).get("tunnelIpAddress")))
        except ValueError:
            out.append(Problem(f"properties.tunnelProperties[{i}].tunnelIpAddress", (tun or {}).get("tunnelIpAddress"),
                               "is not an IP address", "the remote tunnel's IP address", "InvalidTunnelIpAddress"))
    for i, bgp in enumerate(props.get("gatewayCustomBgpIpAddresses") or []):
        value = (bgp or {}).get("customBgpIpAddress")
        try:
            ok = any(ipaddress.ip_address(str(value)) in net for net in APIPA_BGP)
        except ValueError:
            ok = False
        if not ok or not (bgp or {}).get("ipConfigurationId"):
            out.append(Problem(f"properties.gatewayCustomBgpIpAddresses[{i}]", value, "needs ipConfigurationId and "
                               "an APIPA customBgpIpAddress", "169.254.21.0 - 169.254.22.255",
                               "InvalidCustomBgpIpAddress"))
    return out


def canonical(value: Any, allowed: tuple[str, ...]) -> Any:
    """``IPSec`` → ``IPsec``: the canonical spelling of a case-insensitive enum value (others unchanged)."""
    if isinstance(value, str):
        for name in allowed:
            if name.lower() == value.lower():
                return name
    return value


def generate_key(length: int = 32) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def _referenced(ctx: Ctx, field: str, value: Any, kind: common.Kind, conn_id: str) -> Record:
    rid = common.ref(value)
    parsed = parse_id(rid)
    rec = ctx.get(rid) if parsed and parsed.segment.lower() == kind.segment.lower() else None
    if rec is None:
        raise errors.InvalidResourceReference(
            f"Resource {rid} referenced by resource {conn_id} (properties.{field}) was not found. Please make sure "
            "that the referenced resource exists, and that both resources are in the same region.")
    if rec.provisioning_state(ctx.now) != "Succeeded":
        raise errors.ReferencedResourceNotProvisioned(
            f"Cannot proceed with operation because resource {rec.id} used by resource {conn_id} is not in "
            f"Succeeded state. Resource is in {rec.provisioning_state(ctx.now)} state and the last operation that "
            "updated/is updating the resource is PutVirtualNetworkGatewayOperation.")
    return rec


def _policy_labels(i: int) -> dict[str, str]:
    return {spec.name: spec.wire for spec in rules.FIELDS}


def _policies(props: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Problem]]:
    raw = props.get("ipsecPolicies")
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [Problem("properties.ipsecPolicies", raw, "must be a list", "[] or one policy", "InvalidType")]
    problems = common.relabel(rules.check_policy_list(raw, label="ipsec_policies"), NAMES)
    for i, pol in enumerate(raw):
        if not isinstance(pol, dict):
            problems.append(Problem(f"properties.ipsecPolicies[{i}]", pol, "must be an object", "a policy",
                                    "InvalidType"))
            continue
        values = {rules.FIELDS_BY_WIRE[k].name: v for k, v in pol.items() if k in rules.FIELDS_BY_WIRE}
        unknown = sorted(set(pol) - set(rules.FIELDS_BY_WIRE))
        for k in unknown:
            problems.append(Problem(f"properties.ipsecPolicies[{i}].{k}", pol[k], "is not a policy field",
                                    ", ".join(rules.FIELDS_BY_WIRE), "UnknownField"))
        problems += rules.check_policy(values, names=_policy_labels(i), prefix=f"properties.ipsecPolicies[{i}].")
    return [dict(p) for p in raw if isinstance(p, dict)], problems


def validate(ctx: Ctx, body: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    name = ctx.params["name"]
    conn_id = common.resource_id(ctx.sub, ctx.rg, KIND.segment, name)
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    for field in REFS:  # keep references as ids (Azure ignores embedded copies)
        if props.get(field) is not None:
            rid = common.ref(props[field])
            props[field] = {"id": rid} if rid else props[field]
    for field, allowed in ENUMS.items():  # Azure's enums are case-insensitive on input, canonical on output
        if props.get(field) is not None:
            props[field] = canonical(props[field], allowed)
    ctype = props.get("connectionType")
    problems: list[Problem] = []
    if existing is not None:  # fixed at creation: reported first
        old = existing.body["properties"]
        wire = {"connection_type": "connectionType", "connection_protocol": "connectionProtocol",
                "virtual_network_gateway1": "virtualNetworkGateway1", "virtual_network_gateway2": "virtualNetworkGateway2",
                "local_network_gateway2": "localNetworkGateway2"}
        for field in rules.IMMUTABLE_CONNECTION_FIELDS:
            cur, new = old.get(wire[field]), props.get(wire[field], old.get(wire[field]) if field == "connection_protocol" else None)
            if field.endswith(("gateway1", "gateway2")):
                cur, new = common.ref(cur), common.ref(new)
            problems += rules.check_immutable(field, cur, new)
    problems += rules.check_connection_peer(ctype, has_gateway2=common.ref(props.get("virtualNetworkGateway2")) is not None,
                                           has_local_gateway2=common.ref(props.get("localNetworkGateway2")) is not None)
    if common.ref(props.get("virtualNetworkGateway1")) is None:
        problems.append(Problem("virtual_network_gateway1", None, "is required", "the id of this side's gateway",
                                "MissingVirtualNetworkGateway1"))
    protocol = props.setdefault("connectionProtocol",
                                existing.body["properties"].get("connectionProtocol", "IKEv2") if existing else "IKEv2")
    key = body.get("properties", {}).get("sharedKey")
    if key is not None:
        problems += rules.check_shared_key(key, label="shared_key")
    if "dpdTimeoutSeconds" in props:
        problems += rules.check_dpd_timeout(props["dpdTimeoutSeconds"])
    if props.get("routingWeight") is not None:
        problems += rules.check_routing_weight(props["routingWeight"])
    policies, policy_problems = _policies(props)
    problems = common.relabel(problems, NAMES) + policy_problems + recent_property_problems(props)
    common.fail_if(problems, KIND, name)

    gw1 = _referenced(ctx, "virtualNetworkGateway1", props["virtualNetworkGateway1"], gateways.KIND, conn_id)
    gw1p = gw1.body["properties"]
    late = common.relabel(rules.check_connection_protocol(protocol, sku=gw1p["sku"]["name"],
                                                          vpn_type=gw1p.get("vpnType") or "RouteBased"), NAMES)
    late += common.relabel(rules.check_custom_policy_allowed(policies, sku=gw1p["sku"]["name"],
                                                             vpn_type=gw1p["vpnType"]), NAMES)
    vnet1_space = _vnet_space(ctx, gw1)
    if ctype == "Vnet2Vnet":
        gw2 = _referenced(ctx, "virtualNetworkGateway2", props["virtualNetworkGateway2"], gateways.KIND, conn_id)
        if gw2.key == gw1.key:
            late.append(Problem("properties.virtualNetworkGateway2", gw2.id, "is the same gateway as virtualNetworkGateway1",
                                "the peer virtual network's gateway", "Vnet2VnetSameGateway"))
        late += common.relabel(rules.check_connection_bgp(
            props.get("enableBgp"), gateway_bgp=bool(gw1p.get("enableBgp")),
            peer_bgp=bool(gw2.body["properties"].get("enableBgp")),
            peer="the peer gateway (virtualNetworkGateway2)"), NAMES)
        for pair in rules.overlapping(vnet1_space, _vnet_space(ctx, gw2)):
            late.append(Problem("properties.virtualNetworkGateway2", f"{pair[0]} / {pair[1]}",
                                "the two virtual networks' address spaces overlap", "non-overlapping address spaces",
                                "VnetAddressSpacesOverlap"))
    else:
        lgw = _referenced(ctx, "localNetworkGateway2", props["localNetworkGateway2"], local_gateways.KIND, conn_id)
        late += common.relabel(rules.check_connection_bgp(
            props.get("enableBgp"), gateway_bgp=bool(gw1p.get("enableBgp")),
            peer_bgp=bool((lgw.body["properties"].get("bgpSettings") or {}).get("asn")),
            peer="the local network gateway (localNetworkGateway2 bgpSettings)"), NAMES)
        site = (lgw.body["properties"].get("localNetworkAddressSpace") or {}).get("addressPrefixes") or []
        for pair in rules.overlapping(vnet1_space, site):
            late.append(Problem("properties.localNetworkGateway2", f"{pair[0]} / {pair[1]}",
                                "the local network's prefixes overlap the virtual network's address space",
                                "on-premises prefixes outside the virtual network", "LocalNetworkAddressSpaceOverlap"))
    common.fail_if(late, KIND, name)
    props["ipsecPolicies"] = policies
    for k, v in (("routingWeight", 0), ("enableBgp", False), ("usePolicyBasedTrafficSelectors", False),
                 ("trafficSelectorPolicies", []), ("connectionMode", "Default"), ("useLocalAzureIpAddress", False),
                 ("dpdTimeoutSeconds", rules.DPD_TIMEOUT_SECONDS.default), ("expressRouteGatewayBypass", False)):
        props.setdefault(k, v)
    return props


def _vnet_space(ctx: Ctx, gw: Record) -> list[str]:
    cfgs = gw.body["properties"].get("ipConfigurations") or []
    parsed = parse_id(cfgs[0]["properties"]["subnet"]["id"]) if cfgs else None
    vnet = ctx.get(parsed.parent_id) if parsed else None
    return list(virtual_networks.address_space(vnet.body["properties"]) or []) if vnet else []


def after_write(ctx: Ctx, rec: Record, body: dict[str, Any]) -> None:
    key = (body.get("properties") or {}).get("sharedKey")
    if key is not None:
        ctx.store.set_secret(ctx.db, rec.key, key)
    elif ctx.store.get_secret(ctx.db, rec.key) is None:
        ctx.store.set_secret(ctx.db, rec.key, generate_key())  # Azure generates one when none is given


PEER_TAG = "vpnrunbook-peer-connection"  # vpnrunbook.operations.peers.PEER_TAG


# ---- connectionStatus ---------------------------------------------------------------------------------
def _policy_model(policies: list[dict[str, Any]]) -> Any:
    if not policies:
        return None
    from vpnrunbook.policy.model import IpsecIkePolicy

    return IpsecIkePolicy.from_mapping(policies[0], validate=False)


def _split(tag: str | None) -> list[str]:
    return [p.strip() for p in (tag or "").split(",") if p.strip()]


def connection_status(ctx: Ctx, rec: Record) -> str:
    if rec.provisioning_state(ctx.now) != "Succeeded":
        return "Unknown"
    props = rec.body["properties"]
    if props.get("connectionType") == "Vnet2Vnet":
        return "Connected" if reverse_connection(ctx, rec) is not None else "NotConnected"
    lgw = ctx.get(common.ref(props.get("localNetworkGateway2")) or "")
    peer_ip = lgw.body["properties"].get("gatewayIpAddress") if lgw else None
    if peer_ip and rules.check_public_ip("gatewayIpAddress", peer_ip):
        return "Unknown"  # a private peer address cannot answer over the internet (as recorded: Unknown)
    tags = (lgw.body.get("tags") or {}) if lgw else {}
    if DEVICE_IKE_TAG not in tags and DEVICE_ESP_TAG not in tags:
        return "Connected"
    try:
        from vpnrunbook.device.negotiate import predict_connection_status  # type: ignore[import-not-found]
    except ImportError:
        return "Connected"
    status, _reason = predict_connection_status(_policy_model(props.get("ipsecPolicies") or []),
                                                _split(tags.get(DEVICE_IKE_TAG)), _split(tags.get(DEVICE_ESP_TAG)))
    return str(status)


def _norm_policies(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: p.get(k) for k in rules.FIELDS_BY_WIRE} for p in props.get("ipsecPolicies") or []]


def reverse_connection(ctx: Ctx, rec: Record) -> Record | None:
    """The other direction of a Vnet2Vnet pair, if it exists with the same shared key and the same policy.

    A pair recorded by its ``vpnrunbook-peer-connection`` tags (on either side) is only that pair: two pairs
    between the same gateways do not connect across each other."""
    props = rec.body["properties"]
    mine_tag = fold((rec.body.get("tags") or {}).get(PEER_TAG) or "")
    my_id = fold(rec.id or "")
    gw1 = fold(common.ref(props.get("virtualNetworkGateway1")) or "")
    gw2 = fold(common.ref(props.get("virtualNetworkGateway2")) or "")
    mine = ctx.store.get_secret(ctx.db, rec.key)
    # Look first in the peer gateway's resource group (an indexed lookup, where the reverse usually is), then
    # everywhere: a fleet's lists stay linear instead of scanning every connection for each Vnet2Vnet one.
    peer = parse_id(gw2)
    scopes: list[dict[str, str]] = [{"sub": peer.sub, "rg": peer.rg}] if peer else []
    for scope in [*scopes, {}]:
        for other in ctx.store.list_where(ctx.db, ctx.now, type=CONNECTION_TYPE, body_contains=gw1 or None,
                                          **scope):
            op = other.body["properties"]
            if other.key == rec.key or op.get("connectionType") != "Vnet2Vnet":
                continue
            if fold(common.ref(op.get("virtualNetworkGateway1")) or "") != gw2 or \
                    fold(common.ref(op.get("virtualNetworkGateway2")) or "") != gw1:
                continue
            if other.provisioning_state(ctx.now) != "Succeeded":
                continue
            their_tag = fold((other.body.get("tags") or {}).get(PEER_TAG) or "")
            if (mine_tag and mine_tag != fold(other.id or "")) or (
                    their_tag and my_id and their_tag != my_id):
                continue
            if ctx.store.get_secret(ctx.db, other.key) == mine and _norm_policies(op) == _norm_policies(props):
                return other
    return None


def render_properties(ctx: Ctx, rec: Record) -> dict[str, Any]:
    props = copy.deepcopy(rec.body["properties"])
    for field in REFS:
        if isinstance(props.get(field), dict):
            props[field] = {"id": props[field].get("id"), "properties": {}}
    props["provisioningState"] = rec.provisioning_state(ctx.now)
    props["connectionStatus"] = connection_status(ctx, rec)
    props["ingressBytesTransferred"] = 0
    props["egressBytesTransferred"] = 0
    return props


KIND = common.Kind(segment="connections", arm_type=CONNECTION_TYPE, label="connection", validate=validate,
                   render_properties=render_properties, after_write=after_write)



# ---- shared key -----------------------------------------------------------------------------------------
def _connection(ctx: Ctx) -> Record:
    rec = ctx.get(KIND.key(ctx.sub, ctx.rg, ctx.params["name"]))
    if rec is None:
        raise common.not_found(KIND, ctx, ctx.params["name"])
    return rec


def _shared_key_body(rec: Record, value: str) -> dict[str, Any]:
    return {"id": f"{rec.id}/sharedkey", "value": value}


def get_shared_key(ctx: Ctx) -> Response:
    rec = _connection(ctx)
    return Response(200, _shared_key_body(rec, ctx.store.get_secret(ctx.db, rec.key) or ""))


def set_shared_key(ctx: Ctx) -> Response:
    rec = _connection(ctx)
    common.check_preconditions(ctx, rec)
    common.require_idle(ctx, rec, "connection")
    value = ctx.json().get("value")
    problems = common.relabel(rules.check_shared_key(value, label="value"), {})
    if problems:
        raise errors.ValidationFailed(problems, subject=f"The shared key of connection {rec.name!r} is invalid")
    ctx.store.set_secret(ctx.db, rec.key, value)
    rec.etag = new_etag()
    op_id = lro.start(ctx, rec, "sharedkey")
    ctx.store.save(ctx.db, rec)
    return Response(200, _shared_key_body(rec, value), lro.async_headers(ctx, rec, op_id))


def reset_shared_key(ctx: Ctx) -> Response:
    rec = _connection(ctx)
    common.require_idle(ctx, rec, "connection")
    length = ctx.json().get("keyLength")
    problems = rules.check_int("keyLength", length, rules.SHARED_KEY_LENGTH)
    if problems:
        raise errors.ValidationFailed(problems, subject=f"The shared key reset of connection {rec.name!r} is invalid")
    ctx.store.set_secret(ctx.db, rec.key, generate_key(int(length)))
    rec.etag = new_etag()
    op_id = lro.start(ctx, rec, "sharedkey", result={"keyLength": int(length)})
    ctx.store.save(ctx.db, rec)
    return Response(202, None, lro.async_headers(ctx, rec, op_id, with_location=True))
