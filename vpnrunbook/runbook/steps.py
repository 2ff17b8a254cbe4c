"""The runbook steps: which notebook each runs and the parameters it takes (one declaration per step).

The notebooks' ``parameters`` cells repeat these defaults for interactive use; a test checks they agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.policy.rules import PolicyValidationError, Problem
from vpnrunbook.runbook import warm
from vpnrunbook.runbook.params import Param

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class Step:
    name: str            # "04_connect"
    notebook: str        # file name under notebooks/
    title: str
    changes: str         # what it changes (empty: read-only)
    params: tuple[Param, ...]
    check: Callable[[dict[str, Any]], list[Problem]] | None = None
    warm: tuple[str, ...] = warm.MODULES  # imported in the kernel's background thread at start (runbook.warm)

    @property
    def path(self) -> Path:
        return NOTEBOOK_DIR / self.notebook

    @property
    def read_only(self) -> bool:
        return not self.changes


APPLY = Param("apply", "bool", False, "False: only show the plan; True: make the change (set by `run --apply`)")
PEER_PARAMS = (
    Param("peer_connection_name", "str | None", None, "Vnet2Vnet: the connection in the other direction (null: the "
          "one the pair records, or the only one going back between the two gateways)"),
    Param("peer_resource_group", "str | None", None, "Vnet2Vnet: the peer connection's resource group (null: the "
          "other gateway's)"),
)
REFUSE_BREAKING = Param("refuse_breaking", "bool", False, "True: refuse (exit 2, nothing written) a change that "
                        "would break the tunnel to the device/peer; False: flag it in the plan and apply (headless "
                        "`vpnrunbook run` sets True unless --allow-breaking)")


# ---- policy references ---------------------------------------------------------------------------
def resolve_policy(value: Any, *, label: str = "policy") -> IpsecIkePolicy | None:
    """A preset name, a policy YAML path, a mapping of the eight fields, or None/"" (Azure's defaults)."""
    if value is None or value == "" or value == "default":
        return None
    if isinstance(value, Mapping):
        return IpsecIkePolicy.from_mapping(value, source=label)
    if isinstance(value, str):
        if value in PRESETS:
            return PRESETS[value].policy
        if value.endswith((".yaml", ".yml")) or "/" in value:
            from vpnrunbook.runbook.show import project_path

            if not value.endswith((".yaml", ".yml")):  # never read (and echo) an arbitrary local file
                raise PolicyValidationError([Problem(label, value, "is a path that does not end in .yaml or .yml",
                                                     "a policy file (*.yaml, *.yml), a preset or a mapping",
                                                     "UnknownPolicy")])
            return load_policy_file(project_path(value))
        raise PolicyValidationError([Problem(label, value, f"{value!r} is neither a preset nor a policy file",
                                             "a preset (" + ", ".join(PRESETS) + "), a path ending in .yaml, "
                                             "a mapping of the eight policy fields, or null for Azure's defaults",
                                             "UnknownPolicy")])
    raise PolicyValidationError([Problem(label, value, f"{type(value).__name__} is not a policy",
                                         "a preset name, a policy YAML path or a mapping", "InvalidType")])


def _policy_problems(value: Any, label: str = "policy") -> list[Problem]:
    try:
        resolve_policy(value, label=label)
    except PolicyValidationError as exc:
        return [Problem(label, p.value, f"file {p.value} {p.message}", p.allowed, p.code) if p.field == "file" else
                Problem(f"{label}.{p.field}" if p.field != label else p.field, p.value, p.message, p.allowed, p.code)
                for p in exc.problems]
    return []


def _location(v: dict[str, Any], key: str = "location") -> list[Problem]:
    if not v.get(key):
        return [Problem(key, v.get(key), "is empty", "an Azure region such as eastus", "InvalidValue")]
    return []


RESOURCE_GROUP_KEYS = ("resource_group", "peer_resource_group")


def _names(v: dict[str, Any], *keys: str) -> list[Problem]:
    out = []
    for k in keys:
        val = v.get(k)
        if k in RESOURCE_GROUP_KEYS:
            if val is not None:
                out += rules.check_resource_group_name(k, val)
            continue
        if isinstance(val, str) and not rules_name_ok(val):
            out.append(Problem(k, val, f"{val!r} is not a valid resource name",
                               "1-80 characters: letters, digits, '_', '.', '-' (start with a letter or digit)",
                               "InvalidResourceName"))
    return out


def rules_name_ok(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}", name)) and not name.endswith(".")


def _device_problems(v: dict[str, Any], *, both: bool = False) -> list[Problem]:
    """``device_ike`` / ``device_esp``: strongSwan proposals as strongSwan would load them (vpnrunbook.device).
    ``both``: one without the other is refused (a compatibility check needs both lists)."""
    from vpnrunbook.device.proposals import ProposalError, parse_proposals

    out: list[Problem] = []
    for key, protocol in (("device_ike", "IKE"), ("device_esp", "ESP")):
        value = v.get(key)
        if value is None:
            continue
        try:
            parse_proposals(value, protocol, field_name=key)
        except ProposalError as exc:
            out.append(Problem(exc.field, exc.value, str(exc).split(": ", 1)[-1].rsplit("; allowed: ", 1)[0],
                               exc.allowed, "InvalidProposal"))
    if both and (v.get("device_ike") is None) != (v.get("device_esp") is None):
        given, missing = ("device_ike", "device_esp") if v.get("device_esp") is None else ("device_esp", "device_ike")
        out.append(Problem(missing, None, f"is required when {given} is given (the check needs both lists)",
                           "strongSwan proposals, e.g. " + ("'aes256-sha256'" if missing == "device_esp"
                                                            else "'aes256-sha384-modp2048s256'"), "MissingField"))
    return out


# ---- per-step checks --------------------------------------------------------------------------------
def _check_gateway(v: dict[str, Any]) -> list[Problem]:
    p = _names(v, "resource_group", "vnet_name", "gateway_name", "public_ip_name") + _location(v)
    # the rules name the SKU "sku"; the operator wrote `gateway_sku`
    p += [replace(x, field="gateway_sku") if x.field == "sku" else x
          for x in rules.check_gateway(sku=v["gateway_sku"], vpn_type=v["vpn_type"], generation=v["generation"])]
    if v["address_space"] is not None:
        p += rules.check_vnet_layout(v["address_space"], list((v["subnets"] or {}).items()),
                                     gateway_subnet_role=v["gateway_subnet"])
    elif v["subnets"] is not None:  # null space: the existing VNet's; the subnets alone now, their fit in the step
        whole = "0.0.0.0/0"
        p += [x for x in rules.check_vnet_layout([whole], list(v["subnets"].items()),
                                                 gateway_subnet_role=v["gateway_subnet"])
              if whole not in f"{x.message} {x.allowed}"]
    if v["subnets"] is not None and v["gateway_subnet"] not in v["subnets"]:
        # allowed: only the one name Azure accepts for it (the other subnets' names would be refused as well)
        p.append(Problem("gateway_subnet", v["gateway_subnet"], "names no subnet in `subnets`",
                         f"{rules.GATEWAY_SUBNET_NAME}, with a {rules.GATEWAY_SUBNET_NAME} entry in `subnets` "
                         "(e.g. GatewaySubnet: 10.1.255.0/27)", "MissingGatewaySubnet"))
    return p


def _check_local_gateway(v: dict[str, Any]) -> list[Problem]:
    p = _names(v, "resource_group", "local_gateway_name") + _location(v)
    if v["gateway_ip_address"] is not None:
        p += rules.check_public_ip("gateway_ip_address", v["gateway_ip_address"])
    if v["address_prefixes"] is not None:
        p += rules.check_prefixes("address_prefixes", v["address_prefixes"])
    p += _device_problems(v)
    return p


def _check_create_policy(v: dict[str, Any]) -> list[Problem]:
    p = _names(v, "policy_name")
    p += save_dir_problems(v["save_dir"], v["policy_name"] if not p else None)
    base = v["base"]
    try:
        start = resolve_policy(base, label="base")
    except PolicyValidationError:
        return p + _policy_problems(base, "base")
    merged = dict(start.as_python_dict()) if start else {}
    merged.update(v["fields"])
    return p + _policy_problems(merged, "fields" if v["fields"] else "base") + _device_problems(v, both=True)


def _check_connect(v: dict[str, Any]) -> list[Problem]:
    p = _names(v, "resource_group", "peer_resource_group", "connection_name", "gateway_name") + _location(v)
    p += rules.check_choice("connection_type", v["connection_type"], rules.CONNECTION_TYPES)
    p += rules.check_choice("connection_protocol", v["connection_protocol"], rules.CONNECTION_PROTOCOLS)
    if v["connection_type"] == "IPsec" and not v["local_gateway_name"]:
        p.append(Problem("local_gateway_name", v["local_gateway_name"], "is required for an IPsec (S2S) connection",
                         "the local network gateway's name", "MissingField"))
    if v["connection_type"] == "IPsec":
        for k in ("peer_gateway_name", "peer_connection_name"):
            if v[k]:
                p.append(Problem(k, v[k], "applies only to Vnet2Vnet connections", "null for an IPsec connection",
                                 "InvalidArgument"))
    if v["connection_type"] == "Vnet2Vnet":
        if v["local_gateway_name"]:
            p.append(Problem("local_gateway_name", v["local_gateway_name"], "applies only to IPsec connections",
                             "null for a Vnet2Vnet connection", "InvalidArgument"))
        for k in ("peer_gateway_name", "peer_connection_name"):
            if not v[k]:
                p.append(Problem(k, v[k], "is required for a Vnet2Vnet connection", "a name", "MissingField"))
    if v["dpd_timeout_seconds"] is not None:
        p += rules.check_dpd_timeout(v["dpd_timeout_seconds"])
    p += _policy_problems(v["policy"])
    return p


def _check_update(v: dict[str, Any]) -> list[Problem]:
    p = _names(v, "resource_group", "connection_name")
    if v["policy"] is not None:
        p += _policy_problems(v["policy"])
    if v["dpd_timeout_seconds"] is not None:
        p += rules.check_dpd_timeout(v["dpd_timeout_seconds"])
    return p


def _check_names_only(*keys: str) -> Callable[[dict[str, Any]], list[Problem]]:
    return lambda v: _names(v, *keys)


def _check_overview(v: dict[str, Any]) -> list[Problem]:
    return [p for i, rg in enumerate(v["resource_groups"])
            for p in rules.check_resource_group_name(f"resource_groups[{i}]", rg)]


# ---- where step 03 may write ------------------------------------------------------------------------
POLICY_DIR_ENV = "VPNRUNBOOK_POLICY_DIR"


def policy_dir() -> Path:
    """The folder policy files are saved in: ``$VPNRUNBOOK_POLICY_DIR``, else the project's ``parameters/policies``.
    The operator's environment chooses it; a parameter file cannot."""
    from vpnrunbook.runbook.show import project_path

    env = os.environ.get(POLICY_DIR_ENV)
    return Path(env) if env else project_path("parameters/policies")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def save_dir_problems(save_dir: Any, policy_name: Any = None) -> list[Problem]:
    """``save_dir`` (and the file in it) must resolve — symlinks followed — inside :func:`policy_dir`, never into
    an evidence or emulator state folder, and may not contain ``..``."""
    from vpnrunbook.evidence.rundir import evidence_root
    from vpnrunbook.runbook.show import project_path

    if not isinstance(save_dir, str) or not save_dir:
        return []
    root = policy_dir().resolve()
    allowed = f"a folder inside {root} (set {POLICY_DIR_ENV} to choose another policy folder)"
    if ".." in Path(save_dir).parts:
        return [Problem("save_dir", save_dir, "contains '..'", allowed, "InvalidPath")]
    folder = project_path(save_dir).resolve()
    targets = [folder]
    if isinstance(policy_name, str) and policy_name:
        targets.append((folder / f"{policy_name}.yaml").resolve())
    forbidden = [evidence_root().resolve()]
    if os.environ.get("VPNRUNBOOK_STATE_DIR"):
        forbidden.append(Path(os.environ["VPNRUNBOOK_STATE_DIR"]).resolve())
    for t in targets:
        if any(_inside(t, f) for f in forbidden):
            return [Problem("save_dir", save_dir, f"resolves to {t}, inside the evidence or emulator state folder",
                            allowed, "InvalidPath")]
        if not _inside(t, root):
            return [Problem("save_dir", save_dir, f"resolves to {t}, outside the policy folder", allowed,
                            "InvalidPath")]
    return []


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("01_create_vnet_gateway", "01_create_vnet_gateway.ipynb", "Create a VNet and its VPN gateway",
         "resource group, virtual network + subnets, public IP, virtual network gateway (long-running)", (
             Param("resource_group", "str", "TestRG1", "resource group (created if missing)"),
             Param("location", "str", "EastUS", "Azure region"),
             Param("vnet_name", "str", "TestVNet1", "virtual network name"),
             Param("address_space", "list[str] | None", None, "VNet address space prefixes, e.g. [10.1.0.0/16] "
                   "(required to create the VNet; null: an existing VNet's are left as they are)"),
             Param("subnets", "dict[str, str] | None", None, "subnet name -> prefix, with a GatewaySubnet (required "
                   "to create the VNet; null: an existing VNet's subnets are left as they are)"),
             Param("gateway_subnet", "str", "GatewaySubnet", "which subnet is the gateway subnet (must be GatewaySubnet)"),
             Param("gateway_name", "str", "VNet1GW", "VPN gateway name"),
             Param("public_ip_name", "str", "VNet1GWIP", "gateway public IP name"),
             Param("gateway_sku", "str", "VpnGw1AZ", "gateway SKU (VpnGw1AZ..VpnGw5AZ; non-AZ VpnGw1-5 can no longer be created)"),
             Param("generation", "str | None", None, "Generation1, Generation2 or null for the SKU's default"),
             Param("vpn_type", "str", "RouteBased", "RouteBased (Azure's default; custom policies need it)"),
             Param("wait", "bool", True, "wait for the gateway to finish provisioning (takes 45 min on Azure)"),
             APPLY), _check_gateway),
    Step("02_create_local_gateway", "02_create_local_gateway.ipynb", "Create a local network gateway (on-premises site)",
         "local network gateway", (
             Param("resource_group", "str", "TestRG1", "resource group"),
             Param("location", "str", "EastUS", "Azure region"),
             Param("local_gateway_name", "str", "Site6", "local network gateway name"),
             Param("gateway_ip_address", "str | None", None, "public IP of the on-premises VPN device (required "
                   "to create the local network gateway; null: an existing one's is left as it is)"),
             Param("address_prefixes", "list[str] | None", None, "on-premises prefixes (required to create it; "
                   "null: an existing one's are left as they are)"),
             Param("device_ike", "proposals | None", None, "the device's strongSwan IKE proposals (emulator: decide "
                   "the S2S connectionStatus; Azure: only a tag for the audit)"),
             Param("device_esp", "proposals | None", None, "the device's strongSwan ESP proposals (emulator: decide "
                   "the S2S connectionStatus; Azure: only a tag for the audit)"),
             APPLY), _check_local_gateway),
    Step("03_create_policy", "03_create_policy.ipynb", "Create (define, check and save) an IPsec/IKE policy",
         "a policy YAML file under save_dir (nothing in Azure)", (
             Param("policy_name", "str", "seed-s2s", "name of the policy file (without .yaml)"),
             Param("base", "policy", "seed-s2s", "start from a preset, a policy file or a mapping"),
             Param("fields", "dict", {}, "fields to override, e.g. {pfs_group: PFS24}"),
             Param("description", "str", "", "free text stored in the file"),
             Param("save_dir", "str", "parameters/policies", "folder for the policy file"),
             Param("overwrite", "bool", False, "replace an existing file that holds a different policy"),
             Param("device_ike", "proposals | None", None, "the on-premises device's strongSwan IKE proposals: "
                   "check them against the policy (null: no check)"),
             Param("device_esp", "proposals | None", None, "the device's strongSwan ESP proposals (with device_ike)"),
             APPLY), _check_create_policy),
    Step("04_connect", "04_connect.ipynb", "Connect: Site-to-Site or VNet-to-VNet, with a custom policy",
         "connection(s) with shared key and IPsec/IKE policy", (
             Param("resource_group", "str", "TestRG1", "resource group of the connection"),
             Param("location", "str", "EastUS", "Azure region"),
             Param("connection_name", "str", "VNet1toSite6", "connection name"),
             Param("connection_type", "str", "IPsec", "IPsec (Site-to-Site) or Vnet2Vnet",
                   choices=rules.CONNECTION_TYPES),
             Param("gateway_name", "str", "VNet1GW", "the Azure VPN gateway"),
             Param("local_gateway_name", "str | None", "Site6", "IPsec: the local network gateway"),
             Param("peer_resource_group", "str | None", None, "Vnet2Vnet: the other gateway's resource group (null: the same)"),
             Param("peer_gateway_name", "str | None", None, "Vnet2Vnet: the other VPN gateway"),
             Param("peer_connection_name", "str | None", None, "Vnet2Vnet: also create the reverse connection"),
             Param("peer_location", "str | None", None, "Vnet2Vnet: the other gateway's region"),
             Param("shared_key_ref", "secret_ref", "env:VPNRUNBOOK_SEED_KEY", "shared key reference", secret=True),
             Param("policy", "policy | None", None, "preset, policy file, mapping, or null for Azure's default "
                   "proposals (no custom policy)"),
             Param("connection_protocol", "str", "IKEv2", "IKEv2 or IKEv1", choices=rules.CONNECTION_PROTOCOLS),
             Param("dpd_timeout_seconds", "int | None", None, "DPD timeout (9-3600 s); null: unchanged (a new "
                   "connection: Azure's 45 s)"),
             Param("use_policy_based_traffic_selectors", "bool | None", None, "policy-based traffic selectors; null: "
                   "unchanged (a new connection: off, Azure's default)"),
             REFUSE_BREAKING,
             APPLY), _check_connect),
    Step("05_update_policy", "05_update_policy.ipynb", "Update a connection's policy, DPD timeout and traffic selectors",
         "the connection's ipsecPolicies, dpdTimeoutSeconds, usePolicyBasedTrafficSelectors", (
             Param("resource_group", "str", "TestRG1", "resource group of the connection"),
             Param("connection_name", "str", "VNet1toSite6", "connection name"),
             Param("policy", "policy | None", None, "new policy (preset, file, mapping) or null: unchanged"),
             Param("dpd_timeout_seconds", "int | None", None, "new DPD timeout (9-3600 s) or null: unchanged"),
             Param("use_policy_based_traffic_selectors", "bool | None", None, "new setting or null: unchanged"),
             *PEER_PARAMS,
             REFUSE_BREAKING,
             APPLY), _check_update),
    Step("06_remove_policy", "06_remove_policy.ipynb", "Remove a connection's custom policy (back to Azure defaults)",
         "the connection's ipsecPolicies (emptied)", (
             Param("resource_group", "str", "TestRG1", "resource group of the connection"),
             Param("connection_name", "str", "VNet1toSite6", "connection name"),
             *PEER_PARAMS,
             REFUSE_BREAKING,
             APPLY), _check_names_only("resource_group", "connection_name")),
    Step("07_overview", "07_overview.ipynb", "Overview: connections and their policies (read-only)", "", (
             Param("resource_groups", "list[str]", ["TestRG1", "TestRG2"], "resource groups to show"),
         ), _check_overview),
    Step("08_show_policy", "08_show_policy.ipynb", "Show a connection's policy (read-only)", "", (
             Param("resource_group", "str", "TestRG1", "resource group of the connection"),
             Param("connection_name", "str", "VNet1toSite6", "connection name"),
         ), _check_names_only("resource_group", "connection_name"),
         # its tables are vpnrunbook.runbook.table, not pandas: a show is a GET and should start as fast
         warm=warm.LIGHT_MODULES + ("vpnrunbook.device.proposals",)),
)}

ALIASES = {s.name.split("_", 1)[0]: s.name for s in STEPS.values()} | {
    s.name.split("_", 1)[1]: s.name for s in STEPS.values()}


def get_step(name: str) -> Step:
    """By full name (04_connect), number (04) or short name (connect)."""
    key = ALIASES.get(name, name).removesuffix(".ipynb")
    try:
        return STEPS[key]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; steps: {', '.join(STEPS)}") from None
