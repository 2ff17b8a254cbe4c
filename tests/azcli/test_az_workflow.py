"""The real Azure CLI (azure-cli from PyPI, in its own virtual environment) drives the document's workflow
against ``vpnrunbook emulator serve``: login, group, VNet + subnets, public IP, gateways, local network
gateway, ``vpn-connection create`` (S2S and VNet-to-VNet, an ARM template deployment), IPsec policy
add/list/clear, policy-based traffic selectors, shared key show/update, IKE SAs, the supported devices and the
device configuration script (the CLI's documented example), ``resource list`` with its filters, ``deployment
group validate/what-if/create/list/delete`` and deployment operations, deletes; then ``vpnrunbook run 08`` and
``vpnrunbook audit`` read the result.

Only loopback: ``sitecustomize.py`` in ``guard/`` (on the az process's PYTHONPATH) refuses every other
connection and name lookup, and proxies are unset. Outside CI a failed install skips; in CI it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, in_ci

pytestmark = pytest.mark.slow

AZ_VERSION = "2.91.0"
GUARD = Path(__file__).resolve().parent / "guard"
TENANT = "00000000-0000-0000-0000-000000000001"
SUB = "00000000-0000-0000-0000-000000000000"
KEY1, KEY2 = "AzCliTestKey1abc", "AzCliTestKey2xyz"  # test-only keys; the evidence must not contain them


def _az_venv() -> Path:
    """The Azure CLI's own venv, cached under .venv (reused when present, installed from PyPI otherwise)."""
    venv = Path(os.environ.get("VPNRUNBOOK_AZCLI_VENV") or REPO / ".venv" / f"azcli-{AZ_VERSION}")
    az = venv / "bin" / "az"
    if az.exists():
        return venv
    try:
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"azure-cli=={AZ_VERSION}"], check=True,
                       capture_output=True, text=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        if in_ci():
            pytest.fail(f"azure-cli {AZ_VERSION} could not be installed (a skip is a failure in CI): {detail[-2000:]}")
        pytest.skip(f"azure-cli {AZ_VERSION} could not be installed: {detail[-500:]}")
    return venv


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    state = tmp_path_factory.mktemp("azcli-state")
    env = {**os.environ, "VPNRUNBOOK_STATE_DIR": str(state), "VPNRUNBOOK_DB": str(state / "emulator.sqlite3"),
           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": "0.0005"}  # a gateway: 1.35 s, so az really polls
    proc = subprocess.Popen([sys.executable, "-m", "vpnrunbook", "emulator", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    while len(lines) < 20 and not any("az login" in line for line in lines):
        lines.append(proc.stdout.readline())
    url = lines[0].split()[-1].strip()
    assert url.startswith("https://127.0.0.1:"), lines
    text = "".join(lines)
    assert "az cloud register" in text and "az login --service-principal" in text, text  # the lines users need
    yield {"url": url, "state": state, "token": (state / "emulator.token").read_text().strip(),
           "ca": str(state / "emulator-ca.pem"), "banner": text}
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def az(emulator, tmp_path_factory):
    venv = _az_venv()
    config = tmp_path_factory.mktemp("azure-config")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "all_proxy")}
    env.update({"AZURE_CONFIG_DIR": str(config), "AZURE_CORE_COLLECT_TELEMETRY": "no",
                "AZURE_CORE_ONLY_SHOW_ERRORS": "true", "AZURE_CORE_INSTANCE_DISCOVERY": "false",
                "AZURE_CORE_NO_COLOR": "true", "PYTHONPATH": str(GUARD), "REQUESTS_CA_BUNDLE": emulator["ca"],
                "NO_PROXY": "127.0.0.1,localhost"})
    env.pop("VPNRUNBOOK_EMULATOR_TOKEN", None)

    def run(*args: str, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(venv / "bin" / "az"), *args], env=env, capture_output=True, text=True, timeout=600)
        if expect_ok:
            assert out.returncode == 0, f"az {' '.join(args)} failed:\n{out.stderr[-3000:]}"
        return out

    return run


def _json(out: subprocess.CompletedProcess[str]):
    return json.loads(out.stdout)


def test_guard_refuses_outbound_connections(az):
    code = ("import socket\ntry:\n    socket.create_connection(('192.0.2.1', 443), timeout=1)\n"
            "except OSError as e:\n    print('refused', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(GUARD)},
                         capture_output=True, text=True, timeout=60)
    assert "vpnrunbook test guard" in out.stdout


