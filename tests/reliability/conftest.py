"""Reliability fixtures: a seeded emulator state copied per test, a byte-level dump of its SQLite store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vpnrunbook import operations as ops

PLANTED_KEY = "Rel1ab1lityPlantedKey0xQ7"
KEY_ENV = "RELIABILITY_KEY"
RG1, LOC = "TestRG1", "EastUS"


def store_dump(db: Path) -> bytes:
    """The emulator's stored resources, shared keys and operations as canonical bytes (stats/settings excluded)."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        out = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
               for t in ("resources", "secrets", "operations")}
    finally:
        con.close()
    return json.dumps(out, sort_keys=True).encode()


def _build(session: Any) -> None:
    """TestRG1: VNet1GW (VpnGw1AZ) + Site6 + VNet1toSite6 (seed-s2s) + OverlapSite (prefix inside TestVNet1);
    BasicRG: a Basic gateway; PbRG: a PolicyBased one; each with a Site6."""
    pollers = []
    for rg, vnet, space, gw, sku, vpn_type in (
            (RG1, "TestVNet1", "10.1", "VNet1GW", "VpnGw1AZ", "RouteBased"),
            ("BasicRG", "BasicVNet", "10.31", "BasicGW", "Basic", "RouteBased"),
            ("PbRG", "PbVNet", "10.41", "PbGW", "Basic", "PolicyBased")):
        ops.ensure_resource_group(session, name=rg, location=LOC, apply=True)
        ops.ensure_virtual_network(session, resource_group=rg, name=vnet, location=LOC,
                                   address_space=[f"{space}.0.0/16"],
                                   subnets={"FrontEnd": f"{space}.0.0/24", "GatewaySubnet": f"{space}.255.0/27"},
                                   apply=True)
        ops.ensure_public_ip(session, resource_group=rg, name=f"{gw}IP", location=LOC, apply=True)
        pollers.append(ops.begin_create_vpn_gateway(session, resource_group=rg, name=gw, location=LOC, vnet_name=vnet,
                                                    public_ip_name=f"{gw}IP", sku=sku, vpn_type=vpn_type, apply=True,
                                                    progress=False))
        ops.ensure_local_network_gateway(session, resource_group=rg, name="Site6", location=LOC,
                                         gateway_ip_address="131.107.72.22",
                                         address_prefixes=["10.61.0.0/16", "10.62.0.0/16"], apply=True)
    ops.ensure_local_network_gateway(session, resource_group=RG1, name="OverlapSite", location=LOC,
                                     gateway_ip_address="131.107.72.23", address_prefixes=["10.1.128.0/17"], apply=True)
    for p in pollers:
        p.result(timeout=60)
    ops.ensure_connection(session, resource_group=RG1, name="VNet1toSite6", location=LOC, connection_type="IPsec",
                          gateway_name="VNet1GW", local_gateway_name="Site6", shared_key_ref=f"env:{KEY_ENV}",
                          policy="seed-s2s", apply=True)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """A state folder holding the seed topology (built once per test session through the operations layer)."""
    base = tmp_path_factory.mktemp("reliability-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VPNRUNBOOK_STATE_DIR", str(base))
        mp.setenv("VPNRUNBOOK_DB", str(base / "emulator.sqlite3"))
        mp.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
        mp.setenv(KEY_ENV, PLANTED_KEY)
        from vpnrunbook.azure.connect import connect

        session = connect(target="emulator", polling_interval=0)
        _build(session)
        session.transport.app.store.close()
    con = sqlite3.connect(str(base / "emulator.sqlite3"))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return base


@pytest.fixture
def seeded(seeded_template, tmp_path, monkeypatch) -> dict[str, Path]:
    """This test's own copy of the seeded state, with the environment a runbook run inherits pointing at it."""
    state = tmp_path / "state"
    shutil.copytree(seeded_template, state)
    evidence = tmp_path / "evidence"
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(state))
    monkeypatch.setenv("VPNRUNBOOK_DB", str(state / "emulator.sqlite3"))
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(evidence))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    return {"state": state, "db": state / "emulator.sqlite3", "evidence": evidence}


def files_containing(root: Path, needle: str) -> list[str]:
    """Every file under root whose bytes hold needle (raw, JSON-escaped, HTML-escaped, hex or base64)."""
    import base64
    import html

    variants = {needle.encode(), json.dumps(needle)[1:-1].encode(), html.escape(needle).encode(),
                needle.encode().hex().encode(), base64.b64encode(needle.encode()).rstrip(b"=")}
    return [str(f.relative_to(root)) for f in sorted(root.rglob("*"))
            if f.is_file() and any(v in f.read_bytes() for v in variants)]
