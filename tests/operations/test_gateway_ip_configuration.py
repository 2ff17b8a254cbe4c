"""The gateway's IP configuration is named as the caller says (the seed document's gw1ipconf1), checked before any
write, and an existing gateway's is kept with a note (the step never rewrites a gateway's IP configurations)."""

from __future__ import annotations

import pytest

from tests.operations.conftest import LOC, RG1, VNET1_SPACE, VNET1_SUBNETS, writes
from vpnrunbook import operations as ops
from vpnrunbook.operations.errors import PrecheckError


def _vnet_and_ip(session) -> None:
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC, address_space=VNET1_SPACE,
                               subnets=VNET1_SUBNETS, apply=True)
    ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP1", location=LOC, apply=True)


def _gateway(session, name: str, **kw):
    return ops.begin_create_vpn_gateway(session, resource_group=RG1, name="VNet1GW", location=LOC,
                                        vnet_name="TestVNet1", public_ip_name="VNet1GWIP1", sku="VpnGw1AZ",
                                        ip_configuration_name=name, progress=False, **kw)


def test_the_ip_configuration_gets_the_given_name_and_is_kept_on_a_rerun(session):
    _vnet_and_ip(session)
    planned = _gateway(session, "gw1ipconf1")
    assert ("ipConfigurations[0].name", "gw1ipconf1") in {(c.field, c.desired) for c in planned.plan.changes}
    result = _gateway(session, "gw1ipconf1", apply=True).result(timeout=60)
    gw = session.network.virtual_network_gateways.get(RG1, "VNet1GW")
    assert [c.name for c in gw.ip_configurations] == ["gw1ipconf1"]
    assert gw.ip_configurations[0].id.endswith("/VNet1GW/ipConfigurations/gw1ipconf1")
    pip = session.network.public_ip_addresses.get(RG1, "VNet1GWIP1")
    assert pip.ip_configuration.id.endswith("/ipConfigurations/gw1ipconf1")
    assert result.applied
    before = len(writes(session))
    other = _gateway(session, "another", apply=True)
    assert other.plan.empty and len(writes(session)) == before, "an existing gateway's IP configuration is kept"
    assert any("gw1ipconf1, not another: kept" in n for n in other.plan.notes)


def test_a_bad_ip_configuration_name_is_refused_before_any_read(session):
    _vnet_and_ip(session)
    before = len(writes(session))
    with pytest.raises(PrecheckError) as info:
        _gateway(session, "", apply=True)
    assert "ip_configuration_name" in {p.field for p in info.value.problems}
    assert len(writes(session)) == before


def test_step_01_refuses_a_bad_ip_configuration_name_before_a_kernel():
    from vpnrunbook.runbook import params

    (p,) = params.check_mapping("01_create_vnet_gateway", {"ip_configuration_name": "gw1 ipconf/1"})
    assert (p.field, p.code) == ("ip_configuration_name", "InvalidResourceName")
    assert not params.check_mapping("01_create_vnet_gateway", {"ip_configuration_name": "gw1ipconf1"})
