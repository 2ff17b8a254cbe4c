"""Named policies: the seed document's two policies, its update example, a strong modern preset,
and Azure's default proposals (what a connection uses when it has no custom policy, A8)."""

from __future__ import annotations

from dataclasses import dataclass

from vpnrunbook.policy.model import IpsecIkePolicy


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    policy: IpsecIkePolicy


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("seed-s2s", "Seed S2S policy (VNet1toSite6): IKEv2 AES256/SHA384/DHGroup24, IPsec AES256/SHA256, no PFS",
               IpsecIkePolicy(ike_encryption="AES256", ike_integrity="SHA384", dh_group="DHGroup24",
                              ipsec_encryption="AES256", ipsec_integrity="SHA256", pfs_group="None",
                              sa_life_time_seconds=14400, sa_data_size_kilobytes=102400000)),
        Preset("seed-vnet2vnet", "Seed VNet-to-VNet policy: IKEv2 AES128/SHA1/DHGroup14, IPsec GCMAES128, PFS24",
               IpsecIkePolicy(ike_encryption="AES128", ike_integrity="SHA1", dh_group="DHGroup14",
                              ipsec_encryption="GCMAES128", ipsec_integrity="GCMAES128", pfs_group="PFS24",
                              sa_life_time_seconds=14400, sa_data_size_kilobytes=102400000)),
        Preset("seed-update", "Seed update example: IKEv2 AES128/SHA1/DHGroup14, IPsec AES256/SHA256, no PFS",
               IpsecIkePolicy(ike_encryption="AES128", ike_integrity="SHA1", dh_group="DHGroup14",
                              ipsec_encryption="AES256", ipsec_integrity="SHA256", pfs_group="None",
                              sa_life_time_seconds=14400, sa_data_size_kilobytes=102400000)),
        Preset("strong-modern", "Strong modern: GCM everywhere with ECP384 for IKE and PFS (RFC 8221/8247 recommendations)",
               IpsecIkePolicy(ike_encryption="GCMAES256", ike_integrity="SHA384", dh_group="ECP384",
                              ipsec_encryption="GCMAES256", ipsec_integrity="GCMAES256", pfs_group="ECP384",
                              sa_life_time_seconds=27000, sa_data_size_kilobytes=102400000)),
    )
}


def get_preset(name: str) -> IpsecIkePolicy:
    try:
        return PRESETS[name].policy
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


# ---- Azure's default proposals for RouteBased gateways (A8, 2023-10-06) -------------------------
# (encryption, integrity) offers for IKE; DH group 2; IKE SA lifetime 28800 s.
DEFAULT_IKE_OFFERS: tuple[tuple[str, str], ...] = (
    ("AES256", "SHA1"), ("AES256", "SHA256"), ("AES128", "SHA1"), ("AES128", "SHA256"), ("DES3", "SHA1"), ("DES3", "SHA256"),
)
DEFAULT_IKE_DH_GROUP = "DHGroup2"
# (encryption, integrity, pfs) Quick Mode offers when Azure initiates
DEFAULT_IPSEC_INITIATOR_OFFERS: tuple[tuple[str, str, str], ...] = (
    ("GCMAES256", "GCMAES256", "None"), ("AES256", "SHA1", "None"), ("DES3", "SHA1", "None"),
    ("AES256", "SHA256", "None"), ("AES128", "SHA1", "None"), ("DES3", "SHA256", "None"),
)
# ... and what Azure accepts as responder (26 offers)
DEFAULT_IPSEC_RESPONDER_OFFERS: tuple[tuple[str, str, str], ...] = DEFAULT_IPSEC_INITIATOR_OFFERS + (
    ("DES", "SHA1", "None"),
    ("AES256", "SHA1", "PFS1"), ("AES256", "SHA1", "PFS2"), ("AES256", "SHA1", "PFS2048"),
    ("AES128", "SHA1", "PFS1"), ("AES128", "SHA1", "PFS2"), ("AES128", "SHA1", "PFS2048"),
    ("DES3", "SHA1", "PFS1"), ("DES3", "SHA1", "PFS2"), ("DES3", "SHA256", "PFS2"),
    ("AES256", "SHA256", "PFS1"), ("AES256", "SHA256", "PFS2"), ("AES256", "SHA256", "PFS2048"),
    ("AES256", "SHA1", "PFS24"), ("AES256", "SHA256", "PFS24"),
    ("AES128", "SHA256", "None"),
    ("AES128", "SHA256", "PFS1"), ("AES128", "SHA256", "PFS2"), ("AES128", "SHA256", "PFS2048"),
    ("DES3", "SHA1", "PFS2048"),
)
DEFAULT_IPSEC_SA_LIFETIME_SECONDS = 27000
DEFAULT_IPSEC_SA_DATA_SIZE_KILOBYTES = 102400000
