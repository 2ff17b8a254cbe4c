"""The Apply control: a step that writes shows its plan first and changes only when the operator clicks Apply
under it. The click applies exactly the plan shown (``operations.apply_plan``: If-Match on the ETags read at plan
time), once; the outcome (or one clear error box) appears under the button. Headless runs never show it — they
apply by the ``apply`` parameter (``vpnrunbook run --apply``).

It guards the tunnel as the CLI does (:mod:`vpnrunbook.ui.guard`): a plan that breaks a tunnel or weakens the
crypto is applied only after the operator ticks what they accept (recorded in the evidence, as ``--allow-breaking``
is headless), and afterwards the connection status read back is shown — red when the tunnel is not up. While a
change is in flight the button is disabled and a second click starts nothing; a plan whose inputs changed since
(a picker edited after Run All) is refused as stale. No traceback reaches the operator: one box says what
happened and what to do next."""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from vpnrunbook.ui import guard, html
from vpnrunbook.ui.env import is_interactive
from vpnrunbook.ui.errors import domain_errors, error_html, unexpected_error_html

log = logging.getLogger("vpnrunbook.ui")
_UNSET: Any = object()


def _is_empty(planned: Any) -> bool:
    return all(bool(getattr(p, "empty", False)) for p in guard.plans_of(planned))


def plan_warning_lines(planned: Any) -> list[str]:
    """What an operator must read before Apply: every tunnel the plan would break, every field it weakens and the
    weak algorithms it writes (shown above the Apply control)."""
    lines: list[str] = []
    for plan in guard.plans_of(planned):
        tunnel = getattr(plan, "tunnel_warnings", None)
        lines += list(tunnel()) if callable(tunnel) else []
        lines += [str(w) for w in getattr(plan, "warnings", []) or [] if getattr(w, "severity", "warning") != "info"]
    return lines


def warnings_html(planned: Any) -> str:
    lines = plan_warning_lines(planned)
    if not lines:
        return ""
    return html.message_html("warning", "Before you apply — read this:\n" + "\n".join(lines))


def _summary(result: Any) -> str:
    results = result if isinstance(result, (list, tuple)) else [result]
    return "\n".join(r.summary() if hasattr(r, "summary") else str(r) for r in results if r is not None)


def _step_of(planned: Any) -> str:
    return next((str(getattr(p, "step", "")) for p in guard.plans_of(planned)), "") or "apply"


def evidence_of(result: Any, run: Any = None) -> dict[str, Any] | None:
    """Where the evidence of an apply went: the run the apply path named (``result.details["evidence"]``), else the
    control's own run scope (None when nothing was recorded, e.g. refused before any write)."""
    for r in result if isinstance(result, (list, tuple)) else [result]:
        where = (getattr(r, "details", None) or {}).get("evidence")
        if where and where.get("path"):
            return dict(where)
    if run is None or getattr(run, "run_id", None) is None:
        return None
    return dict(run.where) or {"run_id": run.run_id, "path": str(run.run_dir)}


def outcome_html(result: Any, *, risky: bool, lead: str, evidence: Mapping[str, Any] | None) -> str:
    """The outcome of an apply: green only when every connection written is up and nothing risky was accepted;
    red naming each tunnel that is not up (``the tunnel to Site6 is now NotConnected``); amber for an accepted
    risky change whose tunnels stayed up."""
    ok, lines = guard.status_lines(result)
    tail = "\n".join(lines)
    link = f"\nEvidence of this change: {evidence['path']}" if evidence and evidence.get("path") else ""
    if not ok:  # the status first: that is what the operator must act on
        text = (f"{tail[:1].upper()}{tail[1:]}\n{lead}\nThe change was made: reconfigure the other end (or apply a "
                "policy it accepts).")
        return html.message_html("error", text + link)
    if risky:
        return html.message_html("warning", f"{lead}\n{tail}".rstrip() + link)
    return html.message_html("ok", f"{lead}\n{tail}".rstrip() + link)


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


