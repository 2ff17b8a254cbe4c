"""Predict an IKEv2 negotiation between Azure and an on-premises device, the way strongSwan decides it.

The model is strongSwan 5.9's proposal selection (``proposal.c`` ``select_algos``): the responder
walks its own configured proposals in order and takes the first one for which every transform type
(encryption, integrity, PRF, DH group, ESN) has an algorithm in common with one of the received
proposals, preferring its own order of algorithms. An AEAD cipher makes integrity irrelevant.
Three exchanges are predicted:

* IKE_SA_INIT — IKE proposals; no match → ``NO_PROPOSAL_CHOSEN`` and nothing is built. If the
  initiator guessed another DH group for its KE payload, one INVALID_KE_PAYLOAD round trip fixes it.
* IKE_AUTH — the first CHILD_SA; ESP proposals are compared **without** their DH groups (no key
  exchange happens here), so a PFS mismatch is invisible. No match → the IKE_SA stays up, the
  CHILD_SA is refused with ``NO_PROPOSAL_CHOSEN``.
* CREATE_CHILD_SA (rekey) — ESP proposals **with** their DH groups: PFS on one side only, or
  different PFS groups, fail here (``no acceptable KEY_EXCHANGE_METHOD``), hours after bring-up.
  Either side can start a rekey; both directions are predicted.

The lab (:mod:`vpnrunbook.device.lab`) checks every prediction against real strongSwan daemons.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vpnrunbook.device.proposals import (
    ENCR,
    INTEG,
    KE,
    TYPE_LABELS,
    TYPE_ORDER,
    Algorithm,
    Proposal,
    ProposalError,
    parse_proposals,
    strongswan_proposals,
)
from vpnrunbook.policy.model import IpsecIkePolicy

Side = Literal["device", "azure"]
SIDE_NAMES: dict[str, str] = {"device": "the device", "azure": "Azure"}
NO_PROPOSAL_CHOSEN = "NO_PROPOSAL_CHOSEN"

# Outcome codes of a whole check, best first.
COMPATIBLE = "compatible"
FAILS_AT_REKEY = "fails_at_rekey"
CHILD_SA_REFUSED = "child_sa_refused"
IKE_SA_REFUSED = "ike_sa_refused"
OUTCOME_TEXT = {
    COMPATIBLE: "compatible: the tunnel establishes and rekeys",
    FAILS_AT_REKEY: "establishes, but fails at the first CHILD_SA rekey",
    CHILD_SA_REFUSED: "IKE_SA established, CHILD_SA refused (NO_PROPOSAL_CHOSEN)",
    IKE_SA_REFUSED: "IKE_SA refused (NO_PROPOSAL_CHOSEN)",
}


# --------------------------------------------------------------------------------------------
# Proposal selection (strongSwan's algorithm)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """The result of one proposal selection: the chosen algorithms, or the transform type that failed."""

    algorithms: tuple[Algorithm, ...] | None
    configured: Proposal | None = None
    received: Proposal | None = None
    failed_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.algorithms is not None

    def algorithm(self, type_: str) -> Algorithm | None:
        return next((a for a in self.algorithms or () if a.type == type_), None)

    @property
    def text(self) -> str:
        return format_algorithms(self.algorithms or ())


def format_algorithms(algorithms: Iterable[Algorithm]) -> str:
    """``AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_2048_256`` — as ``swanctl --list-sas`` prints it."""
    return "/".join(a.text for t in TYPE_ORDER if t != "esn" for a in algorithms if a.type == t)


def _select_type(mine: Sequence[Algorithm], other: Sequence[Algorithm], type_: str) -> tuple[bool, Algorithm | None]:
    if not mine or not other:
        # One side has no transform of this type: only an explicit NONE key exchange on the other side accepts it.
        present = mine or other
        if not present:
            return True, None
        return (type_ == KE and any(a.name == "NONE" for a in present)), None
    for a in mine:
        if any(a.same(b) for b in other):
            return True, (None if a.name == "NONE" else a)
    return False, None


def select_algorithms(configured: Proposal, received: Proposal, *, skip_ke: bool = False) -> Selection:
    """Match one configured proposal against one received proposal; the configured order is preferred."""
    if configured.protocol != received.protocol:
        return Selection(None, configured, received, "protocol")
    chosen: list[Algorithm] = []
    skip_integrity = False
    for type_ in TYPE_ORDER:
        if (type_ == INTEG and skip_integrity) or (type_ == KE and skip_ke):
            continue
        ok, alg = _select_type(configured.algorithms(type_), received.algorithms(type_), type_)
        if not ok:
            return Selection(None, configured, received, type_)
        if alg is not None:
            chosen.append(alg)
            if type_ == ENCR and alg.aead:
                skip_integrity = True
    return Selection(tuple(chosen), configured, received)


def select_proposal(configured: Sequence[Proposal], received: Sequence[Proposal], *, skip_ke: bool = False) -> Selection:
    """The responder's choice: its first configured proposal that matches any received one.

    Without a match, the returned selection carries the pair that came closest (the latest failing
    transform type in selection order), which is what the plain-language reason talks about.
    """
    closest: Selection | None = None
    for c in configured:
        for r in received:
            sel = select_algorithms(c, r, skip_ke=skip_ke)
            if sel.ok:
                return sel
            if closest is None or _rank(sel.failed_type) > _rank(closest.failed_type):
                closest = sel
    return closest or Selection(None, None, None, "proposal")


def _rank(type_: str | None) -> int:
    return TYPE_ORDER.index(type_) if type_ in TYPE_ORDER else -1


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseOutcome:
    """One exchange: established or refused, the negotiated algorithms, and why."""

    phase: str
    established: bool
    algorithms: str | None
    reason: str
    notify: str | None = None
    reached: bool = True

    @property
    def status(self) -> str:
        if not self.reached:
            return "not reached"
        return "established" if self.established else f"refused ({self.notify})" if self.notify else "refused"


@dataclass(frozen=True)
class CompatibilityResult:
    """The predicted negotiation. ``outcome`` is one of ``compatible``, ``fails_at_rekey``,
    ``child_sa_refused``, ``ike_sa_refused``; ``reason`` says why in plain language."""

    initiator: Side
    azure_policy: IpsecIkePolicy | None
    azure_ike: tuple[str, ...]
    azure_esp: tuple[str, ...]
    device_ike: tuple[str, ...]
    device_esp: tuple[str, ...]
    ike: PhaseOutcome
    child: PhaseOutcome
    rekey: dict[str, PhaseOutcome] = field(default_factory=dict)   # "device" / "azure" → rekey started by that side
    outcome: str = COMPATIBLE
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == COMPATIBLE

    @property
    def ike_established(self) -> bool:
        return self.ike.established

    @property
    def child_established(self) -> bool:
        return self.child.established

    @property
    def pfs_mismatch(self) -> bool:
        return self.outcome == FAILS_AT_REKEY

    @property
    def phases(self) -> list[PhaseOutcome]:
        return [self.ike, self.child, *self.rekey.values()]

    @property
    def verdict(self) -> str:
        return OUTCOME_TEXT[self.outcome]

    @property
    def text(self) -> str:
        azure = self.azure_policy.summary() if self.azure_policy else "Azure default proposals (no custom policy)"
        lines = [f"Verdict: {self.verdict}", f"Azure side: {azure}",
                 f"Azure proposals: IKE {', '.join(self.azure_ike)} | ESP {', '.join(self.azure_esp)}",
                 f"Device proposals: IKE {', '.join(self.device_ike)} | ESP {', '.join(self.device_esp)}",
                 f"Initiator: {SIDE_NAMES[self.initiator]}"]
        for p in self.phases:
            algs = f" {p.algorithms}" if p.algorithms else ""
            lines.append(f"  {p.phase}: {p.status}{algs}")
        lines.append(f"Why: {self.reason}")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text

    def to_frame(self) -> Any:
        """One row per exchange: status, negotiated algorithms, reason (a pandas DataFrame)."""
        import pandas as pd

        rows = {p.phase: {"status": p.status, "algorithms": p.algorithms or "", "reason": p.reason} for p in self.phases}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_record(self) -> dict[str, Any]:
        """JSON-safe summary for evidence."""
        return {
            "outcome": self.outcome, "verdict": self.verdict, "reason": self.reason, "initiator": self.initiator,
            "azure_policy": self.azure_policy.as_wire_dict() if self.azure_policy else None,
            "azure_proposals": {"ike": list(self.azure_ike), "esp": list(self.azure_esp)},
            "device_proposals": {"ike": list(self.device_ike), "esp": list(self.device_esp)},
            "phases": [{"phase": p.phase, "status": p.status, "established": p.established,
                        "algorithms": p.algorithms, "notify": p.notify, "reason": p.reason} for p in self.phases],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------
def _texts(proposals: Sequence[Proposal]) -> str:
    return ", ".join(p.text for p in proposals)


def _algs_of(proposals: Sequence[Proposal], type_: str) -> str:
    names = dict.fromkeys(a.text for p in proposals for a in p.algorithms(type_))
    return ", ".join(names) or "none"


def _mismatch_reason(sel: Selection, *, exchange: str, responder: Side, configured: Sequence[Proposal],
                     received: Sequence[Proposal]) -> str:
    initiator: Side = "azure" if responder == "device" else "device"
    t = sel.failed_type or "proposal"
    label = TYPE_LABELS.get(t, t)
    if t == KE and exchange == "CREATE_CHILD_SA":
        mine, theirs = _algs_of(configured, KE), _algs_of(received, KE)
        return (f"PFS mismatch: {SIDE_NAMES[responder]} requires PFS group {mine} on rekey, "
                f"{SIDE_NAMES[initiator]} offers {theirs} (no common key exchange; "
                "strongSwan logs 'no acceptable KEY_EXCHANGE_METHOD found')"
                if mine != "none" else
                f"PFS mismatch: {SIDE_NAMES[initiator]} proposes PFS group {theirs} on rekey, "
                f"{SIDE_NAMES[responder]} is configured without PFS")
    return (f"no common {label}: {SIDE_NAMES[responder]} accepts {_algs_of(configured, t)} "
            f"({_texts(configured)}); {SIDE_NAMES[initiator]} offers {_algs_of(received, t)} ({_texts(received)})")


def _side_lists(policy: IpsecIkePolicy | None) -> dict[str, Any]:
    return {"initiator": strongswan_proposals(policy, role="initiator"),
            "responder": strongswan_proposals(policy, role="responder")}


def check_compatibility(azure_policy: IpsecIkePolicy | None, device_ike: str | Sequence[str],
                        device_esp: str | Sequence[str], *, initiator: Side = "device") -> CompatibilityResult:
    """Predict IKE_SA, CHILD_SA and rekey outcomes between Azure and a device.

    ``azure_policy`` None means Azure's default proposals. ``device_ike``/``device_esp`` are strongSwan
    proposals (a list, or one comma-separated string). ``initiator`` is who starts the IKE_SA.
    Raises :class:`ProposalError` for a proposal strongSwan would refuse to load.
    """
    if initiator not in ("device", "azure"):
        raise ValueError(f"initiator: {initiator!r} is not allowed; allowed: 'device' or 'azure'")
    dev_ike = parse_proposals(device_ike, "IKE", field_name="device_ike")
    dev_esp = parse_proposals(device_esp, "ESP", field_name="device_esp")
    lists = _side_lists(azure_policy)
    azure_role = "responder" if initiator == "device" else "initiator"
    az_ike = parse_proposals(lists[azure_role].ike, "IKE", field_name="azure_ike")
    az_esp = {role: parse_proposals(lists[role].esp, "ESP", field_name="azure_esp") for role in lists}
    responder: Side = "azure" if initiator == "device" else "device"
    props = {"device": (dev_ike, dev_esp), "azure": (az_ike, az_esp[azure_role])}
    base = dict(initiator=initiator, azure_policy=azure_policy,
                azure_ike=tuple(lists[azure_role].ike), azure_esp=tuple(lists[azure_role].esp),
                device_ike=tuple(p.text for p in dev_ike), device_esp=tuple(p.text for p in dev_esp))
    notes: list[str] = []

    # IKE_SA_INIT
    ike_sel = select_proposal(props[responder][0], props[initiator][0])
    if not ike_sel.ok:
        why = _mismatch_reason(ike_sel, exchange="IKE_SA_INIT", responder=responder,
                               configured=props[responder][0], received=props[initiator][0])
        ike = PhaseOutcome("IKE_SA", False, None, why, NO_PROPOSAL_CHOSEN)
        child = PhaseOutcome("CHILD_SA", False, None, "no IKE_SA", reached=False)
        return CompatibilityResult(**base, ike=ike, child=child, outcome=IKE_SA_REFUSED,
                                   reason=f"IKE_SA_INIT fails with NO_PROPOSAL_CHOSEN — {why}. Nothing is built.")
    first_ke = props[initiator][0][0].algorithms(KE)[0]
    chosen_ke = ike_sel.algorithm(KE)
    if chosen_ke is not None and not chosen_ke.same(first_ke):
        notes.append(f"{SIDE_NAMES[initiator]} sends its KE for {first_ke.name} first; {SIDE_NAMES[responder]} "
                     f"answers INVALID_KE_PAYLOAD asking for {chosen_ke.name} (one extra round trip)")
    ike = PhaseOutcome("IKE_SA", True, ike_sel.text, f"{SIDE_NAMES[responder]} selected {ike_sel.configured.text}")

    # IKE_AUTH: the first CHILD_SA, no key exchange
    child_sel = select_proposal(props[responder][1], props[initiator][1], skip_ke=True)
    if not child_sel.ok:
        why = _mismatch_reason(child_sel, exchange="IKE_AUTH", responder=responder,
                               configured=props[responder][1], received=props[initiator][1])
        child = PhaseOutcome("CHILD_SA", False, None, why, NO_PROPOSAL_CHOSEN)
        return CompatibilityResult(**base, ike=ike, child=child, outcome=CHILD_SA_REFUSED, notes=tuple(notes),
                                   reason=f"the IKE_SA is established ({ike_sel.text}) but IKE_AUTH refuses the "
                                          f"CHILD_SA with NO_PROPOSAL_CHOSEN — {why}. No traffic flows.")
    child = PhaseOutcome("CHILD_SA", True, "ESP:" + child_sel.text,
                         f"{SIDE_NAMES[responder]} selected {child_sel.configured.text} (no PFS group in IKE_AUTH)")

    # CREATE_CHILD_SA rekeys, started by either side
    rekey: dict[str, PhaseOutcome] = {}
    esp_as = {"device": {"initiator": dev_esp, "responder": dev_esp},
              "azure": {"initiator": az_esp["initiator"], "responder": az_esp["responder"]}}
    for starter in ("device", "azure"):
        other: Side = "azure" if starter == "device" else "device"
        sel = select_proposal(esp_as[other]["responder"], esp_as[starter]["initiator"])
        phase = f"CHILD_SA rekey by {'Azure' if starter == 'azure' else 'device'}"
        if sel.ok:
            pfs = sel.algorithm(KE)
            rekey[starter] = PhaseOutcome(phase, True, "ESP:" + sel.text,
                                          f"PFS {pfs.name}" if pfs else "no PFS on either side")
        else:
            why = _mismatch_reason(sel, exchange="CREATE_CHILD_SA", responder=other,
                                   configured=esp_as[other]["responder"], received=esp_as[starter]["initiator"])
            rekey[starter] = PhaseOutcome(phase, False, None, why, NO_PROPOSAL_CHOSEN)
    failed = [r for r in rekey.values() if not r.established]
    if failed:
        reason = (f"the tunnel comes up (IKE {ike_sel.text}, ESP {child_sel.text}) because IKE_AUTH exchanges no "
                  f"PFS group, but {' and '.join(f'the {r.phase}' for r in failed)} {'fail' if len(failed) > 1 else 'fails'} with "
                  f"NO_PROPOSAL_CHOSEN — {failed[0].reason}. The first CHILD_SA stays until its lifetime ends, then traffic stops.")
        return CompatibilityResult(**base, ike=ike, child=child, rekey=rekey, outcome=FAILS_AT_REKEY,
                                   reason=reason, notes=tuple(notes))
    pfs_text = rekey["device"].reason if rekey["device"].reason.startswith("PFS") else "no PFS"
    return CompatibilityResult(**base, ike=ike, child=child, rekey=rekey, outcome=COMPATIBLE, notes=tuple(notes),
                               reason=f"both sides agree: IKE {ike_sel.text}, ESP {child_sel.text}; rekeys from "
                                      f"either side succeed ({pfs_text}).")


# --------------------------------------------------------------------------------------------
# The emulator's hook (docs/contracts.md)
# --------------------------------------------------------------------------------------------
def predict_connection_status(policy: IpsecIkePolicy | None, ike: str | Sequence[str],
                              esp: str | Sequence[str]) -> tuple[str, str]:
    """``("Connected" | "NotConnected", reason)`` for an S2S connection to an emulated device.

    Azure's connection mode is Default, so either side may bring the tunnel up: it is Connected when
    a CHILD_SA gets established with the device or Azure as initiator. A PFS mismatch still reports
    Connected (that is what Azure shows until the first rekey) with a warning in the reason.
    Never raises for bad device proposals: they make the connection NotConnected with the reason.
    """
    try:
        results = [check_compatibility(policy, ike, esp, initiator=side) for side in ("device", "azure")]
    except ProposalError as exc:
        return "NotConnected", f"the device's proposals cannot be loaded: {exc}"
    up = [r for r in results if r.child_established]
    if not up:
        return "NotConnected", results[0].reason
    best = next((r for r in up if r.ok), up[0])
    if best.ok:
        return "Connected", best.reason
    return "Connected", f"WARNING — connected now, but {best.reason}"


# --------------------------------------------------------------------------------------------
# Helpers for plans and runbooks: the emulated device on a local network gateway, and policy updates
# --------------------------------------------------------------------------------------------
DEVICE_IKE_TAG = "vpnrunbook-device-ike"
DEVICE_ESP_TAG = "vpnrunbook-device-esp"
_RANK = {COMPATIBLE: 3, FAILS_AT_REKEY: 2, CHILD_SA_REFUSED: 1, IKE_SA_REFUSED: 0}


def check_device_tags(policy: IpsecIkePolicy | None, tags: dict[str, str] | None) -> CompatibilityResult | None:
    """The check for the device a local network gateway's tags describe; None when it carries no device."""
    tags = tags or {}
    if DEVICE_IKE_TAG not in tags and DEVICE_ESP_TAG not in tags:
        return None
    return check_compatibility(policy, tags.get(DEVICE_IKE_TAG, ""), tags.get(DEVICE_ESP_TAG, ""))


@dataclass(frozen=True)
class UpdateImpact:
    """How a policy change affects the tunnel to a known device: ``breaks`` when it gets worse."""

    before: CompatibilityResult
    after: CompatibilityResult

    @property
    def breaks(self) -> bool:
        return _RANK[self.after.outcome] < _RANK[self.before.outcome]

    @property
    def text(self) -> str:
        if self.breaks:
            return (f"this update would break the tunnel: today {self.before.verdict}; after the update "
                    f"{self.after.verdict} — {self.after.reason}")
        return f"the device stays {self.after.verdict} after the update"


def update_impact(current: IpsecIkePolicy | None, desired: IpsecIkePolicy | None, device_ike: str | Sequence[str],
                  device_esp: str | Sequence[str]) -> UpdateImpact:
    """Compare the device's verdict under the current and the desired policy (None = Azure's defaults)."""
    return UpdateImpact(check_compatibility(current, device_ike, device_esp),
                        check_compatibility(desired, device_ike, device_esp))
