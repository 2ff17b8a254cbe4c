"""What the emulator accepts from a client before it spends memory or time on it.

* Bodies: at most :data:`BODY_LIMIT` (16 MiB) on ARM routes, four times the 4 MB Azure Resource Manager accepts
  (its ``RequestContentTooLarge``), the largest legitimate body being a deployment template; at most
  :data:`LOGIN_BODY_LIMIT` (64 KiB) on the login endpoints served without a token (a token request is a few
  hundred bytes). Larger: 413 with the ARM envelope, the body never read.
* ``Content-Length``: one non-negative decimal integer (repeated headers must agree); anything else is 400.
* JSON: at most :data:`MAX_JSON_DEPTH` nested arrays/objects; deeper is 400 (never a ``RecursionError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from vpnrunbook.emulator import errors

BODY_LIMIT = 16 * 1024 * 1024
LOGIN_BODY_LIMIT = 64 * 1024
MAX_JSON_DEPTH = 128
_DIGITS = re.compile(r"[0-9]{1,20}")


class RequestContentTooLarge(errors.ArmError):
    status, code = 413, "RequestContentTooLarge"


class InvalidContentLength(errors.ArmError):
    status, code = 400, "InvalidContentLength"


def content_length(values: Iterable[str | None]) -> int:
    """The body length the ``Content-Length`` header(s) declare (0 without one); raises 400 when malformed."""
    found: set[int] = set()
    for value in values:
        if value is None:
            continue
        for part in str(value).split(","):  # RFC 9110 §8.6: a list of identical values is one value
            text = part.strip()
            if not _DIGITS.fullmatch(text):
                raise InvalidContentLength(
                    f"The Content-Length header {_short(value)!r} is not allowed; allowed: one non-negative "
                    "decimal integer.")
            found.add(int(text))
    if len(found) > 1:
        raise InvalidContentLength(
            f"The request carries conflicting Content-Length values ({', '.join(map(str, sorted(found)))}); "
            "allowed: one value.")
    return found.pop() if found else 0


def check_size(length: int, limit: int) -> None:
    if length > limit:
        raise RequestContentTooLarge(
            f"The request content size ({length} bytes) exceeds the maximum size of {limit // 1024} KiB the "
            f"emulator accepts on this endpoint (Azure Resource Manager: 4 MB).")


def loads(raw: bytes | str, *, what: str = "request body") -> Any:
    """``json.loads`` that answers 400 for malformed or too deeply nested JSON instead of raising anything else."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep(what) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidRequestFormat(f"Cannot parse the {what} as JSON ({_short(str(exc))}).") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    return data


def json_depth(data: Any) -> int:
    """How deeply arrays/objects nest in ``data`` (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def _too_deep(what: str) -> errors.ArmError:
    return errors.InvalidRequestFormat(
        f"The {what} nests JSON arrays/objects deeper than {MAX_JSON_DEPTH} levels; allowed: at most "
        f"{MAX_JSON_DEPTH}.")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
