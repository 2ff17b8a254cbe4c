"""The JavaScript Azure SDK against ``emulator serve`` (issue 26): ``@azure/arm-network`` at the exact versions of
tests/emulator/js/package-lock.json, installed with ``npm ci`` into a cache under the project's .venv, runs
tests/emulator/js/smoke.mjs over HTTPS with a TokenCredential handing out the emulator's token and the emulator's
CA through NODE_EXTRA_CA_CERTS. Skipped, with the reason, when node/npm are absent or the npm registry cannot be
reached (and the packages are not cached yet)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.emulator import seed
from vpnrunbook.azure.connect import connect

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"
CACHE = Path(os.environ.get("VPNRUNBOOK_JS_SDK_CACHE", REPO / ".venv" / "js-sdk-smoke"))


def _tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        pytest.skip(f"`{name}` is not installed (neither on PATH nor in /usr/bin): the JS SDK smoke test needs Node.js")
    return found


def _installed_sdk() -> Path:
    """The cache folder with node_modules installed from package-lock.json (reused while the lock is unchanged)."""
    npm = _tool("npm")
    lock = (JS / "package-lock.json").read_bytes()
    folder = CACHE / hashlib.sha256(lock).hexdigest()[:16]
    stamp = folder / ".installed"
    if not stamp.exists():
        ping = subprocess.run([npm, "ping", "--fetch-timeout=10000", "--fetch-retries=0"], capture_output=True,
                              text=True, timeout=30)
        if ping.returncode != 0:
            pytest.skip(f"the npm registry cannot be reached (`npm ping` exit {ping.returncode}: "
                        f"{(ping.stderr or ping.stdout).strip()[-300:]}): the JS SDK is not cached in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(JS / name, folder / name)
        ci = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--fetch-timeout=60000"],
                            cwd=folder, capture_output=True, text=True, timeout=600)
        assert ci.returncode == 0, f"npm ci failed although the registry answers: {ci.stderr[-2000:]}"
        stamp.write_text("ok\n")
    shutil.copyfile(JS / "smoke.mjs", folder / "smoke.mjs")  # ESM resolves packages from the script's folder
    return folder


def test_js_sdk_drives_the_served_emulator(served, monkeypatch):
    node = _tool("node")
    folder = _installed_sdk()
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TOKEN", served.token)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_CA", str(served.ca))
    session = connect(emulator_url=served.url, polling_interval=0.01)
    seed.build_topology(session)  # the seed's connection VNet1toSite6 with its custom policy, read by the JS side
    session.resources.resource_groups.create_or_update("JsRG", {"location": "eastus"})

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
           "NODE_EXTRA_CA_CERTS": str(served.ca), "EMULATOR_URL": served.url, "EMULATOR_TOKEN": served.token,
           "SUBSCRIPTION_ID": session.subscription_id, "RESOURCE_GROUP": "JsRG"}
    run = subprocess.run([node, "smoke.mjs"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["created"]["name"] == "JsVNet" and out["created"]["provisioningState"] == "Succeeded"
    assert out["created"]["id"].lower() == (f"/subscriptions/{session.subscription_id}/resourceGroups/JsRG/providers/"
                                            "Microsoft.Network/virtualNetworks/JsVNet").lower()
    assert out["read"]["subnets"] == ["GatewaySubnet"] and out["read"]["etag"]
    assert out["listed"] == ["JsVNet"]
    assert {"JsVNet", "TestVNet1", "TestVNet2"} <= set(out["everywhere"])
    policy = out["connection"]["ipsecPolicies"]
    assert out["connection"]["name"] == "VNet1toSite6" and len(policy) == 1
    assert policy[0] == {"saLifeTimeSeconds": 14400, "saDataSizeKilobytes": 102400000, "ipsecEncryption": "AES256",
                         "ipsecIntegrity": "SHA256", "ikeEncryption": "AES256", "ikeIntegrity": "SHA384",
                         "dhGroup": "DHGroup24", "pfsGroup": "None"}
    assert out["missing"] == {"statusCode": 404, "code": "ResourceNotFound"}
    # what the JS client wrote is what the Python SDK reads back
    vnet = session.network.virtual_networks.get("JsRG", "JsVNet")
    assert [s.address_prefix for s in vnet.subnets] == ["10.90.255.0/27"]
