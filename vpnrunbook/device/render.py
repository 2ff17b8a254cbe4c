"""On-premises device configuration for an Azure S2S connection: strongSwan ``swanctl.conf`` and Cisco IOS-XE.

The configuration comes from the connection's policy (or Azure's default proposals when it has none).
The pre-shared key is never written into a rendered configuration: swanctl gets an ``include`` of a
separate 0600 secrets file (written by :func:`write_swanctl_secret` from the key's reference), IOS-XE
gets a placeholder that names the reference. With policy-based traffic selectors every
on-premises-prefix × VNet-prefix pair becomes its own selector (swanctl child / ACL line).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.azure import secrets
from vpnrunbook.device.proposals import (
    DEFAULT_DEVICE_ESP,
    DEFAULT_DEVICE_IKE,
    StrongSwanProposals,
    device_proposals,
    parse_proposals,
)
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.presets import DEFAULT_IKE_DH_GROUP

SWANCTL = "swanctl"
CISCO_IOS_XE = "cisco-ios-xe"
AZURE_IKE_SA_LIFETIME = rules.IKE_SA_LIFETIME_SECONDS


@dataclass(frozen=True)
class DeviceConfig:
    """A rendered device configuration. ``text`` is the file; it holds no key, only ``shared_key_ref``."""

    format: str
    text: str
    policy: IpsecIkePolicy | None
    shared_key_ref: str
    proposals: StrongSwanProposals
    traffic_selectors: tuple[tuple[str, str], ...]
    secrets_file: str | None = None
    settings: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text

    def to_frame(self) -> Any:
        """The settings that matter for the tunnel, one row each (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame({"value": self.settings}).rename_axis("setting")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text, encoding="utf-8")
        return path


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def traffic_selector_pairs(local_prefixes: Sequence[str], remote_prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """Every (on-premises prefix, Azure prefix) pair: what policy-based traffic selectors need (no any-to-any)."""
    return [(local, remote) for local in local_prefixes for remote in remote_prefixes]


def _check_inputs(*, local_address: str | None, remote_address: str, local_prefixes: Sequence[str],
                  remote_prefixes: Sequence[str], shared_key_ref: str) -> None:
    problems: list[rules.Problem] = []
    for label, value in (("local_address", local_address), ("remote_address", remote_address)):
        if value is None:
            continue
        try:
            ipaddress.ip_address(value)
        except (ValueError, TypeError):
            problems.append(rules.Problem(label, value, f"{value!r} is not an IP address",
                                          "an IPv4 address such as 203.0.113.10", "InvalidIPAddress"))
    problems += rules.check_prefixes("local_prefixes", list(local_prefixes))
    problems += rules.check_prefixes("remote_prefixes", list(remote_prefixes))
    if problems:
        raise rules.PolicyValidationError(problems, subject="device configuration")
    secrets.check_reference(shared_key_ref, label="shared_key_ref")


def _proposals(policy: IpsecIkePolicy | None, ike: Sequence[str] | None, esp: Sequence[str] | None) -> StrongSwanProposals:
    chosen = device_proposals(policy)
    ike_list = tuple(ike) if ike else chosen.ike
    esp_list = tuple(esp) if esp else chosen.esp
    parse_proposals(ike_list, "IKE", field_name="ike_proposals")   # refuse what strongSwan would refuse
    parse_proposals(esp_list, "ESP", field_name="esp_proposals")
    return StrongSwanProposals(ike_list, esp_list)


def _policy_line(policy: IpsecIkePolicy | None) -> str:
    return policy.summary() if policy else "Azure default proposals (no custom policy on the connection)"


# --------------------------------------------------------------------------------------------
# strongSwan swanctl.conf
# --------------------------------------------------------------------------------------------
def render_swanctl(policy: IpsecIkePolicy | None, *, remote_address: str, local_prefixes: Sequence[str],
                   remote_prefixes: Sequence[str], shared_key_ref: str, local_address: str | None = None,
                   use_policy_based_traffic_selectors: bool = False, name: str = "azure",
                   secrets_file: str | None = None, ike_proposals: Sequence[str] | None = None,
                   esp_proposals: Sequence[str] | None = None, start_action: str = "trap",
                   dpd_delay_seconds: int = 10, local_id: str | None = None, remote_id: str | None = None) -> DeviceConfig:
    """``swanctl.conf`` for a strongSwan device facing Azure (``remote_address`` = the gateway's public IP).

    Proposals default to the policy's (or, without a policy, a strong subset of Azure's defaults);
    ``ike_proposals``/``esp_proposals`` override them (the lab uses this). The key stays out: the
    ``secrets`` section includes ``secrets_file`` (default ``secrets.d/<name>.conf`` beside the file),
    which :func:`write_swanctl_secret` writes from ``shared_key_ref``.
    """
    _check_inputs(local_address=local_address, remote_address=remote_address, local_prefixes=local_prefixes,
                  remote_prefixes=remote_prefixes, shared_key_ref=shared_key_ref)
    if start_action not in ("none", "trap", "start", "trap|start"):
        raise ValueError(f"start_action: {start_action!r} is not allowed; allowed: none, trap, start, trap|start")
    props = _proposals(policy, ike_proposals, esp_proposals)
    secrets_file = secrets_file or f"secrets.d/{name}.conf"
    life = policy.sa_life_time_seconds if policy else 27000
    kilobytes = policy.sa_data_size_kilobytes if policy else 102400000
    pairs = traffic_selector_pairs(local_prefixes, remote_prefixes)
    if use_policy_based_traffic_selectors:
        children = [(f"{name}-ts{i + 1}", [lo], [re]) for i, (lo, re) in enumerate(pairs)]
    else:
        children = [(f"{name}-net", list(local_prefixes), list(remote_prefixes))]
    out = [
        f"# swanctl.conf for the Azure VPN gateway at {remote_address}",
        f"# Azure side: {_policy_line(policy)}",
        f"# Shared key: by reference ({shared_key_ref}); it is not in this file. Write the included secrets file",
        f"#   with: vpnrunbook device write-secret --shared-key-ref {shared_key_ref} --out {secrets_file}",
        "# Azure's IKE SA lifetime is fixed at 28800 s; IPsec SA lifetimes are local and need not match.",
        "connections {",
        f"    {name} {{",
        "        version = 2",
        f"        local_addrs = {local_address or '%any'}",
        f"        remote_addrs = {remote_address}",
        f"        proposals = {props.ike_text}",
        "        mobike = no",
        f"        dpd_delay = {dpd_delay_seconds}s",
        f"        rekey_time = {AZURE_IKE_SA_LIFETIME}s",
        "        local {",
        "            auth = psk",
    ]
    if local_id or local_address:
        out.append(f"            id = {local_id or local_address}")
    out += ["        }", "        remote {", "            auth = psk", f"            id = {remote_id or remote_address}",
            "        }", "        children {"]
    for child_name, lts, rts in children:
        out += [
            f"            {child_name} {{",
            f"                local_ts = {', '.join(lts)}",
            f"                remote_ts = {', '.join(rts)}",
            f"                esp_proposals = {props.esp_text}",
            f"                rekey_time = {life}s",
        ]
        if kilobytes:
            out.append(f"                rekey_bytes = {kilobytes * 1024}")
        out += [f"                start_action = {start_action}", "                dpd_action = restart",
                "                close_action = none", "            }"]
    out += ["        }", "    }", "}", "secrets {",
            f"    # ike-{name} {{ id = {remote_id or remote_address}; secret = <the key behind {shared_key_ref}> }}",
            f"    include {secrets_file}", "}", ""]
    settings = {
        "format": "strongSwan swanctl.conf (IKEv2)",
        "Azure side": _policy_line(policy),
        "IKE proposals": props.ike_text,
        "ESP proposals": props.esp_text,
        "traffic selectors": "; ".join(f"{', '.join(lt)} <=> {', '.join(rt)}" for _, lt, rt in children),
        "IPsec SA lifetime": f"{life} s" + (f" / {kilobytes} KB" if kilobytes else ""),
        "shared key": f"by reference {shared_key_ref} (include {secrets_file})",
    }
    return DeviceConfig(SWANCTL, "\n".join(out), policy, shared_key_ref, props,
                        tuple(pairs) if use_policy_based_traffic_selectors else
                        ((", ".join(local_prefixes), ", ".join(remote_prefixes)),),
                        secrets_file, settings)


def write_swanctl_secret(shared_key_ref: str, path: str | Path, *, name: str = "azure",
                         ids: Sequence[str] = ()) -> Path:
    """Resolve the key reference and write the swanctl secrets include (mode 0600, key hex-encoded).

    This is the only place the key is written for strongSwan; nothing returned or printed holds it.
    """
    key = secrets.resolve_shared_key(shared_key_ref)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"ike-{name} {{"]
    lines += [f"    id-{i + 1} = {ident}" for i, ident in enumerate(ids)]
    lines += [f"    secret = 0x{key.encode('ascii').hex()}", "}", ""]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, "\n".join(lines).encode("ascii"))
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return path