class ApplyControl:
    """Build with :func:`apply_control`. ``.button``, ``.confirm`` (the "I accept …" box, shown for a breaking or
    weakening plan), ``.outcome``, ``.result``, ``.error``, ``.evidence``, ``.click()``."""

    def __init__(self, planned: Any, apply: Callable[..., Any] | None = None, *, session: Any = None,
                 refuse_breaking: bool = False, label: str = "Apply the plan above", what: str = "the change",
                 interactive: bool | None = None, picker: Any = None, planned_policy: Any = _UNSET,
                 planned_with: Mapping[str, Any] | None = None,
                 current: Callable[[], Mapping[str, Any]] | None = None) -> None:
        import ipywidgets as w

        if apply is None and session is None:
            raise TypeError("apply_control needs the session (it applies the plan) or an apply callable")
        self.planned = planned
        self.session = session
        self.refuse_breaking = refuse_breaking
        self.what = what
        self._apply = apply
        self.interactive = is_interactive() if interactive is None else interactive
        self.result: Any = None
        self.error: BaseException | None = None
        self.evidence: dict[str, Any] | None = None  # where the applying click's evidence run went
        self.applies = 0  # applies started (a second click never starts another)
        self._lock = threading.Lock()
        self.in_flight = False
        self.empty = _is_empty(planned)
        self.inputs = self._inputs(picker, planned_policy, planned_with, current)

        self.warning = w.HTML(warnings_html(planned))  # above the button: a breaking/weakening change is visible
        self.warning.add_class("vpnrunbook-apply-warning")
        self.confirm = guard.Confirmation()
        self.confirm.show_for(None if self.empty else planned)
        self.button = w.Button(description=label, button_style="danger", icon="check", layout=w.Layout(width="260px"),
                               disabled=self.empty,
                               tooltip="nothing to change" if self.empty else f"apply {what} exactly as planned above")
        self.button.add_class("vpnrunbook-apply")
        self.button.on_click(lambda _b: self.click())
        self.outcome = w.HTML(self._waiting_html())
        self.outcome.add_class("vpnrunbook-apply-outcome")
        self.output = w.Output()  # what the apply displays (e.g. the gateway progress bar) shows here
        self.widget = w.VBox([self.warning, self.confirm.widget, self.button, self.output, self.outcome])
        self.widget.add_class("vpnrunbook-apply-control")
        if picker is not None and hasattr(picker, "on_change"):
            picker.on_change(lambda _p: self._on_input_change())

    @staticmethod
    def _inputs(picker: Any, planned_policy: Any, planned_with: Mapping[str, Any] | None,
                current: Callable[[], Mapping[str, Any]] | None) -> guard.PlanInputs | None:
        if picker is not None:
            start = guard.picker_choice(picker) if planned_policy is _UNSET else {"policy": planned_policy}
            return guard.PlanInputs.of(start, lambda: guard.picker_choice(picker))
        if planned_with is not None and current is not None:
            return guard.PlanInputs.of(planned_with, current)
        return None

    def _waiting_html(self) -> str:
        if self.empty:
            return html.message_html("info", "Nothing to apply: everything already matches the plan.")
        text = (f"Review the plan above; Apply makes {self.what} exactly as planned (refused if anything changed "
                "since the plan).")
        if self.confirm.required:
            text += "\nThis change breaks a tunnel or weakens the crypto: tick what you accept above Apply first."
        return html.message_html("info", text)

    @property
    def applied(self) -> bool:
        return self.result is not None

    def stale(self) -> list[str]:
        """The plan's inputs that changed since it was made (empty: the plan shown is still what they ask for)."""
        return self.inputs.changed() if self.inputs is not None else []

    def _on_input_change(self) -> None:
        if self.in_flight or self.applied or self.empty:
            return
        changed = self.stale()
        if changed:
            self.outcome.value = html.message_html(
                "warning", f"The plan above is stale: {', '.join(changed)} changed in the picker after it was made. "
                           "Apply refuses it; run the cells from the picker down again to plan the new values.")
        else:
            self.outcome.value = self._waiting_html()

    def click(self) -> Any:
        """Apply once. Refusals (no confirmation, a stale plan, a concurrent change) and errors show as one box;
        a click while an apply is in flight, or after it applied, starts nothing."""
        if self.empty or self.applied or not self._lock.acquire(blocking=False):
            return self.result
        try:
            self.in_flight = True
            self.button.disabled = self.confirm.checkbox.disabled = True
            return self._click()
        finally:
            self.in_flight = False
            self.button.disabled = self.confirm.checkbox.disabled = self.empty or self.applied
            self._lock.release()

    def _refuse(self, exc: BaseException) -> None:
        self.error = exc
        self.outcome.value = error_html(exc)

    def _click(self) -> Any:
        changed = self.stale()
        if changed:
            self._refuse(guard.StalePlanError(changed))
            return None
        risky = self.confirm.required
        if risky and not self.confirm.accepted:
            self._refuse(guard.ConfirmationRequiredError(self.planned, what=self.what))
            return None
        from vpnrunbook.evidence import capture, journal

        self.error = None
        self.applies += 1
        self.outcome.value = html.message_html("info", "Applying …")
        run: journal.RunScope | None = None
        try:
            with self.output, journal.run_scope(capture.step_name(_step_of(self.planned))) as run:
                result = self._perform(accepted=self.confirm.text if self.confirm.accepted else None)
        except domain_errors() as exc:
            self.error = exc
            where = evidence_of(None, run)
            self.outcome.value = error_html(exc) + (html.message_html("info", f"Evidence of this attempt: "
                                                                              f"{where['path']}") if where else "")
            return None
        except Exception as exc:  # noqa: BLE001 - the operator sees one box; the traceback goes to the log
            self.error = exc
            log.debug("apply failed", exc_info=True)
            where = evidence_of(None, run)
            self.outcome.value = unexpected_error_html(exc, evidence=where)
            return None
        self.result = result
        self.evidence = evidence_of(result, run)
        self.button.description = "Applied"
        self.outcome.value = outcome_html(
            result, risky=risky, evidence=self.evidence,
            lead=f"Applied{' (accepted: ' + self.confirm.text.removeprefix('I accept that ') + ')' if risky else ''}."
                 f" {_summary(result)}\nRun the cells below to verify; re-run the step to plan again.")
        return result

    def _perform(self, *, accepted: str | None) -> Any:
        refuse = self.refuse_breaking or (guard.breaks_tunnel(self.planned) and accepted is None)
        if self._apply is not None:
            kwargs: dict[str, Any] = {}
            if _takes(self._apply, "refuse_breaking"):
                kwargs["refuse_breaking"] = refuse
            if _takes(self._apply, "accepted"):
                kwargs["accepted"] = accepted
            from vpnrunbook.operations.apply import accepting

            # a callable that does not pass ``accepted`` on still applies with it: the intent's accepted field
            with accepting(accepted) if accepted else contextlib.nullcontext():
                return self._apply(**kwargs)
        from vpnrunbook.operations import apply_plan

        results = [apply_plan(self.session, plan, refuse_breaking=refuse, accepted=accepted)
                   for plan in guard.plans_of(self.planned)]
        return results if isinstance(self.planned, (list, tuple)) else results[0]

    def __repr__(self) -> str:
        state = "applied" if self.applied else "nothing to apply" if self.empty else "waiting for Apply"
        return f"ApplyControl({state})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.interactive:
            return self.widget._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self)}


