"""Azure's rules for custom IPsec/IKE connection policies, gateways and connections — written once.

The notebook's parameter check, the operations' pre-checks and the emulator's server-side
validation all call these functions. Sources are the IDs of
``shared/reference/azure-ipsec-ike-rules.md`` (A1 = Azure docs algorithm table, P1 = PowerShell
``New-AzIpsecPolicy``, S1 = azure-mgmt-network 33.1.0 enums, I1-I3 = GCM IKE integrity issues, ...).

Choices where sources disagree (each pinned by a test in ``tests/unit/test_policy_rules.py``):

* ``ikeIntegrity`` GCMAES128/GCMAES256 are in the REST enum but the service does not honour them
  (I1-I3: the value comes back blank). We **refuse** them with a clear error instead of silently
  losing the field.
* ``ikeEncryption`` GCMAES128/GCMAES256 are **accepted** (REST, CLI, portal, docs; only PowerShell lacks them).
* ``pfsGroup`` PFS14 and PFSMM are **accepted** (REST enum, Terraform), though not in the docs.
* ``saDataSizeKilobytes`` accepts 0 or 1024..2147483647 (current PowerShell and portal, P1/I6).
* ``saLifeTimeSeconds`` accepts 300..172799 (PowerShell, the only source with a maximum).
* Values are case-sensitive, spelled as REST spells them; a wrong case gets a "did you mean" hint.
* ``dhGroup`` None is accepted (REST allows it) but linted: IKEv2 cannot negotiate without a group.
* ``routingWeight`` accepts 0..32000 (R1, R2: Azure accepts 0; Terraform raised its bound to the service's 32000).
* ``enableBgp`` on a connection is refused unless both ends speak BGP (B2, B3: BGP is configured on the gateway
  and the local network gateway before a connection enables it; no stored source gives the service's code, so
  the code ``BgpNotEnabledOnGateway`` is ours). Without it the gateway would list a BGP peer with no neighbor.

R1 = hashicorp/terraform-provider-azurerm#4698 (routing weight 0 accepted by Azure), R2 = #5540 ("increase
routing_weight maximum to 32000"); B2 = azure-docs ``vpn-gateway-bgp-resource-manager-ps.md`` (part 1: enable BGP
on the gateway with an ASN; part 2: the local network gateway with ASN and BGP peer IP; then ``-EnableBgp True``
on the connection), B3 = the same article's VNet-to-VNet part (both gateways get an ASN first).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Allowed values (REST spelling, S1 / A1)
# --------------------------------------------------------------------------------------------
IKE_ENCRYPTION: tuple[str, ...] = ("GCMAES256", "GCMAES128", "AES256", "AES192", "AES128", "DES3", "DES")
IKE_INTEGRITY: tuple[str, ...] = ("SHA384", "SHA256", "SHA1", "MD5")
IKE_INTEGRITY_REFUSED: tuple[str, ...] = ("GCMAES256", "GCMAES128")  # in the REST enum, not honoured (I1-I3)
DH_GROUPS: tuple[str, ...] = ("ECP384", "ECP256", "DHGroup24", "DHGroup14", "DHGroup2048", "DHGroup2", "DHGroup1", "None")
IPSEC_ENCRYPTION: tuple[str, ...] = (
    "GCMAES256", "GCMAES192", "GCMAES128", "AES256", "AES192", "AES128", "DES3", "DES", "None",
)
IPSEC_INTEGRITY: tuple[str, ...] = ("GCMAES256", "GCMAES192", "GCMAES128", "SHA256", "SHA1", "MD5")
PFS_GROUPS: tuple[str, ...] = ("ECP384", "ECP256", "PFS24", "PFS2048", "PFS14", "PFSMM", "PFS2", "PFS1", "None")

GCM_VALUES = frozenset({"GCMAES128", "GCMAES192", "GCMAES256"})


@dataclass(frozen=True)
class IntRange:
    """An inclusive integer range, optionally with extra single allowed values (e.g. 0)."""

    minimum: int
    maximum: int
    default: int
    also: tuple[int, ...] = ()

    def contains(self, value: int) -> bool:
        return value in self.also or self.minimum <= value <= self.maximum

    def describe(self) -> str:
        extra = "".join(f"{v} or " for v in self.also)
        return f"{extra}an integer from {self.minimum} to {self.maximum}"


SA_LIFETIME_SECONDS = IntRange(300, 172_799, 27_000)
SA_DATA_SIZE_KILOBYTES = IntRange(1024, 2_147_483_647, 102_400_000, also=(0,))
DPD_TIMEOUT_SECONDS = IntRange(9, 3600, 45)
SHARED_KEY_LENGTH = IntRange(1, 128, 32)
IKE_SA_LIFETIME_SECONDS = 28_800  # fixed by Azure, not configurable (A2, A8)
MAX_POLICIES_PER_CONNECTION = 1
ROUTING_WEIGHT = IntRange(0, 32_000, 0)  # R1, R2


@dataclass(frozen=True)
class FieldSpec:
    """One policy field: Python name (SDK keyword), REST wire name, label and the allowed set or range."""

    name: str
    wire: str
    label: str
    choices: tuple[str, ...] | None = None
    range: IntRange | None = None

    def allowed_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        assert self.range is not None
        return self.range.describe()


# Order: IKE phase first, then IPsec phase, then lifetimes — the order operators read a policy in.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("ike_encryption", "ikeEncryption", "IKE encryption", IKE_ENCRYPTION),
    FieldSpec("ike_integrity", "ikeIntegrity", "IKE integrity", IKE_INTEGRITY),
    FieldSpec("dh_group", "dhGroup", "DH group", DH_GROUPS),
    FieldSpec("ipsec_encryption", "ipsecEncryption", "IPsec encryption", IPSEC_ENCRYPTION),
    FieldSpec("ipsec_integrity", "ipsecIntegrity", "IPsec integrity", IPSEC_INTEGRITY),
    FieldSpec("pfs_group", "pfsGroup", "PFS group", PFS_GROUPS),
    FieldSpec("sa_life_time_seconds", "saLifeTimeSeconds", "SA lifetime (s)", range=SA_LIFETIME_SECONDS),
    FieldSpec("sa_data_size_kilobytes", "saDataSizeKilobytes", "SA data size (KB)", range=SA_DATA_SIZE_KILOBYTES),
)
FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
FIELDS_BY_WIRE: dict[str, FieldSpec] = {f.wire: f for f in FIELDS}


# --------------------------------------------------------------------------------------------
# Groups: RFC number, size, strongSwan keyword (A3, SW1, W1)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DhGroupInfo:
    rfc_group: int | None
    description: str
    strongswan: str | None


DH_GROUP_INFO: dict[str, DhGroupInfo] = {
    "None": DhGroupInfo(None, "no Diffie-Hellman group", None),
    "DHGroup1": DhGroupInfo(1, "768-bit MODP", "modp768"),
    "DHGroup2": DhGroupInfo(2, "1024-bit MODP", "modp1024"),
    "DHGroup14": DhGroupInfo(14, "2048-bit MODP", "modp2048"),
    "DHGroup2048": DhGroupInfo(14, "2048-bit MODP (alias of DHGroup14)", "modp2048"),
    "ECP256": DhGroupInfo(19, "256-bit random ECP", "ecp256"),
    "ECP384": DhGroupInfo(20, "384-bit random ECP", "ecp384"),
    "DHGroup24": DhGroupInfo(24, "2048-bit MODP with 256-bit prime-order subgroup (RFC 5114)", "modp2048s256"),
}
PFS_GROUP_INFO: dict[str, DhGroupInfo] = {
    "None": DhGroupInfo(None, "no perfect forward secrecy", None),
    "PFS1": DhGroupInfo(1, "768-bit MODP", "modp768"),
    "PFS2": DhGroupInfo(2, "1024-bit MODP", "modp1024"),
    "PFS2048": DhGroupInfo(14, "2048-bit MODP", "modp2048"),
    "PFS14": DhGroupInfo(14, "2048-bit MODP (REST alias of PFS2048)", "modp2048"),
    "ECP256": DhGroupInfo(19, "256-bit random ECP", "ecp256"),
    "ECP384": DhGroupInfo(20, "384-bit random ECP", "ecp384"),
    "PFS24": DhGroupInfo(24, "2048-bit MODP with 256-bit prime-order subgroup (RFC 5114)", "modp2048s256"),
    "PFSMM": DhGroupInfo(None, "same group as the IKE (main mode) SA", None),
}


def pfs_rfc_group(pfs_group: str, dh_group: str) -> int | None:
    """The RFC group number the IPsec (child SA) rekey uses; PFSMM reuses the IKE group."""
    if pfs_group == "PFSMM":
        return DH_GROUP_INFO[dh_group].rfc_group
    return PFS_GROUP_INFO[pfs_group].rfc_group


# strongSwan proposal keywords for the algorithm fields (SW1; section 8 of the rules reference).
# GCM IKE encryption is AEAD: it carries no integrity keyword, so the IKE integrity value is written
# as the PRF instead (``aes256gcm16-prfsha384-ecp384``). GCM IPsec integrity is implied by the AEAD.
IKE_ENCRYPTION_STRONGSWAN: dict[str, str] = {
    "GCMAES256": "aes256gcm16", "GCMAES128": "aes128gcm16", "AES256": "aes256", "AES192": "aes192",
    "AES128": "aes128", "DES3": "3des", "DES": "des",
}
IKE_INTEGRITY_STRONGSWAN: dict[str, str] = {"SHA384": "sha384", "SHA256": "sha256", "SHA1": "sha1", "MD5": "md5"}
IKE_PRF_STRONGSWAN: dict[str, str] = {k: "prf" + v for k, v in IKE_INTEGRITY_STRONGSWAN.items()}
IPSEC_ENCRYPTION_STRONGSWAN: dict[str, str] = {
    "GCMAES256": "aes256gcm16", "GCMAES192": "aes192gcm16", "GCMAES128": "aes128gcm16", "AES256": "aes256",
    "AES192": "aes192", "AES128": "aes128", "DES3": "3des", "DES": "des", "None": "null",
}
IPSEC_INTEGRITY_STRONGSWAN: dict[str, str | None] = {
    "GCMAES256": None, "GCMAES192": None, "GCMAES128": None, "SHA256": "sha256", "SHA1": "sha1", "MD5": "md5",
}


def pfs_strongswan(pfs_group: str, dh_group: str) -> str | None:
    """The strongSwan key-exchange keyword of the child SA rekey (PFSMM reuses the IKE group), None without PFS."""
    if pfs_group == "PFSMM":
        return DH_GROUP_INFO[dh_group].strongswan
    return PFS_GROUP_INFO[pfs_group].strongswan


# --------------------------------------------------------------------------------------------
# Problems and the validation error
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One rule broken: the field (as the caller named it), the value given, and what is allowed."""

    field: str
    value: Any
    message: str
    allowed: str = ""
    code: str = "InvalidValue"

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text


