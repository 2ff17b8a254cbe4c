"""Collecting pre-check problems: every problem is gathered, then raised at once before any write.

A referenced resource that does not exist yet is an error when applying, but only a note in a
plan-only run (so the steps of a fresh workflow can be previewed before the earlier ones ran).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vpnrunbook.operations.errors import PrecheckError
from vpnrunbook.policy.rules import Problem


@dataclass
class Prechecks:
    step: str
    apply: bool
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, problems: list[Problem] | Problem) -> None:
        self.problems += [problems] if isinstance(problems, Problem) else list(problems)

    def error(self, fieldname: str, value: Any, message: str, allowed: str = "", code: str = "InvalidValue") -> None:
        self.problems.append(Problem(fieldname, value, message, allowed, code))

    def missing(self, fieldname: str, value: Any, what: str, hint: str) -> None:
        """A referenced resource is absent: an error when applying, a note when only planning."""
        if self.apply:
            self.problems.append(Problem(fieldname, value, f"{what} does not exist", hint, "ResourceNotFound"))
        else:
            self.notes.append(f"{what} does not exist yet ({hint}); it must exist when this change is applied "
                              "(a step that plans it too creates it first)")

    def raise_if_any(self) -> None:
        if self.problems:
            raise PrecheckError(self.problems, step=self.step)


def require_text(checks: Prechecks, fieldname: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        checks.error(fieldname, value, "must be a non-empty string", "a name such as TestRG1", "InvalidName")
    elif any(c in value for c in "/\\?#%"):
        checks.error(fieldname, value, "contains a character ARM names cannot hold", "letters, digits, '-', '_', '.'",
                     "InvalidName")


def normal_location(value: Any) -> str:
    """ARM compares locations without case or spaces: ``East US`` == ``EastUS`` == ``eastus``."""
    return str(value or "").replace(" ", "").lower()
