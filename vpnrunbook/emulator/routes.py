"""The ARM URL table: (method, path pattern) → handler, with the provider whose api-version applies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from vpnrunbook.emulator import lro
from vpnrunbook.emulator.handlers import (
    common,
    connections,
    gateways,
    local_gateways,
    public_ips,
    resource_groups,
    subnets,
    virtual_networks,
)
from vpnrunbook.emulator.models import Handler

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
NET = RG + r"/providers/microsoft\.network"
NET_SUB = SUB + r"/providers/microsoft\.network"
NAME = r"(?P<name>[^/]+)"


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    provider: str | None  # whose api-version is checked; None: operation URLs (they carry their own)
    kind: str = "arm"  # "arm" resource calls, or "poll" for operation status URLs


def _route(path: str, provider: str | None, kind: str = "arm", **methods: Handler) -> Route:
    return Route(re.compile(path + r"/?$", re.IGNORECASE), {m.upper(): h for m, h in methods.items()}, provider, kind)


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
    _route(RG, "Microsoft.Resources", put=resource_groups.put, get=resource_groups.get, head=resource_groups.head,
           delete=resource_groups.delete, patch=resource_groups.patch),
    _route(SUB + r"/resourcegroups", "Microsoft.Resources", get=resource_groups.list_),
    _route(f"{NET}/virtualnetworks/{NAME}/subnets/(?P<child>[^/]+)", "Microsoft.Network", put=subnets.put,
           get=subnets.get, delete=subnets.delete),
    _route(f"{NET}/virtualnetworks/{NAME}/subnets", "Microsoft.Network", get=subnets.list_),
    _route(f"{NET}/connections/{NAME}/sharedkey", "Microsoft.Network", get=connections.get_shared_key,
           put=connections.set_shared_key),
    _route(f"{NET}/connections/{NAME}/sharedkey/reset", "Microsoft.Network", post=connections.reset_shared_key),
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


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        m = route.pattern.match(path)
        if m:
            return route, m.groupdict()
    return None
