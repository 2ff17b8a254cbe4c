"""Errors the operations raise in addition to azure-core's (which pass through unchanged)."""

from __future__ import annotations

from collections.abc import Sequence

from vpnrunbook.policy.rules import PolicyValidationError, Problem


class PrecheckError(PolicyValidationError):
    """Refused before any write: every problem found by the pre-checks, listed at once."""

    def __init__(self, problems: Sequence[Problem], *, step: str) -> None:
        self.step = step
        super().__init__(problems, subject=f"{step}: refused before any change, nothing was written")


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
    """Azure finished a long-running operation with provisioningState Failed or Canceled."""

    def __init__(self, resource: str, state: str) -> None:
        self.resource = resource
        self.state = state
        super().__init__(f"{resource} ended in provisioningState {state}; inspect it in the portal or with "
                         "show commands, fix the cause, and re-run the step (it retries the creation)")
