"""Fleet fixtures: an in-process emulator session with fast simulated durations and a small seeded fleet."""

from __future__ import annotations

from typing import Any

import pytest

WRITE_METHODS = {"PUT", "PATCH", "POST", "DELETE"}


@pytest.fixture
def session(monkeypatch, tmp_path):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0002")   # a connection update takes ~12 ms
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "evidence"))
    from vpnrunbook.azure.connect import connect

    return connect(target="emulator")


@pytest.fixture
def fleet(session) -> Any:
    """24 connections in 4 resource groups: 20 site-to-site, 2 VNet-to-VNet pairs, a mix of policies."""
    from vpnrunbook.fleet.seed import seed_fleet

    return seed_fleet(session, connections=24, resource_groups=4, vnet_to_vnet_pairs=2, seed=7)


def arm_writes(session: Any) -> list[tuple[str, str, int]]:
    return [r for r in session.transport.requests if r[0] in WRITE_METHODS and "/_emulator" not in r[1]]


def change_dpd_elsewhere(session: Any, rg: str, name: str, seconds: int = 77) -> None:
    """Another writer (the portal, a script) sets the connection's DPD timeout to ``seconds`` with a plain PUT: the
    connection's ETag changes under any plan made before."""
    body = session.network.virtual_network_gateway_connections.get(rg, name).as_dict()
    body["properties"]["dpdTimeoutSeconds"] = seconds
    for k in ("etag", "id", "type", "name"):
        body.pop(k, None)
    body["properties"].pop("provisioningState", None)
    session.network.virtual_network_gateway_connections.begin_create_or_update(rg, name, body).result()


def connection_policy(session: Any, rg: str, name: str) -> dict[str, Any] | None:
    conn = session.network.virtual_network_gateway_connections.get(rg, name).as_dict()
    policies = conn["properties"].get("ipsecPolicies") or []
    return policies[0] if policies else None
