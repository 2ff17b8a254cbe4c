"""Gateway creation shows its progress through vpnrunbook.ui.progress: text lines when headless."""

from __future__ import annotations

import pytest

from tests.browser.seed_state import vnet1_prerequisites

pytestmark = pytest.mark.slow


def test_gateway_wait_prints_text_progress_headless(monkeypatch, capsys):
    import time

    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    monkeypatch.setenv("VPNRUNBOOK_HEADLESS", "1")
    session = connect("emulator")
    gw = vnet1_prerequisites(session)
    rg, loc = gw["resource_group"], gw["location"]
    capsys.readouterr()
    started = time.monotonic()
    ops.begin_create_vpn_gateway(session, resource_group=rg, name=gw["gateway_name"], location=loc,
                                 vnet_name=gw["vnet_name"], public_ip_name=gw["public_ip_name"], sku=gw["gateway_sku"],
                                 apply=True, progress=True).result(timeout=120)
    waited = time.monotonic() - started
    out = capsys.readouterr().out
    assert f"gateway {gw['gateway_name']}" in out
    assert "done" in out
    # a bar against the expected duration (the emulator's simulated 45 min x time factor): percentage and time left
    assert "100%|" in out and " left" in out and "GatewayPoller" not in out
    # headless the line is redrawn at most every 2 s (plus start and end), not on every 0.1 s poll
    assert out.count("\r") <= waited / 2 + 4, (waited, out.count("\r"))
