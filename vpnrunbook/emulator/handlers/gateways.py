"""Microsoft.Network/virtualNetworkGateways: SKU/generation/VPN type by the shared rules, ~45 min to build."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers import common, public_ips, virtual_networks
from vpnrunbook.emulator.models import CONNECTION_TYPE, GATEWAY_TYPE, Ctx, parse_id, public_ip_for
from vpnrunbook.emulator.store import Record
from vpnrunbook.policy import rules
from vpnrunbook.policy.rules import Problem

READ_ONLY = {"provisioningState", "resourceGuid", "inboundDnsForwardingEndpoint"}
NAMES = {"gateway_type": "properties.gatewayType", "sku": "properties.sku.name", "vpn_type": "properties.vpnType",
         "generation": "properties.vpnGatewayGeneration", "gateway_subnet": "properties.ipConfigurations[0].subnet"}
DEFAULT_ASN = 65515
GENERATION2_ONLY = rules.GENERATION2_SKUS - rules.GENERATION1_SKUS


def default_generation(sku: str) -> str:
    return "Generation2" if sku in GENERATION2_ONLY else "Generation1"


def _sku_name(props: dict[str, Any]) -> Any:
    sku = props.get("sku")
    return sku.get("name") if isinstance(sku, dict) else None


def _check_ip_configurations(ctx: Ctx, props: dict[str, Any], gateway_key: str, name: str) -> list[dict[str, Any]]:
    configs = props.get("ipConfigurations")
    wanted = 2 if props.get("activeActive") else 1
    if not isinstance(configs, list) or len(configs) != wanted:
        raise errors.ValidationFailed(
            [Problem("properties.ipConfigurations", configs if not isinstance(configs, list) else len(configs),
                     f"a {'active-active' if wanted == 2 else 'single-instance'} gateway needs {wanted} IP "
                     "configuration(s)", f"{wanted} item(s) with subnet and publicIPAddress ids",
                     "InvalidIpConfigurationCount")],
            subject=f"The virtual network gateway {name!r} is invalid")
    gateway_id = f"{gateway_key}"
    out = []
    vnet_key = None
    for i, cfg in enumerate(configs):
        label = f"properties.ipConfigurations[{i}]"
        cfg_props = (cfg or {}).get("properties") or {}
        subnet_id = common.ref(cfg_props.get("subnet"))
        parsed = parse_id(subnet_id)
        if parsed is None or (parsed.child_segment or "").lower() != "subnets":
            raise errors.InvalidRequestFormat(
                f"Reference Id {subnet_id} is not formatted correctly. The Id is expected to reference resources "
                f"of type virtualNetworks/subnets. Path {label}.properties.subnet.",
                details=[{"code": "InvalidJsonReferenceFormat", "target": f"{label}.properties.subnet",
                          "message": f"Reference Id {subnet_id} is not formatted correctly."}])
        vnet = ctx.get(parsed.parent_id)
        subnet = None
        if vnet is not None:
            subnet = next((s for s in vnet.body["properties"].get("subnets", [])
                           if fold(s["name"]) == fold(parsed.child_name or "")), None)
        if subnet is None:
            raise errors.InvalidResourceReference(
                f"Resource {subnet_id} referenced by resource {gateway_id} was not found. Please make sure that "
                "the referenced resource exists, and that both resources are in the same region.")
        # The shared rule: the gateway subnet must be named GatewaySubnet (and be /29 or larger).
        layout = virtual_networks.layout_problems(virtual_networks.address_space(vnet.body["properties"]),
                                                  vnet.body["properties"].get("subnets", []),
                                                  gateway_subnet_role=subnet["name"])
        layout = [dataclass_relabel(p, f"{label}.properties.subnet") for p in layout
                  if p.code in ("InvalidGatewaySubnetName", "GatewaySubnetTooSmall")]
        common.fail_if(layout, KIND, name)
        vnet_key = vnet.key
        pip_id = common.ref(cfg_props.get("publicIPAddress"))
        pip = ctx.get(pip_id) if pip_id else None
        if pip is None:
            raise errors.InvalidResourceReference(
                f"Resource {pip_id} referenced by resource {gateway_id} was not found. Please make sure that "
                "the referenced resource exists, and that both resources are in the same region.")
        sku = (pip.body.get("sku") or {}).get("name", "Basic")
        if sku == "Basic" and _sku_name(props) != "Basic":
            raise errors.ArmError(
                "Basic IP configuration for VPN Virtual Network Gateways is not supported. Follow the link for more "
                f"details : https://go.microsoft.com/fwlink/p/?linkid=2241350 {gateway_id}",
                code="PublicIpWithBasicSkuNotAllowedOnVPNGateways")
        for used in public_ips.users(ctx, pip):
            if not fold(used).startswith(fold(gateway_key) + "/"):
                raise errors.PublicIPAddressInUse(
                    f"Public IP address {pip.id} is already used by {used}; a gateway needs its own public IP.")
        cfg_name = (cfg or {}).get("name") or f"ipconfig{i + 1}"
        out.append({"name": cfg_name, "id": f"{gateway_id}/ipConfigurations/{cfg_name}",
                    "properties": {"privateIPAllocationMethod": cfg_props.get("privateIPAllocationMethod", "Dynamic"),
                                   "subnet": {"id": subnet["id"]}, "publicIPAddress": {"id": pip.id}}})
    # One VPN gateway per virtual network.
    for other in ctx.store.list_where(ctx.db, ctx.now, type=GATEWAY_TYPE, body_contains=vnet_key):
        if other.key == fold(gateway_key):
            continue
        for cfg in other.body["properties"].get("ipConfigurations", []):
            parsed = parse_id(common.ref(cfg["properties"].get("subnet")))
            if parsed and fold(parsed.parent_id) == vnet_key:
                raise errors.ArmError(f"Virtual network {parsed.parent_id} already has gateway {other.id}; a "
                                      "virtual network holds one VPN gateway.", code="VnetAlreadyHasVpnGateway")
    return out


def dataclass_relabel(p: Problem, field: str) -> Problem:
    return Problem(field, p.value, p.message, p.allowed, p.code)


def validate(ctx: Ctx, body: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    name = ctx.params["name"]
    props = {k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY}
    props.setdefault("gatewayType", "Vpn")
    props.setdefault("vpnType", "RouteBased")
    if props.get("vpnGatewayGeneration") == "None":  # Azure PowerShell sends it; Azure answers the SKU's default
        del props["vpnGatewayGeneration"]           # (recordings/ps_ipsec_policies_crud.json: None → Generation1)
    sku = _sku_name(props)
    problems: list[Problem] = []
    if existing is not None:  # fixed at creation: reported first, it is the more basic mistake
        old = existing.body["properties"]
        for field, wire in (("gateway_type", "gatewayType"), ("vpn_type", "vpnType"),
                            ("generation", "vpnGatewayGeneration")):
            if field in rules.IMMUTABLE_GATEWAY_FIELDS and wire in props:
                problems += rules.check_immutable(field, old.get(wire), props[wire])
    problems += rules.check_gateway(sku=sku, vpn_type=props["vpnType"], generation=props.get("vpnGatewayGeneration"),
                                    gateway_type=props["gatewayType"])
    if not problems:  # retired SKUs: refused for a new gateway or a resize, kept on an existing gateway
        problems += rules.check_sku_creatable(sku, current=_sku_name(existing.body["properties"]) if existing else None)
    common.fail_if(common.relabel(problems, NAMES), KIND, name)
    props["sku"] = {"name": sku, "tier": sku, "capacity": 2}  # Azure reports two instances for VPN SKUs
    props.setdefault("vpnGatewayGeneration", existing.body["properties"]["vpnGatewayGeneration"] if existing
                     else default_generation(sku))
    gateway_id = common.resource_id(ctx.sub, ctx.rg, KIND.segment, name)
    props["ipConfigurations"] = _check_ip_configurations(ctx, props, gateway_id, name)
    for flag in ("activeActive", "enableBgp", "disableIPSecReplayProtection", "enablePrivateIpAddress",
                 "enableBgpRouteTranslationForNat", "allowRemoteVnetTraffic", "allowVirtualWanTraffic"):
        props.setdefault(flag, False)
    bgp = props.get("bgpSettings") if isinstance(props.get("bgpSettings"), dict) else {}
    props["bgpSettings"] = {"asn": bgp.get("asn", DEFAULT_ASN), "peerWeight": bgp.get("peerWeight", 0)}
    return without_secrets(props)  # stored without them: after_write keeps them in the secrets table


def _bgp_address(ctx: Ctx, subnet_id: str) -> str:
    parsed = parse_id(subnet_id)
    vnet = ctx.get(parsed.parent_id) if parsed else None
    for s in (vnet.body["properties"].get("subnets", []) if vnet else []):
        if fold(s["id"]) == fold(subnet_id):
            net = ipaddress.ip_network(virtual_networks.subnet_prefix(s))
            return str(net.broadcast_address - 1)
    return "0.0.0.0"


# ---- secrets: RADIUS server secrets are write-only, as in Azure ---------------------------------------
# Fields marked x-ms-secret in the gateway's spec (networkGateway.json 2026-03-01: VpnClientConfiguration and
# RadiusServer .radiusServerSecret). Azure accepts them on PUT and never returns them; the emulator keeps them
# in the store's secrets table (as it keeps connection shared keys), never in the resource body.
SECRET_FIELDS = frozenset({"radiusServerSecret"})
RADIUS_SECRETS = "#radius"  # secrets-table key suffix: {"": vpnClientConfiguration's, address: a server's}


def without_secrets(value: Any) -> Any:
    """A copy of ``value`` with every :data:`SECRET_FIELDS` key removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def _radius_secrets(props: dict[str, Any]) -> dict[str, str]:
    cfg = props.get("vpnClientConfiguration")
    found: dict[str, str] = {}
    if not isinstance(cfg, dict):
        return found
    if isinstance(cfg.get("radiusServerSecret"), str):
        found[""] = cfg["radiusServerSecret"]
    for server in cfg.get("radiusServers") or []:
        if isinstance(server, dict) and isinstance(server.get("radiusServerSecret"), str):
            found[str(server.get("radiusServerAddress"))] = server["radiusServerSecret"]
    return found


