"""connect(target="azure") without subscription or credentials fails clearly (connect.py is the emulator
builder's; this checks it from the operations side)."""

from __future__ import annotations

import pytest


def test_azure_target_without_subscription_or_credentials(monkeypatch):
    from vpnrunbook.azure.connect import TargetConfigurationError, connect

    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no az / azd / pwsh
    with pytest.raises(TargetConfigurationError) as info:
        connect(target="azure")
    text = str(info.value)
    assert "AZURE_SUBSCRIPTION_ID" in text and "subscription" in text
    assert "credentials" in text
    # from the environment variable too
    monkeypatch.setenv("VPNRUNBOOK_TARGET", "azure")
    with pytest.raises(TargetConfigurationError, match="subscription"):
        connect()


def test_azure_target_with_subscription_but_no_credentials_names_credentials(monkeypatch):
    from vpnrunbook.azure.connect import TargetConfigurationError, connect

    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
                "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TargetConfigurationError) as info:
        connect(target="azure", subscription_id="11111111-1111-1111-1111-111111111111")
    assert "credentials" in str(info.value) and "subscription id" not in str(info.value)


def test_unknown_target_is_refused():
    from vpnrunbook.azure.connect import TargetConfigurationError, connect

    with pytest.raises(TargetConfigurationError, match="allowed: emulator, azure"):
        connect(target="aws")
