"""Actions on gateways and connections: IKE SAs, device configuration scripts, resets, the connections of a
gateway, packet capture, BGP peer status and learned/advertised routes.

The long-running ones (``getikesas``, resets, packet capture, routes) answer 202 with an operation that is
already finished and carries the result at its Location URL; they do not change the resource's state.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from vpnrunbook.emulator import errors, lro, vpn_devices
from vpnrunbook.emulator.handlers import common, connections, gateways, local_gateways
from vpnrunbook.emulator.models import Ctx, Response, public_ip_for
from vpnrunbook.emulator.store import Record

LIST_ENTITY_ABSENT = ("dpdTimeoutSeconds", "useLocalAzureIpAddress")


def _action(ctx: Ctx, rec: Record, result: Any) -> Response:
    """202 with a finished operation whose Location answer is ``result`` (200) or nothing (204)."""
    op_id = str(uuid.uuid4())
    ctx.store.add_operation(ctx.db, op_id=op_id, resource_key=rec.key, kind="action", location=rec.location,
                            start=ctx.now, done=ctx.now, result=result, status="Succeeded", error=None)
    return Response(202, None, lro.async_headers(ctx, rec, op_id, with_location=True))


def _get(ctx: Ctx, kind: common.Kind) -> Record:
    rec = ctx.get(kind.key(ctx.sub, ctx.rg, ctx.params["name"]))
    if rec is None:
        raise common.not_found(kind, ctx, ctx.params["name"])
    return rec


def _policy_of(rec: Record) -> dict[str, Any]:
    pols = rec.body["properties"].get("ipsecPolicies") or []
    if pols:
        return pols[0]
    return {"ikeEncryption": "AES256", "ikeIntegrity": "SHA256", "dhGroup": "DHGroup2", "ipsecEncryption": "GCMAES256",
            "ipsecIntegrity": "GCMAES256", "pfsGroup": "None", "saLifeTimeSeconds": 27000}


# ---- connections -------------------------------------------------------------------------------------
def get_ike_sas(ctx: Ctx) -> Response:
    """The shape of Get-AzVirtualNetworkGatewayConnectionIkeSa, from the connection's policy and status."""
    rec = _get(ctx, connections.KIND)
    status = connections.connection_status(ctx, rec)
    props = rec.body["properties"]
    gw = ctx.get(common.ref(props.get("virtualNetworkGateway1")) or "")
    local = public_ip_for(gw.body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"]) \
        if gw else ""
    peer = ctx.get(common.ref(props.get("localNetworkGateway2")) or common.ref(props.get("virtualNetworkGateway2")) or "")
    remote = (peer.body["properties"].get("gatewayIpAddress") if peer else None) or ""
    sas: list[dict[str, Any]] = []
    if status == "Connected":
        pol = _policy_of(rec)
        sas.append({"localEndpoint": local, "remoteEndpoint": remote, "initiatorCookie": 1, "responderCookie": 2,
                    "localUdpEncapsulationPort": 0, "remoteUdpEncapsulationPort": 0,
                    "encryption": pol.get("ikeEncryption"), "integrity": pol.get("ikeIntegrity"),
                    "dhGroup": pol.get("dhGroup"), "lifeTimeSeconds": pol.get("saLifeTimeSeconds", 27000),
                    "isSaInitiator": False, "elapsedTimeInseconds": 1,
                    "quickModeSa": [{"localEncapsulationPort": 0, "remoteEncapsulationPort": 0, "inboundSPI": 1001,
                                     "outboundSPI": 2001, "encryption": pol.get("ipsecEncryption"),
                                     "integrity": pol.get("ipsecIntegrity"), "pfsGroupId": pol.get("pfsGroup"),
                                     "lifetimeSeconds": pol.get("saLifeTimeSeconds", 27000),
                                     "elapsedTimeInseconds": 1, "isSaInitiator": False, "localTrafficSelectors": [],
                                     "remoteTrafficSelectors": []}]})
    return _action(ctx, rec, json.dumps(sas))


def device_configuration_script(ctx: Ctx) -> Response:
    """POST …/vpndeviceconfigurationscript for a device of Azure's list (:mod:`vpn_devices`): the renderer's
    configuration for the Cisco IOS families, Azure's parameter sheet for the others; the key as a placeholder."""
    rec = _get(ctx, connections.KIND)
    body = ctx.json()
    try:
        device = vpn_devices.find(str(body.get("vendor", "")), str(body.get("deviceFamily", "")),
                                  str(body.get("firmwareVersion", "")))
    except vpn_devices.UnknownDevice as exc:
        raise errors.ArmError(str(exc), code=exc.code) from None
    from vpnrunbook.policy.model import IpsecIkePolicy

    props = rec.body["properties"]
    pols = props.get("ipsecPolicies") or []
    gw = ctx.get(common.ref(props.get("virtualNetworkGateway1")) or "")
    remote = public_ip_for(gw.body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"]) \
        if gw else "0.0.0.0"
    lgw = ctx.get(common.ref(props.get("localNetworkGateway2")) or "")
    local_prefixes = ((lgw.body["properties"].get("localNetworkAddressSpace") or {}).get("addressPrefixes")
                      if lgw else None) or ["192.168.0.0/24"]
    remote_prefixes = (connections._vnet_space(ctx, gw) if gw else []) or ["10.0.0.0/16"]  # noqa: SLF001
    if device.renderer == "parameters":
        return Response(200, _parameter_sheet(device, rec, gw, lgw, remote, remote_prefixes, local_prefixes))
    from vpnrunbook.device import render

    policy = IpsecIkePolicy.from_mapping(pols[0], validate=False) if pols else None
    config = render.render_cisco(policy, remote_address=remote, local_prefixes=local_prefixes,
                                 remote_prefixes=remote_prefixes, shared_key_ref="env:VPNRUNBOOK_DEVICE_SHARED_KEY",
                                 use_policy_based_traffic_selectors=bool(props.get("usePolicyBasedTrafficSelectors")))
    return Response(200, config.text)


def _parameter_sheet(device: vpn_devices.Device, rec: Record, gw: Record | None, lgw: Record | None, remote: str,
                     vnet_prefixes: list[str], site_prefixes: list[str]) -> str:
    """The connection's parameters in the layout Azure's device templates open with ([1]-[10])."""
    from vpnrunbook.device.render import SHARED_KEY_PLACEHOLDER

    props = rec.body["properties"]
    pol = _policy_of(rec)
    lgw_props = lgw.body["properties"] if lgw else {}
    bgp = (gw.body["properties"].get("bgpSettings") or {}) if gw else {}
    lgw_bgp = lgw_props.get("bgpSettings") or {}
    lines = [f"! Microsoft Azure VPN device parameters for {device.vendor} / {device.family} / {device.firmware}",
             "! (the emulator writes Azure's parameter sheet for this device; the configuration itself is the "
             "vendor's)", "",
             "! [1] Resource names",
             f"/Data/CONNECTION_NAME = {rec.name}",
             f"/Data/VNG_NAME        = {gw.name if gw else ''}",
             f"/Data/LNG_NAME        = {lgw.name if lgw else ''}", "",
             "! [2] Public IP address of the Azure VPN gateway", f"/Data/VNG_GATEWAYIP   = {remote}", "",
             "! [3] Public IP address of the on-premises VPN device",
             f"/Data/LNG_GATEWAYIP   = {lgw_props.get('gatewayIpAddress') or lgw_props.get('fqdn') or ''}", "",
             "! [4] VNet address prefixes", *[f"/Data/VnetSubnets/Subnet/SP_NetworkCIDR = {p}" for p in vnet_prefixes],
             "", "! [5] On-premises address prefixes",
             *[f"/Data/OnPremiseSubnets/Subnet/SP_NetworkCIDR = {p}" for p in site_prefixes], "",
             "! [6] Phase 1/Main Mode",
             f"/Data/IKE_ENCRYPTION_1 = {pol.get('ikeEncryption')}",
             f"/Data/IKE_INTEGRITY_1  = {pol.get('ikeIntegrity')}",
             f"/Data/IKE_DHGROUP_1    = {pol.get('dhGroup')}",
             "/Data/IKE_SALIFETIME_1 = 28800", "",
             "! [7] Phase 2/Quick Mode",
             f"/Data/IPsec_ENCRYPTION_1  = {pol.get('ipsecEncryption')}",
             f"/Data/IPsec_INTEGRITY_1   = {pol.get('ipsecIntegrity')}",
             f"/Data/IPsec_PFSGROUP_1    = {pol.get('pfsGroup')}",
             f"/Data/IPsec_SALIFETIME    = {pol.get('saLifeTimeSeconds', 27000)}",
             f"/Data/IPsec_KB_SALIFETIME = {pol.get('saDataSizeKilobytes', 102400000)}", "",
             "! [8] Connection pre-shared key (read it with the sharedkey endpoint; never written here)",
             f"/Data/CONNECTION_PSK = {SHARED_KEY_PLACEHOLDER}", "",
             "! [9] BGP parameters - Azure VPN gateway",
             f"/Data/CONNECTION_BGP_ENABLED = {bool(props.get('enableBgp'))}",
             f"/Data/VNG_ASN                = {bgp.get('asn', '')}", "",
             "! [10] BGP parameters - on-premises network / LNG",
             f"/Data/LNG_ASN   = {lgw_bgp.get('asn', '')}",
             f"/Data/LNG_BGPIP = {lgw_bgp.get('bgpPeeringAddress', '')}", ""]
    return "\n".join(lines)


def reset_connection(ctx: Ctx) -> Response:
    rec = _get(ctx, connections.KIND)
    common.require_idle(ctx, rec, "connection")
    return _action(ctx, rec, None)


# ---- gateways ----------------------------------------------------------------------------------------
def supported_vpn_devices(ctx: Ctx) -> Response:
    """The devices Azure lists (:mod:`vpnrunbook.emulator.vpn_devices`), as the XML document Azure answers."""
    _get(ctx, gateways.KIND)
    return Response(200, vpn_devices.supported_xml())


def reset_gateway(ctx: Ctx) -> Response:
    rec = _get(ctx, gateways.KIND)
    common.require_idle(ctx, rec, "virtual network gateway")
    return _action(ctx, rec, common.render(ctx, gateways.KIND, rec))


def gateway_connections(ctx: Ctx) -> Response:
    """GET …/virtualNetworkGateways/{name}/connections: ListConnections (the VirtualNetworkGatewayConnectionListEntity)."""
    rec = _get(ctx, gateways.KIND)
    value = []
    for c in gateways.connections_of(ctx, rec):
        body = common.render(ctx, connections.KIND, c)
        props = body["properties"]
        for field in LIST_ENTITY_ABSENT:  # VirtualNetworkGatewayConnectionListEntity has no such properties
            props.pop(field, None)
        for field in connections.REFS:
            if isinstance(props.get(field), dict):
                props[field] = {"id": props[field]["id"]}
        value.append(body)
    return Response(200, {"value": value})


def start_packet_capture(ctx: Ctx) -> Response:
    kind = gateways.KIND if "virtualnetworkgateways" in ctx.path.lower() else connections.KIND
    rec = _get(ctx, kind)
    rec.extra["capturing"] = True
    return _action(ctx, rec, "Packet capture started.")


def stop_packet_capture(ctx: Ctx) -> Response:
    kind = gateways.KIND if "virtualnetworkgateways" in ctx.path.lower() else connections.KIND
    rec = _get(ctx, kind)
    body = ctx.json() if ctx.raw_body else {}
    if body and not isinstance(body.get("sasUrl"), str):
        raise errors.ArmError("sasUrl (string) is required to stop a packet capture.", code="InvalidRequestContent")
    return _action(ctx, rec, "Packet capture stopped.")


def _bgp_address(ctx: Ctx, rec: Record) -> str:
    return common.render(ctx, gateways.KIND, rec)["properties"]["bgpSettings"]["bgpPeeringAddress"]


def bgp_peer_status(ctx: Ctx) -> Response:
    rec = _get(ctx, gateways.KIND)
    value = []
    for c in gateways.connections_of(ctx, rec):
        if not c.body["properties"].get("enableBgp"):
            continue
        lgw = ctx.get(common.ref(c.body["properties"].get("localNetworkGateway2")) or "")
        bgp = (lgw.body["properties"].get("bgpSettings") or {}) if lgw else {}
        connected = connections.connection_status(ctx, c) == "Connected"
        value.append({"localAddress": _bgp_address(ctx, rec), "neighbor": bgp.get("bgpPeeringAddress"),
                      "asn": bgp.get("asn"), "state": "Connected" if connected else "Idle",
                      "connectedDuration": "00:00:01" if connected else "", "routesReceived": 0,
                      "messagesSent": 1, "messagesReceived": 1})
    return _action(ctx, rec, {"value": value})


def learned_routes(ctx: Ctx) -> Response:
    rec = _get(ctx, gateways.KIND)
    address = _bgp_address(ctx, rec)
    value = [{"localAddress": address, "network": p, "nextHop": "", "sourcePeer": address, "origin": "Network",
              "asPath": "", "weight": 32768} for p in connections._vnet_space(ctx, rec)]  # noqa: SLF001
    for c in gateways.connections_of(ctx, rec):
        lgw = ctx.get(common.ref(c.body["properties"].get("localNetworkGateway2")) or "")
        if lgw is None or connections.connection_status(ctx, c) != "Connected":
            continue
        for p in (lgw.body["properties"].get("localNetworkAddressSpace") or {}).get("addressPrefixes") or []:
            value.append({"localAddress": address, "network": p, "nextHop": lgw.body["properties"].get(
                "gatewayIpAddress"), "sourcePeer": address, "origin": "Network", "asPath": "", "weight": 32768})
    return _action(ctx, rec, {"value": value})


def advertised_routes(ctx: Ctx) -> Response:
    rec = _get(ctx, gateways.KIND)
    if not ctx.query.get("peer"):
        raise errors.ArmError("The 'peer' query parameter is required.", code="MissingRequiredParameter")
    address = _bgp_address(ctx, rec)
    value = [{"localAddress": address, "network": p, "nextHop": address, "sourcePeer": address, "origin": "Igp",
              "asPath": str(rec.body["properties"]["bgpSettings"]["asn"]), "weight": 0}
             for p in connections._vnet_space(ctx, rec)]  # noqa: SLF001
    return _action(ctx, rec, {"value": value})


_ = local_gateways  # the local gateway module is the peer of every S2S answer above
