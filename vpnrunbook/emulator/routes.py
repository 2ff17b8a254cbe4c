"""The ARM URL table: (method, path pattern) → handler, with the provider whose api-version applies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from vpnrunbook.emulator import lro
from vpnrunbook.emulator.handlers import (
    activity_log,
    common,
    connections,
    deployments,
    gateway_ops,
    gateways,
    identity,
    local_gateways,
    nat_rules,
    public_ips,
    resource_graph,
    resource_groups,
    resource_list,
    subnets,
    subscriptions,
    virtual_networks,
)
from vpnrunbook.emulator.models import Handler

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
NET = RG + r"/providers/microsoft\.network"
NET_SUB = SUB + r"/providers/microsoft\.network"
NAME = r"(?P<name>[^/]+)"
# ARM serves deployments with and without the provider segment (DeploymentOperations_List's own path has none).
DEPLOYMENTS = r"(?:/providers/microsoft\.resources)?/deployments"


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    provider: str | None  # whose api-version is checked; None: operation URLs (they carry their own)
    kind: str = "arm"  # "arm" resource calls, or "poll" for operation status URLs
    public: bool = False  # served without the bearer token (login and discovery endpoints)


def _route(path: str, provider: str | None, kind: str = "arm", *, public: bool = False, **methods: Handler) -> Route:
    return Route(re.compile(path + r"/?$", re.IGNORECASE), {m.upper(): h for m, h in methods.items()}, provider, kind,
                 public)


TENANT = r"/(?P<tenant>[A-Za-z0-9._-]+)"
LOGIN_ROUTES: list[Route] = [
    # a read (a query), though a POST; its api-version is checked by the handler (Microsoft.ResourceGraph)
    _route(r"/providers/microsoft\.resourcegraph/resources", None, "read", post=resource_graph.query_resources),
    _route(r"/subscriptions", None, "read", get=subscriptions.list_subscriptions),
    _route(SUB, None, "read", get=subscriptions.get_subscription),
    _route(r"/tenants", None, "read", get=subscriptions.list_tenants),
    _route(SUB + r"/locations", None, "read", get=subscriptions.list_locations),
    _route(SUB + r"/resources", "Microsoft.Resources", "read", get=resource_list.list_resources),
    _route(SUB + r"/providers", None, "read", get=subscriptions.list_providers),
    _route(SUB + r"/providers/(?P<namespace>[A-Za-z.]+)", None, "read", get=subscriptions.get_provider),
    _route(TENANT + r"(?:/v2\.0)?/\.well-known/openid-configuration", None, "login", public=True,
           get=identity.openid_configuration),
    _route(r"(?:" + TENANT + r")?/discovery/instance", None, "login", public=True, get=identity.instance_discovery),
    _route(TENANT + r"/oauth2(?:/v2\.0)?/token", None, "login", public=True, post=identity.token),
    _route(r"/metadata/endpoints", None, "login", public=True, get=identity.cloud_metadata),
    _route(r"/msi/token", None, "login", public=True, get=identity.managed_identity_token),
    _route(r"/metadata/identity/oauth2/token", None, "login", public=True, get=identity.managed_identity_token),
]


def _tracked(segment: str, kind: common.Kind) -> list[Route]:
    """The five routes of a tracked Microsoft.Network resource type, all served by the shared handlers."""
    return [
        _route(f"{NET}/{segment}/{NAME}", "Microsoft.Network", put=partial(common.put, kind),
               get=partial(common.get, kind), delete=partial(common.delete, kind),
               patch=partial(common.patch_tags, kind)),
        _route(f"{NET}/{segment}", "Microsoft.Network", get=partial(common.list_, kind, by_rg=True)),
        _route(f"{NET_SUB}/{segment}", "Microsoft.Network", get=partial(common.list_, kind, by_rg=False)),
    ]


ROUTES: list[Route] = [
    # a read (a query), though a POST; its api-version is checked by the handler (Microsoft.ResourceGraph)
    _route(r"/providers/microsoft\.resourcegraph/resources", None, "read", post=resource_graph.query_resources),
    _route(r"/subscriptions", None, "read", get=subscriptions.list_subscriptions),
    _route(SUB, None, "read", get=subscriptions.get_subscription),
    _route(r"/tenants", None, "read", get=subscriptions.list_tenants),
    _route(SUB + r"/locations", None, "read", get=subscriptions.list_locations),
    _route(SUB + r"/resources", "Microsoft.Resources", "read", get=resource_list.list_resources),
    _route(SUB + r"/providers", None, "read", get=subscriptions.list_providers),
    _route(SUB + r"/providers/(?P<namespace>[A-Za-z.]+)", None, "read", get=subscriptions.get_provider),
    # its api-version (Microsoft.Insights 2015-04-01) is checked by the handler
    _route(SUB + r"/providers/microsoft\.insights/eventtypes/management/values", None, "read",
           get=activity_log.list_events),
    _route(RG + DEPLOYMENTS + r"/" + NAME, "Microsoft.Resources", put=deployments.put,
           get=deployments.get, delete=deployments.delete),
    _route(RG + DEPLOYMENTS + r"/" + NAME + "/operations", "Microsoft.Resources",
           get=deployments.list_operations),
    _route(RG + DEPLOYMENTS + r"/" + NAME + r"/operations/(?P<op>[^/]+)",
           "Microsoft.Resources", get=deployments.get_operation),
    _route(RG + DEPLOYMENTS + r"/" + NAME + "/validate", "Microsoft.Resources",
           post=deployments.validate),
    _route(RG + DEPLOYMENTS + r"/" + NAME + "/whatif", "Microsoft.Resources",
           post=deployments.what_if),
    _route(RG + DEPLOYMENTS + r"", "Microsoft.Resources", get=deployments.list_),
    _route(RG + r"/resources", "Microsoft.Resources", "read", get=resource_list.list_resources),
    _route(RG, "Microsoft.Resources", put=resource_groups.put, get=resource_groups.get, head=resource_groups.head,
           delete=resource_groups.delete, patch=resource_groups.patch),
    _route(SUB + r"/resourcegroups", "Microsoft.Resources", get=resource_groups.list_),
    _route(f"{NET}/virtualnetworks/{NAME}/subnets/(?P<child>[^/]+)", "Microsoft.Network", put=subnets.put,
           get=subnets.get, delete=subnets.delete),
    _route(f"{NET}/virtualnetworks/{NAME}/subnets", "Microsoft.Network", get=subnets.list_),
    _route(f"{NET}/connections/{NAME}/sharedkey", "Microsoft.Network", get=connections.get_shared_key,
           put=connections.set_shared_key),
    _route(f"{NET}/connections/{NAME}/sharedkey/reset", "Microsoft.Network", post=connections.reset_shared_key),
    _route(f"{NET}/connections/{NAME}/getikesas", "Microsoft.Network", post=gateway_ops.get_ike_sas),
    _route(f"{NET}/connections/{NAME}/vpndeviceconfigurationscript", "Microsoft.Network",
           post=gateway_ops.device_configuration_script),
    _route(f"{NET}/connections/{NAME}/resetconnection", "Microsoft.Network", post=gateway_ops.reset_connection),
    _route(f"{NET}/(?:connections|virtualnetworkgateways)/{NAME}/startpacketcapture", "Microsoft.Network",
           post=gateway_ops.start_packet_capture),
    _route(f"{NET}/(?:connections|virtualnetworkgateways)/{NAME}/stoppacketcapture", "Microsoft.Network",
           post=gateway_ops.stop_packet_capture),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/natrules/(?P<child>[^/]+)", "Microsoft.Network", put=nat_rules.put,
           get=nat_rules.get, delete=nat_rules.delete),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/natrules", "Microsoft.Network", get=nat_rules.list_),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/supportedvpndevices", "Microsoft.Network",
           post=gateway_ops.supported_vpn_devices),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/reset", "Microsoft.Network", post=gateway_ops.reset_gateway),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/connections", "Microsoft.Network",
           get=gateway_ops.gateway_connections),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/getbgppeerstatus", "Microsoft.Network",
           post=gateway_ops.bgp_peer_status),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/getlearnedroutes", "Microsoft.Network",
           post=gateway_ops.learned_routes),
    _route(f"{NET}/virtualnetworkgateways/{NAME}/getadvertisedroutes", "Microsoft.Network",
           post=gateway_ops.advertised_routes),
    *_tracked("virtualnetworks", virtual_networks.KIND),
    *_tracked("publicipaddresses", public_ips.KIND),
    *_tracked("virtualnetworkgateways", gateways.KIND),
    *_tracked("localnetworkgateways", local_gateways.KIND),
    *_tracked("connections", connections.KIND),
    _route(SUB + r"/providers/(?P<provider>microsoft\.network|microsoft\.resources)/locations/(?P<loc>[^/]+)"
           r"/operations/(?P<op>[^/]+)", None, "poll", get=lro.operation_status),
    _route(SUB + r"/providers/(?P<provider>microsoft\.network|microsoft\.resources)/locations/(?P<loc>[^/]+)"
           r"/operationresults/(?P<op>[^/]+)", None, "poll", get=lro.operation_result),
]


def normalize(path: str) -> str:
    """ARM tolerates repeated slashes (``https://host//subscriptions/...``): collapse them."""
    return re.sub(r"/{2,}", "/", path) if "//" in path else path


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    for route in (*ROUTES, *LOGIN_ROUTES):
        m = route.pattern.match(path)
        if m:
            return route, m.groupdict()
    return None
