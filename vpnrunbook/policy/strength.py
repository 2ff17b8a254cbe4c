"""Strength of each algorithm (deprecated / weak / acceptable / strong) with its reason and source, and lint().

Validation answers "will Azure accept it?"; lint answers "should you use it?". Findings are data, so
the notebook, the CLI, the widget and the fleet audit all show the same words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from vpnrunbook.policy import rules

if TYPE_CHECKING:
    from vpnrunbook.policy.model import IpsecIkePolicy


class Strength(IntEnum):
    DEPRECATED = 0
    WEAK = 1
    ACCEPTABLE = 2
    STRONG = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Rating:
    strength: Strength
    reason: str
    source: str


_D, _W, _A, _S = Strength.DEPRECATED, Strength.WEAK, Strength.ACCEPTABLE, Strength.STRONG
_NIST = "NIST SP 800-131A r2; RFC 8221/8247"

RATINGS: dict[str, dict[str, Rating]] = {
    "ike_encryption": {
        "DES": Rating(_D, "56-bit key, brute-forceable; dropped from Azure's documented IKE list in 2024", "A1 vs A1o; RFC 8247"),
        "DES3": Rating(_D, "64-bit block (Sweet32), disallowed by NIST after 2023; dropped from Azure's IKE list", "A1 vs A1o; " + _NIST),
        "AES128": Rating(_A, "AES-CBC with a 128-bit key", "RFC 8247"),
        "AES192": Rating(_S, "AES-CBC with a 192-bit key", "RFC 8247"),
        "AES256": Rating(_S, "AES-CBC with a 256-bit key", "RFC 8247; A9"),
        "GCMAES128": Rating(_S, "AEAD (AES-GCM, 128-bit key)", "RFC 8247"),
        "GCMAES256": Rating(_S, "AEAD (AES-GCM, 256-bit key)", "RFC 8247"),
    },
    "ike_integrity": {
        "MD5": Rating(_D, "MD5 is broken (collisions); RFC 8247 MUST NOT for IKEv2 integrity", "RFC 8247"),
        "SHA1": Rating(_W, "SHA-1 collisions are practical; RFC 8247 demotes HMAC-SHA1", "RFC 8247; " + _NIST),
        "SHA256": Rating(_S, "HMAC-SHA2-256", "RFC 8247; A9"),
        "SHA384": Rating(_S, "HMAC-SHA2-384", "RFC 8247"),
    },
    "dh_group": {
        "None": Rating(_D, "no key exchange: IKEv2 peers such as strongSwan refuse an IKE proposal without a DH group", "SW2; A1"),
        "DHGroup1": Rating(_D, "768-bit MODP (group 1) is broken", "RFC 8247 MUST NOT"),
        "DHGroup2": Rating(_W, "1024-bit MODP (group 2) is below today's minimum; Azure's own strongSwan sample calls it insecure", "RFC 8247; A10; V1"),
        "DHGroup14": Rating(_A, "2048-bit MODP (group 14)", "RFC 8247 MUST"),
        "DHGroup2048": Rating(_A, "2048-bit MODP (group 14, alias)", "RFC 8247 MUST"),
        "ECP256": Rating(_S, "256-bit ECP (group 19)", "RFC 8247 SHOULD"),
        "ECP384": Rating(_S, "384-bit ECP (group 20)", "RFC 8247"),
        "DHGroup24": Rating(_W, "RFC 5114 group 24 has a questioned origin; RFC 8247 SHOULD NOT, strongSwan leaves it out of defaults", "RFC 8247; SW2"),
    },
    "ipsec_encryption": {
        "None": Rating(_W, "ESP-NULL: integrity only, no confidentiality; only for maximum-throughput cases", "A8; RFC 8221"),
        "DES": Rating(_D, "56-bit key, brute-forceable", "RFC 8221 MUST NOT"),
        "DES3": Rating(_D, "64-bit block (Sweet32); slowest measured on Azure", "RFC 8221 SHOULD NOT; A15"),
        "AES128": Rating(_A, "AES-CBC with a 128-bit key", "RFC 8221"),
        "AES192": Rating(_S, "AES-CBC with a 192-bit key", "RFC 8221"),
        "AES256": Rating(_S, "AES-CBC with a 256-bit key", "RFC 8221"),
        "GCMAES128": Rating(_S, "AEAD (AES-GCM, 128-bit key)", "RFC 8221 MUST"),
        "GCMAES192": Rating(_S, "AEAD (AES-GCM, 192-bit key)", "RFC 8221"),
        "GCMAES256": Rating(_S, "AEAD (AES-GCM, 256-bit key); best measured throughput on Azure", "RFC 8221; A9; A15"),
    },
    "ipsec_integrity": {
        "MD5": Rating(_D, "HMAC-MD5 is deprecated for ESP", "RFC 8221 MUST NOT"),
        "SHA1": Rating(_W, "HMAC-SHA1-96 is legacy; prefer SHA256 or GCM", "RFC 8221"),
        "SHA256": Rating(_S, "HMAC-SHA2-256-128", "RFC 8221 MUST"),
        "GCMAES128": Rating(_S, "integrity from AES-GCM (AEAD)", "RFC 8221"),
        "GCMAES192": Rating(_S, "integrity from AES-GCM (AEAD)", "RFC 8221"),
        "GCMAES256": Rating(_S, "integrity from AES-GCM (AEAD)", "RFC 8221"),
    },
    "pfs_group": {
        "None": Rating(_A, "no perfect forward secrecy for IPsec rekeys (the IKE SA still uses its DH group)", "A5"),
        "PFS1": Rating(_D, "768-bit MODP (group 1) is broken", "RFC 8247 MUST NOT"),
        "PFS2": Rating(_W, "1024-bit MODP (group 2) is below today's minimum", "RFC 8247"),
        "PFS2048": Rating(_A, "2048-bit MODP (group 14)", "RFC 8247"),
        "PFS14": Rating(_A, "2048-bit MODP (group 14)", "RFC 8247"),
        "ECP256": Rating(_S, "256-bit ECP (group 19)", "RFC 8247"),
        "ECP384": Rating(_S, "384-bit ECP (group 20)", "RFC 8247"),
        "PFS24": Rating(_W, "RFC 5114 group 24 has a questioned origin", "RFC 8247 SHOULD NOT; SW2"),
        "PFSMM": Rating(_A, "reuses the IKE group; as strong as the DH group (REST-only value, not in Azure's docs)", "W1; S1"),
    },
}


def rate(field_name: str, value: str) -> Rating | None:
    return RATINGS.get(field_name, {}).get(value)


@dataclass(frozen=True)
class Finding:
    """A lint finding: severity error (Azure refuses it), warning (works, but weak) or info."""

    severity: str
    field: str
    value: Any
    message: str
    strength: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Finding:
        """A finding read back from evidence (``as_dict``'s output; a missing severity counts as a warning)."""
        return cls(str(record.get("severity", "warning")), record.get("field"), record.get("value"),
                   record.get("message"), record.get("strength") or "", record.get("source") or "")

    def __str__(self) -> str:
        tag = f" [{self.strength}]" if self.strength else ""
        return f"{self.severity.upper()} {self.field}={self.value}{tag}: {self.message}"


def lint(policy: IpsecIkePolicy | dict[str, Any]) -> list[Finding]:
    """Every finding for a policy: validation errors first, then weak/deprecated algorithms, then advice."""
    values = policy if isinstance(policy, dict) else policy.as_python_dict()
    findings = [Finding("error", p.field, p.value, f"{p.message}" + (f"; allowed: {p.allowed}" if p.allowed else ""))
                for p in rules.check_policy(values)]
    for spec in rules.FIELDS:
        value = values.get(spec.name)
        if spec.choices is None or not isinstance(value, str):
            continue
        rating = rate(spec.name, value)
        if rating is not None and rating.strength <= Strength.WEAK:
            findings.append(Finding("warning", spec.name, value, rating.reason, rating.strength.label, rating.source))
    seconds = values.get("sa_life_time_seconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool) and rules.SA_LIFETIME_SECONDS.contains(seconds) \
            and seconds > 86_400:
        findings.append(Finding("info", "sa_life_time_seconds", seconds,
                                "over 24 h between IPsec rekeys; Azure's default is 27000 s", "", "A1"))
    if values.get("sa_data_size_kilobytes") == 0:
        findings.append(Finding("info", "sa_data_size_kilobytes", 0,
                                "0 is accepted by Azure but its meaning is undocumented (likely no volume-based rekey)",
                                "", "P1; I6"))
    if values.get("ike_encryption", "").startswith("GCM") if isinstance(values.get("ike_encryption"), str) else False:
        findings.append(Finding("info", "ike_integrity", values.get("ike_integrity"),
                                "with GCM IKE encryption the IKE integrity value acts as the PRF: the device must use the same PRF",
                                "", "A14; I13"))
    return findings


def overall_strength(policy: IpsecIkePolicy | dict[str, Any]) -> Strength:
    """The weakest rated algorithm of the policy."""
    values = policy if isinstance(policy, dict) else policy.as_python_dict()
    ratings = [rate(s.name, values.get(s.name)) for s in rules.FIELDS if s.choices is not None]
    known = [r.strength for r in ratings if r is not None]
    return min(known) if known else Strength.DEPRECATED


def default_proposal_findings() -> list[Finding]:
    """What lint says about Azure's default proposals (the ones a connection without a custom policy uses)."""
    from vpnrunbook.policy import presets as _presets

    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    candidates = [("dh_group", _presets.DEFAULT_IKE_DH_GROUP)]
    for enc, integ in _presets.DEFAULT_IKE_OFFERS:
        candidates += [("ike_encryption", enc), ("ike_integrity", integ)]
    for enc, integ, _pfs in _presets.DEFAULT_IPSEC_INITIATOR_OFFERS:
        candidates += [("ipsec_encryption", enc), ("ipsec_integrity", integ)]
    for name, value in candidates:
        rating = rate(name, value)
        if rating is None or rating.strength > Strength.WEAK or (name, value) in seen:
            continue
        seen.add((name, value))
        found.append(Finding("warning", name, value, f"offered by Azure's default proposals: {rating.reason}",
                             rating.strength.label, rating.source))
    return found


# ---- weakening: a change that lowers the strength of a field ------------------------------------------------
DEFAULTS_TEXT = "Azure's default proposals"
WEAKER = "WEAKER than now"  # how a weakening finding's message starts (the Apply controls ask for confirmation)


def default_accepted_weakest() -> dict[str, str]:
    """Per policy field, the weakest value Azure accepts without a custom policy (its default proposals: the IKE
    offers with DH group 2, and the 26 Quick Mode offers it accepts as responder — rules reference §6, A8)."""
    from vpnrunbook.policy import presets as _presets

    values: dict[str, list[str]] = {
        "ike_encryption": [e for e, _ in _presets.DEFAULT_IKE_OFFERS],
        "ike_integrity": [i for _, i in _presets.DEFAULT_IKE_OFFERS],
        "dh_group": [_presets.DEFAULT_IKE_DH_GROUP],
        "ipsec_encryption": [e for e, _, _ in _presets.DEFAULT_IPSEC_RESPONDER_OFFERS],
        "ipsec_integrity": [i for _, i, _ in _presets.DEFAULT_IPSEC_RESPONDER_OFFERS],
        "pfs_group": [p for _, _, p in _presets.DEFAULT_IPSEC_RESPONDER_OFFERS],
    }
    out: dict[str, str] = {}
    for name, options in values.items():
        rated = [(rate(name, v), v) for v in options]
        known = [(r.strength, v) for r, v in rated if r is not None]
        if known:
            out[name] = min(known, key=lambda item: item[0])[1]
    return out


def weakening(current: IpsecIkePolicy | dict[str, Any] | None,
              desired: IpsecIkePolicy | dict[str, Any] | None) -> list[Finding]:
    """A warning per field whose strength drops from ``current`` to ``desired`` (None: Azure's default proposals,
    judged by the weakest offer Azure would then accept). Empty when nothing gets weaker."""
    def values(policy: IpsecIkePolicy | dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        if policy is None:
            return default_accepted_weakest(), True
        return (policy if isinstance(policy, dict) else policy.as_python_dict()), False

    now, now_default = values(current)
    then, then_default = values(desired)
    found: list[Finding] = []
    for spec in rules.FIELDS:
        a, b = now.get(spec.name), then.get(spec.name)
        ra = rate(spec.name, a) if isinstance(a, str) else None
        rb = rate(spec.name, b) if isinstance(b, str) else None
        if ra is None or rb is None or rb.strength >= ra.strength:
            continue
        was = f"{a} ({ra.strength.label})" + (f", the weakest of {DEFAULTS_TEXT}" if now_default else "")
        becomes = (f"{DEFAULTS_TEXT}, which accept {b} ({rb.strength.label})" if then_default
                   else f"{b} ({rb.strength.label})")
        found.append(Finding("warning", spec.name, b, f"{WEAKER}: {was} → {becomes} — {rb.reason}",
                             rb.strength.label, rb.source))
    return found
