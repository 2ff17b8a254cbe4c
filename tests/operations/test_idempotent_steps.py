"""Against the emulator: each step's first run creates, the second plans nothing and writes nothing."""

from __future__ import annotations

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.operations import PrecheckError

from .conftest import (
    LOC,
    RG1,
    SITE6_IP,
    SITE6_PREFIXES,
    VNET1_SPACE,
    VNET1_SUBNETS,
    build_site6,
    build_vnet1,
    build_vnet2,
    s2s,
    v2v,
    writes,
)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Idempotency0Tests")


def test_resource_group_create_then_nothing(session, count_writes):
    first = ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    assert first.applied and not first.plan.empty and count_writes() == 1
    assert first.before[first.resources[0]] is None and first.after[first.resources[0]]["name"] == RG1
    second = ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    assert second.plan.empty and count_writes() == 1
    # a tag is a planned change, and only that
    tagged = ops.ensure_resource_group(session, name=RG1, location=LOC, tags={"env": "test"})
    assert [c.field for c in tagged.plan.changes] == ["tags.env"] and count_writes() == 1


def test_resource_group_in_other_location_is_refused(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    with pytest.raises(PrecheckError, match="cannot move"):
        ops.ensure_resource_group(session, name=RG1, location="WestEurope", apply=True)
    assert count_writes() == 1


def test_plan_only_writes_nothing(session, count_writes):
    res = ops.ensure_resource_group(session, name=RG1, location=LOC)
    assert not res.applied and not res.plan.empty and count_writes() == 0
    vnet = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                      address_space=VNET1_SPACE, subnets=VNET1_SUBNETS)
    # the group does not exist yet: a note in plan-only mode, refused when applying
    assert any("does not exist yet" in n for n in vnet.plan.notes)
    with pytest.raises(PrecheckError, match="resource group TestRG1 does not exist"):
        ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                   address_space=VNET1_SPACE, subnets=VNET1_SUBNETS, apply=True)
    assert count_writes() == 0


def test_virtual_network_create_then_nothing_then_added_subnet(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    first = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                       address_space=VNET1_SPACE, subnets=VNET1_SUBNETS, apply=True)
    assert first.applied and count_writes() == 2
    fields = {c.field for c in first.plan.changes}
    assert "subnets[GatewaySubnet].addressPrefix" in fields
    second = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                        address_space=VNET1_SPACE, subnets=VNET1_SUBNETS, apply=True)
    assert second.plan.empty and count_writes() == 2
    third = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                       address_space=VNET1_SPACE, subnets={**VNET1_SUBNETS, "Extra": "10.1.2.0/24"},
                                       apply=True)
    assert [(c.field, c.current, c.desired) for c in third.plan.changes] == [
        ("subnets[Extra].addressPrefix", None, "10.1.2.0/24")]
    assert count_writes() == 3
    names = {s["name"] for s in third.after[third.resources[0]]["properties"]["subnets"]}
    assert names == {"FrontEnd", "Backend", "GatewaySubnet", "Extra"}
    # omitting a subnet keeps it (and says so) instead of deleting it
    fourth = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                        address_space=VNET1_SPACE, subnets=VNET1_SUBNETS, apply=True)
    assert fourth.plan.empty and any("Extra" in n for n in fourth.plan.notes) and count_writes() == 3


@pytest.mark.parametrize(("subnets", "code"), [
    ({"gatewaysubnet": "10.1.255.0/27"}, "InvalidGatewaySubnetName"),
    ({"GatewaySubnet": "10.2.255.0/27"}, "NetcfgSubnetRangeOutsideVnet"),
    ({"FrontEnd": "10.1.0.0/24", "Backend": "10.1.0.128/25"}, "NetcfgOverlappingSubnets"),
    ({"GatewaySubnet": "10.1.255.0/30"}, "GatewaySubnetTooSmall"),
])
def test_virtual_network_prechecks_refuse_before_any_write(session, count_writes, subnets, code):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    with pytest.raises(PrecheckError) as info:
        ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                   address_space=VNET1_SPACE, subnets=subnets, apply=True)
    assert code in {p.code for p in info.value.problems}
    assert count_writes() == 1


