"""The update panel and the topology picture against the real operations layer and the in-process emulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.browser.seed_state import connection_policy, create_seed_connection
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.ui.topology import topology_svg
from vpnrunbook.ui.update import update_panel

pytestmark = pytest.mark.slow


@pytest.fixture
def session(monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "integrationKey123")
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    return create_seed_connection(PRESETS["seed-s2s"].policy)


def test_apply_and_concurrent_change_and_topology(session):
    from vpnrunbook import operations as ops

    panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", initial="seed-update",
                         interactive=True)
    assert panel.current == PRESETS["seed-s2s"].policy
    assert not panel.apply_button.disabled and panel.plan.changes

    # someone else changes the connection after our plan: Apply must refuse and write nothing
    ops.update_connection(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                          policy=PRESETS["strong-modern"].policy, apply=True)
    panel.apply_button.click()
    assert "ConcurrentChangeError" in panel.outcome.value
    assert connection_policy(session) == PRESETS["strong-modern"].policy
    assert panel.current == PRESETS["strong-modern"].policy  # the panel re-read and re-planned

    writes_before = len([r for r in session.transport.requests if r[0] in ("PUT", "PATCH", "DELETE")])
    panel.apply_button.click()
    assert "Applied" in panel.outcome.value, panel.outcome.value
    assert connection_policy(session) == PRESETS["seed-update"].policy
    writes = [r for r in session.transport.requests[:] if r[0] in ("PUT", "PATCH", "DELETE")]
    assert len(writes) > writes_before
    assert panel.apply_button.disabled  # nothing left to apply

    svg = topology_svg(session, ["TestRG1", "NoSuchRG"], title="after update")
    root = ET.fromstring(svg)
    text = "".join(root.itertext())
    assert "Resource group NoSuchRG(not found)" in text  # a missing group is drawn as such, not an exception
    for needle in ("TestVNet1", "10.1.0.0/16", "VNet1GW", "SKU VpnGw1", "Site6", "10.61.0.0/16", "131.107.72.22",
                   "VNet1toSite6 — IPsec", PRESETS["seed-update"].policy.summary()):
        assert needle in text, needle


def test_back_to_azure_default_proposals(session):
    panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", interactive=True)
    assert panel.apply_button.disabled  # starts from the current policy: nothing to do
    panel.use_defaults.value = True
    panel.apply_button.click()
    assert "Applied" in panel.outcome.value, panel.outcome.value
    assert connection_policy(session) is None
    assert panel.current is None


def test_the_update_panel_shows_weakening_above_apply(session):
    """Issue 15.4: choosing a weaker policy (SHA384 → SHA1) shows each weakened field above Apply, not blocking."""
    panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", initial="seed-update",
                         interactive=True)
    children = list(panel.widget.children)
    assert children.index(panel.warning) < children.index(panel.apply_button)
    assert "WEAKER than now" in panel.warning.value and "ike_integrity" in panel.warning.value
    assert not panel.apply_button.disabled
    panel.use_defaults.value = True  # back to Azure's default proposals: weaker still (3DES, DH group 2, ...)
    assert "DES3" in panel.warning.value and "pfs_group" in panel.warning.value
    assert "WEAKER" in panel.static_html()