def test_az_drives_the_document_workflow(az, emulator, tmp_path):
    url = emulator["url"]
    az("cloud", "register", "-n", "vpnrunbook-emulator", "--endpoint-resource-manager", url + "/")
    az("cloud", "set", "-n", "vpnrunbook-emulator")
    login = _json(az("login", "--service-principal", "-u", "vpnrunbook", "-p", "not-checked", "--tenant", TENANT))
    assert [s["id"] for s in login] == [SUB] and login[0]["tenantId"] == TENANT
    assert _json(az("account", "show"))["id"] == SUB

    # VNet1, its gateway, Site6 (TestRG1) and VNet2 with its gateway (TestRG2), as the document does.
    az("group", "create", "-n", "TestRG1", "-l", "eastus")
    az("group", "create", "-n", "TestRG2", "-l", "eastus")
    az("network", "vnet", "create", "-g", "TestRG1", "-n", "TestVNet1", "--address-prefixes", "10.1.0.0/16",
       "--subnet-name", "FrontEnd", "--subnet-prefixes", "10.1.0.0/24")
    az("network", "vnet", "subnet", "create", "-g", "TestRG1", "--vnet-name", "TestVNet1", "-n", "Backend",
       "--address-prefixes", "10.1.1.0/24")
    az("network", "vnet", "subnet", "create", "-g", "TestRG1", "--vnet-name", "TestVNet1", "-n", "GatewaySubnet",
       "--address-prefixes", "10.1.255.0/27")
    az("network", "vnet", "create", "-g", "TestRG2", "-n", "TestVNet2", "--address-prefixes", "10.21.0.0/16",
       "10.22.0.0/16", "--subnet-name", "GatewaySubnet", "--subnet-prefixes", "10.22.255.0/27")
    for rg, pip in (("TestRG1", "VNet1GWIP"), ("TestRG2", "VNet2GWIP")):
        az("network", "public-ip", "create", "-g", rg, "-n", pip, "--sku", "Standard", "--allocation-method",
           "Static")
    for rg, gw, vnet, pip in (("TestRG1", "VNet1GW", "TestVNet1", "VNet1GWIP"),
                              ("TestRG2", "VNet2GW", "TestVNet2", "VNet2GWIP")):
        created = _json(az("network", "vnet-gateway", "create", "-g", rg, "-n", gw, "--vnet", vnet,
                           "--public-ip-addresses", pip, "--gateway-type", "Vpn", "--vpn-type", "RouteBased",
                           "--sku", "VpnGw2AZ", "--vpn-gateway-generation", "Generation2"))
        assert created["vnetGateway"]["provisioningState"] == "Succeeded"
    az("network", "local-gateway", "create", "-g", "TestRG1", "-n", "Site6", "--gateway-ip-address",
       "131.107.72.22", "--local-address-prefixes", "10.61.0.0/16", "10.62.0.0/16")

    # vpn-connection create: an ARM template deployment (connectionType "IPSec" → canonical "IPsec").
    s2s = _json(az("network", "vpn-connection", "create", "-g", "TestRG1", "-n", "VNet1toSite6", "--vnet-gateway1",
                   "VNet1GW", "--local-gateway2", "Site6", "--shared-key", KEY1, "-l", "eastus"))
    assert s2s["resource"]["connectionType"] == "IPsec" and s2s["resource"]["provisioningState"] == "Succeeded"
    assert "sharedKey" not in s2s["resource"]
    gw1 = f"/subscriptions/{SUB}/resourceGroups/TestRG1/providers/Microsoft.Network/virtualNetworkGateways/VNet1GW"
    gw2 = f"/subscriptions/{SUB}/resourceGroups/TestRG2/providers/Microsoft.Network/virtualNetworkGateways/VNet2GW"
    az("network", "vpn-connection", "create", "-g", "TestRG1", "-n", "VNet1toVNet2", "--vnet-gateway1", gw1,
       "--vnet-gateway2", gw2, "--shared-key", KEY2, "-l", "eastus")
    az("network", "vpn-connection", "create", "-g", "TestRG2", "-n", "VNet2toVNet1", "--vnet-gateway1", gw2,
       "--vnet-gateway2", gw1, "--shared-key", KEY2, "-l", "eastus")

    # The document's policy (on both VNet-to-VNet directions), then list / clear on the S2S one.
    policy = ["--ike-encryption", "AES256", "--ike-integrity", "SHA384", "--dh-group", "DHGroup24",
              "--ipsec-encryption", "AES256", "--ipsec-integrity", "SHA256", "--pfs-group", "PFS24",
              "--sa-lifetime", "27000", "--sa-max-size", "102400000"]
    for rg, name in (("TestRG1", "VNet1toVNet2"), ("TestRG2", "VNet2toVNet1"), ("TestRG1", "VNet1toSite6")):
        az("network", "vpn-connection", "ipsec-policy", "add", "-g", rg, "--connection-name", name, *policy)
    listed = _json(az("network", "vpn-connection", "ipsec-policy", "list", "-g", "TestRG1", "--connection-name",
                      "VNet1toSite6"))
    assert [(p["dhGroup"], p["pfsGroup"], p["saLifeTimeSeconds"]) for p in listed] == [("DHGroup24", "PFS24", 27000)]
    updated = _json(az("network", "vpn-connection", "update", "-g", "TestRG1", "-n", "VNet1toSite6",
                       "--use-policy-based-traffic-selectors", "true"))
    assert updated["usePolicyBasedTrafficSelectors"] is True
    assert az("network", "vpn-connection", "shared-key", "show", "-g", "TestRG1", "--connection-name",
              "VNet1toSite6", "--query", "value", "-o", "tsv").stdout.strip() == KEY1
    az("network", "vpn-connection", "shared-key", "update", "-g", "TestRG1", "--connection-name", "VNet1toSite6",
       "--value", KEY1 + "n")
    sas = json.loads(_json(az("network", "vpn-connection", "list-ike-sas", "-g", "TestRG1", "-n", "VNet1toSite6")))
    assert sas and sas[0]["dhGroup"] == "DHGroup24" and sas[0]["quickModeSa"][0]["pfsGroupId"] == "PFS24"
    # The Azure CLI's own documented example (its help spells the firmware with a space Azure's list has not).
    devices = az("network", "vnet-gateway", "show-supported-devices", "-g", "TestRG1", "-n", "VNet1GW").stdout
    assert "RpVpnDeviceList" in devices and "Cisco-ISR-15.x--IKEv2+BGP" in devices
    script = _json(az("network", "vpn-connection", "show-device-config-script", "-g", "TestRG1", "-n",
                      "VNet1toSite6", "--vendor", "Cisco", "--device-family", "Cisco-ISR(IOS)", "--firmware-version",
                      "Cisco-ISR-15.x-- IKEv2+BGP"))
    assert "crypto ikev2 proposal" in script and KEY1 not in script
    sheet = _json(az("network", "vpn-connection", "show-device-config-script", "-g", "TestRG1", "-n",
                     "VNet1toSite6", "--vendor", "Juniper", "--device-family", "Juniper_SRX", "--firmware-version",
                     "Juniper_SRX_JunOS-12.x_RouteBased"))
    assert "/Data/CONNECTION_NAME = VNet1toSite6" in sheet and KEY1 not in sheet
    cleared = az("network", "vpn-connection", "ipsec-policy", "clear", "-g", "TestRG1", "--connection-name",
                 "VNet1toSite6")
    assert cleared.returncode == 0
    assert _json(az("network", "vpn-connection", "ipsec-policy", "list", "-g", "TestRG1", "--connection-name",
                    "VNet1toSite6")) == []
    assert _json(az("network", "vpn-connection", "show", "-g", "TestRG1", "-n", "VNet1toVNet2")
                 )["connectionStatus"] == "Connected"

    # Who changed what: the emulator's Activity Log, as `az monitor activity-log list` reads Azure's.
    log = _json(az("monitor", "activity-log", "list", "--resource-group", "TestRG1", "--offset", "1h",
                   "--max-events", "1000"))
    s2s_id = f"/subscriptions/{SUB}/resourceGroups/TestRG1/providers/Microsoft.Network/connections/VNet1toSite6"
    on_s2s = [e for e in log if e["resourceId"].lower().startswith(s2s_id.lower())]
    ops = {(e["operationName"]["value"], e["status"]["value"]) for e in on_s2s}
    assert ("Microsoft.Network/connections/write", "Succeeded") in ops
    assert ("Microsoft.Network/connections/sharedKey/write", "Succeeded") in ops
    assert {e["resourceGroupName"] for e in log} == {"TestRG1"}
    assert all(e["caller"] and e["correlationId"] and e["httpRequest"]["clientRequestId"] for e in log)
    assert KEY1 not in json.dumps(log) and KEY2 not in json.dumps(log)
    by_correlation = _json(az("monitor", "activity-log", "list", "--correlation-id", on_s2s[0]["correlationId"]))
    assert by_correlation and {e["correlationId"] for e in by_correlation} == {on_s2s[0]["correlationId"]}

    # Generic resource reads: `az resource list` with its filters (resourceGroup / resourceType / tag / name).
    az("network", "local-gateway", "create", "-g", "TestRG2", "-n", "Site7", "--gateway-ip-address",
       "131.107.72.23", "--local-address-prefixes", "10.71.0.0/16", "--tags", "env=prod")
    names = lambda out: sorted(r["name"] for r in _json(out))  # noqa: E731
    in_rg1 = names(az("resource", "list", "-g", "TestRG1"))
    assert "VNet1GW" in in_rg1 and "Site6" in in_rg1 and "VNet2GW" not in in_rg1
    assert names(az("resource", "list", "-g", "TestRG1", "--resource-type",
                    "Microsoft.Network/localNetworkGateways")) == ["Site6"]
    assert names(az("resource", "list", "--tag", "env=prod")) == ["Site7"]
    assert names(az("resource", "list", "-n", "VNet2GW")) == ["VNet2GW"]

    # Template deployments: validate, what-if, create, show/list, operations, delete.
    lng = tmp_path / "lng.json"
    lng.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0", "parameters": {"name": {"type": "string"}},
        "resources": [{"type": "Microsoft.Network/localNetworkGateways", "apiVersion": "2020-11-01",
                       "name": "[parameters('name')]", "location": "[resourceGroup().location]",
                       "properties": {"gatewayIpAddress": "131.107.72.24",
                                      "localNetworkAddressSpace": {"addressPrefixes": ["10.72.0.0/16"]}}}]}))
    az("deployment", "group", "validate", "-g", "TestRG2", "--template-file", str(lng), "-p", "name=Site8")
    what_if = _json(az("deployment", "group", "what-if", "-g", "TestRG2", "--template-file", str(lng), "-p",
                       "name=Site8", "--no-pretty-print"))
    kinds = {c["resourceId"].rsplit("/", 1)[1]: c["changeType"] for c in what_if["changes"]}
    assert kinds["Site8"] == "Create" and kinds["Site7"] == "Ignore"
    deployed = _json(az("deployment", "group", "create", "-g", "TestRG2", "-n", "lng1", "--template-file", str(lng),
                        "-p", "name=Site8"))
    assert deployed["properties"]["provisioningState"] == "Succeeded"
    assert _json(az("network", "local-gateway", "show", "-g", "TestRG2", "-n", "Site8"))["gatewayIpAddress"] == \
        "131.107.72.24"
    assert "lng1" in [d["name"] for d in _json(az("deployment", "group", "list", "-g", "TestRG2"))]
    ops = _json(az("deployment", "operation", "group", "list", "-g", "TestRG2", "-n", "lng1"))
    assert ops[0]["properties"]["targetResource"]["resourceName"] == "Site8"
    az("deployment", "group", "delete", "-g", "TestRG2", "-n", "lng1")
    assert "lng1" not in [d["name"] for d in _json(az("deployment", "group", "list", "-g", "TestRG2"))]

    # The result, read by the runbook (step 08) and the audit through the same served emulator.
    env = {**os.environ, "VPNRUNBOOK_EMULATOR_URL": url, "VPNRUNBOOK_EMULATOR_CA": emulator["ca"],
           "VPNRUNBOOK_EMULATOR_TOKEN": emulator["token"], "VPNRUNBOOK_EVIDENCE_DIR": str(tmp_path / "evidence")}
    run08 = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "08", "-p",
                            str(REPO / "parameters" / "seed" / "08_show_vnet1_to_vnet2.yaml")], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert run08.returncode == 0, run08.stdout[-2000:] + run08.stderr[-2000:]
    audit = subprocess.run([sys.executable, "-m", "vpnrunbook", "audit", "-g", "TestRG1", "-g", "TestRG2"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert audit.returncode in (0, 1), audit.stderr[-2000:]
    for name in ("VNet1toSite6", "VNet1toVNet2", "VNet2toVNet1"):
        assert name in audit.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY1.encode() not in data and KEY2.encode() not in data, path

    # Deletes.
    az("network", "vpn-connection", "delete", "-g", "TestRG1", "-n", "VNet1toSite6")
    az("network", "local-gateway", "delete", "-g", "TestRG1", "-n", "Site6")
    gone = az("network", "local-gateway", "show", "-g", "TestRG1", "-n", "Site6", expect_ok=False)
    assert gone.returncode != 0 and "ResourceNotFound" in gone.stderr


def test_az_unsupported_api_version_is_refused_like_azure(az, emulator):
    out = az("rest", "--method", "get", "--url",
             f"{emulator['url']}/subscriptions/{SUB}/resourceGroups/TestRG1/providers/Microsoft.Network/"
             "virtualNetworks?api-version=2099-01-01-preview", expect_ok=False)
    assert out.returncode != 0 and "NoRegisteredProviderFound" in out.stderr
