"""Expected errors in a notebook as one clear box instead of a traceback.

:func:`install_error_display` registers an IPython custom exception handler (``set_custom_exc``) for the
package's domain errors — bad parameters, pre-check refusals, invalid policies, a concurrent change, a missing
or malformed shared-key reference. Interactively (JupyterLab) the error is a red HTML box listing each problem
(field, value, what is allowed) and what to do; headless it is a short text. The cell still fails (Run All stops,
the runner sees the error's type and message); unexpected errors keep their full traceback.
"""

from __future__ import annotations

from typing import Any

from vpnrunbook.ui.html import escape

_INSTALLED = "_vpnrunbook_error_display"


def domain_errors() -> tuple[type[BaseException], ...]:
    from vpnrunbook.azure.secrets import SecretReferenceError
    from vpnrunbook.evidence.journal import EvidenceUnavailableError, OutcomeNotRecordedError
    from vpnrunbook.operations.errors import ConcurrentChangeError, ProvisioningFailedError
    from vpnrunbook.policy.rules import PolicyValidationError
    from vpnrunbook.runbook.params import ParameterError

    return (ParameterError, PolicyValidationError, ConcurrentChangeError, ProvisioningFailedError,
            SecretReferenceError, EvidenceUnavailableError, OutcomeNotRecordedError)


def what_to_do(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "ConcurrentChangeError":
        return "Someone else changed the resource after the plan: run the step again, review the new plan, then Apply."
    if name == "SecretReferenceError" or "SEED_KEY" in str(exc) or "shared_key_ref" in str(exc):
        return ("Give the shared key by reference (env:NAME, file:PATH or generate). After `vpnrunbook demo`, start "
                "JupyterLab with `vpnrunbook lab` (it exports VPNRUNBOOK_SEED_KEY from the demo's key file).")
    if name == "ProvisioningFailedError":
        return str(getattr(exc, "retry", "") or "See the message; fix the cause and run the step again.")
    if name == "EvidenceUnavailableError":
        return "Free space or fix the evidence folder (VPNRUNBOOK_EVIDENCE_DIR), then Apply again. Nothing was changed."
    if name == "OutcomeNotRecordedError":
        return "The change WAS made. Fix the evidence folder, then run `vpnrunbook evidence reconcile`."
    if name == "ConfirmationRequiredError":
        return ("Read the warning above Apply; to make the change anyway, tick the box stating what you accept, "
                "then Apply (recorded in the evidence). Or choose a policy the other end accepts. Nothing was changed.")
    if name == "StalePlanError":
        return ("Run the cells from the picker down again (or the whole notebook) so the plan shows the values you "
                "chose, review it, then Apply. Nothing was changed.")
    if name == "PrecheckError" and "UpdateBreaksTunnel" in {getattr(p, "code", "") for p in getattr(exc, "problems", [])}:
        return ("refuse_breaking is True in the parameters: set it to False (and tick what you accept above Apply) "
                "to make a change that breaks the tunnel, or choose a policy the other end accepts. Nothing was "
                "changed.")
    if name == "ParameterError":
        return "Correct the parameters cell (or the parameter file) and run the step again. Nothing was changed."
    return "Correct the value(s) named above and run the step again. Nothing was changed."


def problems_of(exc: BaseException) -> list[tuple[str, str, str, str]]:
    """(field, value, problem, allowed) for each problem the error lists; empty for errors without problems."""
    rows = []
    for p in getattr(exc, "problems", None) or []:
        rows.append((str(p.field), repr(p.value), str(p.message), str(p.allowed or "")))
    return rows


def error_text(exc: BaseException) -> str:
    """The short headless form: the error type, its message, and what to do."""
    return f"{type(exc).__name__}: {exc}\nWhat to do: {what_to_do(exc)}"


def error_html(exc: BaseException) -> str:
    rows = problems_of(exc)
    head = getattr(exc, "headline", None) or getattr(exc, "subject", None) or str(exc)
    table = ""
    if rows:
        cells = "".join(f"<tr><td><b>{escape(f)}</b></td><td><code>{escape(v)}</code></td><td>{escape(m)}</td>"
                        f"<td>{escape(a)}</td></tr>" for f, v, m, a in rows)
        table = ('<table style="border-collapse:collapse;text-align:left;margin:4px 0"><tr><th>field</th>'
                 f"<th>value</th><th>problem</th><th>allowed</th></tr>{cells}</table>")
    return ('<div class="vpnrunbook-error-box" style="background:#fdecea;color:#a61b1b;border:1px solid #a61b1b;'
            'padding:6px 10px;border-radius:4px;text-align:left;white-space:pre-wrap">'
            f"✘ <b>{escape(type(exc).__name__)}</b>: {escape(head)}{table}"
            f"<div><b>What to do:</b> {escape(what_to_do(exc))}</div></div>")


def unexpected_error_html(exc: BaseException, *, evidence: dict[str, Any] | None = None) -> str:
    """An error the package does not expect, as one box (never a traceback in front of the operator): what failed,
    whether anything may have been written, and what next."""
    where = f"\nEvidence of this attempt: {evidence['path']}" if evidence and evidence.get("path") else ""
    written = ("Its evidence run says what was written before the error; `vpnrunbook evidence show` and "
               "`vpnrunbook evidence reconcile` read it." if where else "Nothing was recorded, so nothing was written.")
    return ('<div class="vpnrunbook-error-box" style="background:#fdecea;color:#a61b1b;border:1px solid #a61b1b;'
            'padding:6px 10px;border-radius:4px;text-align:left;white-space:pre-wrap">'
            f"✘ <b>Not applied: {escape(type(exc).__name__)}</b>: {escape(str(exc)[:1000])}{escape(where)}"
            f"<div><b>What to do:</b> {escape(written)} Re-run the step to plan again from the current state; "
            "if it happens again, report it with the message above (the kernel log holds the details).</div></div>")


def _handler(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
             tb_offset: int | None = None) -> list[str]:
    from vpnrunbook.ui.env import is_interactive

    if is_interactive():
        from IPython.display import HTML, display

        display(HTML(error_html(value)))
        stb = [f"{etype.__name__}: see the box above"]
    else:
        stb = error_text(value).splitlines()
    # IPython ignores a custom handler's return value; publish the error output ourselves (the runner and
    # papermill read its ename/evalue; the cell fails either way, so Run All stops here)
    shell._showtraceback(etype, value, stb)
    return stb


def install_error_display(shell: Any = None) -> bool:
    """Register the handler in the running IPython shell (once). False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            return False
        shell = get_ipython()
    if shell is None or getattr(shell, _INSTALLED, False):
        return shell is not None
    shell.set_custom_exc(domain_errors(), _handler)
    setattr(shell, _INSTALLED, True)
    return True
