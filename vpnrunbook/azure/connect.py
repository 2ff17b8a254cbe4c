"""``connect()``: one session object holding the network and resource clients for the chosen target.

* ``emulator`` (default): the embedded ARM emulator, in-process through :class:`InProcessTransport`
  (base URL stays ``https://management.azure.com``, never dialled), or over HTTPS when
  ``VPNRUNBOOK_EMULATOR_URL``/``emulator_url`` points at ``vpnrunbook emulator serve``.
* ``azure``: the real Azure Resource Manager with ``DefaultAzureCredential``.

The SDK's default LRO polling interval is 30 s, and ``Retry-After: 0`` falls back to it; the emulator
target therefore polls every :data:`EMULATOR_POLLING_INTERVAL` seconds.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMULATOR_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
ARM_URL = "https://management.azure.com"
EMULATOR_POLLING_INTERVAL = 0.1
TARGETS = ("emulator", "azure")


class TargetConfigurationError(RuntimeError):
    """The chosen target cannot be reached as configured; the message names what is missing."""


@dataclass
class Session:
    network: Any  # azure.mgmt.network.NetworkManagementClient
    resources: Any  # azure.mgmt.resource.resources.ResourceManagementClient
    target: str
    subscription_id: str
    polling_interval: float
    transport: Any = None  # the in-process transport (emulator in-process only): .requests, .sleeps
    credential: Any = None
    base_url: str = ARM_URL
    ca_bundle: str | None = None  # the served emulator's CA (its other clients, e.g. azure/monitor.py, need it too)

    def __repr__(self) -> str:  # never shows a credential
        return (f"Session(target={self.target!r}, subscription_id={self.subscription_id!r}, "
                f"base_url={self.base_url!r}, polling_interval={self.polling_interval})")

    def close(self) -> None:
        for client in (self.network, self.resources):
            close = getattr(client, "close", None)
            if close:
                close()


class StaticTokenCredential:
    """A credential that always returns the same bearer token (the emulator's)."""

    def __init__(self, token: str = "emulator") -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 10 * 365 * 24 * 3600)

    def __repr__(self) -> str:
        return "StaticTokenCredential(<redacted>)"


def _state_dir() -> Path:
    return Path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook")


def _resolve_target(target: str | None) -> str:
    chosen = target or os.environ.get("VPNRUNBOOK_TARGET") or "emulator"
    if chosen not in TARGETS:
        source = "target" if target else "VPNRUNBOOK_TARGET"
        raise TargetConfigurationError(f"{source}={chosen!r} is not a target; allowed: {', '.join(TARGETS)}")
    return chosen


def _check_interval(value: float | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TargetConfigurationError(f"polling_interval={value!r} is not allowed; allowed: a number of seconds >= 0")
    return float(value)


def connect(target: str | None = None, *, subscription_id: str | None = None, polling_interval: float | None = None,
            emulator_url: str | None = None) -> Session:
    """Build a :class:`Session` for ``target`` (``emulator`` or ``azure``; default ``$VPNRUNBOOK_TARGET`` or emulator)."""
    chosen = _resolve_target(target)
    if chosen == "azure":
        return _connect_azure(subscription_id, polling_interval)
    return _connect_emulator(subscription_id, polling_interval, emulator_url)


def _clients(credential: Any, subscription_id: str, base_url: str, interval: float, **kwargs: Any) -> tuple[Any, Any]:
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    network = NetworkManagementClient(credential, subscription_id, base_url=base_url, polling_interval=interval,
                                      **kwargs)
    resources = ResourceManagementClient(credential, subscription_id, base_url=base_url, polling_interval=interval,
                                         **kwargs)
    return network, resources


def _connect_emulator(subscription_id: str | None, polling_interval: float | None,
                      emulator_url: str | None) -> Session:
    sub = subscription_id or EMULATOR_SUBSCRIPTION
    interval = _check_interval(polling_interval, EMULATOR_POLLING_INTERVAL)
    url = emulator_url or os.environ.get("VPNRUNBOOK_EMULATOR_URL")
    if url:
        return _connect_emulator_server(url.rstrip("/"), sub, interval)
    from vpnrunbook.emulator.app import EmulatorApp
    from vpnrunbook.emulator.store import Store
    from vpnrunbook.emulator.transport import InProcessTransport

    transport = InProcessTransport(EmulatorApp(Store()))
    credential = StaticTokenCredential()
    # Each client gets the same transport object; azure-core closes it per client, which is a no-op here.
    network, resources = _clients(credential, sub, ARM_URL, interval, transport=transport)
    return Session(network, resources, "emulator", sub, interval, transport, credential, ARM_URL)


def _connect_emulator_server(url: str, sub: str, interval: float) -> Session:
    if not url.startswith("https://"):
        raise TargetConfigurationError(f"VPNRUNBOOK_EMULATOR_URL={url!r} is not allowed; allowed: an https:// URL "
                                       "as printed by `vpnrunbook emulator serve`")
    state = _state_dir()
    token = os.environ.get("VPNRUNBOOK_EMULATOR_TOKEN")
    token_file = state / "emulator.token"
    if not token and token_file.exists():
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise TargetConfigurationError(f"no emulator token: set VPNRUNBOOK_EMULATOR_TOKEN or start "
                                       f"`vpnrunbook emulator serve` so that {token_file} exists")
    ca = os.environ.get("VPNRUNBOOK_EMULATOR_CA") or str(state / "emulator-ca.pem")
    if not Path(ca).exists():
        raise TargetConfigurationError(f"emulator CA certificate {ca} does not exist: set VPNRUNBOOK_EMULATOR_CA "
                                       "or start `vpnrunbook emulator serve` in this state dir")
    credential = StaticTokenCredential(token)
    network, resources = _clients(credential, sub, url, interval, connection_verify=ca)
    return Session(network, resources, "emulator", sub, interval, None, credential, url, ca)


def _credential_sources() -> list[str]:
    found = []
    if os.environ.get("AZURE_CLIENT_ID") and os.environ.get("AZURE_TENANT_ID"):
        found.append("environment (AZURE_CLIENT_ID/AZURE_TENANT_ID)")
    if os.environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        found.append("workload identity")
    if os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"):
        found.append("managed identity")
    if shutil.which("az"):
        found.append("Azure CLI")
    if shutil.which("azd"):
        found.append("Azure Developer CLI")
    if shutil.which("pwsh"):
        found.append("Azure PowerShell")
    return found


def _connect_azure(subscription_id: str | None, polling_interval: float | None) -> Session:
    sub = subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID")
    missing = []
    if not sub:
        missing.append("a subscription id (pass subscription_id= or set AZURE_SUBSCRIPTION_ID)")
    if not _credential_sources():
        missing.append("credentials for DefaultAzureCredential (AZURE_CLIENT_ID + AZURE_TENANT_ID + a secret or "
                       "certificate, a managed identity, or `az login`)")
    if missing:
        raise TargetConfigurationError("target 'azure' is not configured: missing " + "; ".join(missing))
    assert sub is not None
    interval = _check_interval(polling_interval, 30.0)
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential()
    network, resources = _clients(credential, sub, ARM_URL, interval)
    return Session(network, resources, "azure", sub, interval, None, credential, ARM_URL)
