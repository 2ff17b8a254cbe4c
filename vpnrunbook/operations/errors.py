"""Errors the operations raise in addition to azure-core's (which pass through unchanged)."""

from __future__ import annotations

from collections.abc import Sequence

from vpnrunbook.policy.rules import PolicyValidationError, Problem


class PrecheckError(PolicyValidationError):
    """Refused before any write: every problem found by the pre-checks, listed at once."""

    def __init__(self, problems: Sequence[Problem], *, step: str) -> None:
        self.step = step
        super().__init__(problems, subject=step, headline=f"{step}: refused before any change — nothing was written")


class ConcurrentChangeError(RuntimeError):
    """A resource changed between the plan and the apply (ETag mismatch / HTTP 412). Nothing was overwritten."""

    def __init__(self, resource: str, *, step: str, planned_etag: str | None, detail: str = "") -> None:
        self.resource = resource
        self.step = step
        self.planned_etag = planned_etag
        what = "was created by someone else" if planned_etag is None else "was changed by someone else"
        msg = (f"{step}: {resource} {what} after the plan was made (ETag {planned_etag or 'none'} no longer "
               f"current); nothing was overwritten. Re-run the step to plan again from the current state, "
               f"review the new plan, then apply.")
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class ProvisioningFailedError(RuntimeError):
    """Azure finished a long-running operation with provisioningState Failed or Canceled.

    ``resource`` (label), ``state``, ``code``/``error_message`` (the ARM error of the operation, when Azure
    gave one), ``step``, ``written`` (labels of resources of the same step already written successfully) and
    ``retry`` (what to re-run). The message says what happened and what to do; it never holds a secret.
    """

    def __init__(self, resource: str, state: str, *, code: str | None = None, error_message: str | None = None,
                 step: str | None = None, retry: str | None = None, written: list[str] | None = None) -> None:
        self.resource = resource
        self.state = state
        self.code = code
        self.error_message = error_message
        self.step = step
        self.written = list(written or [])
        self.retry = retry or "re-run the step with the same parameters"
        head = f"{step}: " if step else ""
        msg = f"{head}{resource} ended in provisioningState {state}"
        if code or error_message:
            msg += f" — Azure reported {code or 'an error'}: {error_message or '(no message)'}"
        msg += "."
        if self.written:
            msg += f" Already written by this step: {', '.join(self.written)}."
        msg += (f" What to do: look at the cause above (portal / activity log / show commands), fix it if it is on "
                f"your side, then {self.retry}; a re-run plans 'retry failed deployment' for a Failed resource and "
                "re-submits it (Azure retries the deployment).")
        super().__init__(msg)
