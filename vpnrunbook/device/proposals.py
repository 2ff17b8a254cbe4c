"""strongSwan proposal syntax: parse ``aes256-sha384-modp2048s256`` into transforms, and write Azure's side.

``parse_proposal`` follows strongSwan's own rules for a proposal read from a string (libstrongswan
``proposal.c`` ``check_proposal``): an IKE proposal without an explicit PRF gets the PRF of each
integrity algorithm, needs a PRF and a DH group; AEAD (GCM/CCM) and classic ciphers cannot share a
proposal, AEAD drops integrity; ESP drops PRFs and gets ``noesn`` unless ESN is given.

``strongswan_proposals(policy)`` writes what Azure offers and accepts for a connection: the one
proposal of a custom policy, or Azure's default proposal lists when it has none. The Azure → keyword
mapping lives in :mod:`vpnrunbook.policy.rules` (one table for the whole project).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vpnrunbook.policy import presets, rules
from vpnrunbook.policy.model import IpsecIkePolicy

Protocol = Literal["IKE", "ESP"]
Role = Literal["initiator", "responder"]

# Transform types in the order strongSwan selects (and prints) them.
ENCR, INTEG, PRF, KE, ESN = "encryption", "integrity", "prf", "dh_group", "esn"
TYPE_ORDER: tuple[str, ...] = (ENCR, INTEG, PRF, KE, ESN)
TYPE_LABELS = {ENCR: "encryption algorithm", INTEG: "integrity algorithm", PRF: "pseudo-random function",
               KE: "Diffie-Hellman group", ESN: "extended sequence number setting"}


@dataclass(frozen=True)
class Algorithm:
    """One transform: strongSwan's name for it (as ``swanctl --list-sas`` prints it) and a key size."""

    type: str
    name: str
    key_size: int = 0
    aead: bool = False

    @property
    def text(self) -> str:
        return f"{self.name}-{self.key_size}" if self.key_size else self.name

    def same(self, other: Algorithm) -> bool:
        return self.type == other.type and self.name == other.name and self.key_size == other.key_size


def _aes_family() -> dict[str, Algorithm]:
    table: dict[str, Algorithm] = {}
    for bits in (128, 192, 256):
        table[f"aes{bits}"] = Algorithm(ENCR, "AES_CBC", bits)
        table[f"aes{bits}ctr"] = Algorithm(ENCR, "AES_CTR", bits)
        table[f"camellia{bits}"] = Algorithm(ENCR, "CAMELLIA_CBC", bits)
        for mode in ("gcm", "ccm"):
            for icv_octets, aliases in ((8, ("8", "64")), (12, ("12", "96")), (16, ("16", "128", ""))):
                for alias in aliases:
                    table[f"aes{bits}{mode}{alias}"] = Algorithm(ENCR, f"AES_{mode.upper()}_{icv_octets}", bits, True)
    table["aes"] = table["aes128"]
    table["camellia"] = table["camellia128"]
    return table


