"""The seed's whole workflow through the package alone, on the emulator, with a planted key that must not leak.

Every snapshot, plan, record, view, table and captured log line / console output is searched for the key.
A second run of the whole workflow plans nothing and writes nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.policy import get_preset

from .conftest import (
    LOC,
    RG1,
    RG2,
    SITE6_IP,
    SITE6_PREFIXES,
    VNET1_SPACE,
    VNET1_SUBNETS,
    VNET2_SPACE,
    VNET2_SUBNETS,
    writes,
)


def run_seed(session: Any, *, progress: bool) -> list[Any]:
    """The seed workflow; returns every object a notebook would show or record."""
    out: list[Any] = []
    # VNet1 + gateway, VNet2 + gateway: the two gateways are created concurrently
    out.append(ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True))
    out.append(ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                          address_space=VNET1_SPACE, subnets=VNET1_SUBNETS, apply=True))
    out.append(ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP", location=LOC, apply=True))
    gw1 = ops.begin_create_vpn_gateway(session, resource_group=RG1, name="VNet1GW", location=LOC, vnet_name="TestVNet1",
                                       public_ip_name="VNet1GWIP", sku="VpnGw1AZ", apply=True, progress=progress)
    out.append(ops.ensure_resource_group(session, name=RG2, location=LOC, apply=True))
    out.append(ops.ensure_virtual_network(session, resource_group=RG2, name="TestVNet2", location=LOC,
                                          address_space=VNET2_SPACE, subnets=VNET2_SUBNETS, apply=True))
    out.append(ops.ensure_public_ip(session, resource_group=RG2, name="VNet2GWIP", location=LOC, apply=True))
    gw2 = ops.begin_create_vpn_gateway(session, resource_group=RG2, name="VNet2GW", location=LOC, vnet_name="TestVNet2",
                                       public_ip_name="VNet2GWIP", sku="VpnGw2AZ", generation="Generation2", apply=True,
                                       progress=progress)
    out.append(ops.ensure_local_network_gateway(session, resource_group=RG1, name="Site6", location=LOC,
                                                gateway_ip_address=SITE6_IP, address_prefixes=SITE6_PREFIXES,
                                                apply=True))
    out += [gw1.result(timeout=120), gw2.result(timeout=120)]
    # connections with the seed policies
    out.append(ops.ensure_connection(session, resource_group=RG1, name="VNet1toSite6", location=LOC,
                                     connection_type="IPsec", gateway_name="VNet1GW", local_gateway_name="Site6",
                                     shared_key_ref="env:VPN_PLANTED_KEY", policy=get_preset("seed-s2s"), apply=True))
    out.append(ops.ensure_connection(session, resource_group=RG1, name="VNet1toVNet2", location=LOC,
                                     connection_type="Vnet2Vnet", gateway_name="VNet1GW", peer_resource_group=RG2,
                                     peer_gateway_name="VNet2GW", peer_connection_name="VNet2toVNet1",
                                     shared_key_ref="env:VPN_PLANTED_KEY", policy=get_preset("seed-vnet2vnet"),
                                     apply=True))
    out.append(ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6"))
    # update: seed-update with DPD 30 s and policy-based traffic selectors, planned first then applied
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      policy=get_preset("seed-update"), dpd_timeout_seconds=30,
                                      use_policy_based_traffic_selectors=True)
    out += [plan, ops.apply_plan(session, plan)]
    out.append(ops.traffic_selector_pairs(session, resource_group=RG1, connection_name="VNet1toSite6"))
    out.append(ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2",
                                     policy="seed-update", dpd_timeout_seconds=30, apply=True))
    out.append(ops.show_policy(session, resource_group=RG2, connection_name="VNet2toVNet1"))
    # removal
    out.append(ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toSite6", apply=True))
    out.append(ops.remove_policy(session, resource_group=RG1, connection_name="VNet1toVNet2", apply=True))
    out.append(ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6"))
    return out


def renderings(obj: Any) -> list[str]:
    """Every way a notebook or the evidence layer would turn the object into text."""
    texts = [str(obj), repr(obj)]
    for attr in ("to_record", "to_frame", "table", "_repr_html_", "summary"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            value = fn()
            texts.append(json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
            if hasattr(value, "to_string"):
                texts.append(value.to_string())
    for attr in ("before", "after", "plan", "details", "snapshot"):
        if hasattr(obj, attr):
            texts.append(json.dumps(getattr(obj, attr), default=str))
    if hasattr(obj, "plan"):
        texts += renderings(obj.plan) if not isinstance(obj, ops.Plan) else []
    if hasattr(obj, "to_string"):
        texts.append(obj.to_string())
        texts.append(json.dumps(obj.attrs))
    return texts


@pytest.mark.slow
def test_seed_workflow_never_leaks_the_key(session, monkeypatch, caplog, capsys):
    planted = "Planted" + secrets.token_hex(12)
    monkeypatch.setenv("VPN_PLANTED_KEY", planted)
    caplog.set_level(logging.DEBUG)  # every logger, azure-core's HTTP logging included

    results = run_seed(session, progress=True)
    n_writes = len(writes(session))
    # the key really was used (so searching for it means something), on all three connections
    conns = session.network.virtual_network_gateway_connections
    for rg, name in ((RG1, "VNet1toSite6"), (RG1, "VNet1toVNet2"), (RG2, "VNet2toVNet1")):
        assert conns.get_shared_key(rg, name).value == planted
    # the workflow did what the seed says
    final = results[-1]
    assert final.uses_default and "Azure's default proposals" in final.text
    assert results[-4].policy == get_preset("seed-update")                      # VNet2toVNet1 followed its peer
    assert results[-4].dpd_timeout_seconds == 30
    pairs = results[-6]
    assert len(pairs) == 2 and pairs.attrs["use_policy_based_traffic_selectors"] is True

    # a second run of the whole workflow: nothing planned... except re-applying what the seed then removes
    rerun = run_seed(session, progress=False)
    steps_with_writes = [r.step for r in rerun if isinstance(r, ops.OperationResult) and not r.plan.empty]
    # only the policy steps differ from the final state (the seed puts policies back, then removes them)
    assert all("connection" in s for s in steps_with_writes)
    infra = [r for r in rerun if isinstance(r, ops.OperationResult) and "connection" not in r.step]
    assert len(infra) == 9 and all(r.plan.empty for r in infra)

    logs = [r.getMessage() for r in caplog.records] + [caplog.text]
    captured = capsys.readouterr()
    assert any("VNet1toSite6" in line for line in logs)   # the operations do log
    texts = [t for obj in results + rerun for t in renderings(obj)] + logs + [captured.out, captured.err]
    leaks = [t[:120] for t in texts if planted in t]
    assert not leaks, f"planted key found in {len(leaks)} rendering(s)"
    assert n_writes > 0


def test_second_run_of_infrastructure_writes_nothing(session, monkeypatch):
    monkeypatch.setenv("VPN_PLANTED_KEY", "Another0Planted0Key")
    run_seed(session, progress=False)
    # final state: no policies. Re-running only the last (removal) steps changes nothing at all.
    n = len(writes(session))
    for name in ("VNet1toSite6", "VNet1toVNet2"):
        assert ops.remove_policy(session, resource_group=RG1, connection_name=name, apply=True).plan.empty
    assert ops.update_connection(session, resource_group=RG1, connection_name="VNet1toSite6", dpd_timeout_seconds=30,
                                 use_policy_based_traffic_selectors=True, apply=True).plan.empty
    assert len(writes(session)) == n