def test_public_ip_create_then_nothing_and_basic_refused(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    first = ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP", location=LOC, apply=True)
    snap = first.after[first.resources[0]]
    assert snap["sku"]["name"] == "Standard" and snap["properties"]["publicIPAllocationMethod"] == "Static"
    assert count_writes() == 2
    assert ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP", location=LOC, apply=True).plan.empty
    with pytest.raises(PrecheckError) as info:
        ops.ensure_public_ip(session, resource_group=RG1, name="BasicIP", location=LOC, sku="Basic",
                             allocation="Dynamic", apply=True)
    assert "PublicIpWithBasicSkuNotAllowedOnVPNGateways" in {p.code for p in info.value.problems}
    with pytest.raises(PrecheckError, match="always Static"):
        ops.ensure_public_ip(session, resource_group=RG1, name="DynIP", location=LOC, allocation="Dynamic", apply=True)
    assert count_writes() == 2


def test_gateway_create_then_nothing(session, count_writes):
    poller = build_vnet1(session)
    assert poller.started and not poller.attached
    result = poller.result(timeout=60)
    assert result.applied and result.details["provisioning_state"] == "Succeeded"
    gw_puts = [w for w in writes(session) if w[0] == "PUT" and "virtualNetworkGateways" in w[1]]
    assert len(gw_puts) == 1
    before = len(writes(session))
    again = ops.begin_create_vpn_gateway(session, resource_group=RG1, name="VNet1GW", location=LOC,
                                         vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ", apply=True,
                                         progress=False)
    assert again.plan.empty and again.done() and not again.started
    assert again.result().after[again.plan.resources[0]]["properties"]["provisioningState"] == "Succeeded"
    assert len(writes(session)) == before


def test_gateway_prechecks(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG1, name="NoGwSubnet", location=LOC,
                               address_space=["10.9.0.0/16"], subnets={"FrontEnd": "10.9.0.0/24"}, apply=True)
    n = count_writes()
    with pytest.raises(PrecheckError) as info:
        ops.begin_create_vpn_gateway(session, resource_group=RG1, name="GW", location=LOC, vnet_name="NoGwSubnet",
                                     public_ip_name="MissingIP", sku="VpnGw1", generation="Generation2", apply=True,
                                     progress=False)
    codes = {p.code for p in info.value.problems}
    # every problem at once: Gen2 with VpnGw1 (checked before reading anything)
    assert codes == {"InvalidGatewaySize"}
    with pytest.raises(PrecheckError) as info:
        ops.begin_create_vpn_gateway(session, resource_group=RG1, name="GW", location=LOC, vnet_name="NoGwSubnet",
                                     public_ip_name="MissingIP", sku="VpnGw1AZ", apply=True, progress=False)
    codes = {p.code for p in info.value.problems}
    assert codes == {"GatewaySubnetMissing", "ResourceNotFound"}
    assert count_writes() == n


def test_resumed_gateway_creation_attaches_to_the_running_one(session, count_writes):
    from vpnrunbook.azure.connect import connect

    first = build_vnet1(session)
    assert first.started and not first.done()
    n = count_writes()
    # a new kernel: a fresh session on the same emulator state, the first poller abandoned
    other = connect(target="emulator")
    resumed = ops.begin_create_vpn_gateway(other, resource_group=RG1, name="VNet1GW", location=LOC,
                                           vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ",
                                           apply=True, progress=False)
    assert resumed.attached and not resumed.started and resumed.plan.empty
    assert resumed.status() in ("Updating", "Creating")
    assert any("attaching" in note for note in resumed.plan.notes)
    result = resumed.result(timeout=60)
    assert result.details["attached"] and result.details["provisioning_state"] == "Succeeded"
    assert not writes(other) and count_writes() == n
    gws = list(other.network.virtual_network_gateways.list(RG1))
    assert [g.name for g in gws] == ["VNet1GW"]


def test_gateway_result_timeout_is_clear(session):
    poller = build_vnet1(session)
    with pytest.raises(TimeoutError, match="re-run step 01"):
        poller.result(timeout=0.01)
    assert poller.result(timeout=60).details["provisioning_state"] == "Succeeded"


def test_local_network_gateway_create_then_nothing_then_prefix_change(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    first = build_site6(session)
    assert first.applied and count_writes() == 2
    assert build_site6(session).plan.empty and count_writes() == 2
    changed = ops.ensure_local_network_gateway(session, resource_group=RG1, name="Site6", location=LOC,
                                               gateway_ip_address=SITE6_IP,
                                               address_prefixes=[*SITE6_PREFIXES, "10.63.0.0/16"],
                                               device_ike="aes256-sha384-modp2048s256", apply=True)
    assert {c.field for c in changed.plan.changes} == {"localNetworkAddressSpace.addressPrefixes",
                                                       "tags.vpnrunbook-device-ike"}
    assert count_writes() == 3
    with pytest.raises(PrecheckError) as info:
        ops.ensure_local_network_gateway(session, resource_group=RG1, name="Bad", location=LOC,
                                         gateway_ip_address="10.0.0.1", address_prefixes=["10.61.0.1/16"], apply=True)
    assert {p.field for p in info.value.problems} == {"gateway_ip_address", "address_prefixes[0]"}


def test_s2s_connection_create_then_nothing(session, count_writes):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    n = count_writes()
    first = s2s(session)
    assert first.applied and count_writes() == n + 1
    after = first.after[first.resources[0]]
    assert after["properties"]["ipsecPolicies"][0]["dhGroup"] == "DHGroup24"
    assert first.details["shared_key_ref"].startswith("env:VPN_SEED_KEY")
    assert {f.value for f in first.warnings} >= {"DHGroup24"}  # weak algorithm: a warning, not an error
    second = s2s(session)
    assert second.plan.empty and count_writes() == n + 1
    # the key itself is compared (through the sharedkey endpoint): another key is a planned change
    other = s2s(session, key_ref="generate", apply=False)
    assert [c.field for c in other.plan.changes] == ["sharedKey"]
    assert other.plan.changes[0].current == "<redacted>"


def test_v2v_pair_create_then_nothing(session, count_writes):
    p1, p2 = build_vnet1(session), build_vnet2(session)
    p1.result(timeout=60), p2.result(timeout=60)
    n = count_writes()
    first = v2v(session)
    assert len(first.plan.writes) == 2 and count_writes() == n + 2
    labels = {c.resource for c in first.plan.changes}
    assert labels == {"TestRG1/connections/VNet1toVNet2", "TestRG2/connections/VNet2toVNet1"}
    k1 = session.network.virtual_network_gateway_connections.get_shared_key(RG1, "VNet1toVNet2").value
    k2 = session.network.virtual_network_gateway_connections.get_shared_key("TestRG2", "VNet2toVNet1").value
    assert k1 == k2
    for snap in first.after.values():
        assert snap["properties"]["ipsecPolicies"][0]["ipsecEncryption"] == "GCMAES128"
    assert v2v(session).plan.empty and count_writes() == n + 2


def test_generate_key_reference_is_reused_on_rerun(session, count_writes):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    first = s2s(session, key_ref="generate")
    ref = first.details["shared_key_ref"]
    assert ref.startswith("file:") and "(mode 0600)" in ref
    n = count_writes()
    assert s2s(session, key_ref="generate").plan.empty and count_writes() == n


def test_concurrent_vnet_change_between_plan_and_apply_is_refused(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC, address_space=VNET1_SPACE,
                               subnets=VNET1_SUBNETS, apply=True)
    ours = ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                      address_space=VNET1_SPACE, subnets={**VNET1_SUBNETS, "Ours": "10.1.2.0/24"})
    ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC, address_space=VNET1_SPACE,
                               subnets={**VNET1_SUBNETS, "Theirs": "10.1.3.0/24"}, apply=True)
    n = count_writes()
    with pytest.raises(ops.ConcurrentChangeError, match="TestRG1/virtualNetworks/TestVNet1"):
        ops.apply_plan(session, ours.plan)
    assert count_writes() == n
    subnets = {s.name for s in session.network.virtual_networks.get(RG1, "TestVNet1").subnets}
    assert "Theirs" in subnets and "Ours" not in subnets


