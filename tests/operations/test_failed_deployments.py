"""A gateway or connection whose deployment ended Failed (emulator lro_outcome fault): the failure is reported in
plain words (what happened, what to do), and re-running the same step plans "retry failed deployment" and recovers."""

from __future__ import annotations

import pytest

from tests.operations.conftest import RG1, RG2, build_site6, build_vnet1, build_vnet2, s2s, v2v, writes
from vpnrunbook import operations as ops
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.operations.plan import RETRY_FAILED

KEY = "Azure1234Seed"


@pytest.fixture(autouse=True)
def _seed_key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", KEY)


@pytest.fixture
def ctl(session):
    return EmulatorControl(session)


def _retry_rows(plan):
    return [c for c in plan.changes if c.field == "provisioningState"]


def test_failed_gateway_is_reported_then_a_rerun_retries_the_deployment(session, ctl):
    ctl.add_lro_failure(path_regex="/virtualNetworkGateways/VNet1GW$", code="GatewayAllocationFailed",
                        message="Allocation failed in the region; try again later.")
    poller = build_vnet1(session)
    with pytest.raises(ops.ProvisioningFailedError) as info:
        poller.result(timeout=60)
    err = info.value
    assert (err.state, err.code) == ("Failed", "GatewayAllocationFailed")
    text = str(err)
    assert "TestRG1/virtualNetworkGateways/VNet1GW ended in provisioningState Failed" in text
    assert "Allocation failed in the region" in text and "What to do" in text
    assert "re-run step 01 (01_create_vnet_gateway) with the same parameters" in text
    assert poller.status() == "Failed"

    # plan-only re-run: one row "retry failed deployment", a note, no write
    n = len(writes(session))
    preview = ops.begin_create_vpn_gateway(session, resource_group=RG1, name="VNet1GW", location="EastUS",
                                           vnet_name="TestVNet1", public_ip_name="VNet1GWIP", sku="VpnGw1AZ",
                                           progress=False)
    rows = _retry_rows(preview.plan)
    assert [(r.current, r.desired) for r in rows] == [("Failed", RETRY_FAILED)]
    assert any("retries the failed deployment" in note for note in preview.plan.notes)
    assert "retry failed deployment" in preview.plan.to_frame().to_string()
    assert len(writes(session)) == n

    # apply: re-submitted (one PUT, not attached), succeeds
    again = build_vnet1(session)
    assert again.started and not again.attached
    result = again.result(timeout=60)
    assert result.details["provisioning_state"] == "Succeeded" and result.details["retried_failed_deployment"]
    assert [w for w in writes(session)[n:] if "virtualNetworkGateways" in w[1]] and \
        sum(1 for w in writes(session)[n:] if w[0] == "PUT" and "virtualNetworkGateways/VNet1GW" in w[1]) == 1
    # and now nothing is left to do
    assert build_vnet1(session).plan.empty


def test_a_connection_on_a_failed_gateway_is_refused_with_what_to_do(session, ctl):
    ctl.add_lro_failure(path_regex="/virtualNetworkGateways/VNet1GW$")
    with pytest.raises(ops.ProvisioningFailedError):
        build_vnet1(session).result(timeout=60)
    build_site6(session)
    with pytest.raises(ops.PrecheckError) as info:
        s2s(session)
    problem = next(p for p in info.value.problems if p.code == "GatewayFailed")
    assert "Failed" in problem.message and "re-run step 01" in problem.allowed
    preview = s2s(session, apply=False)  # plan-only: a note, not an error
    assert any("applying now would be refused" in note for note in preview.plan.notes)


def test_failed_connection_write_is_reported_and_a_rerun_retries_it(session, ctl):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    ctl.add_lro_failure(path_regex="/connections/VNet1toSite6$", code="ConnectionProvisioningFailed",
                        message="The connection could not be provisioned.")
    with pytest.raises(ops.ProvisioningFailedError) as info:
        s2s(session)
    assert info.value.code == "ConnectionProvisioningFailed"
    assert "connection VNet1toSite6" in str(info.value) and "What to do" in str(info.value)
    assert KEY not in str(info.value)
    assert ops.show_policy(session, resource_group=RG1, connection_name="VNet1toSite6").snapshot[
        "properties"]["provisioningState"] == "Failed"

    retried = s2s(session)  # same parameters: nothing else differs, the Failed state alone plans a write
    assert [(r.current, r.desired) for r in _retry_rows(retried.plan)] == [("Failed", RETRY_FAILED)]
    assert retried.applied and retried.changed
    after = next(iter(retried.after.values()))
    assert after["properties"]["provisioningState"] == "Succeeded"
    assert s2s(session).plan.empty


def test_failed_policy_update_says_what_was_written_and_the_rerun_retries(session, ctl):
    build_vnet1(session).result(timeout=60)
    build_vnet2(session).result(timeout=60)
    v2v(session)
    ctl.add_lro_failure(path_regex="/connections/VNet2toVNet1$")
    with pytest.raises(ops.ProvisioningFailedError) as info:
        ops.update_connection(session, resource_group=RG1, connection_name="VNet1toVNet2", policy="strong-modern",
                              apply=True)
    assert info.value.written == ["TestRG1/connections/VNet1toVNet2"]
    assert "Already written by this step: TestRG1/connections/VNet1toVNet2" in str(info.value)
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toVNet2",
                                      policy="strong-modern")
    assert [c.resource for c in _retry_rows(plan)] == [f"{RG2}/connections/VNet2toVNet1"]
    done = ops.apply_plan(session, plan)
    assert all(s["properties"]["provisioningState"] == "Succeeded" for s in done.after.values())
    assert ops.show_policy(session, resource_group=RG1, connection_name="VNet1toVNet2").connection_status == \
        "Connected"


@pytest.mark.parametrize(("path", "step"), [
    ("/virtualNetworks/TestVNet1$", "vnet"), ("/publicIPAddresses/VNet1GWIP$", "pip"),
    ("/localNetworkGateways/Site6$", "lgw"),
])
def test_other_steps_retry_a_failed_deployment_on_rerun(session, ctl, path, step):
    from tests.operations.conftest import LOC, SITE6_IP, SITE6_PREFIXES, VNET1_SPACE, VNET1_SUBNETS

    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    run = {
        "vnet": lambda apply: ops.ensure_virtual_network(session, resource_group=RG1, name="TestVNet1", location=LOC,
                                                         address_space=VNET1_SPACE, subnets=VNET1_SUBNETS,
                                                         apply=apply),
        "pip": lambda apply: ops.ensure_public_ip(session, resource_group=RG1, name="VNet1GWIP", location=LOC,
                                                  apply=apply),
        "lgw": lambda apply: ops.ensure_local_network_gateway(session, resource_group=RG1, name="Site6", location=LOC,
                                                              gateway_ip_address=SITE6_IP,
                                                              address_prefixes=SITE6_PREFIXES, apply=apply),
    }[step]
    ctl.add_lro_failure(path_regex=path, code="AllocationFailed")
    with pytest.raises(ops.ProvisioningFailedError) as info:
        run(True)
    assert info.value.code == "AllocationFailed" and "What to do" in str(info.value)
    preview = run(False)
    assert [(r.current, r.desired) for r in _retry_rows(preview.plan)] == [("Failed", RETRY_FAILED)]
    done = run(True)
    assert next(iter(done.after.values()))["properties"]["provisioningState"] == "Succeeded"
    assert run(False).plan.empty
