"""Local network gateway (the on-premises side): ensure-style step."""

from __future__ import annotations

import re
from typing import Any

from vpnrunbook.operations import arm
from vpnrunbook.operations.apply import finish
from vpnrunbook.operations.network import _read_existing
from vpnrunbook.operations.plan import OperationResult, Plan, Write, diff_fields, dig, failed_retry, snapshot
from vpnrunbook.operations.prechecks import Prechecks, require_text
from vpnrunbook.policy import rules

DEVICE_IKE_TAG = "vpnrunbook-device-ike"
DEVICE_ESP_TAG = "vpnrunbook-device-esp"
_PROPOSAL_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _proposals(checks: Prechecks, fieldname: str, value: str | list[str] | None) -> str | None:
    """strongSwan proposals for the emulated device: ``"aes256-sha256"`` or a list → comma-joined tag value."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(isinstance(i, str) and _PROPOSAL_RE.match(i)
                                                                   for i in items):
        checks.error(fieldname, value, "is not a list of strongSwan proposals",
                     "e.g. 'aes256-sha384-modp2048s256' or ['aes256-sha256', 'aes128-sha1']", "InvalidProposal")
        return None
    return ",".join(items)


def ensure_local_network_gateway(session: Any, *, resource_group: str, name: str, location: str,
                                 gateway_ip_address: str | None, address_prefixes: list[str] | None,
                                 device_ike: str | list[str] | None = None, device_esp: str | list[str] | None = None,
                                 apply: bool = False) -> OperationResult:
    """Create or align a local network gateway: public IP of the device and its on-premises prefixes.

    ``device_ike``/``device_esp`` (strongSwan proposals) tag the gateway for the emulator's device model.
    ``None`` leaves an existing gateway's IP address (or prefixes, or device tags) as it is; creating needs both.
    """
    step = f"local network gateway {name}"
    checks = Prechecks(step, apply)
    require_text(checks, "resource_group", resource_group)
    require_text(checks, "name", name)
    require_text(checks, "location", location)
    if gateway_ip_address is not None:
        checks.add(rules.check_public_ip("gateway_ip_address", gateway_ip_address))
    if address_prefixes is not None:
        checks.add(rules.check_prefixes("address_prefixes", address_prefixes))
    ike = _proposals(checks, "device_ike", device_ike)
    esp = _proposals(checks, "device_esp", device_esp)
    checks.raise_if_any()
    rid, label, current = _read_existing(session, checks, "local_network_gateway", resource_group, name, location)
    if current is None:  # "leave as it is" has nothing to leave: creating needs the values
        for fieldname, value, example in (("gateway_ip_address", gateway_ip_address, "131.107.72.22"),
                                          ("address_prefixes", address_prefixes, "[10.61.0.0/16]")):
            if value is None:
                checks.error(fieldname, None, f"is required to create the local network gateway {name} (it does not "
                             "exist yet); null only leaves an existing gateway's value as it is", f"e.g. {example}",
                             "MissingField")
    checks.raise_if_any()
    if gateway_ip_address is None:
        gateway_ip_address = dig(current, "properties", "gatewayIpAddress")
    if address_prefixes is None:
        address_prefixes = list(dig(current, "properties", "localNetworkAddressSpace", "addressPrefixes", default=[]))

    desired: dict[str, Any] = {"gatewayIpAddress": gateway_ip_address,
                               "localNetworkAddressSpace.addressPrefixes": list(address_prefixes)}
    tags = {k: v for k, v in ((DEVICE_IKE_TAG, ike), (DEVICE_ESP_TAG, esp)) if v is not None}
    desired.update({f"tags.{k}": v for k, v in tags.items()})
    if current is None:
        desired = {"location": location, **desired}
        flat_now = None
    else:
        flat_now = {"gatewayIpAddress": dig(current, "properties", "gatewayIpAddress"),
                    "localNetworkAddressSpace.addressPrefixes": dig(current, "properties", "localNetworkAddressSpace",
                                                                    "addressPrefixes", default=[])}
        flat_now.update({f"tags.{k}": v for k, v in (current.get("tags") or {}).items()})
    changes = diff_fields(label, flat_now, desired)
    plan = Plan(step, changes, etags={rid: (current or {}).get("etag")}, before={rid: snapshot(current)},
                resources=[rid], notes=checks.notes, target=getattr(session, "target", ""))
    retry = failed_retry(label, current, "local network gateway")
    if retry is not None:
        changes.insert(0, retry[0])
        plan.notes.append(retry[1])
    if changes:
        if current is None:
            body: dict[str, Any] = {"location": location, "properties": {}}
        else:
            body = arm.writable(current)
        body["tags"] = {**(body.get("tags") or {}), **tags}
        props = body.setdefault("properties", {})
        props["gatewayIpAddress"] = gateway_ip_address
        props["localNetworkAddressSpace"] = {**(props.get("localNetworkAddressSpace") or {}),
                                             "addressPrefixes": list(address_prefixes)}
        plan.writes.append(Write("local_network_gateway", resource_group, name, rid, label, body,
                                 (current or {}).get("etag"), current is not None))
    return finish(session, plan, apply)
