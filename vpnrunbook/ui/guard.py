"""What the Apply controls guard, as the CLI does headless: a change that breaks a tunnel or weakens the crypto
needs the operator's explicit confirmation (a ticked "I accept …" that states what is accepted; headless the same
change needs ``--allow-breaking``); a plan whose parameters changed after it was made (a picker edited after Run
All) is stale and refused; after a confirmed change the resulting connection status is shown, red when the tunnel
is not up.

Pure logic and one small widget, shared by :mod:`vpnrunbook.ui.apply` and :mod:`vpnrunbook.ui.update`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.strength import WEAKER

ACCEPT_CODE = "NotConfirmed"
STALE_CODE = "StalePlan"


def plans_of(planned: Any) -> list[Any]:
    """The :class:`~vpnrunbook.operations.plan.Plan` objects of an operation result, a plan, or a list of them."""
    items = planned if isinstance(planned, (list, tuple)) else [planned]
    return [getattr(p, "plan", p) for p in items if p is not None]


def breaks_tunnel(planned: Any) -> bool:
    return any(bool(getattr(p, "breaks_tunnel", False)) for p in plans_of(planned))


def broken_tunnels(planned: Any) -> list[str]:
    """The other ends (device or Vnet2Vnet peer) whose tunnel the plan breaks, short names (``Site6``)."""
    return [str(i.peer).rsplit("/", 1)[-1] for p in plans_of(planned) for i in getattr(p, "impacts", []) or []
            if getattr(i, "breaks", False)]


def weakened_fields(planned: Any) -> list[str]:
    """The policy fields whose strength the plan lowers (its ``WEAKER than now`` warnings), each once."""
    fields: list[str] = []
    for p in plans_of(planned):
        for w in getattr(p, "warnings", []) or []:
            if str(getattr(w, "message", "")).startswith(WEAKER) and str(w.field) not in fields:
                fields.append(str(w.field))
    return fields


def needs_confirmation(planned: Any) -> bool:
    """A plan that breaks a tunnel or weakens the crypto: Apply needs the operator's explicit acceptance."""
    return bool(broken_tunnels(planned) or weakened_fields(planned))


def acceptance(planned: Any) -> str:
    """What the operator accepts by ticking the box, in words (also what the evidence records). Empty: nothing."""
    parts = []
    tunnels = broken_tunnels(planned)
    if tunnels:
        parts.append("breaks the tunnel to " + ", ".join(dict.fromkeys(tunnels)) + " until the other end is "
                     "reconfigured")
    weaker = weakened_fields(planned)
    if weaker:
        parts.append("weakens " + ", ".join(weaker))
    return f"I accept that this change {' and '.join(parts)}" if parts else ""


class ConfirmationRequiredError(rules.PolicyValidationError):
    """Apply was clicked for a breaking or weakening plan without the operator's acceptance: nothing was written."""

    def __init__(self, planned: Any, *, what: str = "the change") -> None:
        text = acceptance(planned)
        super().__init__([rules.Problem("confirmation", "not given", text.replace("I accept that this change",
                                                                                  "this change", 1),
                                        f"tick “{text}” above Apply (headless: `vpnrunbook run … --apply "
                                        "--allow-breaking`), or choose another policy", ACCEPT_CODE)],
                         subject="Apply",
                         headline=f"Not applied: {what} needs your confirmation first — nothing was written")


class StalePlanError(rules.PolicyValidationError):
    """The parameters changed after the plan was made (e.g. the picker was edited after Run All): the plan shown
    is not what they now ask for, so it is not applied. Nothing was written."""

    def __init__(self, changed: Iterable[str]) -> None:
        names = ", ".join(changed) or "the parameters"
        super().__init__([rules.Problem(names, "changed after the plan", "the plan above was made from the earlier "
                                        "values; applying it would not make what is shown now",
                                        "run the cells from the picker down again (Run ▸ Run Selected Cell and All "
                                        "Below) to plan the new values, review the plan, then Apply", STALE_CODE)],
                         subject="Apply",
                         headline="Not applied: the plan above is stale — nothing was written")


# ---- the plan's parameters, fingerprinted --------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, IpsecIkePolicy):
        return {"policy": value.as_python_dict()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def fingerprint(params: Mapping[str, Any]) -> dict[str, str]:
    """Per parameter, a digest of its value (a policy by its fields): what a plan was made from."""
    return {str(k): hashlib.sha256(json.dumps(_plain(v), sort_keys=True).encode()).hexdigest()[:16]
            for k, v in params.items()}


@dataclass
class PlanInputs:
    """The parameters a plan was made from and where their current values come from (e.g. a picker):
    ``changed()`` names those that differ now (the plan is stale)."""

    planned: dict[str, str]
    current: Callable[[], Mapping[str, Any]]

    @classmethod
    def of(cls, planned_with: Mapping[str, Any], current: Callable[[], Mapping[str, Any]]) -> PlanInputs:
        return cls(fingerprint(planned_with), current)

    def changed(self) -> list[str]:
        now = fingerprint(self.current())
        return [k for k in sorted(set(now) | set(self.planned)) if now.get(k) != self.planned.get(k)]


def picker_choice(picker: Any) -> dict[str, Any]:
    """What a policy picker asks for now: its policy (None: Azure's defaults), or its field values with errors."""
    if getattr(picker, "uses_defaults", False):
        return {"policy": None}
    if getattr(picker, "errors", None):
        return {"policy": {"invalid": dict(picker.values)}}
    return {"policy": picker.policy}


# ---- after the apply: the connection status read back -----------------------------------------------------------
def status_lines(result: Any) -> tuple[bool, list[str]]:
    """(all up, one line per connection written) from ``details["connection_status"]`` of the apply results, e.g.
    ``the tunnel to Site6 is now NotConnected — <reason>``."""
    items = result if isinstance(result, (list, tuple)) else [result]
    ok, lines = True, []
    for r in items:
        statuses = (getattr(r, "details", None) or {}).get("connection_status") or {}
        impacts = {str(i.resource): str(i.peer).rsplit("/", 1)[-1]
                   for i in getattr(getattr(r, "plan", None), "impacts", []) or []}
        for label, st in statuses.items():
            status = st.get("status") or "unknown (not read back)"
            up = status == "Connected" and not st.get("warning")
            ok = ok and up
            peer = impacts.get(label) or str(st.get("device") or st.get("peer") or "").rsplit("/", 1)[-1]
            name = label.rsplit("/", 1)[-1]
            line = f"the tunnel to {peer} ({name}) is now {status}" if peer else f"{name} is now {status}"
            if st.get("reason"):
                line += f" — {st['reason']}"
            if st.get("warning"):
                line += f" — WARNING: {st['warning']}"
            lines.append(line)
    return ok, lines


class Confirmation:
    """The "I accept …" checkbox shown above Apply for a breaking or weakening plan (hidden otherwise)."""

    def __init__(self) -> None:
        import ipywidgets as w

        self.text = ""
        self.checkbox = w.Checkbox(value=False, indent=False, layout=w.Layout(width="auto"))
        self.checkbox.add_class("vpnrunbook-confirm")
        self.widget = self.checkbox

    def show_for(self, planned: Any) -> None:
        """A new plan: a new question, unticked (an earlier acceptance never carries over to another plan)."""
        self.text = acceptance(planned) if planned is not None else ""
        self.checkbox.value = False
        self.checkbox.description = self.text
        self.checkbox.layout.display = None if self.text else "none"

    @property
    def required(self) -> bool:
        return bool(self.text)

    @property
    def accepted(self) -> bool:
        return bool(self.text) and bool(self.checkbox.value)
