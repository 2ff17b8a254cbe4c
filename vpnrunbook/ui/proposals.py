"""strongSwan-style proposal strings for a policy (what the on-premises device must offer).

Uses ``vpnrunbook.device``'s renderer when that part provides one; otherwise this small mapping built on
``rules.DH_GROUP_INFO`` / ``rules.PFS_GROUP_INFO`` (the group keywords live there, written once).
"""

from __future__ import annotations

from dataclasses import dataclass

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy

_IKE_ENCRYPTION = {
    "AES128": "aes128", "AES192": "aes192", "AES256": "aes256", "DES3": "3des", "DES": "des",
    "GCMAES128": "aes128gcm16", "GCMAES256": "aes256gcm16",
}
_ESP_ENCRYPTION = {
    "AES128": "aes128", "AES192": "aes192", "AES256": "aes256", "DES3": "3des", "DES": "des", "None": "null",
    "GCMAES128": "aes128gcm16", "GCMAES192": "aes192gcm16", "GCMAES256": "aes256gcm16",
}
_INTEGRITY = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA384": "sha384"}


@dataclass(frozen=True)
class Proposals:
    ike: str
    esp: str

    def __str__(self) -> str:
        return f"ike={self.ike} esp={self.esp}"


def _pfs_keyword(policy: IpsecIkePolicy) -> str | None:
    if policy.pfs_group == "PFSMM":  # "same group as the IKE SA"
        return rules.DH_GROUP_INFO[policy.dh_group].strongswan
    return rules.PFS_GROUP_INFO[policy.pfs_group].strongswan


def _fallback(policy: IpsecIkePolicy) -> Proposals:
    enc = _IKE_ENCRYPTION[policy.ike_encryption]
    integ = _INTEGRITY[policy.ike_integrity]
    # With an AEAD IKE cipher, the integrity value is the PRF (A14).
    ike_parts = [enc, f"prf{integ}" if policy.ike_encryption in rules.GCM_VALUES else integ]
    dh = rules.DH_GROUP_INFO[policy.dh_group].strongswan
    if dh:
        ike_parts.append(dh)
    esp_parts = [_ESP_ENCRYPTION[policy.ipsec_encryption]]
    if policy.ipsec_encryption not in rules.GCM_VALUES:
        esp_parts.append(_INTEGRITY[policy.ipsec_integrity])
    pfs = _pfs_keyword(policy)
    if pfs:
        esp_parts.append(pfs)
    return Proposals("-".join(ike_parts), "-".join(esp_parts))


def _from_device(policy: IpsecIkePolicy) -> Proposals | None:
    """The device part's renderer, when it exists (``vpnrunbook.device.proposals.policy_proposals``)."""
    try:
        from vpnrunbook.device import proposals as device_proposals  # type: ignore[attr-defined]
    except ImportError:
        return None
    func = getattr(device_proposals, "policy_proposals", None)
    if func is None:
        return None
    ike, esp = func(policy)
    return Proposals(ike if isinstance(ike, str) else ",".join(ike), esp if isinstance(esp, str) else ",".join(esp))


def strongswan_proposals(policy: IpsecIkePolicy) -> Proposals:
    """``Proposals(ike='aes256-sha384-modp2048s256', esp='aes256-sha256')`` for a valid policy."""
    policy.validate()
    return _from_device(policy) or _fallback(policy)
