"""Device configuration renderers: keywords per field, traffic-selector pairs, the key only by reference."""

from __future__ import annotations

import stat
from dataclasses import replace

import pytest

from vpnrunbook.azure.secrets import SecretReferenceError
from vpnrunbook.device.proposals import ProposalError
from vpnrunbook.device.render import (
    SHARED_KEY_PLACEHOLDER,
    render_cisco,
    render_swanctl,
    traffic_selector_pairs,
    write_swanctl_secret,
)
from vpnrunbook.policy.presets import get_preset
from vpnrunbook.policy.rules import PolicyValidationError

KEY = "Zq8xWv3NcT5pLm2KrY7bHd4FgJ6sA9eQ"
SEED = get_preset("seed-s2s")
ONPREM = ["10.61.0.0/16", "10.62.0.0/16"]
VNET = ["10.11.0.0/16", "10.12.0.0/16", "10.13.0.0/24"]


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("VPN_PSK", KEY)
    return "env:VPN_PSK"


def swanctl(policy, ref, **kw):
    return render_swanctl(policy, remote_address="52.1.2.3", local_address="131.107.72.22",
                          local_prefixes=ONPREM, remote_prefixes=VNET, shared_key_ref=ref, **kw)


def cisco(policy, ref, **kw):
    return render_cisco(policy, remote_address="52.1.2.3", local_prefixes=ONPREM, remote_prefixes=VNET,
                        shared_key_ref=ref, **kw)


def setting(text: str, name: str) -> list[str]:
    return [line.split("=", 1)[1].strip() for line in text.splitlines() if line.strip().startswith(name + " =")]


def test_swanctl_proposals_and_lifetimes_from_the_policy(key_env):
    cfg = swanctl(SEED, key_env)
    assert setting(cfg.text, "proposals") == ["aes256-sha384-modp2048s256"]
    assert setting(cfg.text, "esp_proposals") == ["aes256-sha256"]
    assert setting(cfg.text, "rekey_time") == ["28800s", "14400s"]
    assert setting(cfg.text, "version") == ["2"]
    assert setting(cfg.text, "remote_addrs") == ["52.1.2.3"]


def test_swanctl_gcm_and_pfs_keywords(key_env):
    cfg = swanctl(get_preset("strong-modern"), key_env)
    assert setting(cfg.text, "proposals") == ["aes256gcm16-prfsha384-ecp384"]
    assert setting(cfg.text, "esp_proposals") == ["aes256gcm16-ecp384"]
    v2v = swanctl(get_preset("seed-vnet2vnet"), key_env)
    assert setting(v2v.text, "esp_proposals") == ["aes128gcm16-modp2048s256"]


def test_swanctl_default_policy_uses_azure_defaults_the_device_can_offer(key_env):
    cfg = swanctl(None, key_env)
    assert setting(cfg.text, "proposals") == ["aes256-sha256-modp1024, aes256-sha1-modp1024"]
    assert "Azure default proposals" in cfg.text


def test_policy_based_traffic_selectors_list_every_pair(key_env):
    cfg = swanctl(SEED, key_env, use_policy_based_traffic_selectors=True)
    pairs = list(zip(setting(cfg.text, "local_ts"), setting(cfg.text, "remote_ts"), strict=True))
    assert sorted(pairs) == sorted(traffic_selector_pairs(ONPREM, VNET))
    assert len(pairs) == len(ONPREM) * len(VNET) == 6
    assert cfg.traffic_selectors == tuple(traffic_selector_pairs(ONPREM, VNET))
    route = swanctl(SEED, key_env)
    assert setting(route.text, "local_ts") == [", ".join(ONPREM)]
    assert setting(route.text, "remote_ts") == [", ".join(VNET)]


