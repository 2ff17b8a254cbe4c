"""The seed document's PowerShell, read as data: variables, cmdlet calls and the resources they describe.

The document (Microsoft's "Configure custom IPsec/IKE connection policies for S2S VPN & VNet-to-VNet:
PowerShell", kept verbatim in docs/seed-document/) is the source of the seed values; the tests compare the seed
parameter files with what this module reads out of it instead of writing the values a second time.

Only the small part of PowerShell the document uses is understood: ``$Name = "value"`` assignments,
``[$var =] Cmdlet -Param value ...`` calls whose values are strings, numbers, ``$True``/``$False``, variables or
comma lists of them, and the ``$connection6.IpsecPolicies...`` expressions (kept as text). Variables are
case-insensitive and evaluated in document order, as PowerShell does (``$GW1IPconf1`` names the string until
``$gw1ipconf1 = New-AzVirtualNetworkGatewayIpConfig ...`` replaces it).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "seed-document" / "vpn-gateway-ipsecikepolicy-rm-powershell.md"
_BLOCK = re.compile(r"^```(?:azurepowershell-interactive|PowerShell)[ \t]*\n(.*?)^```", re.S | re.M | re.I)
_ASSIGN_TEXT = re.compile(r'^\$(\w+)\s*=\s*"([^"]*)"\s*$')
_ASSIGN_CALL = re.compile(r"^\$(\w+)\s*=\s*([A-Z][A-Za-z]+-Az\w+)\s+(.*)$")
_CALL = re.compile(r"^([A-Z][A-Za-z]+-Az\w+)(?:\s+(.*))?$")

# New-AzIpsecPolicy's parameters -> the package's policy fields
POLICY_FIELDS = {"IkeEncryption": "ike_encryption", "IkeIntegrity": "ike_integrity", "DhGroup": "dh_group",
                 "IpsecEncryption": "ipsec_encryption", "IpsecIntegrity": "ipsec_integrity",
                 "PfsGroup": "pfs_group", "SALifeTimeSeconds": "sa_life_time_seconds",
                 "SADataSizeKilobytes": "sa_data_size_kilobytes"}


@dataclass
class Call:
    """One cmdlet call, its arguments evaluated when it ran (a ``Call`` for a variable holding a call's result)."""

    cmdlet: str
    args: dict[str, Any]
    line: str
    assigned_to: str | None = None

    def arg(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self.args.items() if k.lower() == name.lower()), default)


@dataclass
class Script:
    variables: dict[str, Any] = field(default_factory=dict)  # lower-case name -> last value
    declared: dict[str, str] = field(default_factory=dict)   # every "$Name = 'text'" (lower-case name -> text)
    calls: list[Call] = field(default_factory=list)
    expressions: list[str] = field(default_factory=list)     # $connection6.IpsecPolicies ... (not calls)

    def all(self, cmdlet: str) -> list[Call]:
        return [c for c in self.calls if c.cmdlet.lower() == cmdlet.lower()]

    def one(self, cmdlet: str, **where: Any) -> Call:
        found = [c for c in self.all(cmdlet) if all(c.arg(k) == v for k, v in where.items())]
        assert len(found) == 1, f"the document has {len(found)} {cmdlet} calls with {where}"
        return found[0]


def _value(token: str, script: Script) -> Any:
    parts = [p for p in token.split(",") if p != ""]
    values = [_scalar(p, script) for p in parts]
    return values[0] if len(values) == 1 else values


def _scalar(token: str, script: Script) -> Any:
    if token.lower() in ("$true", "$false"):
        return token.lower() == "$true"
    if token.startswith("$"):
        name = token[1:].lower()
        assert name in script.variables, f"the document uses ${token[1:]} before declaring it"
        return script.variables[name]
    if re.fullmatch(r"\d+", token):
        return int(token)
    return token


def _args(text: str, script: Script) -> dict[str, Any]:
    tokens = shlex.split(text or "")
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        assert re.fullmatch(r"-[A-Za-z]\w*", tok), f"unexpected token {tok!r} in {text!r}"
        if i + 1 < len(tokens) and not re.fullmatch(r"-[A-Za-z]\w*", tokens[i + 1]):
            out[tok[1:]] = _value(tokens[i + 1], script)
            i += 2
        else:  # a switch
            out[tok[1:]] = True
            i += 1
    return out


def code_blocks(text: str) -> list[str]:
    return _BLOCK.findall(text)


def parse(text: str | None = None) -> Script:
    """The document's PowerShell blocks, evaluated in order. Sample outputs (``Name : value`` lines) are skipped."""
    text = DOCUMENT.read_text(encoding="utf-8") if text is None else text
    script = Script()
    for block in code_blocks(text):
        for raw in block.splitlines():
            line = raw.strip()
            if not line or re.fullmatch(r"\w+\s+:\s+\S+", line):  # blank, or a sample output line
                continue
            if m := _ASSIGN_TEXT.match(line):
                script.variables[m[1].lower()] = m[2]
                script.declared[m[1].lower()] = m[2]
            elif m := _ASSIGN_CALL.match(line):
                call = Call(m[2], _args(m[3], script), line, m[1])
                script.calls.append(call)
                script.variables[m[1].lower()] = call
            elif m := _CALL.match(line):
                script.calls.append(Call(m[1], _args(m[2] or "", script), line))
            elif line.startswith("$"):
                script.expressions.append(line)
            else:
                raise AssertionError(f"unrecognised PowerShell line in the seed document: {line!r}")
    return script


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy(call: Call) -> dict[str, Any]:
    """A New-AzIpsecPolicy call as the package's eight policy fields."""
    assert call.cmdlet == "New-AzIpsecPolicy", call.line
    return {POLICY_FIELDS[k]: v for k, v in call.args.items()}