def apply_control(planned: Any, apply: Callable[..., Any] | None = None, *, session: Any = None,
                  refuse_breaking: bool = False, label: str = "Apply the plan above", what: str = "the change",
                  interactive: bool | None = None, picker: Any = None, planned_policy: Any = _UNSET,
                  planned_with: Mapping[str, Any] | None = None,
                  current: Callable[[], Mapping[str, Any]] | None = None) -> ApplyControl:
    """An Apply button under a plan (an ``OperationResult`` of ``apply=False``, or a list of them).

    ``session``: the control applies the plan itself (``operations.apply_plan`` with ``refuse_breaking`` —
    a break goes through only when the operator ticked the confirmation — and ``accepted``: their words, into the
    evidence). Or ``apply``: a callable performing it (given ``refuse_breaking=`` / ``accepted=`` when it takes them).
    ``picker`` (+ ``planned_policy``, what the plan was made with; default: the picker's choice now): a change in
    the picker after the plan makes the plan stale and Apply refuses it. ``planned_with``/``current`` do the same
    for any other inputs (mappings of name → value)."""
    return ApplyControl(planned, apply, session=session, refuse_breaking=refuse_breaking, label=label, what=what,
                        interactive=interactive, picker=picker, planned_policy=planned_policy,
                        planned_with=planned_with, current=current)
