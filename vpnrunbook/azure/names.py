"""Azure's naming rule for resource groups, and URL path segments built from names.

A resource group name is 1–90 characters: letters and digits (Unicode, as Azure's ``Char.IsLetterOrDigit``),
underscore, parentheses, hyphen and period, and it does not end with a period (so ``.`` and ``..`` are
refused). Azure answers ``400 InvalidResourceGroup`` otherwise (ResourceGroups_CreateOrUpdate path parameter
``resourceGroupName``: pattern ``^[-\\w\\._\\(\\)]+$``, 1–90 characters; the trailing-period rule is the
service's). A network resource name is 1–80 word characters, ``.`` or ``-``, beginning with a word character
and ending with one (Azure's ``InvalidResourceName``). Any name placed in a URL path is percent-encoded as one segment (``/``, ``?``, ``#`` and ``%``
cannot reshape the URL).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from vpnrunbook.policy import rules

RESOURCE_GROUP_MAX = rules.RESOURCE_GROUP_NAME_MAX  # the rule itself lives in vpnrunbook.policy.rules
RESOURCE_GROUP_ALLOWED = "1-90 letters, digits, '_', '(', ')', '-' or '.', not ending with '.'"


class InvalidNameError(ValueError):
    """A name breaks Azure's naming rule; the message names the value and what is allowed."""


def resource_group_problem(name: object) -> str | None:
    """Why ``name`` is not a valid resource group name (None when it is)."""
    if not isinstance(name, str):
        return f"resource group name {name!r} is a {type(name).__name__}, not a string; allowed: {RESOURCE_GROUP_ALLOWED}"
    shown = _shown(name)
    if not name:
        return f"resource group name is empty; allowed: {RESOURCE_GROUP_ALLOWED}"
    if len(name) > RESOURCE_GROUP_MAX:
        return f"resource group name {shown} is {len(name)} characters long; allowed: {RESOURCE_GROUP_ALLOWED}"
    bad = sorted({c for c in name if not rules.resource_group_char_ok(c)})
    if bad:
        return (f"resource group name {shown} has these invalid characters: {''.join(bad)!r}; "
                f"allowed: {RESOURCE_GROUP_ALLOWED}")
    if name.endswith("."):
        return f"resource group name {shown} ends with a period; allowed: {RESOURCE_GROUP_ALLOWED}"
    return None


RESOURCE_NAME_MAX = 80
RESOURCE_NAME_ALLOWED = ("1-80 letters, digits, '_', '.' or '-', beginning with a letter, digit or '_' and ending "
                         "with a letter, digit or '_'")
_RESOURCE_NAME = re.compile(r"\w(?:[\w.-]{0,78}\w)?")


def resource_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid Microsoft.Network resource name (virtual network, gateway, connection,
    subnet ...): Azure's ``InvalidResourceName`` rule. None when it is valid."""
    if not isinstance(name, str):
        return f"resource name {name!r} is a {type(name).__name__}, not a string; allowed: {RESOURCE_NAME_ALLOWED}"
    if not _RESOURCE_NAME.fullmatch(name):
        return f"resource name {_shown(name)} is invalid; allowed: {RESOURCE_NAME_ALLOWED}"
    return None


def check_resource_group(name: object) -> str:
    """``name`` if it is a valid resource group name, else :class:`InvalidNameError`."""
    problem = resource_group_problem(name)
    if problem:
        raise InvalidNameError(problem)
    return name  # type: ignore[return-value]


def segment(name: str) -> str:
    """``name`` as one URL path segment, every reserved character percent-encoded."""
    return quote(name, safe="")


def _shown(name: str, limit: int = 100) -> str:
    return repr(name if len(name) <= limit else name[:limit] + "…")