def gateways(script: Script) -> dict[str, dict[str, Any]]:
    """Each VPN gateway the document creates, with its VNet, subnets, public IP and IP configuration, as step 01's
    parameters (``gateway_sku`` is the document's SKU; ``allocation`` the public IP's)."""
    out = {}
    for gw in script.all("New-AzVirtualNetworkGateway"):
        ipconf = gw.arg("IpConfigurations")
        pip = ipconf.arg("PublicIpAddress")
        subnet = ipconf.arg("Subnet")
        vnet_name = subnet.arg("VirtualNetwork").arg("Name")
        vnet = script.one("New-AzVirtualNetwork", Name=vnet_name)
        out[gw.arg("Name")] = {
            "resource_group": gw.arg("ResourceGroupName"), "location": gw.arg("Location"),
            "vnet_name": vnet_name, "address_space": as_list(vnet.arg("AddressPrefix")),
            "subnets": {s.arg("Name"): s.arg("AddressPrefix") for s in as_list(vnet.arg("Subnet"))},
            "gateway_subnet": subnet.arg("Name"), "gateway_name": gw.arg("Name"),
            "public_ip_name": pip.arg("Name"), "ip_configuration_name": ipconf.arg("Name"),
            "gateway_sku": gw.arg("GatewaySku"), "generation": gw.arg("VpnGatewayGeneration"),
            "vpn_type": gw.arg("VpnType"), "gateway_type": gw.arg("GatewayType"),
            "allocation": pip.arg("AllocationMethod"),
            "vnet_resource_group": vnet.arg("ResourceGroupName"), "pip_resource_group": pip.arg("ResourceGroupName"),
        }
    return out


def connections(script: Script) -> dict[str, dict[str, Any]]:
    """Each connection the document creates: its names, peer, type, policy fields and shared key."""
    out = {}
    for c in script.all("New-AzVirtualNetworkGatewayConnection"):
        gw1, gw2, lng = c.arg("VirtualNetworkGateway1"), c.arg("VirtualNetworkGateway2"), c.arg("LocalNetworkGateway2")
        out[c.arg("Name")] = {
            "resource_group": c.arg("ResourceGroupName"), "location": c.arg("Location"),
            "connection_type": c.arg("ConnectionType"), "gateway_name": gw1.arg("Name"),
            "gateway_resource_group": gw1.arg("ResourceGroupName"),
            "peer_gateway_name": gw2.arg("Name") if gw2 else None,
            "peer_resource_group": gw2.arg("ResourceGroupName") if gw2 else None,
            "local_gateway_name": lng.arg("Name") if lng else None,
            "policy": policy(c.arg("IpsecPolicies")), "shared_key": c.arg("SharedKey"),
        }
    return out


def connection_updates(script: Script) -> list[dict[str, Any]]:
    """The Set-AzVirtualNetworkGatewayConnection calls, in order: the connection they change and what they set
    (``policy`` None when the call sets none; ``removes_policy`` when the document removed it just before)."""
    out = []
    removed = any(".Remove(" in e for e in script.expressions)
    for c in script.all("Set-AzVirtualNetworkGatewayConnection"):
        target = c.arg("VirtualNetworkGatewayConnection")
        pol = c.arg("IpsecPolicies")
        out.append({"connection_name": target.arg("Name"), "resource_group": target.arg("ResourceGroupName"),
                    "policy": policy(pol) if pol else None, "dpd_timeout_seconds": c.arg("DpdTimeoutInSeconds"),
                    "use_policy_based_traffic_selectors": c.arg("UsePolicyBasedTrafficSelectors"),
                    "removes_policy": removed and set(c.args) == {"VirtualNetworkGatewayConnection"}})
    return out


def commands(script: Script) -> list[Call]:
    """Every cmdlet call of the document, in order."""
    return list(script.calls)


def _shown(value: Any) -> str:
    if isinstance(value, Call):
        name = value.arg("Name")
        return str(name) if name is not None else f"${value.assigned_to}"
    if isinstance(value, bool):
        return "$True" if value else "$False"
    if isinstance(value, list):
        return ",".join(_shown(v) for v in value)
    return str(value)


def render(call: Call) -> str:
    """A call with its variables replaced by their values (an object by its name, or by its variable when it
    has none): how docs/seed-workflow.md's table names each of the document's commands."""
    return " ".join([call.cmdlet, *(f"-{k} {_shown(v)}" for k, v in call.args.items())])
