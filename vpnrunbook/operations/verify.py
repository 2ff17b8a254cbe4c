"""The verify step and the tunnel impact of policy changes.

* :func:`verify_connection` reads a connection's ``connectionStatus`` and says *why*: for a site-to-site
  connection whose local network gateway carries the emulated device tags (``vpnrunbook-device-ike`` /
  ``-esp``) the reason comes from the device part's prediction (``vpnrunbook.device``); for a Vnet2Vnet
  connection it reads the connection in the other direction (exists? same shared key? same policy?).
* :func:`policy_impact` is what the plans use: would the new policy break the tunnel to that device (or fail at
  rekey)? The answer is a :class:`~vpnrunbook.operations.plan.TunnelImpact` (a WARNING row of the plan table).

Read-only: GETs only (the shared keys of a Vnet2Vnet pair are compared in memory, never shown).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from vpnrunbook.operations import arm
from vpnrunbook.operations.plan import TunnelImpact, dig, scrub
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy

DEVICE_IKE_TAG = "vpnrunbook-device-ike"
DEVICE_ESP_TAG = "vpnrunbook-device-esp"


# ---- the device a local network gateway describes ---------------------------------------------------
def device_of(session: Any, conn: dict[str, Any] | None) -> tuple[str, dict[str, str]] | None:
    """``(local gateway label, its tags)`` when an S2S connection's local network gateway carries device tags."""
    lng_id = dig(conn, "properties", "localNetworkGateway2", "id")
    if not lng_id:
        return None
    parts = arm.parse_id(lng_id)
    lng = arm.read_kind(session, "local_network_gateway", parts["resource_group"], parts["name"])
    tags = dict((lng or {}).get("tags") or {})
    if DEVICE_IKE_TAG not in tags and DEVICE_ESP_TAG not in tags:
        return None
    return arm.label(parts["resource_group"], "local_network_gateway", parts["name"]), tags


def _device_text(tags: dict[str, str]) -> str:
    return f"device IKE {tags.get(DEVICE_IKE_TAG, '(none)')} | ESP {tags.get(DEVICE_ESP_TAG, '(none)')}"


def policy_impact(label: str, device: tuple[str, dict[str, str]], current: IpsecIkePolicy | None,
                  desired: IpsecIkePolicy | None) -> TunnelImpact:
    """The tunnel to the tagged device before and after a policy change (None = Azure's default proposals)."""
    from vpnrunbook.device import ProposalError, update_impact

    peer, tags = device
    try:
        impact = update_impact(current, desired, tags.get(DEVICE_IKE_TAG, ""), tags.get(DEVICE_ESP_TAG, ""))
    except ProposalError as exc:
        return TunnelImpact(label, peer, "unknown", "unknown", False,
                            f"the device tags cannot be read as strongSwan proposals ({exc}); the impact of the "
                            "update on the tunnel was not checked")
    after = impact.after
    if impact.breaks:
        reason = f"{after.reason} ({_device_text(tags)})"
    elif not after.ok:
        reason = f"already {impact.before.verdict} before the update; {after.reason}"
    else:
        reason = "the device accepts the new proposals"
    return TunnelImpact(label, peer, impact.before.verdict, after.verdict, impact.breaks, reason,
                        impact.before.outcome, after.outcome)


def new_connection_impact(label: str, device: tuple[str, dict[str, str]],
                          desired: IpsecIkePolicy | None) -> TunnelImpact:
    """A connection about to be created towards a tagged device: would it come up (and rekey)?"""
    from vpnrunbook.device import ProposalError, check_device_tags

    peer, tags = device
    try:
        check = check_device_tags(desired, tags)
    except ProposalError as exc:
        return TunnelImpact(label, peer, "(no connection yet)", "unknown", False,
                            f"the device tags cannot be read as strongSwan proposals ({exc}); not checked")
    assert check is not None
    reason = (f"{check.reason} ({_device_text(tags)})" if not check.ok else "the device accepts the proposals")
    return TunnelImpact(label, peer, "(no connection yet)", check.verdict, not check.ok, reason, "", check.outcome)


def one_sided_impact(label: str, peer_label: str) -> TunnelImpact:
    """A Vnet2Vnet policy change applied to one direction only (``include_peer=False``)."""
    return TunnelImpact(label, peer_label, "Connected (both directions match)", "NotConnected", True,
                        "only this direction changes (include_peer=False): a Vnet2Vnet pair is connected only when "
                        "both directions have the same shared key and policy; change the other direction too",
                        "connected", "not_connected")


