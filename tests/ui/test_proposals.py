"""strongSwan proposal strings shown by the picker (rendered by the device part from rules' keywords)."""

from __future__ import annotations

import itertools

import pytest

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.ui.proposals import strongswan_proposals
from vpnrunbook.ui.widgets import policy_picker


def test_seed_policies():
    s2s = strongswan_proposals(PRESETS["seed-s2s"].policy)
    assert (s2s.ike, s2s.esp) == ("aes256-sha384-modp2048s256", "aes256-sha256")
    v2v = strongswan_proposals(PRESETS["seed-vnet2vnet"].policy)
    assert (v2v.ike, v2v.esp) == ("aes128-sha1-modp2048", "aes128gcm16-modp2048s256")
    modern = strongswan_proposals(PRESETS["strong-modern"].policy)
    assert (modern.ike, modern.esp) == ("aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384")


def test_every_group_combination_uses_the_rules_keywords():
    base = PRESETS["seed-s2s"].policy.as_python_dict()
    for dh, pfs in itertools.product([g for g in rules.DH_GROUPS if g != "None"], rules.PFS_GROUPS):
        out = strongswan_proposals(IpsecIkePolicy(**{**base, "dh_group": dh, "pfs_group": pfs}))
        assert out.ike.endswith("-" + rules.DH_GROUP_INFO[dh].strongswan)
        pfs_kw = rules.DH_GROUP_INFO[dh].strongswan if pfs == "PFSMM" else rules.PFS_GROUP_INFO[pfs].strongswan
        assert out.esp == ("aes256-sha256" + (f"-{pfs_kw}" if pfs_kw else ""))


def test_null_encryption_and_invalid_policy():
    base = PRESETS["seed-s2s"].policy.as_python_dict()
    assert strongswan_proposals(IpsecIkePolicy(**{**base, "ipsec_encryption": "None"})).esp == "null-sha256"
    with pytest.raises(rules.PolicyValidationError):
        strongswan_proposals(IpsecIkePolicy(**{**base, "ipsec_integrity": "GCMAES128"}))


def test_picker_explains_a_policy_the_device_cannot_express():
    picker = policy_picker("seed-s2s", interactive=True)
    picker.set(dh_group="None")
    assert picker.valid  # Azure accepts it ...
    assert "IKEv2 needs a Diffie-Hellman group" in picker.proposals.value  # ... the device cannot negotiate it
    assert any(w.field == "dh_group" for w in picker.findings if w.severity == "warning")
