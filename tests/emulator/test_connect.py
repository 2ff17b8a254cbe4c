"""connect(): targets, configuration errors that name what is missing, the emulator session's shape."""

from __future__ import annotations

import pytest

from vpnrunbook.azure.connect import EMULATOR_SUBSCRIPTION, TargetConfigurationError, connect


def test_emulator_is_the_default_target(monkeypatch):
    s = connect()
    assert (s.target, s.subscription_id) == ("emulator", EMULATOR_SUBSCRIPTION)
    assert 0 < s.polling_interval <= 0.2  # never the SDK's 30 s
    s.resources.resource_groups.create_or_update("RG", {"location": "eastus"})
    assert s.transport.requests[-1][:2] == ("PUT", f"/subscriptions/{EMULATOR_SUBSCRIPTION}/resourcegroups/RG")
    assert "emulator" in repr(s) and "token" not in repr(s).lower()


def test_azure_target_names_what_is_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
                "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(TargetConfigurationError) as info:
        connect("azure")
    assert "AZURE_SUBSCRIPTION_ID" in str(info.value) and "credentials" in str(info.value)
    monkeypatch.setenv("VPNRUNBOOK_TARGET", "azure")
    with pytest.raises(TargetConfigurationError):
        connect(subscription_id="11111111-1111-1111-1111-111111111111")


def test_azure_target_builds_clients_when_configured(monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", "x")
    monkeypatch.setenv("AZURE_TENANT_ID", "y")
    s = connect("azure", subscription_id="11111111-1111-1111-1111-111111111111")
    assert s.target == "azure" and s.transport is None and s.polling_interval == 30


@pytest.mark.parametrize(("kwargs", "env", "needle"), [
    ({"target": "mars"}, {}, "emulator, azure"),
    ({}, {"VPNRUNBOOK_TARGET": "aws"}, "VPNRUNBOOK_TARGET"),
    ({"emulator_url": "http://127.0.0.1:1"}, {}, "https://"),
    ({"emulator_url": "https://127.0.0.1:1"}, {}, "VPNRUNBOOK_EMULATOR_TOKEN"),
    ({"polling_interval": -1}, {}, "polling_interval"),
])
def test_bad_configuration_is_named(monkeypatch, kwargs, env, needle):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(TargetConfigurationError) as info:
        connect(**kwargs)
    assert needle in str(info.value)