class PolicyValidationError(ValueError):
    """Raised with every problem found at once, so the operator fixes all of them in one pass."""

    def __init__(self, problems: Sequence[Problem], *, subject: str = "IPsec/IKE policy",
                 headline: str | None = None) -> None:
        """``subject`` names what is invalid ("IPsec/IKE policy is invalid (1 problem):"); ``headline`` replaces
        that sentence when it is not a subject (a refusal: "step: refused before any change (1 problem):")."""
        self.problems = list(problems)
        self.subject = subject
        self.headline = headline or f"{subject} is invalid"
        n = len(self.problems)
        lines = [f"{self.headline} ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _suggest(value: str, choices: Iterable[str]) -> str:
    for c in choices:
        if c.lower() == value.lower():
            return f" (did you mean {c!r}? values are case-sensitive)"
    return ""


def check_choice(label: str, value: Any, choices: Sequence[str], *, refused: Mapping[str, str] | None = None) -> list[Problem]:
    if not isinstance(value, str) or isinstance(value, bool):
        return [Problem(label, value, f"{value!r} is a {type(value).__name__}, expected a string",
                        "one of " + ", ".join(choices), "InvalidType")]
    if refused and value in refused:
        return [Problem(label, value, f"{value!r} is not accepted: {refused[value]}", "one of " + ", ".join(choices))]
    if value not in choices:
        return [Problem(label, value, f"{value!r} is not allowed{_suggest(value, choices)}", "one of " + ", ".join(choices))]
    return []


def check_int(label: str, value: Any, rng: IntRange) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            return [Problem(label, value, f"{value!r} is a {type(value).__name__}, expected an integer",
                            rng.describe(), "InvalidType")]
    if not rng.contains(value):
        return [Problem(label, value, f"{value} is out of range", rng.describe(), "OutOfRange")]
    return []


_IKE_INTEGRITY_REFUSAL = {
    v: "GCM is not supported for IKE integrity (Azure stores it blank; choose SHA256 or SHA384, "
       "which also serves as the PRF with GCM IKE encryption)"
    for v in IKE_INTEGRITY_REFUSED
}


def check_policy(values: Mapping[str, Any], *, names: Mapping[str, str] | None = None,
                 prefix: str = "") -> list[Problem]:
    """Check one policy given by Python field names (``ike_encryption`` ...). All fields are required.

    ``names`` maps a Python field name to the name the caller used (a YAML key, a REST path) so the
    problem names the field as the operator wrote it. ``prefix`` is prepended (``ipsecPolicies[0].``).
    """
    names = dict(names or {})
    problems: list[Problem] = []

    def label(spec: FieldSpec) -> str:
        return prefix + names.get(spec.name, spec.name)

    for spec in FIELDS:
        if spec.name not in values or values[spec.name] is None:
            problems.append(Problem(label(spec), None, "is required (a custom policy must set all eight fields)",
                                    spec.allowed_text(), "MissingField"))
            continue
        value = values[spec.name]
        if spec.choices is not None:
            refused = _IKE_INTEGRITY_REFUSAL if spec.name == "ike_integrity" else None
            choices = spec.choices
            problems += check_choice(label(spec), value, choices, refused=refused)
        else:
            assert spec.range is not None
            problems += check_int(label(spec), value, spec.range)
    problems += check_gcm_pairing(values.get("ipsec_encryption"), values.get("ipsec_integrity"),
                                  label=prefix + names.get("ipsec_integrity", "ipsec_integrity"),
                                  encryption_label=names.get("ipsec_encryption", "ipsec_encryption"))
    return problems


def check_gcm_pairing(encryption: Any, integrity: Any, *, label: str = "ipsec_integrity",
                      encryption_label: str = "ipsec_encryption") -> list[Problem]:
    """IPsec GCM pairing (A2, A6, P1): if either side is GCMAES*, both must be the same GCMAES value.

    ``encryption_label`` names the encryption field in the message as the caller names it (``ipsecEncryption``
    on the wire, ``ipsec_encryption`` in Python)."""
    if not isinstance(encryption, str) or not isinstance(integrity, str):
        return []
    if encryption not in IPSEC_ENCRYPTION or integrity not in IPSEC_INTEGRITY:
        return []
    if (encryption in GCM_VALUES or integrity in GCM_VALUES) and encryption != integrity:
        if encryption in GCM_VALUES:
            allowed = f"{encryption} (GCM encryption needs the same GCM value as integrity)"
        else:
            allowed = "SHA256, SHA1 or MD5 (non-GCM encryption needs a non-GCM integrity)"
        return [Problem(label, integrity,
                        f"{integrity!r} does not pair with {encryption_label} {encryption!r}: IPsec encryption and "
                        "integrity must use matching GCM algorithms", allowed, "GcmMismatch")]
    return []


def gcm_integrity_for(encryption: str) -> str | None:
    """The only integrity a GCM IPsec encryption accepts (used by the policy picker)."""
    return encryption if encryption in GCM_VALUES else None


def check_policy_list(policies: Sequence[Any], *, label: str = "ipsec_policies") -> list[Problem]:
    if len(policies) > MAX_POLICIES_PER_CONNECTION:
        return [Problem(label, len(policies), f"{len(policies)} policies given; a connection takes at most one",
                        "0 (Azure's default proposals) or 1 custom policy", "TooManyPolicies")]
    return []


# --------------------------------------------------------------------------------------------
# Connection-level rules
# --------------------------------------------------------------------------------------------
SHARED_KEY_FORBIDDEN = frozenset(" -~")


def check_shared_key(key: Any, *, label: str = "shared_key") -> list[Problem]:
    """Printable ASCII except space, '-' and '~'; 1..128 characters (A7, S1). Never echoes the key."""
    allowed = "1 to 128 printable ASCII characters, excluding space, '-' and '~'"
    if not isinstance(key, str):
        return [Problem(label, "<redacted>", "must be a string", allowed, "InvalidSharedKey")]
    problems = []
    if not SHARED_KEY_LENGTH.contains(len(key)):
        problems.append(Problem(label, "<redacted>", f"has {len(key)} characters", allowed, "InvalidSharedKey"))
    bad = sorted({c for c in key if not (33 <= ord(c) <= 126) or c in SHARED_KEY_FORBIDDEN})
    if bad:
        shown = ", ".join("space" if c == " " else repr(c) if c.isprintable() else f"U+{ord(c):04X}" for c in bad)
        problems.append(Problem(label, "<redacted>", f"contains characters Azure refuses ({shown})", allowed,
                                "InvalidSharedKey"))
    return problems


def check_dpd_timeout(value: Any, *, label: str = "dpd_timeout_seconds") -> list[Problem]:
    return check_int(label, value, DPD_TIMEOUT_SECONDS)


def check_routing_weight(value: Any, *, label: str = "routing_weight") -> list[Problem]:
    """0..32000 (R1, R2); a value outside is refused before any write."""
    return check_int(label, value, ROUTING_WEIGHT)


def check_connection_bgp(enable_bgp: Any, *, gateway_bgp: bool, peer_bgp: bool, peer: str,
                         label: str = "enable_bgp") -> list[Problem]:
    """``enableBgp: true`` needs BGP on both ends (B2, B3): this side's gateway (``enableBgp`` with its ASN) and the
    peer — the other gateway of a VNet-to-VNet connection, or the local network gateway's ``bgpSettings``."""
    if enable_bgp is None:
        return []
    if not isinstance(enable_bgp, bool):
        return [Problem(label, enable_bgp, f"{enable_bgp!r} is a {type(enable_bgp).__name__}, expected a boolean",
                        "true or false", "InvalidType")]
    if not enable_bgp:
        return []
    missing = [side for side, on in (("the virtual network gateway (virtualNetworkGateway1)", gateway_bgp),
                                     (peer, peer_bgp)) if not on]
    if not missing:
        return []
    return [Problem(label, True, "BGP cannot be enabled on the connection: BGP is not configured on "
                    + " nor on ".join(missing),
                    "false, or first enable BGP (an ASN) on the gateway and BGP settings on the peer",
                    "BgpNotEnabledOnGateway")]


CONNECTION_TYPES = ("IPsec", "Vnet2Vnet")
CONNECTION_PROTOCOLS = ("IKEv2", "IKEv1")

# --------------------------------------------------------------------------------------------
# Gateway rules (A4, A6, A7, A15, T3)
# --------------------------------------------------------------------------------------------
VPN_SKUS: tuple[str, ...] = (
    "Basic", "Standard", "HighPerformance",
    "VpnGw1", "VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5",
    "VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ",
)
VPN_TYPES = ("RouteBased", "PolicyBased")
GATEWAY_TYPES = ("Vpn", "ExpressRoute", "LocalGateway")
GENERATIONS = ("Generation1", "Generation2", "None")
GENERATION1_SKUS = frozenset({"Basic", "Standard", "HighPerformance", "VpnGw1", "VpnGw2", "VpnGw3",
                              "VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ"})
GENERATION2_SKUS = frozenset({"VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ"})
IKEV1_SKUS = frozenset({"VpnGw1", "VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5",
                        "VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ"})
# SKUs that can no longer be *created* (or resized to) — existing gateways keep working and stay readable (A7b, A16):
# the legacy Standard/HighPerformance SKUs (no new gateways since 1 December 2023) and the non-AZ VpnGw1-5
# (no new creation since the SKU consolidation; retired on 30 September 2026, existing ones migrated to the AZ
# SKU of the same number). Azure's answer for a size it does not offer is InvalidGatewaySize, "The specified
# gateway size is not valid, supported gateway sizes are …" (the wording reported in
# hashicorp/terraform-provider-azurerm#8132); the emulator and the package use that code and list what can be
# created today. tests/unit/test_retired_skus.py pins this choice.
RETIRED_VPN_SKUS = frozenset({"Standard", "HighPerformance", "VpnGw1", "VpnGw2", "VpnGw3", "VpnGw4", "VpnGw5"})
CREATABLE_VPN_SKUS: tuple[str, ...] = tuple(s for s in VPN_SKUS if s not in RETIRED_VPN_SKUS)
CURRENT_EQUIVALENT = {"VpnGw1": "VpnGw1AZ", "VpnGw2": "VpnGw2AZ", "VpnGw3": "VpnGw3AZ", "VpnGw4": "VpnGw4AZ",
                      "VpnGw5": "VpnGw5AZ", "Standard": "VpnGw1AZ", "HighPerformance": "VpnGw2AZ"}


def check_sku_creatable(sku: Any, *, current: Any = None, field: str = "sku") -> list[Problem]:
    """A retired SKU is refused for a new gateway and as a resize target (an existing gateway keeps its SKU)."""
    if sku not in RETIRED_VPN_SKUS or sku == current:
        return []
    return [Problem(field, sku, f"the {sku} SKU can no longer be created (use its current equivalent "
                                f"{CURRENT_EQUIVALENT[sku]}); supported gateway sizes are "
                                + ",".join(CREATABLE_VPN_SKUS), ", ".join(CREATABLE_VPN_SKUS), "InvalidGatewaySize")]


def supports_custom_policy(sku: str, vpn_type: str) -> bool:
    """Custom IPsec/IKE policies work on every VPN SKU except Basic, and never on PolicyBased gateways (A4, A6)."""
    return sku != "Basic" and vpn_type != "PolicyBased"


def custom_policy_refusal(sku: str, vpn_type: str) -> str | None:
    if sku == "Basic":
        return "the Basic gateway SKU does not support custom IPsec/IKE policies (use VpnGw1AZ or higher)"
    if vpn_type == "PolicyBased":
        return "PolicyBased gateways do not support custom IPsec/IKE policies (use a RouteBased gateway)"
    return None


def check_gateway(*, sku: Any, vpn_type: Any = "RouteBased", generation: Any = None,
                  gateway_type: Any = "Vpn") -> list[Problem]:
    problems = check_choice("gateway_type", gateway_type, ("Vpn",))
    problems += check_choice("sku", sku, VPN_SKUS)
    problems += check_choice("vpn_type", vpn_type, VPN_TYPES)
    if generation is not None:
        problems += check_choice("generation", generation, GENERATIONS)
    if problems:
        return problems
    if vpn_type == "PolicyBased" and sku != "Basic":
        problems.append(Problem("vpn_type", vpn_type, f"PolicyBased gateways exist only with the Basic SKU, not {sku}",
                                "RouteBased for VpnGw* SKUs", "InvalidGatewaySize"))
    if generation == "Generation2" and sku not in GENERATION2_SKUS:
        problems.append(Problem("generation", generation, f"SKU {sku} is not offered in Generation2",
                                "Generation1 (or pick VpnGw2..VpnGw5 / VpnGw2AZ..VpnGw5AZ for Generation2)",
                                "InvalidGatewaySize"))
    if generation == "Generation1" and sku not in GENERATION1_SKUS:
        problems.append(Problem("generation", generation, f"SKU {sku} is not offered in Generation1",
                                "Generation2 (VpnGw4/VpnGw5 and their AZ forms are Generation2 only)",
                                "InvalidGatewaySize"))
    return problems


def check_connection_protocol(protocol: Any, *, sku: str, vpn_type: str = "RouteBased") -> list[Problem]:
    """The IKE version a gateway speaks (rules reference §4 "IKE version by SKU", A7/A7b, and §6's default proposals,
    A8): a PolicyBased gateway (Basic SKU only) speaks IKEv1 only; a RouteBased Basic/Standard/HighPerformance
    gateway IKEv2 only; RouteBased VpnGw1-5 / VpnGw1AZ-5AZ both. ``allowed`` only ever names a value this gateway
    accepts."""
    problems = check_choice("connection_protocol", protocol, CONNECTION_PROTOCOLS)
    if problems:
        return problems
    if vpn_type == "PolicyBased":
        if protocol != "IKEv1":
            problems.append(Problem("connection_protocol", protocol, f"a PolicyBased gateway ({sku}) speaks IKEv1 only",
                                    "IKEv1 (or a RouteBased gateway for IKEv2)", "IkeV2NotSupportedOnPolicyBased"))
    elif protocol == "IKEv1" and sku not in IKEV1_SKUS:
        problems.append(Problem("connection_protocol", protocol, f"IKEv1 is not supported on a RouteBased {sku} gateway",
                                "IKEv2 (or a VpnGw1..5 / VpnGw1AZ..5AZ gateway for IKEv1)", "IkeV1NotSupported"))
    return problems


# --------------------------------------------------------------------------------------------
# Address rules
# --------------------------------------------------------------------------------------------
GATEWAY_SUBNET_NAME = "GatewaySubnet"
GATEWAY_SUBNET_MAX_PREFIXLEN = 29  # "as small as /29" (A7); /27 recommended
GATEWAY_SUBNET_RECOMMENDED_PREFIXLEN = 27


def parse_prefix(label: str, value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network | None, list[Problem]]:
    allowed = "a CIDR prefix such as 10.1.0.0/16 (host bits zero)"
    if not isinstance(value, str):
        return None, [Problem(label, value, f"{value!r} is not a string", allowed, "InvalidAddressPrefix")]
    try:
        return ipaddress.ip_network(value, strict=True), []
    except ValueError as exc:
        return None, [Problem(label, value, f"{value!r} is not a valid prefix ({exc})", allowed, "InvalidAddressPrefix")]


def check_prefixes(label: str, values: Any) -> list[Problem]:
    if not isinstance(values, list | tuple) or not values:
        return [Problem(label, values, "must be a non-empty list of CIDR prefixes", "e.g. [10.1.0.0/16]",
                        "InvalidAddressPrefix")]
    problems: list[Problem] = []
    for i, v in enumerate(values):
        problems += parse_prefix(f"{label}[{i}]", v)[1]
    return problems


def check_gateway_ip_address(label: str, value: Any) -> list[Problem]:
    """What Azure itself accepts as a local network gateway's ``gatewayIpAddress``: an IPv4 unicast address, private
    ones included — Azure PowerShell's recorded session TestVirtualNetworkGatewayConnectionwithIpsecPoliciesCRUD
    (tests/emulator/recordings/ps_ipsec_policies_crud.json) created one with 192.168.3.10. The runbook's own
    pre-checks stay stricter (:func:`check_public_ip`): a private address there is almost always a typo."""
    allowed = "an IPv4 address such as 131.107.72.22"
    try:
        ip = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None or ip.version != 4:
        return [Problem(label, value, f"{value!r} is not an IPv4 address", allowed, "InvalidIPAddress")]
    if ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_link_local:
        return [Problem(label, value, f"{value} cannot be a VPN peer address", allowed, "InvalidIPAddress")]
    return []


def check_public_ip(label: str, value: Any) -> list[Problem]:
    allowed = "a public IPv4 address such as 131.107.72.22"
    try:
        ip = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None:
        return [Problem(label, value, f"{value!r} is not an IP address", allowed, "InvalidIPAddress")]
    if ip.version != 4 or ip.is_private or ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return [Problem(label, value, f"{value} is not a public IPv4 address", allowed, "InvalidIPAddress")]
    return []


@dataclass
class SubnetSpec:
    name: str
    prefix: str


@dataclass
class VnetLayout:
    address_space: list[str]
    subnets: list[SubnetSpec] = field(default_factory=list)


def check_vnet_layout(address_space: Sequence[str], subnets: Sequence[tuple[str, str]], *,
                      gateway_subnet_role: str | None = None, label: str = "") -> list[Problem]:
    """Subnets inside the address space, not overlapping; the gateway subnet named GatewaySubnet, /29 or larger.

    ``gateway_subnet_role`` names a subnet the caller intends as the gateway subnet (so a misnamed
    one is refused). ``subnets`` is a list of (name, prefix).
    """
    problems = check_prefixes(f"{label}address_space", list(address_space))
    if problems:
        return problems
    spaces = [ipaddress.ip_network(p) for p in address_space]
    for i, a in enumerate(spaces):
        for b in spaces[i + 1:]:
            if a.overlaps(b):
                problems.append(Problem(f"{label}address_space", f"{a}, {b}", "address space prefixes overlap",
                                        "non-overlapping prefixes", "NetcfgInvalidAddressSpace"))
    parsed: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for name, prefix in subnets:
        net, probs = parse_prefix(f"{label}subnets[{name}].address_prefix", prefix)
        problems += probs
        if net is None:
            continue
        if not any(net.version == s.version and net.subnet_of(s) for s in spaces):  # type: ignore[arg-type]
            problems.append(Problem(f"{label}subnets[{name}].address_prefix", prefix,
                                    "is not inside the virtual network's address space",
                                    "a prefix within " + ", ".join(address_space), "NetcfgSubnetRangeOutsideVnet"))
        for other_name, other in parsed:
            if net.overlaps(other):
                problems.append(Problem(f"{label}subnets[{name}].address_prefix", prefix,
                                        f"overlaps subnet {other_name} ({other})", "a prefix that overlaps no other subnet",
                                        "NetcfgOverlappingSubnets"))
        parsed.append((name, net))
        if name == GATEWAY_SUBNET_NAME and net.prefixlen > GATEWAY_SUBNET_MAX_PREFIXLEN:
            problems.append(Problem(f"{label}subnets[{name}].address_prefix", prefix,
                                    f"/{net.prefixlen} is too small for a gateway subnet",
                                    f"/{GATEWAY_SUBNET_MAX_PREFIXLEN} or larger (/{GATEWAY_SUBNET_RECOMMENDED_PREFIXLEN} recommended)",
                                    "GatewaySubnetTooSmall"))
    if gateway_subnet_role is not None and gateway_subnet_role != GATEWAY_SUBNET_NAME:
        problems.append(Problem(f"{label}gateway_subnet", gateway_subnet_role,
                                f"the gateway subnet must be named exactly {GATEWAY_SUBNET_NAME!r}",
                                GATEWAY_SUBNET_NAME, "InvalidGatewaySubnetName"))
    return problems


def overlapping(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of overlapping prefixes between two lists (VNet-to-VNet and S2S must not overlap)."""
    out = []
    for x in a:
        nx = ipaddress.ip_network(x, strict=False)
        for y in b:
            ny = ipaddress.ip_network(y, strict=False)
            if nx.version == ny.version and nx.overlaps(ny):
                out.append((x, y))
    return out


# --------------------------------------------------------------------------------------------
# Connection shape rules (added for the emulator's server-side validation; used by pre-checks too)
# --------------------------------------------------------------------------------------------
def check_connection_peer(connection_type: Any, *, has_gateway2: bool, has_local_gateway2: bool) -> list[Problem]:
    """Vnet2Vnet needs ``virtualNetworkGateway2``; IPsec (site-to-site) needs ``localNetworkGateway2``."""
    problems = check_choice("connection_type", connection_type, CONNECTION_TYPES)
    if problems:
        return problems
    if connection_type == "Vnet2Vnet" and not has_gateway2:
        problems.append(Problem("virtual_network_gateway2", None, "is required for a Vnet2Vnet connection",
                                "the id of the peer virtual network gateway", "Vnet2VnetConnectionRequiresGateway2"))
    if connection_type == "IPsec" and not has_local_gateway2:
        problems.append(Problem("local_network_gateway2", None, "is required for an IPsec (site-to-site) connection",
                                "the id of the local network gateway", "IPsecConnectionRequiresLocalNetworkGateway"))
    return problems


def check_custom_policy_allowed(policies: Sequence[Any], *, sku: str, vpn_type: str,
                                label: str = "ipsec_policies") -> list[Problem]:
    """A custom policy is refused on the Basic SKU and on PolicyBased gateways (A4, A6)."""
    refusal = custom_policy_refusal(sku, vpn_type) if policies else None
    if refusal is None:
        return []
    return [Problem(label, f"{len(policies)} custom policy", refusal,
                    "no custom policy (Azure's defaults), or a RouteBased VpnGw1+ gateway", "CustomIpsecPolicyNotSupported")]


IMMUTABLE_GATEWAY_FIELDS: tuple[str, ...] = ("gateway_type", "vpn_type", "generation")
IMMUTABLE_CONNECTION_FIELDS: tuple[str, ...] = ("connection_type", "connection_protocol",
                                                "virtual_network_gateway1", "virtual_network_gateway2",
                                                "local_network_gateway2")


def check_immutable(label: str, current: Any, desired: Any) -> list[Problem]:
    """A field Azure fixes at creation: an update must keep its value (ids compare case-insensitively)."""
    same = (current.lower() == desired.lower()) if isinstance(current, str) and isinstance(desired, str) \
        else current == desired
    if same:
        return []
    return [Problem(label, desired, f"cannot change after creation (it is {current!r})",
                    f"{current!r} (delete and re-create the resource to change it)", "PropertyChangeNotAllowed")]


# --------------------------------------------------------------------------------------------
# Resource group names (Azure Resource Manager naming rules, Microsoft.Resources/resourcegroups)
# --------------------------------------------------------------------------------------------
RESOURCE_GROUP_NAME_MAX = 90
RESOURCE_GROUP_NAME_ALLOWED = ("1-90 characters: letters, digits, underscores, parentheses, hyphens and periods, "
                               "not ending in a period")


def resource_group_name_ok(name: Any) -> bool:
    """Azure's rule for a resource group name: 1-90 characters, each a letter or digit (Unicode, as .NET's
    ``Char.IsLetterOrDigit``), ``_``, ``(``, ``)``, ``-`` or ``.``; the last one not a period (so ``.`` and
    ``..`` are refused). The emulator and the runbook's parameter check both use it."""
    if not isinstance(name, str) or not 1 <= len(name) <= RESOURCE_GROUP_NAME_MAX or name.endswith("."):
        return False
    return all(map(resource_group_char_ok, name))


def resource_group_char_ok(c: str) -> bool:
    """One character of a resource group name: a letter or digit (Unicode), ``_``, ``(``, ``)``, ``-`` or ``.``."""
    return c in "_()-." or unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lm", "Lo", "Nd")


def check_resource_group_name(label: str, value: Any) -> list[Problem]:
    """A problem naming ``label`` when ``value`` is not a valid resource group name."""
    if resource_group_name_ok(value):
        return []
    shown = value if isinstance(value, str) and len(value) <= 100 else (f"{value[:100]}…" if isinstance(value, str)
                                                                        else value)
    return [Problem(label, shown, f"{shown!r} is not a valid resource group name", RESOURCE_GROUP_NAME_ALLOWED,
                    "InvalidResourceGroupName")]