def after_write(ctx: Ctx, rec: Record, body: dict[str, Any]) -> None:
    """Keep the RADIUS secrets a PUT carried (one left out keeps its earlier value, as a PUT of a GET's body)."""
    given = _radius_secrets(body.get("properties") or {})
    if not given:
        return
    stored = ctx.store.get_secret(ctx.db, rec.key + RADIUS_SECRETS)
    secrets = {**(json.loads(stored) if stored else {}), **given}
    ctx.store.set_secret(ctx.db, rec.key + RADIUS_SECRETS, json.dumps(secrets, sort_keys=True))


def render_properties(ctx: Ctx, rec: Record) -> dict[str, Any]:
    props = without_secrets(rec.body["properties"])  # a body stored by an older version may still hold them
    state = rec.provisioning_state(ctx.now)
    peering = []
    for cfg in props["ipConfigurations"]:
        cfg["etag"] = rec.etag
        cfg["properties"]["provisioningState"] = state
        address = _bgp_address(ctx, cfg["properties"]["subnet"]["id"])
        if state == "Succeeded":
            cfg["properties"]["privateIPAddress"] = address
        peering.append({"ipconfigurationId": cfg["id"], "defaultBgpIpAddresses": [address],
                        "customBgpIpAddresses": [],
                        "tunnelIpAddresses": [public_ip_for(cfg["properties"]["publicIPAddress"]["id"])]})
    props["bgpSettings"]["bgpPeeringAddress"] = ",".join(p["defaultBgpIpAddresses"][0] for p in peering)
    props["bgpSettings"]["bgpPeeringAddresses"] = peering
    props.setdefault("natRules", [])
    for rule in props["natRules"]:  # child resources: their own etag and state
        if isinstance(rule, dict):
            rule["etag"] = rec.etag
            rule.setdefault("properties", {})["provisioningState"] = state
    props["provisioningState"] = state
    return props


def connections_of(ctx: Ctx, rec: Record) -> list[Record]:
    out = []
    for c in ctx.store.list_where(ctx.db, ctx.now, type=CONNECTION_TYPE, body_contains=rec.key):
        p = c.body["properties"]
        ends = {fold(common.ref(p.get("virtualNetworkGateway1")) or ""),
                fold(common.ref(p.get("virtualNetworkGateway2")) or "")}
        if rec.key in ends:
            out.append(c)
    return out


def check_delete(ctx: Ctx, rec: Record) -> None:
    used = connections_of(ctx, rec)
    if used:
        raise errors.ResourceInUse(f"Virtual network gateway {rec.id} cannot be deleted: it is used by connection "
                                   f"{', '.join(c.id for c in used)}. Delete the connections first.")


KIND = common.Kind(segment="virtualNetworkGateways", arm_type=GATEWAY_TYPE, label="virtual network gateway",
                   validate=validate, render_properties=render_properties, check_delete=check_delete,
                   after_write=after_write,
                   top_level=("identity", "extendedLocation"))