def test_swanctl_never_holds_the_key_only_an_include(key_env, tmp_path):
    cfg = swanctl(SEED, key_env)
    assert KEY not in cfg.text and KEY.encode().hex() not in cfg.text
    assert "include secrets.d/azure.conf" in cfg.text and key_env in cfg.text
    assert KEY not in cfg.to_frame().to_string()
    secret = write_swanctl_secret(key_env, tmp_path / "secrets.d" / "azure.conf", ids=["52.1.2.3"])
    content = secret.read_text()
    assert f"secret = 0x{KEY.encode().hex()}" in content and "id-1 = 52.1.2.3" in content
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_a_literal_key_is_refused_without_echoing_it():
    with pytest.raises(SecretReferenceError) as info:
        swanctl(SEED, KEY)
    assert KEY not in str(info.value)
    with pytest.raises(SecretReferenceError) as info:
        cisco(SEED, KEY)
    assert KEY not in str(info.value)


def test_bad_addresses_and_prefixes_name_the_field():
    with pytest.raises(PolicyValidationError) as info:
        render_swanctl(SEED, remote_address="not-an-ip", local_prefixes=["10.61.0.1/16"], remote_prefixes=VNET,
                       shared_key_ref="env:X")
    text = str(info.value)
    assert "remote_address" in text and "local_prefixes[0]" in text and "10.61.0.1/16" in text


def test_override_proposals_are_checked(key_env):
    with pytest.raises(ProposalError, match="ike_proposals"):
        swanctl(SEED, key_env, ike_proposals=["aes256gcm16-ecp384"])


def test_cisco_keywords_per_field(key_env):
    cfg = cisco(SEED, key_env)
    lines = [line.strip() for line in cfg.text.splitlines()]
    assert "encryption aes-cbc-256" in lines and "integrity sha384" in lines and "group 24" in lines
    assert "crypto ipsec transform-set azure-ipsec-ts1 esp-aes 256 esp-sha256-hmac" in lines
    assert not any(line.startswith("set pfs") for line in lines)
    assert "set security-association lifetime seconds 14400" in lines
    assert "tunnel protection ipsec profile azure-ipsec-profile" in lines
    assert {"ip route 10.11.0.0 255.255.0.0 Tunnel11", "ip route 10.13.0.0 255.255.255.0 Tunnel11"} <= set(lines)
    modern = [line.strip() for line in cisco(get_preset("strong-modern"), key_env).text.splitlines()]
    assert "encryption aes-gcm-256" in modern and "prf sha384" in modern and "group 20" in modern
    assert not any(line.startswith("integrity") for line in modern)
    assert "crypto ipsec transform-set azure-ipsec-ts1 esp-gcm 256" in modern and "set pfs group20" in modern
    mm = [line.strip() for line in cisco(replace(SEED, pfs_group="PFSMM"), key_env).text.splitlines()]
    assert "set pfs group24" in mm


def test_cisco_policy_based_acl_has_every_pair_and_no_key(key_env):
    cfg = cisco(SEED, key_env, use_policy_based_traffic_selectors=True)
    acl = [line.strip() for line in cfg.text.splitlines() if line.strip().startswith("permit ip")]
    assert len(acl) == 6
    assert "permit ip 10.62.0.0 0.0.255.255 10.13.0.0 0.0.0.255" in acl
    assert "crypto map azure-map" in cfg.text and "interface Tunnel" not in cfg.text
    assert KEY not in cfg.text and f"pre-shared-key {SHARED_KEY_PLACEHOLDER}" in cfg.text
    assert key_env in cfg.text


def test_cisco_default_policy(key_env):
    lines = [line.strip() for line in cisco(None, key_env).text.splitlines()]
    assert "group 2" in lines and "integrity sha256 sha1" in lines
    assert any(line.startswith("set transform-set azure-ipsec-ts1 azure-ipsec-ts2") for line in lines)


def test_device_config_views(key_env, tmp_path):
    cfg = swanctl(SEED, key_env)
    frame = cfg.to_frame()
    assert frame.loc["IKE proposals", "value"] == "aes256-sha384-modp2048s256"
    assert str(cfg) == cfg.text
    assert cfg.save(tmp_path / "swanctl.conf").read_text() == cfg.text
