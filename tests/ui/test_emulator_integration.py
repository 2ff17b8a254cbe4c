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
    panel.confirm.checkbox.value = True  # seed-update weakens ike_integrity (SHA384 → SHA1): the operator accepts
    panel.apply_button.click()
    assert "ConcurrentChangeError" in panel.outcome.value
    assert connection_policy(session) == PRESETS["strong-modern"].policy
    assert panel.current == PRESETS["strong-modern"].policy  # the panel re-read and re-planned

    writes_before = len([r for r in session.transport.requests if r[0] in ("PUT", "PATCH", "DELETE")])
    assert panel.confirm.required and not panel.confirm.accepted  # the new plan asks again
    panel.confirm.checkbox.value = True
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
    panel.apply_button.click()  # Azure's defaults weaken the crypto: refused until the operator accepts it
    assert "ConfirmationRequiredError" in panel.outcome.value and connection_policy(session) is not None
    panel.confirm.checkbox.value = True
    panel.apply_button.click()
    assert "Applied" in panel.outcome.value, panel.outcome.value
    assert connection_policy(session) is None
    assert panel.current is None


def test_the_update_panel_shows_weakening_above_apply(session):
    """Issue 15.4: choosing a weaker policy (SHA384 → SHA1) shows each weakened field above Apply (issue 21.3: and
    the box the operator ticks to accept it)."""
    panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", initial="seed-update",
                         interactive=True)
    children = list(panel.widget.children)
    assert children.index(panel.warning) < children.index(panel.apply_button)
    assert "WEAKER than now" in panel.warning.value and "ike_integrity" in panel.warning.value
    assert not panel.apply_button.disabled and "weakens" in panel.confirm.text and "ike_integrity" in panel.confirm.text
    panel.use_defaults.value = True  # back to Azure's default proposals: weaker still (3DES, DH group 2, ...)
    assert "DES3" in panel.warning.value and "pfs_group" in panel.warning.value
    assert "WEAKER" in panel.static_html()


def test_a_breaking_update_in_the_panel_is_recorded_as_accepted_and_shown_red(session, tmp_path, monkeypatch):
    """Against the emulator's device model: Site6 speaks only the seed policy; the update breaks the tunnel. The
    panel refuses it until the operator ticks what they accept; the intent record says it was accepted; the outcome
    shows the connection status read back, in red."""
    from vpnrunbook import operations as ops
    from vpnrunbook.evidence import identity, index, journal, record

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "evidence"))
    ops.ensure_local_network_gateway(session, resource_group="TestRG1", name="Site6", location="EastUS",
                                     gateway_ip_address=None, address_prefixes=None,
                                     device_ike="aes256-sha384-modp2048s256", device_esp="aes256-sha256", apply=True)
    panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", initial="strong-modern",
                         interactive=True)
    assert panel.plan.breaks_tunnel and "breaks the tunnel to Site6" in panel.confirm.text
    panel.apply_button.click()
    assert "ConfirmationRequiredError" in panel.outcome.value
    assert connection_policy(session) == PRESETS["seed-s2s"].policy  # nothing written
    panel.confirm.checkbox.value = True
    panel.apply_button.click()
    assert connection_policy(session) == PRESETS["strong-modern"].policy
    assert "vpnrunbook-message-error" in panel.outcome.value, panel.outcome.value
    assert "The tunnel to Site6 (VNet1toSite6) is now NotConnected" in panel.outcome.value
    run_id = panel.evidence["run_id"]
    assert panel.evidence["path"] in panel.outcome.value
    (intent,) = [e for e in journal.for_run(tmp_path / "evidence", run_id) if e["kind"] == "intent"]
    # the acceptance is a signed field of the intent of its own: per warning accepted, who, when and their words
    (accepted,) = intent["accepted"]
    assert accepted["warning"] == intent["tunnel_warnings"][0] and "Site6" in accepted["warning"]
    assert accepted["statement"].startswith("I accept that this change breaks the tunnel to Site6")
    assert accepted["by"] == identity.label() and accepted["at"] == intent["time"]
    assert not any(str(w).startswith("ACCEPTED") for w in intent["warnings"])
    shown = record.for_evidence(panel.evidence)
    assert shown["accepted"] == [accepted] and "accepted by " + identity.label() in record.to_text(shown)
    (row,) = [r for r in index.rows(tmp_path / "evidence") if r["run"] == run_id]
    assert row["flags"] == f"BROKE A TUNNEL (accepted by {identity.label()})"