# The keywords of strongSwan's proposal_keywords_static.txt that a VPN device realistically uses.
KEYWORDS: dict[str, Algorithm] = {
    "null": Algorithm(ENCR, "NULL"),
    "des": Algorithm(ENCR, "DES_CBC"),
    "3des": Algorithm(ENCR, "3DES_CBC"),
    **_aes_family(),
    "chacha20poly1305": Algorithm(ENCR, "CHACHA20_POLY1305", 0, True),
    "sha": Algorithm(INTEG, "HMAC_SHA1_96"),
    "sha1": Algorithm(INTEG, "HMAC_SHA1_96"),
    "sha1_160": Algorithm(INTEG, "HMAC_SHA1_160"),
    "sha256": Algorithm(INTEG, "HMAC_SHA2_256_128"),
    "sha2_256": Algorithm(INTEG, "HMAC_SHA2_256_128"),
    "sha256_96": Algorithm(INTEG, "HMAC_SHA2_256_96"),
    "sha2_256_96": Algorithm(INTEG, "HMAC_SHA2_256_96"),
    "sha384": Algorithm(INTEG, "HMAC_SHA2_384_192"),
    "sha2_384": Algorithm(INTEG, "HMAC_SHA2_384_192"),
    "sha512": Algorithm(INTEG, "HMAC_SHA2_512_256"),
    "sha2_512": Algorithm(INTEG, "HMAC_SHA2_512_256"),
    "md5": Algorithm(INTEG, "HMAC_MD5_96"),
    "md5_128": Algorithm(INTEG, "HMAC_MD5_128"),
    "aesxcbc": Algorithm(INTEG, "AES_XCBC_96"),
    "aescmac": Algorithm(INTEG, "AES_CMAC_96"),
    "prfsha1": Algorithm(PRF, "PRF_HMAC_SHA1"),
    "prfsha256": Algorithm(PRF, "PRF_HMAC_SHA2_256"),
    "prfsha384": Algorithm(PRF, "PRF_HMAC_SHA2_384"),
    "prfsha512": Algorithm(PRF, "PRF_HMAC_SHA2_512"),
    "prfmd5": Algorithm(PRF, "PRF_HMAC_MD5"),
    "prfaesxcbc": Algorithm(PRF, "PRF_AES128_XCBC"),
    "prfaescmac": Algorithm(PRF, "PRF_AES128_CMAC"),
    "none": Algorithm(KE, "NONE"),
    "modpnone": Algorithm(KE, "NONE"),
    "modp768": Algorithm(KE, "MODP_768"),
    "modp1024": Algorithm(KE, "MODP_1024"),
    "modp1536": Algorithm(KE, "MODP_1536"),
    "modp2048": Algorithm(KE, "MODP_2048"),
    "modp3072": Algorithm(KE, "MODP_3072"),
    "modp4096": Algorithm(KE, "MODP_4096"),
    "modp6144": Algorithm(KE, "MODP_6144"),
    "modp8192": Algorithm(KE, "MODP_8192"),
    "modp1024s160": Algorithm(KE, "MODP_1024_160"),
    "modp2048s224": Algorithm(KE, "MODP_2048_224"),
    "modp2048s256": Algorithm(KE, "MODP_2048_256"),
    "ecp192": Algorithm(KE, "ECP_192"),
    "ecp224": Algorithm(KE, "ECP_224"),
    "ecp256": Algorithm(KE, "ECP_256"),
    "ecp384": Algorithm(KE, "ECP_384"),
    "ecp521": Algorithm(KE, "ECP_521"),
    "ecp224bp": Algorithm(KE, "ECP_224_BP"),
    "ecp256bp": Algorithm(KE, "ECP_256_BP"),
    "ecp384bp": Algorithm(KE, "ECP_384_BP"),
    "ecp512bp": Algorithm(KE, "ECP_512_BP"),
    "curve25519": Algorithm(KE, "CURVE_25519"),
    "x25519": Algorithm(KE, "CURVE_25519"),
    "curve448": Algorithm(KE, "CURVE_448"),
    "x448": Algorithm(KE, "CURVE_448"),
    "noesn": Algorithm(ESN, "NO_EXT_SEQ"),
    "esn": Algorithm(ESN, "EXT_SEQ"),
}

# An integrity algorithm's PRF, added to IKE proposals that name no PRF (strongSwan's integ_prf_map).
INTEG_PRF: dict[str, str] = {
    "HMAC_SHA1_96": "PRF_HMAC_SHA1", "HMAC_SHA1_160": "PRF_HMAC_SHA1", "HMAC_SHA2_256_128": "PRF_HMAC_SHA2_256",
    "HMAC_SHA2_384_192": "PRF_HMAC_SHA2_384", "HMAC_SHA2_512_256": "PRF_HMAC_SHA2_512",
    "HMAC_MD5_96": "PRF_HMAC_MD5", "HMAC_MD5_128": "PRF_HMAC_MD5", "AES_XCBC_96": "PRF_AES128_XCBC",
    "AES_CMAC_96": "PRF_AES128_CMAC",
}


class ProposalError(ValueError):
    """A proposal string strongSwan would refuse; the message names the field, the value and what is allowed."""

    def __init__(self, field: str, value: str, message: str, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}: {value!r} {message}; allowed: {allowed}")


@dataclass(frozen=True)
class Proposal:
    """One parsed proposal: the transforms of each type in preference order."""

    protocol: Protocol
    text: str
    transforms: dict[str, tuple[Algorithm, ...]] = field(hash=False)

    def algorithms(self, type_: str) -> tuple[Algorithm, ...]:
        return self.transforms.get(type_, ())

    def types(self) -> list[str]:
        return [t for t in TYPE_ORDER if self.transforms.get(t)]

    def has_pfs(self) -> bool:
        return any(a.name != "NONE" for a in self.algorithms(KE))

    def describe(self) -> str:
        parts = [a.text for t in TYPE_ORDER if t != ESN for a in self.algorithms(t)]
        return f"{self.protocol}:" + "/".join(parts)


