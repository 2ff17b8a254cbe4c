"""Plans (the table of resource, field, current, desired), planned writes, results and secret-free snapshots.

A :class:`Plan` is pure data: what will be written, with the ETag each resource had when the plan
was read. It never holds a shared key — only the reference, resolved when the plan is applied.
"""

from __future__ import annotations

import copy
import datetime as _dt
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vpnrunbook.azure.states import FAILED_STATES
from vpnrunbook.policy.strength import Finding

# Keys whose values are secrets; removed from every snapshot, record and plan value.
SECRET_KEYS = frozenset({"sharedKey", "shared_key", "authorizationKey", "authorization_key", "sharedKeys"})
DEFAULT_POLICY_TEXT = "(none: Azure's default proposals)"
RETRY_FAILED = "Succeeded (retry failed deployment)"
ABSENT = "(absent)"
REDACTED = "<redacted>"


# Exact types scrub() answers without an ABC check: the first ``isinstance(x, Mapping)`` for a type that is no
# Mapping walks every Mapping subclass — the SDK's ~1,000 model classes — ~35 ms of a read-only step's kernel
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def scrub(value: Any) -> Any:
    """A JSON-safe deep copy with every secret key removed (at any depth)."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is dict:
        return {str(k): scrub(v) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if kind is list or kind is tuple:
        return [scrub(v) for v in value]
    if hasattr(value, "as_dict") and callable(value.as_dict):
        value = value.as_dict()
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items() if str(k) not in SECRET_KEYS}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def snapshot(resource: Any) -> dict[str, Any] | None:
    """The resource as its REST (camelCase) dict, without secrets; ``None`` for an absent resource."""
    return None if resource is None else scrub(resource)


def display_value(value: Any, *, none: str = "") -> str:
    """A planned value as one line of text: lists joined, mappings as JSON, ``None`` as ``none``."""
    if value is None:
        return none
    if isinstance(value, list | tuple):
        return ", ".join(display_value(v, none=none) for v in value) if value else "[]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    return str(value)


_display = display_value


@dataclass(frozen=True)
class Change:
    """One row of a plan: ``resource`` (``TestRG1/connections/VNet1toSite6``), ``field`` (REST path),
    the value now and the value the apply will write. ``action`` is create, update or delete."""

    resource: str
    field: str
    current: Any
    desired: Any
    action: str = "update"

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "field": self.field, "current": scrub(self.current),
                "desired": scrub(self.desired), "action": self.action}


@dataclass(frozen=True)
class TunnelImpact:
    """What a planned policy change does to a tunnel: to the on-premises device a local network gateway's
    ``vpnrunbook-device-*`` tags describe (verdicts of :func:`vpnrunbook.device.update_impact`), or to a
    Vnet2Vnet pair changed on one side only. ``breaks``: the tunnel gets worse (down, or fails at rekey)."""

    resource: str          # the connection, e.g. TestRG1/connections/VNet1toSite6
    peer: str              # what is on the other end: TestRG1/localNetworkGateways/Site6 (device) or the peer
    before: str            # verdict today, e.g. "compatible"
    after: str             # verdict after the change, e.g. "IKE_SA refused (NO_PROPOSAL_CHOSEN)"
    breaks: bool
    reason: str            # plain language: why it breaks (or that it stays up)
    before_outcome: str = ""
    after_outcome: str = ""

    @property
    def text(self) -> str:
        if self.breaks:
            return (f"WARNING — {self.resource}: this update would break the tunnel to {self.peer}: today "
                    f"{self.before}; after the update {self.after} — {self.reason}")
        return f"{self.resource}: the tunnel to {self.peer} stays {self.after} after the update"

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "peer": self.peer, "before": self.before, "after": self.after,
                "breaks": self.breaks, "reason": self.reason, "before_outcome": self.before_outcome,
                "after_outcome": self.after_outcome, "text": self.text}


@dataclass
class Write:
    """One planned PUT. ``body`` is the full REST body without any secret; ``etag`` is the one read at
    plan time (``None`` with ``exists=False``: the resource must still be absent at apply time)."""

    kind: str
    resource_group: str
    name: str
    resource_id: str
    label: str
    body: dict[str, Any]
    etag: str | None
    exists: bool
    shared_key_ref: str | None = None   # a reference (env:/file:), resolved only while applying

    def __post_init__(self) -> None:
        if any(k in SECRET_KEYS for k in self.body.get("properties", {})):
            raise ValueError(f"planned body of {self.label} holds a secret field; secrets travel by reference only")


@dataclass
class Plan:
    """What a step will change. ``.changes`` is the table; ``.empty`` means nothing will be written."""

    step: str
    changes: list[Change] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    etags: dict[str, str | None] = field(default_factory=dict)
    before: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    target: str = ""
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    impacts: list[TunnelImpact] = field(default_factory=list)   # tunnel effect of policy changes (device / peer)

    @property
    def empty(self) -> bool:
        return not self.writes

    @property
    def breaks_tunnel(self) -> bool:
        """A planned change would break a tunnel (see :attr:`impacts`, :meth:`tunnel_warnings`)."""
        return any(i.breaks for i in self.impacts)

    def tunnel_warnings(self) -> list[str]:
        """Plain-language warnings, one per tunnel the plan would break."""
        return [i.text for i in self.impacts if i.breaks]

    def to_records(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.changes]

    def to_frame(self) -> Any:
        """A pandas DataFrame with columns resource, field, current, desired, action (empty when no change)."""
        import pandas as pd

        rows = [{"resource": c.resource, "field": c.field, "current": _display(c.current),
                 "desired": _display(c.desired), "action": c.action} for c in self.changes]
        # a tunnel the plan would break: one WARNING row per tunnel (not a write; see .impacts)
        rows += [{"resource": i.resource, "field": f"tunnel to {i.peer}", "current": i.before,
                  "desired": f"{i.after} — {i.reason}", "action": "WARNING"} for i in self.impacts if i.breaks]
        return pd.DataFrame(rows, columns=["resource", "field", "current", "desired", "action"])

    def summary(self) -> str:
        if self.empty:
            return f"{self.step}: nothing to change (the resources already match)"
        resources = sorted({c.resource for c in self.changes})
        text = (f"{self.step}: {len(self.changes)} change(s) on {len(resources)} resource(s): "
                + ", ".join(resources))
        if self.breaks_tunnel:
            text += f" — WARNING: would break {sum(i.breaks for i in self.impacts)} tunnel(s)"
        return text

    def __str__(self) -> str:
        lines = [self.summary()]
        for c in self.changes:
            lines.append(f"  {c.action:6} {c.resource} {c.field}: {_display(c.current) or '-'} -> {_display(c.desired)}")
        lines += [f"  {t}" for t in self.tunnel_warnings()]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        head = f"<p><b>{html.escape(self.summary(), quote=False)}</b></p>"
        table = "" if not self.changes else self.to_frame().to_html(index=False)
        extra = "".join(f'<p style="color:#b00020"><b>{html.escape(t, quote=False)}</b></p>' for t in self.tunnel_warnings())
        extra += "".join(f"<p>note: {html.escape(n, quote=False)}</p>" for n in self.notes)
        extra += "".join(f"<p>{html.escape(str(w), quote=False)}</p>" for w in self.warnings)
        return head + table + extra

    def to_record(self) -> dict[str, Any]:
        return {"step": self.step, "target": self.target, "created_at": self.created_at, "empty": self.empty,
                "changes": self.to_records(), "etags": dict(self.etags), "resources": list(self.resources),
                "warnings": [w.as_dict() for w in self.warnings], "notes": list(self.notes),
                "breaks_tunnel": self.breaks_tunnel, "tunnel_warnings": self.tunnel_warnings(),
                "tunnel_impact": [i.as_dict() for i in self.impacts]}


@dataclass
class OperationResult:
    """The outcome of one step: its plan, whether it was applied, and before/after snapshots (no secrets)."""

    step: str
    plan: Plan
    applied: bool
    before: dict[str, dict[str, Any] | None]
    after: dict[str, dict[str, Any] | None]
    warnings: list[Finding] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # connection writes: the status read after the apply (operations.verify.ConnectionStatusView), also in
    # details["connection_status"]
    verification: Any = None

    @property
    def changed(self) -> bool:
        return self.applied and not self.plan.empty

    def to_record(self) -> dict[str, Any]:
        """JSON-safe dict for the evidence layer; holds no secret (snapshots are scrubbed again here)."""
        return scrub({
            "step": self.step, "applied": self.applied, "changed": self.changed,
            "plan": self.plan.to_record(), "before": self.before, "after": self.after,
            "warnings": [w.as_dict() for w in self.warnings], "resources": list(self.resources),
            "details": self.details,
        })

    def summary(self) -> str:
        if self.plan.empty:
            return f"{self.step}: nothing to change"
        text = f"{self.step}: {'applied' if self.applied else 'planned only (apply=False)'} — {self.plan.summary()}"
        if self.details.get("unplanned_changes"):  # another writer's change in the after-state (change journal)
            from vpnrunbook.evidence.compare import unplanned_text

            text += "\n" + unplanned_text(self.details["unplanned_changes"])
        return text

    def __str__(self) -> str:
        text = self.summary() if self.applied else str(self.plan)
        if self.applied and self.plan.breaks_tunnel:
            text += "\n" + "\n".join(f"  {t}" for t in self.plan.tunnel_warnings())
        if self.verification is not None:
            text += "\n" + str(self.verification)
        return text

    def _repr_html_(self) -> str:
        import html

        out = f"<p><b>{html.escape(self.summary(), quote=False)}</b></p>" + ("" if self.applied
                                                                             else self.plan._repr_html_())
        if self.applied and self.plan.breaks_tunnel:
            out += "".join(f'<p style="color:#b00020"><b>{html.escape(t, quote=False)}</b></p>'
                           for t in self.plan.tunnel_warnings())
        if self.verification is not None:
            out += self.verification._repr_html_()
        return out


# ---- flat field diffs --------------------------------------------------------------------------
def _normal(value: Any) -> Any:
    if isinstance(value, list | tuple):
        items = [_normal(v) for v in value]
        if all(isinstance(v, str | int | float) for v in items):
            return sorted(items, key=str)
        return items
    if isinstance(value, enum.Enum):
        return value.value
    return value


def diff_fields(resource: str, current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> list[Change]:
    """Changes between two flat ``{REST path: value}`` maps; ``current=None`` means the resource is absent."""
    if current is None:
        return [Change(resource, k, None, v, "create") for k, v in desired.items()]
    return [Change(resource, k, current.get(k), v, "update") for k, v in desired.items()
            if _normal(current.get(k)) != _normal(v)]


def failed_retry(label: str, resource: Mapping[str, Any] | None, what: str = "resource") -> tuple[Change, str] | None:
    """For a resource whose last deployment ended Failed/Canceled: the plan row that re-submits it and a note."""
    state = dig(resource, "properties", "provisioningState", default="")
    if state not in FAILED_STATES:
        return None
    return (Change(label, "provisioningState", state, RETRY_FAILED, "update"),
            f"{label} ended {state}: this plan retries the failed deployment (the {what} is re-submitted and "
            "Azure deploys it again)")


def dig(data: Mapping[str, Any] | None, *path: str | int, default: Any = None) -> Any:
    """``dig(d, "properties", "sku", "name")`` → the nested value or ``default``."""
    cur: Any = data
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or len(cur) <= p:
                return default
        elif not isinstance(cur, Mapping) or p not in cur:
            return default
        cur = cur[p]
    return default if cur is None else cur


def deep_copy(data: Any) -> Any:
    return copy.deepcopy(data)


def merge_snapshots(*maps: Iterable[tuple[str, dict[str, Any] | None]]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for m in maps:
        out.update(dict(m))
    return out