# ---- the verify step ------------------------------------------------------------------------------
@dataclass
class ConnectionStatusView:
    """A connection's status as read after (or without) a change, with the reason.

    ``status`` is Azure's ``connectionStatus`` (Connected, NotConnected, Connecting, Unknown); ``reason`` says
    why in plain language; ``warning`` is set when it is connected now but will fail (PFS mismatch: first
    rekey). S2S with device tags: ``device`` (local gateway), ``device_check`` (the device part's
    CompatibilityResult; ``.to_frame()`` per exchange). Vnet2Vnet: ``peer``, ``peer_status``,
    ``peer_provisioning_state``.
    """

    connection: str
    connection_type: str
    provisioning_state: str
    status: str
    reason: str
    warning: str | None = None
    device: str | None = None
    device_check: Any = None
    predicted_status: str | None = None
    peer: str | None = None
    peer_status: str | None = None
    peer_provisioning_state: str | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    peer_source: str | None = None

    @property
    def ok(self) -> bool:
        """Connected, with no warning of a failure to come."""
        return self.status == "Connected" and self.warning is None

    @property
    def verdict(self) -> str:
        return f"{self.status} — {self.reason}"

    @property
    def text(self) -> str:
        lines = [f"{self.connection} ({self.connection_type}): {self.status} (provisioningState "
                 f"{self.provisioning_state})", f"  why: {self.reason}"]
        if self.warning:
            lines.append(f"  WARNING: {self.warning}")
        if self.peer:
            lines.append(f"  peer {self.peer}: {self.peer_status or '(absent)'}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text

    COLUMNS = ("connection", "type", "provisioning_state", "status", "reason", "warning")

    def rows(self) -> list[dict[str, str]]:
        """One mapping per connection (this one, and the peer direction of a Vnet2Vnet pair)."""
        rows = [{"connection": self.connection, "type": self.connection_type,
                 "provisioning_state": self.provisioning_state, "status": self.status, "reason": self.reason,
                 "warning": self.warning or ""}]
        if self.peer:
            rows.append({"connection": self.peer, "type": "Vnet2Vnet",
                         "provisioning_state": self.peer_provisioning_state or "(absent)",
                         "status": self.peer_status or "(absent)", "reason": "the other direction of the pair",
                         "warning": ""})
        return rows

    def to_frame(self) -> Any:
        """:meth:`rows` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(self.COLUMNS))

    def _repr_html_(self) -> str:
        colour = "#1b5e20" if self.ok else "#b00020"
        head = (f'<p><b style="color:{colour}">{html.escape(self.connection)}: {html.escape(self.status)}</b> — '
                f"{html.escape(self.reason, quote=False)}</p>")
        if self.warning:
            head += f'<p style="color:#b00020"><b>WARNING:</b> {html.escape(self.warning, quote=False)}</p>'
        return head + self.to_frame().to_html(index=False)

    def to_record(self) -> dict[str, Any]:
        return scrub({
            "connection": self.connection, "connection_type": self.connection_type,
            "provisioning_state": self.provisioning_state, "status": self.status, "reason": self.reason,
            "warning": self.warning, "ok": self.ok, "device": self.device, "predicted_status": self.predicted_status,
            "device_check": None if self.device_check is None else self.device_check.to_record(),
            "peer": self.peer, "peer_status": self.peer_status, "peer_provisioning_state": self.peer_provisioning_state,
            "source": self.source, "notes": list(self.notes), "peer_source": self.peer_source,
        })


def _norm_policies(conn: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{s.wire: str(p.get(s.wire)) for s in rules.FIELDS} for p in dig(conn, "properties", "ipsecPolicies",
                                                                            default=[])]


def _policy_of(conn: dict[str, Any] | None) -> IpsecIkePolicy | None:
    policies = dig(conn, "properties", "ipsecPolicies", default=[])
    return IpsecIkePolicy.from_mapping(policies[0], validate=False) if policies else None


def _s2s_reason(session: Any, view: ConnectionStatusView, conn: dict[str, Any]) -> None:
    device = device_of(session, conn)
    if device is None:
        view.source = "Azure"
        view.reason = ("no emulated device on the local network gateway (no vpnrunbook-device-* tags): the status is "
                       "Azure's own" + ("" if view.status == "Connected" else
                                        "; check the device's log and its proposals against the policy"))
        return
    from vpnrunbook.device import ProposalError, check_device_tags, predict_connection_status

    view.device, tags = device
    view.source = "device prediction (vpnrunbook.device)"
    policy = _policy_of(conn)
    predicted, reason = predict_connection_status(policy, tags.get(DEVICE_IKE_TAG, ""), tags.get(DEVICE_ESP_TAG, ""))
    view.predicted_status = predicted
    view.reason = f"{reason} ({_device_text(tags)})"
    if reason.startswith("WARNING"):
        view.warning = reason.removeprefix("WARNING — ").removeprefix("WARNING")
    try:
        view.device_check = check_device_tags(policy, tags)
    except ProposalError:
        view.device_check = None
    if predicted != view.status:
        view.notes.append(f"Azure reports {view.status}, the device prediction says {predicted}")


def _v2v_reason(session: Any, view: ConnectionStatusView, conn: dict[str, Any], rg: str, name: str, *,
                peer_resource_group: str | None = None, peer_connection_name: str | None = None) -> None:
    from vpnrunbook.operations.apply import current_shared_key
    from vpnrunbook.operations.peers import find_peer

    view.source = "Vnet2Vnet pair"
    lookup = find_peer(session, conn, peer_resource_group=peer_resource_group, peer_connection_name=peer_connection_name)
    peer = lookup.peer
    if peer is None:  # never a guess: an ambiguous peer is named as such, with the candidates
        gw2 = dig(conn, "properties", "virtualNetworkGateway2", "id", default="")
        if lookup.ambiguous:
            view.reason = (f"the peer (the other direction) cannot be determined: {lookup.problem}; give it as "
                           "peer_connection_name")
            view.notes.append("candidates: " + ", ".join(lookup.candidates))
        elif lookup.source:
            view.reason = f"{lookup.problem}; create it with the same shared key and policy, or re-run step 04"
        else:
            view.reason = (f"the connection in the other direction (from {str(gw2).rsplit('/', 1)[-1]} back to this "
                           "gateway) does not exist; create it with the same shared key and policy")
        return
    view.peer_source = lookup.source  # how the peer was identified: explicit, tag, only reverse connection
    prg = arm.parse_id(peer["id"])["resource_group"]
    view.peer = arm.label(prg, "connection", peer["name"])
    view.peer_status = dig(peer, "properties", "connectionStatus")
    view.peer_provisioning_state = dig(peer, "properties", "provisioningState")
    problems = []
    if view.peer_provisioning_state != "Succeeded":
        problems.append(f"the other direction is provisioningState {view.peer_provisioning_state}")
    if _norm_policies(conn) != _norm_policies(peer):
        mine, theirs = _policy_of(conn), _policy_of(peer)
        problems.append("HALF-APPLIED PAIR: the two directions have different IPsec/IKE policies ("
                        f"{mine.summary() if mine else 'default proposals'} vs "
                        f"{theirs.summary() if theirs else 'default proposals'}) — a change reached one direction "
                        "only; re-run the step (its plan writes both)")
    key, peer_key = current_shared_key(session, rg, name, conn), current_shared_key(session, prg, peer["name"], peer)
    if key is not None and peer_key is not None and key != peer_key:
        problems.append("the two directions have different shared keys")
    del key, peer_key
    if problems:
        view.reason = "; ".join(problems)
    elif view.status == "Connected":
        view.reason = "both directions exist with the same shared key and the same policy"
    else:
        view.reason = "both directions match (key and policy); the tunnel is still coming up"


def verify_connection(session: Any, *, resource_group: str, connection_name: str,
                      peer_resource_group: str | None = None,
                      peer_connection_name: str | None = None) -> ConnectionStatusView:
    """The verify step: ``connectionStatus`` with the reason (device prediction / Vnet2Vnet peer). GETs only."""
    from vpnrunbook.operations.connection import _read_connection

    conn = _read_connection(session, resource_group, connection_name)
    ctype = dig(conn, "properties", "connectionType", default="")
    state = dig(conn, "properties", "provisioningState", default="")
    view = ConnectionStatusView(arm.label(resource_group, "connection", connection_name), ctype, state,
                                dig(conn, "properties", "connectionStatus", default="Unknown"), "")
    if state != "Succeeded":
        view.reason = (f"provisioningState {state}: the status stays Unknown until the connection is provisioned"
                       + (" — re-run step 04 (04_connect) with the same parameters to retry the failed deployment" if state in ("Failed",
                                                                                                    "Canceled")
                          else ""))
    elif ctype == "Vnet2Vnet":
        _v2v_reason(session, view, conn, resource_group, connection_name, peer_resource_group=peer_resource_group,
                    peer_connection_name=peer_connection_name)
    else:
        _s2s_reason(session, view, conn)
    return view


__all__ = ["ConnectionStatusView", "device_of", "new_connection_impact", "one_sided_impact", "policy_impact", "verify_connection"]
