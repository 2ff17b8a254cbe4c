"""A synthetic fleet in the emulator: many resource groups, gateways, sites and connections, created fast.

The resources are written through the emulator's own request handlers (its validation, bodies, ETags and
shared-key table), called directly inside a few store transactions with simulated durations of zero — no
HTTP, SDK or polling — so 1,000 connections take seconds. The result is indistinguishable from a fleet built
through ARM: every resource is ``Succeeded`` and readable through azure-mgmt-network.

Layout (``prefix`` = ``fleet``): resource group ``fleet-rg-000`` holds VNet ``vnet-000`` (10.0.0.0/16 with a
GatewaySubnet), public IP ``gw-000-pip``, gateway ``gw-000``; each site-to-site connection
``gw-000-to-site-0001`` has its own local network gateway ``site-0001`` (172.16.1.0/24). VNet-to-VNet pairs
``gw-000-to-gw-001`` / ``gw-001-to-gw-000`` join neighbouring groups with one shared key and one policy.
Shared keys are generated and never returned.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.policy import presets
from vpnrunbook.policy.model import IpsecIkePolicy

ARM_URL = "https://management.azure.com"
MAX_RESOURCE_GROUPS = 250       # one /16 of 10.0.0.0/8 per group
MAX_SITES = 16 * 256            # one /24 of 172.16.0.0/12 per site
GATEWAY_SKUS = ("VpnGw1AZ", "VpnGw2AZ", "VpnGw1AZ", "VpnGw3AZ")  # today's estates: non-AZ SKUs were migrated to AZ
# Default policy mix: (policy name or None for Azure's default proposals, weight)
DEFAULT_POLICY_MIX: tuple[tuple[str | None, float], ...] = (
    (None, 0.3), ("seed-s2s", 0.25), ("seed-update", 0.2), ("strong-modern", 0.25))
DPD_CHOICES = (45, 45, 45, 30, 60)
CHUNK = 250                     # connections per store transaction


class SeedError(ValueError):
    """Bad seeding arguments, or the emulator refused a synthetic resource (the message says which)."""


@dataclass
class SeedResult:
    """What :func:`seed_fleet` created."""

    resource_groups: list[str]
    connections: int
    site_to_site: int
    vnet_to_vnet_pairs: int
    seconds: float
    by_policy: dict[str, int] = field(default_factory=dict)
    database: str = ""

    def summary(self) -> str:
        mix = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_policy.items()))
        return (f"seeded {self.connections} connections ({self.site_to_site} site-to-site, "
                f"{self.vnet_to_vnet_pairs} VNet-to-VNet pairs) in {len(self.resource_groups)} resource groups "
                f"in {self.seconds:.2f} s; policies: {mix}")

    def to_record(self) -> dict[str, Any]:
        return {"resource_groups": list(self.resource_groups), "connections": self.connections,
                "site_to_site": self.site_to_site, "vnet_to_vnet_pairs": self.vnet_to_vnet_pairs,
                "seconds": round(self.seconds, 3), "by_policy": dict(self.by_policy), "database": self.database}


def _int_arg(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SeedError(f"{name}={value!r} is not allowed; allowed: an integer from {low} to {high}")
    return value


def _policy_mix(policies: Any) -> list[tuple[IpsecIkePolicy | None, str, float]]:
    """``policies``: None (the default mix), a sequence of preset names / None, or a mapping name → weight."""
    if policies is None:
        items: Sequence[tuple[Any, float]] = DEFAULT_POLICY_MIX
    elif isinstance(policies, Mapping):
        items = list(policies.items())
    elif isinstance(policies, str | IpsecIkePolicy):
        items = [(policies, 1.0)]
    else:
        items = [(p, 1.0) for p in policies]
    out: list[tuple[IpsecIkePolicy | None, str, float]] = []
    for name, weight in items:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise SeedError(f"policies[{name!r}]={weight!r} is not allowed; allowed: a weight >= 0")
        if name is None or name == "default":
            out.append((None, "default", float(weight)))
        elif isinstance(name, IpsecIkePolicy):
            out.append((name.validate(), "custom", float(weight)))
        elif name in presets.PRESETS:
            out.append((presets.get_preset(name), name, float(weight)))
        else:
            raise SeedError(f"policies: {name!r} is not a preset; allowed: default (None), "
                            + ", ".join(presets.PRESETS))
    if not out or sum(w for _, _, w in out) <= 0:
        raise SeedError("policies: at least one policy needs a weight > 0")
    return out


class _Direct:
    """Calls the emulator's PUT handlers inside the caller's store transaction, with zero simulated time."""

    def __init__(self, app: Any, sub: str) -> None:
        from vpnrunbook.emulator import models, routes

        self.app, self.sub, self._models, self._routes = app, sub, models, routes
        self._route_of: dict[str, Any] = {}   # path shape (the segment) → its route, matched once

        @dataclass
        class _Ctx(models.Ctx):  # type: ignore[misc]
            """The body is the seed's own dict: no JSON round trip (serialise, parse, depth check) per PUT."""

            body: dict[str, Any] = field(default_factory=dict)

            def json(self) -> dict[str, Any]:
                return self.body

        self._ctx = _Ctx

    def rg_path(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}"

    def net_path(self, rg: str, segment: str, name: str) -> str:
        return f"{self.rg_path(rg)}/providers/Microsoft.Network/{segment}/{name}"

    def put(self, db: Any, now: float, path: str, body: dict[str, Any]) -> dict[str, Any]:
        from vpnrunbook.emulator import errors

        models = self._models
        shape = path.rsplit("/", 2)[-2]
        known = self._route_of.get(shape)
        m = known.pattern.match(path) if known is not None else None
        if m is not None:
            route, params = known, m.groupdict()
        else:
            found = self._routes.match(path)
            if found is None:
                raise SeedError(f"the emulator has no route for {path}")
            route, params = found
            self._route_of[shape] = route
        version = models.RESOURCES_API_VERSION if route.provider == "Microsoft.Resources" \
            else models.NETWORK_API_VERSION
        ctx = self._ctx(app=self.app, store=self.app.store, db=db, now=now, method="PUT", path=path,
                        query={"api-version": version}, headers={}, raw_body=b"{}", base_url=ARM_URL,
                        params=params, _factor=0.0, body=body)  # each body is built fresh
        try:
            resp = route.methods["PUT"](ctx)
        except errors.ArmError as exc:
            raise SeedError(f"the emulator refused {path}: {exc.code}: {exc.message}") from None
        return dict(resp.body or {})