def parse_proposal(text: str, protocol: Protocol, *, field_name: str = "proposal") -> Proposal:
    """Parse one strongSwan proposal string (``-``-separated keywords) as strongSwan would load it."""
    if not isinstance(text, str) or not text.strip():
        raise ProposalError(field_name, str(text), "is empty", "keywords joined by '-', e.g. aes256-sha256-ecp384")
    by_type: dict[str, list[Algorithm]] = {}
    for token in text.strip().lower().split("-"):
        alg = KEYWORDS.get(token)
        if alg is None:
            hint = " ('default' expands to the build's own list; write the algorithms explicitly)" \
                if token == "default" else ""
            raise ProposalError(field_name, text, f"contains the unknown keyword {token!r}{hint}",
                                "strongSwan keywords such as aes256, aes256gcm16, sha256, prfsha384, "
                                "modp2048s256, ecp384, esn")
        if not any(a.same(alg) for a in by_type.get(alg.type, [])):
            by_type.setdefault(alg.type, []).append(alg)
    encs = by_type.get(ENCR, [])
    if not encs:
        raise ProposalError(field_name, text, f"has no encryption algorithm (mandatory in {protocol} proposals)",
                            "e.g. aes256 or aes256gcm16 first")
    aead = [a.aead for a in encs]
    if any(aead) and not all(aead):
        raise ProposalError(field_name, text, "mixes classic and combined-mode (AEAD) ciphers in one proposal",
                            "separate proposals, e.g. 'aes256-sha256-ecp384, aes256gcm16-prfsha256-ecp384'")
    if all(aead):
        by_type.pop(INTEG, None)
    if protocol == "IKE":
        if not by_type.get(PRF):
            prfs = [INTEG_PRF[a.name] for a in by_type.get(INTEG, []) if a.name in INTEG_PRF]
            by_type[PRF] = [Algorithm(PRF, p) for p in dict.fromkeys(prfs)]
        if not by_type[PRF]:
            raise ProposalError(field_name, text, "has no PRF (an AEAD IKE proposal needs an explicit one)",
                                "add prfsha256 or prfsha384, e.g. aes256gcm16-prfsha384-ecp384")
        by_type[KE] = [a for a in by_type.get(KE, []) if a.name != "NONE"]
        if not by_type[KE]:
            raise ProposalError(field_name, text, "has no Diffie-Hellman group (mandatory in IKE proposals)",
                                "add a group such as modp2048, modp2048s256, ecp256 or ecp384")
        if not all(aead) and not by_type.get(INTEG):
            raise ProposalError(field_name, text, "has a classic cipher but no integrity algorithm",
                                "add sha256 or sha384")
        by_type.pop(ESN, None)
    else:
        by_type.pop(PRF, None)
        if not by_type.get(ESN):
            by_type[ESN] = [KEYWORDS["noesn"]]
    return Proposal(protocol, text.strip(), {t: tuple(v) for t, v in by_type.items() if v})


def split_proposals(value: str | Iterable[str]) -> list[str]:
    """A comma-separated string (the swanctl and tag format) or a list of such strings → proposal strings."""
    items = [value] if isinstance(value, str) else [str(v) for v in value]
    return [p.strip() for item in items for p in item.split(",") if p.strip()]


def parse_proposals(value: str | Iterable[str], protocol: Protocol, *, field_name: str = "proposals") -> list[Proposal]:
    texts = split_proposals(value)
    if not texts:
        raise ProposalError(field_name, str(value), "holds no proposal",
                            "one or more strongSwan proposals, e.g. aes256-sha256-modp2048")
    return [parse_proposal(t, protocol, field_name=f"{field_name}[{i}]") for i, t in enumerate(texts)]


# --------------------------------------------------------------------------------------------
# Azure's side in strongSwan syntax
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StrongSwanProposals:
    """IKE and ESP proposal strings, in preference order (swanctl ``proposals`` / ``esp_proposals``)."""

    ike: tuple[str, ...]
    esp: tuple[str, ...]

    @property
    def ike_text(self) -> str:
        return ", ".join(self.ike)

    @property
    def esp_text(self) -> str:
        return ", ".join(self.esp)


