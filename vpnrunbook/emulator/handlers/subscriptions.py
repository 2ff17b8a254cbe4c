"""Microsoft.Resources subscription-level reads a client needs after login and for discovery.

``GET /subscriptions``, ``GET /subscriptions/{id}``, ``GET /tenants`` and
``GET /subscriptions/{s}/providers[/{namespace}]`` (resource types with the api-versions served); the generic
resource lists are in ``resource_list.py``.
"""

from __future__ import annotations

from typing import Any

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.handlers.identity import EMULATOR_TENANT
from vpnrunbook.emulator.models import SUPPORTED_API_VERSIONS, Ctx, Response

EMULATOR_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SUBSCRIPTION_NAME = "vpnrunbook emulator"
LOCATIONS = ("westus", "eastus", "westus2", "eastus2", "centralus", "westeurope", "northeurope", "uksouth")
NETWORK_TYPES = ("virtualNetworks", "virtualNetworks/subnets", "publicIPAddresses", "virtualNetworkGateways",
                 "localNetworkGateways", "connections", "virtualNetworkGateways/natRules", "locations",
                 "locations/operations", "locations/operationResults")
RESOURCES_TYPES = ("resourceGroups", "deployments", "deployments/operations", "subscriptions", "tenants")


def _known_subscriptions(ctx: Ctx) -> list[str]:
    subs = {EMULATOR_SUBSCRIPTION}
    for (sub,) in ctx.db.execute("SELECT DISTINCT sub FROM resources").fetchall():
        subs.add(sub)
    return sorted(subs)


def _subscription(sub: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": sub, "tenantId": EMULATOR_TENANT,
            "displayName": SUBSCRIPTION_NAME if sub == EMULATOR_SUBSCRIPTION else f"emulated {sub}",
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}


def list_subscriptions(ctx: Ctx) -> Response:
    return Response(200, {"value": [_subscription(s) for s in _known_subscriptions(ctx)],
                          "count": {"type": "Total", "value": len(_known_subscriptions(ctx))}})


def get_subscription(ctx: Ctx) -> Response:
    return Response(200, _subscription(ctx.params["sub"]))


def list_tenants(ctx: Ctx) -> Response:
    return Response(200, {"value": [{"id": f"/tenants/{EMULATOR_TENANT}", "tenantId": EMULATOR_TENANT,
                                     "tenantCategory": "Home", "displayName": "vpnrunbook emulator",
                                     "defaultDomain": "emulator.invalid", "domains": ["emulator.invalid"]}]})


def list_locations(ctx: Ctx) -> Response:
    sub = ctx.params["sub"]
    return Response(200, {"value": [{"id": f"/subscriptions/{sub}/locations/{loc}", "name": loc,
                                     "displayName": loc, "regionalDisplayName": loc,
                                     "metadata": {"regionType": "Physical"}} for loc in LOCATIONS]})


def _provider(ns: str, sub: str) -> dict[str, Any]:
    types = NETWORK_TYPES if ns == "Microsoft.Network" else RESOURCES_TYPES
    versions = list(reversed(SUPPORTED_API_VERSIONS[ns]))
    return {"id": f"/subscriptions/{sub}/providers/{ns}", "namespace": ns, "registrationState": "Registered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [{"resourceType": t, "locations": list(LOCATIONS), "apiVersions": versions,
                               "defaultApiVersion": versions[0], "capabilities": "None"} for t in types]}


def _namespace(value: str) -> str:
    for ns in SUPPORTED_API_VERSIONS:
        if ns.lower() == value.lower():
            return ns
    raise errors.ArmError(f"The resource namespace '{value}' is invalid or not served by the emulator; served: "
                          f"{', '.join(SUPPORTED_API_VERSIONS)}.", code="InvalidResourceNamespace", status=404)


def get_provider(ctx: Ctx) -> Response:
    return Response(200, _provider(_namespace(ctx.params["namespace"]), ctx.params["sub"]))


def list_providers(ctx: Ctx) -> Response:
    return Response(200, {"value": [_provider(ns, ctx.params["sub"]) for ns in SUPPORTED_API_VERSIONS]})
