"""The update panel: the connection's current policy beside the chosen one (differences highlighted), the
planned change, and an Apply button that performs exactly that plan (ETag-guarded) and shows the outcome."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.ui import guard, html
from vpnrunbook.ui.apply import evidence_of, outcome_html, warnings_html
from vpnrunbook.ui.env import is_interactive
from vpnrunbook.ui.errors import domain_errors, error_html, unexpected_error_html
from vpnrunbook.ui.widgets import PolicyPicker

log = logging.getLogger("vpnrunbook.ui")


def _operations() -> Any:
    return importlib.import_module("vpnrunbook.operations")


class UpdatePanel:
    """Build with :func:`update_panel`. ``.current`` (policy on the connection, None = Azure defaults),
    ``.picker``, ``.plan`` (None while the chosen policy has errors), ``.confirm`` (the "I accept …" box of a
    breaking or weakening plan), ``.apply()``, ``.result``, ``.last_applied``, ``.evidence``, ``.widget``."""

    def __init__(self, session: Any, *, resource_group: str, connection_name: str,
                 initial: IpsecIkePolicy | str | Path | Mapping[str, Any] | None = None,
                 picker: PolicyPicker | None = None, operations: Any = None,
                 interactive: bool | None = None, dpd_timeout_seconds: int | None = None,
                 use_policy_based_traffic_selectors: bool | None = None) -> None:
        """``dpd_timeout_seconds`` / ``use_policy_based_traffic_selectors`` (None: unchanged) are planned and
        applied together with the policy, so the plan shown is the whole change."""
        import ipywidgets as w

        self.session = session
        self.resource_group = resource_group
        self.connection_name = connection_name
        self.ops = operations if operations is not None else _operations()
        self.interactive = is_interactive() if interactive is None else interactive
        self.current: IpsecIkePolicy | None = self._read_current()
        if picker is None:
            picker = PolicyPicker(initial if initial is not None else self.current, interactive=self.interactive,
                                  show_save=False)
        self.picker = picker
        self.settings = {k: v for k, v in {"dpd_timeout_seconds": dpd_timeout_seconds,
                                           "use_policy_based_traffic_selectors": use_policy_based_traffic_selectors,
                                           }.items() if v is not None}
        self.plan: Any = None
        self.plan_error: str | None = None
        self.result: Any = None
        self.last_applied: Any = None  # the last change this panel applied (kept when a new choice re-plans)
        self.evidence: dict[str, Any] | None = None  # where the evidence of the last applied change went
        self.error: BaseException | None = None
        self.applies = 0  # applies started (a second click while one is in flight never starts another)
        self.in_flight = False
        self._lock = threading.Lock()

        self.use_defaults = w.Checkbox(value=False, indent=False,
                                       description="use Azure's default proposals (remove the custom policy)")
        self.use_defaults.add_class("vpnrunbook-use-defaults")
        self.use_defaults.observe(lambda _c: self._on_choice(), names="value")
        self.compare = w.HTML()
        self.compare.add_class("vpnrunbook-compare-box")
        self.plan_box = w.HTML()
        self.plan_box.add_class("vpnrunbook-plan-box")
        self.warning = w.HTML()  # above Apply: tunnels the plan breaks, fields it weakens (shown, never blocking)
        self.warning.add_class("vpnrunbook-apply-warning")
        self.confirm = guard.Confirmation()  # above Apply: the operator ticks what a breaking/weakening plan does
        self.apply_button = w.Button(description="Apply planned change", button_style="danger", icon="check",
                                     layout=w.Layout(width="260px"))
        self.apply_button.add_class("vpnrunbook-apply")
        self.apply_button.on_click(lambda _b: self._on_apply())
        self.outcome = w.HTML()
        self.outcome.add_class("vpnrunbook-apply-outcome")
        title = w.HTML(f"<b>Connection {html.escape(connection_name)}</b> in resource group "
                       f"{html.escape(resource_group)}: choose the policy; the table compares it with the current one "
                       "(differences highlighted), then Apply performs exactly the plan shown")
        self.widget = w.VBox([title, self.use_defaults, self.picker.widget, self.compare, self.plan_box,
                              self.warning, self.confirm.widget, self.apply_button, self.outcome])
        self.widget.add_class("vpnrunbook-update-panel")
        self.picker.on_change(lambda _p: self._on_choice())
        self.replan()

    def _read_current(self) -> IpsecIkePolicy | None:
        view = self.ops.show_policy(self.session, resource_group=self.resource_group,
                                    connection_name=self.connection_name)
        return view.policy

    # ---- planning ----------------------------------------------------------------------------
    def _on_choice(self) -> None:
        """The operator changed the choice: a new plan, and an earlier outcome no longer describes it."""
        if self.in_flight:  # the apply in flight uses the plan it started with; its outcome follows
            return
        self.outcome.value = ""
        self.result = None
        self.error = None
        self.replan()

    def replan(self) -> None:
        """Plan the change from the current connection to the chosen policy (reads only, never writes)."""
        self.plan = None
        self.plan_error = None
        self.warning.value = ""
        defaults = self.use_defaults.value
        self.picker.widget.layout.display = "none" if defaults else None
        chosen = None if defaults else self.picker.values
        self.compare.value = html.comparison_html(self.current, chosen)
        if defaults:
            self._plan(remove_policy=True)
        elif not self.picker.valid:
            self.plan_box.value = html.message_html(
                "error", "No plan: the chosen policy has errors —\n" + "\n".join(str(f) for f in self.picker.errors))
        else:
            self._plan(policy=self.picker.policy)
        empty = self.plan is None or bool(getattr(self.plan, "empty", False))
        self.confirm.show_for(None if empty else self.plan)  # a new plan: unticked, whatever was accepted before
        self.apply_button.disabled = empty or self.in_flight

    def _plan(self, **change: Any) -> None:
        try:
            self.plan = self.ops.plan_connection_update(
                self.session, resource_group=self.resource_group, connection_name=self.connection_name,
                **change, **self.settings)
        except Exception as exc:  # noqa: BLE001 - shown to the operator; Apply stays disabled
            self.plan_error = f"{type(exc).__name__}: {exc}"
            self.plan_box.value = html.message_html("error", f"No plan: {self.plan_error}")
        else:
            self.plan_box.value = html.plan_html(self.plan.changes)
            self.warning.value = warnings_html(self.plan)

    # ---- applying ----------------------------------------------------------------------------
    @property
    def applied(self) -> bool:
        """A change was applied with this panel (stays True when a later choice re-plans)."""
        return self.last_applied is not None

    def apply(self, *, accept: bool | None = None) -> Any:
        """Apply exactly the shown plan (If-Match with the ETags read at plan time). A plan that breaks a tunnel or
        weakens the crypto needs the confirmation (``accept``; None: the checkbox) — else
        :class:`~vpnrunbook.ui.guard.ConfirmationRequiredError`, nothing written. Raises what the operations raise."""
        if self.plan is None:
            raise rules.PolicyValidationError(
                [rules.Problem("policy", None if self.use_defaults.value else self.picker.values, self.plan_error or "has errors; nothing is planned",
                               "a valid policy (see the findings)", "NoPlan")], subject="update panel")
        if getattr(self.plan, "empty", False):
            return None
        plan = self.plan
        accepted = self.confirm.accepted if accept is None else (accept and self.confirm.required)
        if self.confirm.required and not accepted:
            raise guard.ConfirmationRequiredError(plan, what=f"the change of {self.connection_name}")
        self.result = self.ops.apply_plan(self.session, plan, refuse_breaking=False,
                                          accepted=self.confirm.text if accepted else None)
        self.last_applied = self.result
        self.current = self._read_current()
        self.replan()
        return self.result

    def _on_apply(self) -> None:
        """The Apply button: one apply at a time; a click while one is in flight, or with nothing planned to apply
        (e.g. the second of a double click), starts nothing and leaves the outcome (and its evidence link) as is."""
        if self.plan is None or getattr(self.plan, "empty", False) or not self._lock.acquire(blocking=False):
            return
        try:
            self.in_flight = True
            self.apply_button.disabled = True
            self._apply_once()
        finally:
            self.in_flight = False
            self.apply_button.disabled = self.plan is None or bool(getattr(self.plan, "empty", False))
            self._lock.release()

    def _apply_once(self) -> None:
        risky = self.confirm.required
        if risky and not self.confirm.accepted:
            self.error = guard.ConfirmationRequiredError(self.plan, what=f"the change of {self.connection_name}")
            self.outcome.value = error_html(self.error)
            return
        self.outcome.value = html.message_html("info", "Applying …")
        self.error = None
        self.applies += 1
        text = self.confirm.text  # (the re-plan after the apply asks a new question)
        from vpnrunbook.evidence import capture, journal

        run: Any = None
        try:
            with journal.run_scope(capture.step_name(str(getattr(self.plan, "step", "") or "update"))) as run:
                result = self.apply()
        except Exception as exc:  # noqa: BLE001 - the operator sees one box; the plan is refreshed
            self.error = exc
            with contextlib.suppress(Exception):
                self.current = self._read_current()
            self.replan()
            self.outcome.value = self._error_box(exc, evidence_of(None, run))
            return
        if result is None:
            self.outcome.value = html.message_html("info", "Nothing to apply: the connection already matches.")
            return
        now = self.current.summary() if self.current else "Azure's default proposals"
        details = getattr(result, "details", None) or {}
        extra = "".join(f"\n{w}" for w in getattr(result, "warnings", None) or [])
        if details.get("unplanned_changes"):
            from vpnrunbook.evidence.compare import unplanned_text

            extra += "\n" + unplanned_text(details["unplanned_changes"])
        self.evidence = evidence_of(result, run)
        n = len(result.plan.changes) if getattr(result, "plan", None) else ""
        accepted = f" (accepted: {text.removeprefix('I accept that ')})" if risky else ""
        self.outcome.value = outcome_html(
            result, risky=risky, evidence=self.evidence,
            lead=f"Applied {n} change(s) to {self.connection_name}{accepted}. The connection now uses: {now}{extra}")

    def _error_box(self, exc: BaseException, where: dict[str, Any] | None) -> str:
        if type(exc).__name__ == "ConcurrentChangeError":  # one instruction, for this panel: the plan is already new
            return html.message_html(
                "error", f"Not applied (ConcurrentChangeError): {getattr(exc, 'resource', self.connection_name)} was "
                         "changed by someone else after the plan was made (ETag mismatch); nothing was written. The "
                         "plan above has been made again from the current state — review it, then Apply again.")
        if isinstance(exc, domain_errors()):
            return error_html(exc)
        log.debug("update panel apply failed", exc_info=True)
        return unexpected_error_html(exc, evidence=where)

    # ---- display -----------------------------------------------------------------------------
    def static_html(self) -> str:
        plan = html.plan_html(self.plan.changes) if self.plan is not None else ""
        return f'<div class="vpnrunbook-update-static">{self.compare.value}{plan}{self.warning.value}</div>'

    def __repr__(self) -> str:
        n = len(self.plan.changes) if self.plan is not None else "no"
        return f"UpdatePanel({self.connection_name}: {n} planned change(s))"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.interactive:
            return self.widget._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self), "text/html": self.static_html()}


def update_panel(session: Any, *, resource_group: str, connection_name: str,
                 initial: IpsecIkePolicy | str | Path | Mapping[str, Any] | None = None,
                 interactive: bool | None = None, dpd_timeout_seconds: int | None = None,
                 use_policy_based_traffic_selectors: bool | None = None) -> UpdatePanel:
    """Current policy of a connection beside a picker starting at ``initial`` (default: the current policy),
    the plan, and an Apply button. Headless it shows the comparison and plan, and applies nothing."""
    return UpdatePanel(session, resource_group=resource_group, connection_name=connection_name, initial=initial,
                       interactive=interactive, dpd_timeout_seconds=dpd_timeout_seconds,
                       use_policy_based_traffic_selectors=use_policy_based_traffic_selectors)