def ike_proposal(encryption: str, integrity: str, dh_group: str) -> str:
    """Azure IKE values → one strongSwan IKE proposal; GCM encryption gets the integrity as explicit PRF."""
    group = rules.DH_GROUP_INFO[dh_group].strongswan
    if group is None:
        raise ProposalError("dh_group", dh_group, "cannot be expressed: IKEv2 needs a Diffie-Hellman group",
                            ", ".join(g for g in rules.DH_GROUPS if g != "None"))
    enc = rules.IKE_ENCRYPTION_STRONGSWAN[encryption]
    if encryption in rules.GCM_VALUES:
        return f"{enc}-{rules.IKE_PRF_STRONGSWAN[integrity]}-{group}"
    return f"{enc}-{rules.IKE_INTEGRITY_STRONGSWAN[integrity]}-{group}"


def esp_proposal(encryption: str, integrity: str, pfs_keyword: str | None) -> str:
    """Azure IPsec values → one strongSwan ESP proposal (the PFS group appears only for the rekey)."""
    parts = [rules.IPSEC_ENCRYPTION_STRONGSWAN[encryption]]
    integ = rules.IPSEC_INTEGRITY_STRONGSWAN[integrity]
    if integ and encryption not in rules.GCM_VALUES:
        parts.append(integ)
    if pfs_keyword:
        parts.append(pfs_keyword)
    return "-".join(parts)


def strongswan_proposals(policy: IpsecIkePolicy | None, *, role: Role = "responder") -> StrongSwanProposals:
    """What Azure offers (``role="initiator"``) or accepts (``"responder"``) for a connection, as strongSwan proposals.

    A custom policy is one IKE and one ESP proposal in both roles. Without one, Azure uses its default
    lists (A8): six IKE offers with DH group 2, and 6 (initiator) or 26 (responder) Quick Mode offers.
    """
    if policy is not None:
        policy.validate()
        return StrongSwanProposals(
            (ike_proposal(policy.ike_encryption, policy.ike_integrity, policy.dh_group),),
            (esp_proposal(policy.ipsec_encryption, policy.ipsec_integrity,
                          rules.pfs_strongswan(policy.pfs_group, policy.dh_group)),))
    if role not in ("initiator", "responder"):
        raise ValueError(f"role: {role!r} is not allowed; allowed: 'initiator' or 'responder'")
    ike = tuple(ike_proposal(enc, integ, presets.DEFAULT_IKE_DH_GROUP) for enc, integ in presets.DEFAULT_IKE_OFFERS)
    offers = presets.DEFAULT_IPSEC_INITIATOR_OFFERS if role == "initiator" else presets.DEFAULT_IPSEC_RESPONDER_OFFERS
    esp = tuple(esp_proposal(enc, integ, rules.PFS_GROUP_INFO[pfs].strongswan) for enc, integ, pfs in offers)
    return StrongSwanProposals(ike, esp)


# What a device configured for Azure's defaults should offer: the strongest offers both of Azure's
# lists share (no PFS, since Azure never offers PFS as initiator with its defaults).
DEFAULT_DEVICE_IKE: tuple[tuple[str, str], ...] = (("AES256", "SHA256"), ("AES256", "SHA1"))
DEFAULT_DEVICE_ESP: tuple[tuple[str, str], ...] = (("GCMAES256", "GCMAES256"), ("AES256", "SHA256"), ("AES256", "SHA1"))


def device_proposals(policy: IpsecIkePolicy | None) -> StrongSwanProposals:
    """The proposals to configure on the on-premises device for this connection."""
    if policy is not None:
        return strongswan_proposals(policy)
    return StrongSwanProposals(
        tuple(ike_proposal(e, i, presets.DEFAULT_IKE_DH_GROUP) for e, i in DEFAULT_DEVICE_IKE),
        tuple(esp_proposal(e, i, None) for e, i in DEFAULT_DEVICE_ESP))


def describe_list(proposals: Sequence[Proposal]) -> str:
    return ", ".join(p.text for p in proposals)


def policy_proposals(policy: IpsecIkePolicy | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(ike, esp)`` proposal strings the device should configure (the hook ``vpnrunbook.ui.proposals`` calls)."""
    chosen = device_proposals(policy)
    return chosen.ike, chosen.esp
