"""ARM identifiers, ETags, generated read-only values and the request context handlers work with."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors
from vpnrunbook.emulator.store import Record, Store

if TYPE_CHECKING:
    from vpnrunbook.emulator.app import EmulatorApp

NETWORK = "Microsoft.Network"
NETWORK_API_VERSION = "2026-03-01"
RESOURCES_API_VERSION = "2025-04-01"
# The stable api-versions clients send, all served with today's model: Microsoft.Network from 2018-01-01 — every
# released version whose model for these resources (virtualNetworks, publicIPAddresses, virtualNetworkGateways,
# localNetworkGateways, connections) is a subset of today's; fields were only added since (ipsecPolicies is in
# all of them, vpnGatewayGeneration came in 2019-07-01). The list is the one learn.microsoft.com/azure/templates
# publishes for Microsoft.Network localNetworkGateways (2018-01-01 … 2024-07-01) plus the later releases the Azure
# CLI and SDKs send; templates still pin 2019-x and 2020-11-01. Microsoft.Resources: its released stable versions
# from 2018-02-01 (azure-rest-api-specs resources/stable, as azure-mgmt-resource's multi-API folders shipped
# them). Preview or unknown versions are refused with NoRegisteredProviderFound / InvalidApiVersionParameter.
NETWORK_STABLE_API_VERSIONS = (
    "2018-01-01", "2018-02-01", "2018-04-01", "2018-06-01", "2018-07-01", "2018-08-01", "2018-10-01", "2018-11-01",
    "2018-12-01", "2019-02-01", "2019-04-01", "2019-06-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-11-01",
    "2019-12-01", "2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01", "2020-11-01",
    "2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2022-01-01", "2022-05-01", "2022-07-01", "2022-09-01",
    "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01",
    "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01", "2025-01-01", "2025-03-01", "2025-05-01", "2025-07-01",
    "2025-09-01", NETWORK_API_VERSION)
RESOURCES_STABLE_API_VERSIONS = ("2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01",
                                 "2019-08-01", "2019-10-01", "2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01",
                                 "2021-04-01", "2022-09-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01",
                                 "2025-03-01", RESOURCES_API_VERSION)
SUPPORTED_API_VERSIONS = {"Microsoft.Network": NETWORK_STABLE_API_VERSIONS,
                          "Microsoft.Resources": RESOURCES_STABLE_API_VERSIONS}

RESOURCE_GROUP_TYPE = "Microsoft.Resources/resourceGroups"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
PUBLIC_IP_TYPE = "Microsoft.Network/publicIPAddresses"
GATEWAY_TYPE = "Microsoft.Network/virtualNetworkGateways"
LOCAL_GATEWAY_TYPE = "Microsoft.Network/localNetworkGateways"
CONNECTION_TYPE = "Microsoft.Network/connections"


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def resource_id(sub: str, rg: str, segment: str, name: str) -> str:
    return f"{rg_id(sub, rg)}/providers/{NETWORK}/{segment}/{name}"


@dataclass(frozen=True)
class ParsedId:
    sub: str
    rg: str
    segment: str  # e.g. virtualNetworks
    name: str
    child_segment: str | None = None
    child_name: str | None = None

    @property
    def parent_id(self) -> str:
        return resource_id(self.sub, self.rg, self.segment, self.name)


def parse_id(value: Any) -> ParsedId | None:
    """Parse ``/subscriptions/S/resourceGroups/R/providers/Microsoft.Network/T/N[/C/M]`` (case-insensitive)."""
    if not isinstance(value, str):
        return None
    parts = value.strip("/").split("/")
    if len(parts) not in (8, 10) or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        return None
    if parts[4].lower() != "providers" or parts[5].lower() != NETWORK.lower():
        return None
    if len(parts) == 10:
        return ParsedId(parts[1], parts[3], parts[6], parts[7], parts[8], parts[9])
    return ParsedId(parts[1], parts[3], parts[6], parts[7])


def normalize_location(value: str) -> str:
    """Azure answers locations in their short form: ``Central US`` → ``centralus``."""
    return value.replace(" ", "").lower()


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def new_guid() -> str:
    return str(uuid.uuid4())


def public_ip_for(key: str) -> str:
    """A stable public address for a resource id, in 20.0.0.0/8 (an Azure public range), never .0 or .255."""
    digest = hashlib.sha256(fold(key).encode()).digest()
    return f"20.{digest[0]}.{digest[1]}.{1 + digest[2] % 254}"


class RawJson(bytes):
    """A response body already serialized as JSON: the transport and the server send these bytes as they are."""


def serialized(body: Any) -> bytes:
    """A response body as the bytes sent (``b""`` for None)."""
    if body is None:
        return b""
    return bytes(body) if isinstance(body, RawJson) else json.dumps(body).encode("utf-8")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """One request as the handlers see it: parsed URL, headers, JSON body, and the open store transaction."""

    app: EmulatorApp
    store: Store
    db: sqlite3.Connection
    now: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    _factor: float | None = None

    @property
    def sub(self) -> str:
        return self.params["sub"]

    @property
    def rg(self) -> str:
        return self.params["rg"]

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    @property
    def factor(self) -> float:
        if self._factor is None:
            self._factor = self.store.time_factor(self.db)
        return self._factor

    def json(self) -> dict[str, Any]:
        if not self.raw_body:
            raise errors.InvalidRequestFormat("The request body is empty; a JSON object is required.")
        from vpnrunbook.emulator.limits import loads

        data = loads(self.raw_body)
        if not isinstance(data, dict):
            raise errors.InvalidRequestFormat(
                f"The request body is a JSON {type(data).__name__}; a JSON object is required.")
        return data

    def get(self, key: str) -> Record | None:
        return self.store.get(self.db, key, self.now)

    def url(self, path: str, api_version: str) -> str:
        return f"{self.base_url}{path}?api-version={api_version}"


Handler = Callable[[Ctx], Response]
