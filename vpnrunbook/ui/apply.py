"""The Apply control: a step that writes shows its plan first and changes only when the operator clicks Apply
under it. The click applies exactly the plan shown (``operations.apply_plan``: If-Match on the ETags read at plan
time), once; the outcome (or one clear error box) appears under the button. Headless runs never show it — they
apply by the ``apply`` parameter (``vpnrunbook run --apply``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpnrunbook.ui import html
from vpnrunbook.ui.env import is_interactive
from vpnrunbook.ui.errors import domain_errors, error_html


def _is_empty(planned: Any) -> bool:
    plans = planned if isinstance(planned, (list, tuple)) else [planned]
    return all(bool(getattr(getattr(p, "plan", p), "empty", False)) for p in plans)


def plan_warning_lines(planned: Any) -> list[str]:
    """What an operator must read before Apply: every tunnel the plan would break, every field it weakens and the
    weak algorithms it writes (shown above the Apply control; it does not block)."""
    plans = planned if isinstance(planned, (list, tuple)) else [planned]
    lines: list[str] = []
    for p in plans:
        plan = getattr(p, "plan", p)
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
    plans = planned if isinstance(planned, (list, tuple)) else [planned]
    return next((str(getattr(getattr(p, "plan", p), "step", "")) for p in plans if p is not None), "") or "apply"


def _where(run: Any) -> dict[str, Any] | None:
    """Where the evidence of the click went (None when nothing was recorded, e.g. refused before any write)."""
    if run is None or run.run_id is None:
        return None
    return dict(run.where) or {"run_id": run.run_id, "path": str(run.run_dir)}


def _evidence_html(run: Any) -> str:
    where = _where(run)
    return "" if where is None else html.message_html("info", f"Evidence of this attempt: {where['path']}")


class ApplyControl:
    """Build with :func:`apply_control`. ``.button``, ``.outcome``, ``.result``, ``.error``, ``.click()``."""

    def __init__(self, planned: Any, apply: Callable[[], Any], *, label: str = "Apply the plan above",
                 what: str = "the change", interactive: bool | None = None) -> None:
        import ipywidgets as w

        self.planned = planned
        self._apply = apply
        self.interactive = is_interactive() if interactive is None else interactive
        self.result: Any = None
        self.error: BaseException | None = None
        self.evidence: dict[str, Any] | None = None  # where the click's evidence run went
        self.empty = _is_empty(planned)
        self.button = w.Button(description=label, button_style="danger", icon="check", layout=w.Layout(width="260px"),
                               disabled=self.empty,
                               tooltip="nothing to change" if self.empty else f"apply {what} exactly as planned above")
        self.button.add_class("vpnrunbook-apply")
        self.button.on_click(lambda _b: self.click())
        self.outcome = w.HTML(html.message_html("info", "Nothing to apply: everything already matches the plan.")
                              if self.empty else
                              html.message_html("info", f"Review the plan above; Apply makes {what} exactly as "
                                                        "planned (refused if anything changed since the plan)."))
        self.outcome.add_class("vpnrunbook-apply-outcome")
        self.output = w.Output()  # what the apply displays (e.g. the gateway progress bar) shows here
        self.warning = w.HTML(warnings_html(planned))  # above the button: a breaking/weakening change is visible
        self.warning.add_class("vpnrunbook-apply-warning")
        self.widget = w.VBox([self.warning, self.button, self.output, self.outcome])
        self.widget.add_class("vpnrunbook-apply-control")

    @property
    def applied(self) -> bool:
        return self.result is not None

    def click(self) -> Any:
        """Apply once. Expected errors (refusals, concurrent change) show as a box; others propagate."""
        if self.empty or self.applied:
            return self.result
        from vpnrunbook.evidence import capture, journal

        self.button.disabled = True
        self.outcome.value = html.message_html("info", "Applying …")
        run: journal.RunScope | None = None
        try:
            with self.output, journal.run_scope(capture.step_name(_step_of(self.planned))) as run:
                self.result = self._apply()  # every write's intent/outcome goes to this one evidence run
        except domain_errors() as exc:
            self.error = exc
            self.outcome.value = error_html(exc) + _evidence_html(run)
            return None
        except Exception as exc:
            self.error = exc
            self.outcome.value = html.message_html("error", f"Not applied: {type(exc).__name__}: {exc}") + \
                _evidence_html(run)
            raise
        self.evidence = _where(run)
        self.button.description = "Applied"
        self.outcome.value = html.message_html(
            "ok", f"Applied. {_summary(self.result)}\nRun the cells below to verify; re-run the step to plan again."
                  + (f"\nEvidence of this change: {self.evidence['path']}" if self.evidence else ""))
        return self.result

    def __repr__(self) -> str:
        state = "applied" if self.applied else "nothing to apply" if self.empty else "waiting for Apply"
        return f"ApplyControl({state})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.interactive:
            return self.widget._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self)}


def apply_control(planned: Any, apply: Callable[[], Any], *, label: str = "Apply the plan above",
                  what: str = "the change", interactive: bool | None = None) -> ApplyControl:
    """An Apply button under a plan (an ``OperationResult`` of ``apply=False``, or a list of them); ``apply`` performs
    that plan (e.g. ``lambda: ops.apply_plan(session, planned.plan)``) when clicked."""
    return ApplyControl(planned, apply, label=label, what=what, interactive=interactive)
