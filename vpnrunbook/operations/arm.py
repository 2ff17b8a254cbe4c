"""ARM helpers shared by the operations: resource ids, reads that return ``None`` for 404, writable bodies."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from vpnrunbook.azure.names import InvalidNameError, check_resource_group, fold, resource_name_problem
from vpnrunbook.operations.plan import SECRET_KEYS, scrub

log = logging.getLogger("vpnrunbook.operations")

PROVIDER = "Microsoft.Network"
# REST type segment for each write kind
TYPES = {
    "virtual_network": "virtualNetworks",
    "public_ip": "publicIPAddresses",
    "virtual_network_gateway": "virtualNetworkGateways",
    "local_network_gateway": "localNetworkGateways",
    "connection": "connections",
}
# Properties ARM computes; left out of the bodies we PUT back.
READ_ONLY_KEYS = frozenset({
    "etag", "provisioningState", "resourceGuid", "connectionStatus", "tunnelConnectionStatus",
    "egressBytesTransferred", "ingressBytesTransferred", "virtualNetworkGatewayMigrationStatus",
})
_ID_RE = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
                    r"(?:/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)(?P<rest>/.*)?)?$", re.I)


def resource_id(session: Any, resource_group: str, kind: str, name: str) -> str:
    """The ARM id of a resource; the names must follow Azure's rules (an id is also a URL path: a name such as
    ``..`` or one holding ``/`` would point somewhere else). Raises :class:`InvalidNameError` (a ValueError)."""
    check_resource_group(resource_group)
    if kind != "resource_group" and resource_name_problem(name):
        raise InvalidNameError(f"{kind.replace('_', ' ')} {resource_name_problem(name)}")
    if kind == "resource_group":
        return f"/subscriptions/{session.subscription_id}/resourceGroups/{resource_group}"
    return (f"/subscriptions/{session.subscription_id}/resourceGroups/{resource_group}/providers/"
            f"{PROVIDER}/{TYPES[kind]}/{name}")


def subnet_id(session: Any, resource_group: str, vnet: str, subnet: str) -> str:
    return resource_id(session, resource_group, "virtual_network", vnet) + f"/subnets/{subnet}"


def label(resource_group: str, kind: str, name: str) -> str:
    """Short, readable resource name for plan tables: ``TestRG1/connections/VNet1toSite6``."""
    if kind == "resource_group":
        return f"resourceGroups/{resource_group}"
    return f"{resource_group}/{TYPES[kind]}/{name}"


def parse_id(rid: str) -> dict[str, str]:
    """``{subscription, resource_group, type, name}`` of an ARM id (case kept as given)."""
    m = _ID_RE.match(rid or "")
    if not m:
        raise ValueError(f"{rid!r} is not an ARM resource id (/subscriptions/.../resourceGroups/.../providers/...)")
    return {"subscription": m["sub"], "resource_group": m["rg"], "type": m["type"] or "resourceGroups",
            "name": m["name"] or m["rg"], "rest": m["rest"] or ""}


def same_id(a: str | None, b: str | None) -> bool:
    """The same resource, as ARM compares ids (ordinal ignore-case, :func:`vpnrunbook.azure.names.fold`)."""
    return bool(a) and bool(b) and fold(str(a).rstrip("/")) == fold(str(b).rstrip("/"))


def read(getter: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
    """Call an SDK ``get`` and return the REST dict, or ``None`` when the resource (or its group) is absent."""
    try:
        found = getter(*args)
    except ResourceNotFoundError:
        return None
    return found.as_dict() if hasattr(found, "as_dict") else dict(found)


def getter_for(session: Any, kind: str) -> Callable[..., Any]:
    net = session.network
    return {
        "resource_group": lambda rg, _name: session.resources.resource_groups.get(rg),
        "virtual_network": net.virtual_networks.get,
        "public_ip": net.public_ip_addresses.get,
        "virtual_network_gateway": net.virtual_network_gateways.get,
        "local_network_gateway": net.local_network_gateways.get,
        "connection": net.virtual_network_gateway_connections.get,
    }[kind]


def read_kind(session: Any, kind: str, resource_group: str, name: str) -> dict[str, Any] | None:
    return read(getter_for(session, kind), resource_group, name)


def read_resource(session: Any, write: dict[str, Any]) -> dict[str, Any] | None:
    """The resource a journal write record names (kind, resource_group, name), as its REST dict without secrets;
    None when absent. The reader ``vpnrunbook evidence reconcile`` is handed."""
    from vpnrunbook.operations.plan import snapshot

    return snapshot(read_kind(session, write["kind"], write["resource_group"], write["name"]))


def writable(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a REST dict fit to PUT back: no read-only status fields, no secrets."""
    def strip(value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            return {k: strip(v, depth + 1) for k, v in value.items()
                    if k not in SECRET_KEYS and not (k in READ_ONLY_KEYS and depth <= 3)}
        if isinstance(value, list):
            return [strip(v, depth + 1) for v in value]
        return value
    return strip(scrub(body), 0)


def error_code_message(exc: Exception) -> tuple[str | None, str | None]:
    """The ARM error code and message an azure-core ``HttpResponseError`` carries (None when absent)."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or getattr(exc, "message", None)
    return (str(code) if code else None), (str(message) if message else None)


def lro_options(session: Any) -> dict[str, Any]:
    interval = getattr(session, "polling_interval", None)
    return {} if interval is None else {"polling_interval": interval}
