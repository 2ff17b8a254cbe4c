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
        self.button.disabled = True
        self.outcome.value = html.message_html("info", "Applying …")
        try:
            with self.output:
                self.result = self._apply()
        except domain_errors() as exc:
            self.error = exc
            self.outcome.value = error_html(exc)
            return None
        except Exception as exc:
            self.error = exc
            self.outcome.value = html.message_html("error", f"Not applied: {type(exc).__name__}: {exc}")
            raise
        self.button.description = "Applied"
        self.outcome.value = html.message_html(
            "ok", f"Applied. {_summary(self.result)}\nRun the cells below to verify; re-run the step to plan again.")
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