# --------------------------------------------------------------------------------------------
# Cisco IOS-XE
# --------------------------------------------------------------------------------------------
CISCO_IKE_ENCRYPTION = {"GCMAES256": "aes-gcm-256", "GCMAES128": "aes-gcm-128", "AES256": "aes-cbc-256",
                        "AES192": "aes-cbc-192", "AES128": "aes-cbc-128", "DES3": "3des", "DES": "des"}
CISCO_IKE_INTEGRITY = {"SHA384": "sha384", "SHA256": "sha256", "SHA1": "sha1", "MD5": "md5"}
CISCO_ESP_ENCRYPTION = {"GCMAES256": "esp-gcm 256", "GCMAES192": "esp-gcm 192", "GCMAES128": "esp-gcm 128",
                        "AES256": "esp-aes 256", "AES192": "esp-aes 192", "AES128": "esp-aes 128",
                        "DES3": "esp-3des", "DES": "esp-des", "None": "esp-null"}
CISCO_ESP_INTEGRITY = {"SHA256": "esp-sha256-hmac", "SHA1": "esp-sha-hmac", "MD5": "esp-md5-hmac"}
SHARED_KEY_PLACEHOLDER = "${SHARED_KEY}"


def _wildcard(prefix: str) -> str:
    net = ipaddress.ip_network(prefix)
    return f"{net.network_address} {net.hostmask}"