def test_concurrent_local_gateway_change_is_refused(session, count_writes):
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    build_site6(session)
    ours = ops.ensure_local_network_gateway(session, resource_group=RG1, name="Site6", location=LOC,
                                            gateway_ip_address="131.107.72.23", address_prefixes=SITE6_PREFIXES)
    build_site6(session, device_esp="aes256-sha256")
    with pytest.raises(ops.ConcurrentChangeError, match="Site6"):
        ops.apply_plan(session, ours.plan)


def test_gateway_creation_resumes_after_the_creating_process_was_killed(session, count_writes):
    """A kernel starts the gateway and dies (SIGKILL); the next run attaches instead of creating another."""
    import os
    import signal
    import subprocess
    import sys

    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC, address_space=VNET1_SPACE,
                               subnets=VNET1_SUBNETS, apply=True)
    ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP", location=LOC, apply=True)
    code = (
        "import os, signal\n"
        "from vpnrunbook.azure.connect import connect\n"
        "from vpnrunbook import operations as ops\n"
        "p = ops.begin_create_vpn_gateway(connect(target='emulator'), resource_group='TestRG1', name='VNet1GW',\n"
        "    location='EastUS', vnet_name='TestVNet1', public_ip_name='VNet1GWIP', sku='VpnGw1AZ', apply=True,\n"
        "    progress=False)\n"
        "assert p.started\n"
        "print('started', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "VPNRUNBOOK_EMULATOR_TIME_FACTOR": "0.001"}  # ~2.7 s: still running when we look
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL and "started" in proc.stdout
    resumed = ops.begin_create_vpn_gateway(session, resource_group=RG1, name="VNet1GW", location=LOC,
                                           vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ",
                                           apply=True, progress=False)
    assert resumed.attached and not resumed.started
    n = count_writes()
    assert resumed.result(timeout=60).details["provisioning_state"] == "Succeeded"
    assert count_writes() == n
    assert [g.name for g in session.network.virtual_network_gateways.list(RG1)] == ["VNet1GW"]