def _app_for(session: Any, db_path: str | Path | None) -> Any:
    from vpnrunbook.emulator.app import EmulatorApp
    from vpnrunbook.emulator.store import Store

    if session is not None and getattr(session, "target", "emulator") != "emulator":
        raise SeedError(f"target={session.target!r} is not allowed for seeding; allowed: emulator "
                        "(a synthetic fleet is never written to Azure)")
    app = getattr(getattr(session, "transport", None), "app", None)
    if app is not None and db_path is None:
        return app
    return EmulatorApp(Store(db_path))  # the served emulator shares this SQLite file (same state dir)


def _key() -> str:
    """A fresh random shared key of 32 characters (never returned or printed; the emulator keeps it in its secrets
    table); one call to the OS's random source, not one per character."""
    return secrets.token_hex(16)


def seed_fleet(session: Any = None, *, connections: int = 100, resource_groups: int = 10,
               vnet_to_vnet_pairs: int | None = None, policies: Any = None, prefix: str = "fleet",
               location: str = "eastus", seed: int = 0, db_path: str | Path | None = None,
               subscription: str | None = None) -> SeedResult:
    """Create ``connections`` connections spread over ``resource_groups`` groups (one VPN gateway each).

    ``vnet_to_vnet_pairs`` (default: connections // 20) pairs count twice towards ``connections``;
    ``policies``: None for the default mix (default proposals, seed-s2s, seed-update, strong-modern), a list of
    preset names (None = Azure's default proposals) or a mapping name → weight. ``seed`` makes it reproducible.
    ``session``: an emulator session (its in-process app is used), or None for the store at ``db_path``
    (default: ``$VPNRUNBOOK_DB`` / the state dir's). Existing resources of the same names are updated.
    ``subscription``: where to create them (default: the session's, or the emulator's default subscription).
    """
    started = time.perf_counter()
    m = _int_arg("resource_groups", resource_groups, 1, MAX_RESOURCE_GROUPS)
    n = _int_arg("connections", connections, 0, MAX_SITES)
    if vnet_to_vnet_pairs is None:
        pairs = min(n // 20, m * (m - 1) // 2) if m > 1 else 0
    else:
        pairs = _int_arg("vnet_to_vnet_pairs", vnet_to_vnet_pairs, 0, min(n // 2, m * (m - 1) // 2))
    if not isinstance(prefix, str) or not prefix.replace("-", "").isalnum() or len(prefix) > 40:
        raise SeedError(f"prefix={prefix!r} is not allowed; allowed: letters, digits and '-', up to 40 characters")
    mix = _policy_mix(policies)
    rng = random.Random(seed)
    weights = [w for _, _, w in mix]
    s2s = n - 2 * pairs
    app = _app_for(session, db_path)
    sub = subscription or getattr(session, "subscription_id", None) or _default_sub()
    api = _Direct(app, sub)
    store = app.store
    groups = [f"{prefix}-rg-{i:03d}" for i in range(m)]
    gw_ids: list[str] = []
    by_policy: dict[str, int] = {}

    def pick() -> tuple[IpsecIkePolicy | None, str]:
        policy, label, _ = rng.choices(mix, weights)[0]
        return policy, label

    # 1. per group: resource group, VNet with GatewaySubnet, public IP, gateway
    with store.write() as db:
        now = store.now()
        for i, rg in enumerate(groups):
            api.put(db, now, api.rg_path(rg), {"location": location, "tags": {"vpnrunbook-fleet": prefix}})
            vnet = api.net_path(rg, "virtualNetworks", f"vnet-{i:03d}")
            api.put(db, now, vnet, {"location": location, "properties": {
                "addressSpace": {"addressPrefixes": [f"10.{i}.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": f"10.{i}.0.0/24"}},
                            {"name": "GatewaySubnet", "properties": {"addressPrefix": f"10.{i}.255.0/27"}}]}})
            pip = api.net_path(rg, "publicIPAddresses", f"gw-{i:03d}-pip")
            api.put(db, now, pip, {"location": location, "sku": {"name": "Standard"},
                                   "properties": {"publicIPAllocationMethod": "Static"}})
            sku = GATEWAY_SKUS[i % len(GATEWAY_SKUS)]
            gw = api.net_path(rg, "virtualNetworkGateways", f"gw-{i:03d}")
            api.put(db, now, gw, {"location": location, "properties": {
                "gatewayType": "Vpn", "vpnType": "RouteBased", "sku": {"name": sku, "tier": sku},
                "ipConfigurations": [{"name": "gwipconfig1", "properties": {
                    "privateIPAllocationMethod": "Dynamic", "subnet": {"id": f"{vnet}/subnets/GatewaySubnet"},
                    "publicIPAddress": {"id": pip}}}]}})
            gw_ids.append(gw)

    wires: dict[int, dict[str, Any]] = {}

    def wire(policy: IpsecIkePolicy) -> dict[str, Any]:
        """A policy's wire form, made once per policy of the mix (not once per connection)."""
        if id(policy) not in wires:
            wires[id(policy)] = policy.as_wire_dict()
        return wires[id(policy)]

    def conn_body(gw: str, policy: IpsecIkePolicy | None, key: str, peer: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = {"virtualNetworkGateway1": {"id": gw}, **peer, "sharedKey": key,
                                 "connectionProtocol": "IKEv2",
                                 "ipsecPolicies": [] if policy is None else [dict(wire(policy))],
                                 "dpdTimeoutSeconds": rng.choice(DPD_CHOICES)}
        if policy is not None and rng.random() < 0.1:
            props["usePolicyBasedTrafficSelectors"] = True
        return {"location": location, "properties": props}

    # 2. VNet-to-VNet pairs first (the emulator looks for each one's reverse among all connections)
    with store.write() as db:
        now = store.now()
        made = 0
        for distance in range(1, m):
            for a in range(m):
                if made >= pairs:
                    break
                b = (a + distance) % m
                if distance * 2 == m and a >= b:
                    continue  # the same pair seen from the other side
                policy, label = pick()
                key = _key()
                dpd_rng_state = rng.getstate()
                for x, y in ((a, b), (b, a)):
                    rng.setstate(dpd_rng_state)  # same DPD and selector mode on both sides
                    body = conn_body(gw_ids[x], policy, key, {"connectionType": "Vnet2Vnet",
                                                              "virtualNetworkGateway2": {"id": gw_ids[y]}})
                    api.put(db, now, api.net_path(groups[x], "connections", f"gw-{x:03d}-to-gw-{y:03d}"), body)
                by_policy[label] = by_policy.get(label, 0) + 2
                made += 1
            if made >= pairs:
                break
    pairs = made

    # 3. site-to-site connections, each with its own local network gateway, round-robin over the groups
    for start in range(0, s2s, CHUNK):
        with store.write() as db:
            now = store.now()
            for j in range(start, min(s2s, start + CHUNK)):
                i = j % m
                rg = groups[i]
                lgw = api.net_path(rg, "localNetworkGateways", f"site-{j:04d}")
                api.put(db, now, lgw, {"location": location, "properties": {
                    "gatewayIpAddress": f"131.107.{j // 250}.{1 + j % 250}",
                    "localNetworkAddressSpace": {"addressPrefixes": [f"172.{16 + j // 256}.{j % 256}.0/24"]}}})
                policy, label = pick()
                body = conn_body(gw_ids[i], policy, _key(), {"connectionType": "IPsec",
                                                                 "localNetworkGateway2": {"id": lgw}})
                api.put(db, now, api.net_path(rg, "connections", f"gw-{i:03d}-to-site-{j:04d}"), body)
                by_policy[label] = by_policy.get(label, 0) + 1
    return SeedResult(groups, s2s + 2 * pairs, s2s, pairs, time.perf_counter() - started, by_policy,
                      str(store.path))


MAX_SUBSCRIPTIONS = 100


def subscription_ids(count: int, first: str | None = None) -> list[str]:
    """``count`` emulated subscription ids: ``first`` (default: the emulator's default subscription), then
    ``5eed0001-0000-4000-8000-000000000000`` ... (stable, so a reseed updates the same fleet)."""
    n = _int_arg("subscriptions", count, 1, MAX_SUBSCRIPTIONS)
    return [first or _default_sub()] + [f"5eed{i:04x}-0000-4000-8000-000000000000" for i in range(1, n)]


@dataclass
class MultiSeedResult:
    """What :func:`seed_subscriptions` created: one :class:`SeedResult` per subscription."""

    by_subscription: dict[str, SeedResult]
    seconds: float

    @property
    def connections(self) -> int:
        return sum(r.connections for r in self.by_subscription.values())

    def summary(self) -> str:
        groups = sum(len(r.resource_groups) for r in self.by_subscription.values())
        return (f"seeded {self.connections} connections in {groups} resource groups over "
                f"{len(self.by_subscription)} subscription(s) in {self.seconds:.2f} s")


def seed_subscriptions(session: Any = None, *, subscriptions: int = 2, connections: int = 100,
                       resource_groups: int = 10, seed: int = 0, **kwargs: Any) -> MultiSeedResult:
    """The same fleet layout in each of ``subscriptions`` emulated subscriptions (``connections`` and
    ``resource_groups`` per subscription; see :func:`subscription_ids`). Other arguments as :func:`seed_fleet`."""
    started = time.perf_counter()
    out: dict[str, SeedResult] = {}
    for i, sub in enumerate(subscription_ids(subscriptions, getattr(session, "subscription_id", None))):
        out[sub] = seed_fleet(session, connections=connections, resource_groups=resource_groups, seed=seed + i,
                              subscription=sub, **kwargs)
    return MultiSeedResult(out, time.perf_counter() - started)


def _default_sub() -> str:
    from vpnrunbook.azure.connect import EMULATOR_SUBSCRIPTION

    return EMULATOR_SUBSCRIPTION


__all__ = ["MultiSeedResult", "SeedError", "SeedResult", "seed_fleet", "seed_subscriptions", "subscription_ids"]
