"""Azure's naming rule for resource groups, and URL path segments built from names.

A resource group name is 1–90 characters: letters and digits (Unicode, as Azure's ``Char.IsLetterOrDigit``),
underscore, parentheses, hyphen and period, and it does not end with a period (so ``.`` and ``..`` are
refused). Azure answers ``400 InvalidResourceGroup`` otherwise (ResourceGroups_CreateOrUpdate path parameter
``resourceGroupName``: pattern ``^[-\\w\\._\\(\\)]+$``, 1–90 characters; the trailing-period rule is the
service's). A network resource name is 1–80 word characters, ``.`` or ``-``, beginning with a word character
and ending with one (Azure's ``InvalidResourceName``). Any name placed in a URL path is percent-encoded as one segment (``/``, ``?``, ``#`` and ``%``
cannot reshape the URL).

Names and ids are compared as Azure Resource Manager compares them: ordinal ignore-case (.NET's
``StringComparison.OrdinalIgnoreCase``), :func:`fold`. ``TestRG`` and ``testrg`` are one group; ``TestKRG`` and
``Test\u212aRG`` (Kelvin sign) are two, where ``str.lower()`` and ``str.casefold()`` would make them one.
"""

from __future__ import annotations

import re
from functools import lru_cache
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


# ---- comparing names as ARM does -------------------------------------------------------------------------
# .NET's OrdinalIgnoreCase (System.Globalization.OrdinalCasing, dotnet/runtime): each UTF-16 unit's simple
# uppercase mapping (ICU u_toupper), except U+0131 dotless i and U+017F long s, which stay themselves (no Turkish
# i behaviour in ordinal operations), and outside the BMP only these scripts' small letters.
_ORDINAL_SELF = frozenset("\u0131\u017f")
_ASTRAL_CASED = ((0x10428, 0x1044F), (0x104D8, 0x104FB), (0x10CC0, 0x10CF2), (0x118C0, 0x118DF), (0x16E60, 0x16E7F),
                 (0x1E922, 0x1E943))


def fold(text: str) -> str:
    """``text`` in the form in which two names or ids that ARM takes as the same are equal: ASCII letters in lower
    case (so keys stored before this rule stay valid), every other character by its simple uppercase mapping, as
    ordinal ignore-case compares them. ``fold("TestRG") == fold("testrg")``; ``fold("TestKRG") !=
    fold("Test\u212aRG")``; ``ß``, ``ı`` and ``ſ`` stay themselves."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if c.isascii() else _fold_char(c) for c in text)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    code = ord(c)
    if c in _ORDINAL_SELF or (code > 0xFFFF and not any(lo <= code <= hi for lo, hi in _ASTRAL_CASED)):
        return c
    upper = c.upper()
    if len(upper) == 1:
        return upper
    # Python's upper() is the full mapping ("ß" -> "SS"); where it has several characters, the simple mapping is
    # the single-character titlecase when there is one ("\u1f80" -> "\u1f88"), else the character itself.
    title = c.title()
    return title if len(title) == 1 else c
