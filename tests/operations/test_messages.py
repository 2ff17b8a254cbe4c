"""Issue 15.6: messages in the operator's terms — the refusal's sentence, hints that name the step and parameter
(never a Python function), an update's refusal labelled as the update, and ARM's 409 (another change still in
progress) as a ConcurrentChangeError that says to plan again."""

from __future__ import annotations

import pytest

from vpnrunbook import operations as ops
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.operations import ConcurrentChangeError, PrecheckError

from .conftest import RG1, build_site6, build_vnet1, s2s


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Message0Tests")


def test_missing_references_name_the_step_and_parameter_not_a_function(session):
    with pytest.raises(PrecheckError) as info:
        s2s(session)
    text = str(info.value)
    assert text.startswith("connection VNet1toSite6: refused before any change — nothing was written (")
    assert "is invalid" not in text
    assert "begin_create_vpn_gateway" not in text and "ensure_local_network_gateway" not in text
    assert "step 02 (02_create_local_gateway, parameter local_gateway_name)" in text
    assert "resource_group" in text and "step 01" in text


def test_an_update_of_a_missing_connection_is_refused_as_the_update(session):
    build_vnet1(session).result(timeout=60)
    with pytest.raises(PrecheckError) as info:
        ops.show_policy(session, resource_group=RG1, connection_name="Nope", step="update connection Nope")
    assert str(info.value).startswith("update connection Nope: refused before any change")
    assert "step 04" in info.value.problems[0].allowed


def test_another_change_in_progress_is_a_concurrent_change_with_the_advice_to_plan_again(session):
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    s2s(session)
    EmulatorControl(session).set_time_factor(1)  # the other change stays in progress (60 s simulated) during this test
    conns = session.network.virtual_network_gateway_connections
    body = conns.get(RG1, "VNet1toSite6").as_dict()
    body["properties"]["sharedKey"] = "Seed0Key0For0Message0Tests"
    body["properties"]["dpdTimeoutSeconds"] = 40
    conns.begin_create_or_update(RG1, "VNet1toSite6", body, polling_interval=30)  # someone else's update, running
    plan = ops.plan_connection_update(session, resource_group=RG1, connection_name="VNet1toSite6",
                                      dpd_timeout_seconds=20)
    with pytest.raises(ConcurrentChangeError) as info:
        ops.apply_plan(session, plan)
    text = str(info.value)
    assert "409" in text and "AnotherOperationInProgress" in text and "plan again" in text
