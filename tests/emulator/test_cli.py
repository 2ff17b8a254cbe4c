"""``vpnrunbook emulator reset|status`` on the state the SDK wrote."""

from __future__ import annotations

import json

from vpnrunbook.cli import main


def test_status_and_reset(session, capsys):
    session.resources.resource_groups.create_or_update("RG", {"location": "eastus"})
    assert main(["emulator", "status", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["resources"] == {"microsoft.resources/resourcegroups": 1}
    assert main(["emulator", "status"]) == 0
    assert "resourcegroups: 1" in capsys.readouterr().out
    assert main(["emulator", "reset"]) == 0
    capsys.readouterr()
    assert list(session.resources.resource_groups.list()) == []
    assert main(["emulator", "status"]) == 0
    assert "resources: none" in capsys.readouterr().out


def test_bad_time_factor_env_is_named(monkeypatch):
    import pytest

    from vpnrunbook.emulator.store import env_time_factor

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "fast")
    with pytest.raises(ValueError, match="VPNRUNBOOK_EMULATOR_TIME_FACTOR='fast'"):
        env_time_factor()
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.5")
    assert env_time_factor() == 0.5