def _mask(prefix: str) -> str:
    net = ipaddress.ip_network(prefix)
    return f"{net.network_address} {net.netmask}"


def render_cisco(policy: IpsecIkePolicy | None, *, remote_address: str, local_prefixes: Sequence[str],
                 remote_prefixes: Sequence[str], shared_key_ref: str, local_address: str | None = None,
                 use_policy_based_traffic_selectors: bool = False, name: str = "azure",
                 outside_interface: str = "GigabitEthernet1", tunnel_interface: str = "Tunnel11",
                 tunnel_address: str = "169.254.0.1 255.255.255.255", dpd_seconds: int = 10) -> DeviceConfig:
    """Cisco IOS-XE configuration (IKEv2): a VTI for route-based connections, a crypto map whose ACL lists
    every prefix pair for policy-based traffic selectors. The key is the placeholder ``${SHARED_KEY}``."""
    _check_inputs(local_address=local_address, remote_address=remote_address, local_prefixes=local_prefixes,
                  remote_prefixes=remote_prefixes, shared_key_ref=shared_key_ref)
    if policy is not None:
        policy.validate()
        if policy.dh_group == "None":
            raise rules.PolicyValidationError([rules.Problem("dh_group", "None", "cannot be configured for IKEv2",
                                                             "a Diffie-Hellman group")], subject="device configuration")
        ike_enc, ike_integ = [CISCO_IKE_ENCRYPTION[policy.ike_encryption]], [policy.ike_integrity]
        group = rules.DH_GROUP_INFO[policy.dh_group].rfc_group
        transforms = [(policy.ipsec_encryption, policy.ipsec_integrity)]
        pfs = rules.pfs_rfc_group(policy.pfs_group, policy.dh_group)
        life, kilobytes = policy.sa_life_time_seconds, policy.sa_data_size_kilobytes
        gcm_ike = policy.ike_encryption in rules.GCM_VALUES
    else:
        ike_enc = list(dict.fromkeys(CISCO_IKE_ENCRYPTION[e] for e, _ in DEFAULT_DEVICE_IKE))
        ike_integ = list(dict.fromkeys(i for _, i in DEFAULT_DEVICE_IKE))
        group = rules.DH_GROUP_INFO[DEFAULT_IKE_DH_GROUP].rfc_group
        transforms = list(DEFAULT_DEVICE_ESP)
        pfs, life, kilobytes, gcm_ike = None, 27000, 102400000, False
    props = device_proposals(policy)
    p = name
    out = [
        f"! Cisco IOS-XE configuration for the Azure VPN gateway at {remote_address}",
        f"! Azure side: {_policy_line(policy)}",
        f"! {SHARED_KEY_PLACEHOLDER}: the key behind the reference {shared_key_ref}; substitute it when you apply",
        "!   this file on the device. The key is never written into this file.",
        f"crypto ikev2 proposal {p}-ike-proposal",
        f" encryption {' '.join(ike_enc)}",
    ]
    if gcm_ike:
        out.append(f" prf {' '.join(CISCO_IKE_INTEGRITY[i] for i in ike_integ)}")
    else:
        out.append(f" integrity {' '.join(CISCO_IKE_INTEGRITY[i] for i in ike_integ)}")
    out += [f" group {group}", "!",
            f"crypto ikev2 policy {p}-ike-policy", f" proposal {p}-ike-proposal", "!",
            f"crypto ikev2 keyring {p}-keyring", f" peer {p}-gateway", f"  address {remote_address}",
            f"  pre-shared-key {SHARED_KEY_PLACEHOLDER}", "!",
            f"crypto ikev2 profile {p}-ike-profile",
            f" match address local interface {outside_interface}",
            f" match identity remote address {remote_address} 255.255.255.255",
            " authentication remote pre-share", " authentication local pre-share",
            f" keyring local {p}-keyring", f" lifetime {AZURE_IKE_SA_LIFETIME}",
            f" dpd {dpd_seconds} 5 on-demand", "!"]
    ts_names = []
    for i, (enc, integ) in enumerate(transforms):
        ts = f"{p}-ipsec-ts{i + 1}"
        ts_names.append(ts)
        words = [CISCO_ESP_ENCRYPTION[enc]]
        if enc not in rules.GCM_VALUES:
            words.append(CISCO_ESP_INTEGRITY[integ])
        out += [f"crypto ipsec transform-set {ts} {' '.join(words)}", " mode tunnel", "!"]
    sa_lines = [f" set transform-set {' '.join(ts_names)}", f" set ikev2-profile {p}-ike-profile"]
    if pfs is not None:
        sa_lines.append(f" set pfs group{pfs}")
    sa_lines.append(f" set security-association lifetime seconds {life}")
    sa_lines.append(f" set security-association lifetime kilobytes {kilobytes if kilobytes else 'disable'}")
    pairs = traffic_selector_pairs(local_prefixes, remote_prefixes)
    if use_policy_based_traffic_selectors:
        out.append(f"ip access-list extended {p}-traffic-selectors")
        out += [f" permit ip {_wildcard(lo)} {_wildcard(re)}" for lo, re in pairs]
        out += ["!", f"crypto map {p}-map 10 ipsec-isakmp", f" set peer {remote_address}", *sa_lines,
                f" match address {p}-traffic-selectors", "!", f"interface {outside_interface}",
                f" crypto map {p}-map", "!"]
        selectors = tuple(pairs)
    else:
        out += [f"crypto ipsec profile {p}-ipsec-profile", *sa_lines, "!",
                f"interface {tunnel_interface}", f" ip address {tunnel_address}", " ip tcp adjust-mss 1350",
                f" tunnel source {outside_interface}", " tunnel mode ipsec ipv4",
                f" tunnel destination {remote_address}", f" tunnel protection ipsec profile {p}-ipsec-profile", "!"]
        out += [f"ip route {_mask(re)} {tunnel_interface}" for re in remote_prefixes]
        selectors = ((", ".join(local_prefixes), ", ".join(remote_prefixes)),)
    out.append("")
    settings = {
        "format": "Cisco IOS-XE (IKEv2)",
        "Azure side": _policy_line(policy),
        "IKEv2 proposal": f"encryption {' '.join(ike_enc)}; {'prf' if gcm_ike else 'integrity'} "
                          f"{' '.join(CISCO_IKE_INTEGRITY[i] for i in ike_integ)}; group {group}",
        "transform sets": "; ".join(f"{CISCO_ESP_ENCRYPTION[e]}"
                                    + ("" if e in rules.GCM_VALUES else f" {CISCO_ESP_INTEGRITY[i]}")
                                    for e, i in transforms),
        "PFS": f"group{pfs}" if pfs is not None else "none",
        "traffic selectors": ("ACL, one line per pair: " + "; ".join(f"{lo} <=> {re}" for lo, re in pairs))
        if use_policy_based_traffic_selectors else "route-based VTI (any to any)",
        "shared key": f"by reference {shared_key_ref} (placeholder {SHARED_KEY_PLACEHOLDER})",
    }
    return DeviceConfig(CISCO_IOS_XE, "\n".join(out), policy, shared_key_ref, props, selectors, None, settings)
