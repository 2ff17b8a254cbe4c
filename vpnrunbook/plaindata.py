"""Plain data: the only values a parameter file, a policy file or ``-P NAME=VALUE`` may hold.

Plain data is ``str``, ``int``, ``float``, ``bool``, ``None``, and lists and string-keyed mappings of those,
recursively, within the bounds below. Everything that reaches a notebook passes :func:`check` first, and the
notebook's parameters cell is written from it by :func:`render_literal` (exact Python literals, verified by
:func:`verify_assignments`), never by papermill's translator.

YAML is read with :class:`BoundedLoader` only (:func:`load_yaml`): PyYAML's safe loader restricted to the core
scalar tags, with bounded nesting and merge-key expansion. A value the loader cannot turn into plain data — a
``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``, a date or timestamp, any ``!tag`` or ``!!python/...`` tag, an
integer of more digits than :data:`MAX_INT_DIGITS` — is loaded as a :class:`NotPlain` marker (never the value
itself), so :func:`check` can name the field holding it (``policy.name``).
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from vpnrunbook.policy.rules import Problem

MAX_DEPTH = 32             # nesting levels of lists and mappings
MAX_NODES = 10_000         # values in one document, every alias expanded
MAX_STRING_CHARS = 10_000  # characters in one string
MAX_KEY_CHARS = 200        # characters in one mapping key
MAX_INT_DIGITS = 20        # decimal digits in one integer (Azure's largest is 2147483647)
MAX_TEXT_CHARS = 1_000_000  # characters of YAML text read at all
ALLOWED = ("plain data: a string, a number, true/false, null, or a list or string-keyed mapping of those "
           "(quote a date or other text to give it as a string)")
SHOWN_CHARS = 60           # characters of a value echoed in an error


@dataclass(frozen=True)
class NotPlain:
    """Stands in for a value that is not plain data; says what it was, never holds it."""

    what: str

    def __str__(self) -> str:
        return f"<{self.what}>"


class YamlLimitError(yaml.YAMLError):
    """A YAML document beyond the bounds (nesting, merge expansion, size)."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


_CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map"))
_TAG_TEXT = {
    "tag:yaml.org,2002:timestamp": "a YAML date/timestamp", "tag:yaml.org,2002:binary": "a YAML !!binary value",
    "tag:yaml.org,2002:set": "a YAML !!set", "tag:yaml.org,2002:omap": "a YAML !!omap",
    "tag:yaml.org,2002:pairs": "a YAML !!pairs value",
}


def _tag_text(tag: str | None) -> str:
    if tag in _TAG_TEXT:
        return _TAG_TEXT[tag]
    shown = str(tag)
    shown = "!!" + shown[len("tag:yaml.org,2002:"):] if shown.startswith("tag:yaml.org,2002:") else shown
    return f"a value tagged {safe_text(shown, 40)}"


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader with only the core tags, bounded nesting and bounded merge-key (``<<``) expansion."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._merged = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(f"nests deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: Any) -> None:
        super().flatten_mapping(node)
        self._merged += len(node.value)
        if self._merged > MAX_NODES:
            raise YamlLimitError(f"expands to more than {MAX_NODES} mapping entries (merge keys)", node.start_mark)

    def construct_not_plain(self, node: Any) -> NotPlain:
        return NotPlain(_tag_text(node.tag))

    def construct_bounded_int(self, node: Any) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.construct_yaml_int(node)  # ConstructorError: expected a scalar node
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > MAX_INT_DIGITS + 2:  # + a 0x/0o/0b prefix
            return NotPlain(f"an integer of {len(text)} digits")
        return self.construct_yaml_int(node)


BoundedLoader.yaml_constructors = {k: v for k, v in yaml.SafeLoader.yaml_constructors.items() if k in _CORE_TAGS}
BoundedLoader.yaml_multi_constructors = {}
BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_bounded_int)
BoundedLoader.add_constructor(None, BoundedLoader.construct_not_plain)


def load_yaml(text: str) -> Any:
    """YAML text → Python data (with :class:`NotPlain` markers). Raises ``yaml.YAMLError`` (or
    :class:`YamlLimitError`) for malformed or oversized YAML — never anything else."""
    if len(text) > MAX_TEXT_CHARS:
        raise YamlLimitError(f"is longer than {MAX_TEXT_CHARS} characters")
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError:
        raise
    except RecursionError:
        raise YamlLimitError("nests too deeply") from None
    except Exception as exc:  # noqa: BLE001 - a constructor failing on a scalar (`!!bool foo`, `!!int ""`)
        raise YamlLimitError(f"holds a value its tag cannot read ({type(exc).__name__})") from None
    finally:
        loader.dispose()


def yaml_error_text(exc: BaseException) -> tuple[str, str]:
    """``(where, reason)`` of a YAML error: `` at line L, column C`` and PyYAML's short reason (no file content)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    reason = getattr(exc, "problem", None) or "syntax error"
    return where, safe_text(str(reason), 120)


# ---- showing user text safely -------------------------------------------------------------------
def safe_text(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` made printable (control characters and lone surrogates as escapes) and cut to ``limit``."""
    cut = text[:limit]
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in cut)
    if len(text) > limit:
        out += f"… ({len(text)} characters)"
    return out


def unicode_safe(text: str) -> str:
    """``text`` with every lone surrogate written as its ``\\udcxx`` escape: always encodable as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def int_digits(value: int) -> int:
    """Decimal digits of ``abs(value)`` (estimated from its bit length when large: never ``str()`` of a huge int)."""
    if value.bit_length() <= 64:
        return len(str(abs(value)))
    return int(value.bit_length() * 0.30103) + 1


def _printable(s: str) -> bool:
    return all(c.isprintable() or c in "\t\n\r" for c in s)


def shown(value: Any, limit: int = SHOWN_CHARS) -> Any:
    """A value as an error may echo it: plain short values as they are, anything else described and cut."""
    if value is None or type(value) in (bool, float):
        return value if not (type(value) is float and not math.isfinite(value)) else str(value)
    if type(value) is int:
        digits = int_digits(value)
        return value if digits <= MAX_INT_DIGITS else f"<an integer of about {digits} digits>"
    if type(value) is str:
        return value if len(value) <= limit and _printable(value) else safe_text(value, limit)
    if isinstance(value, NotPlain):
        return str(value)
    if type(value) in (list, dict):
        text = _short_repr(value, limit + 1)
        if len(text) <= limit and not check(value, "value"):
            return value
        return safe_text(text, limit) if len(text) <= limit else safe_text(text, limit)[:limit] + "…"
    return f"<a {type(value).__name__}>"


def _short_repr(value: Any, limit: int) -> str:
    """``repr(value)`` cut after about ``limit`` characters, without building more than that."""
    out: list[str] = []
    size = [0]

    def put(text: str) -> bool:
        out.append(text)
        size[0] += len(text)
        return size[0] < limit

    def walk(v: Any, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return put("...")
        if type(v) is list:
            if not put("["):
                return False
            for i, x in enumerate(v):
                if (i and not put(", ")) or not walk(x, depth + 1):
                    return False
            return put("]")
        if type(v) is dict:
            if not put("{"):
                return False
            for i, (k, x) in enumerate(v.items()):
                if (i and not put(", ")) or not walk(k, depth + 1) or not put(": ") or not walk(x, depth + 1):
                    return False
            return put("}")
        if type(v) is str:
            return put(repr(v[:limit])[:limit])
        return put(repr(v) if type(v) in (float, bool) or v is None else str(shown(v)))

    walk(value, 0)
    return "".join(out)[:limit]


def recordable(value: Any, *, limit: int = 200, budget: list[int] | None = None, depth: int = 0) -> Any:
    """A bounded, JSON-safe copy of anything a refused run records: strings cut to ``limit``, non-plain values
    described, at most :data:`MAX_DEPTH` levels and :data:`MAX_NODES` values (aliases are not expanded twice)."""
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return "<not recorded: too many values>"
    if depth > MAX_DEPTH:
        return "<not recorded: nested too deeply>"
    if type(value) is dict:
        return {safe_text(k, MAX_KEY_CHARS) if type(k) is str else str(shown(k)):
                recordable(v, limit=limit, budget=budget, depth=depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [recordable(v, limit=limit, budget=budget, depth=depth + 1) for v in value]
    return shown(value, limit)


# ---- the check ---------------------------------------------------------------------------------------
def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _problem(path: str, value: Any, message: str, allowed: str = ALLOWED, code: str = "NotPlainData") -> Problem:
    return Problem(path, value, message, allowed, code)


def check(value: Any, path: str, *, max_problems: int = 20) -> list[Problem]:
    """Every way ``value`` is not plain data within the bounds, each naming its dotted path (``policy.name``,
    ``address_space[2]``). Walks at most :data:`MAX_NODES` values, so a shared or self-referring structure
    ("billion laughs", ``&a [*a]``) is refused quickly."""
    problems: list[Problem] = []
    budget = [MAX_NODES]
    for p in _walk(value, path, 0, budget):
        problems.append(p)
        if len(problems) >= max_problems or p.code == "TooLarge":
            break
    return problems


def _walk(value: Any, path: str, depth: int, budget: list[int]) -> Iterator[Problem]:
    budget[0] -= 1
    if budget[0] < 0:
        yield _problem(path, None, f"holds more than {MAX_NODES} values (an alias expanded many times?)",
                       f"at most {MAX_NODES} values", "TooLarge")
        return
    kind = type(value)
    if value is None or kind is bool:
        return
    if kind is int:
        if int_digits(value) > MAX_INT_DIGITS:
            yield _problem(path, shown(value), f"is an integer of more than {MAX_INT_DIGITS} digits",
                           f"an integer of at most {MAX_INT_DIGITS} digits", "TooLarge")
        return
    if kind is float:
        if not math.isfinite(value):
            yield _problem(path, str(value), "is not a finite number", "a finite number", "InvalidNumber")
        return
    if kind is str:
        yield from _check_str(value, path, MAX_STRING_CHARS)
        return
    if depth >= MAX_DEPTH and kind in (list, dict):
        yield _problem(path, None, f"nests deeper than {MAX_DEPTH} levels (or refers to itself, e.g. &a [*a])",
                       f"at most {MAX_DEPTH} levels of lists and mappings, without recursive aliases", "TooDeep")
        return
    if kind is list:
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]", depth + 1, budget)
            if budget[0] < 0:
                return
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                yield _problem(_join(path, safe_text(str(shown(key)), 40)), shown(key),
                               f"has a key of type {_kind(key)}, not a string", "string keys", "InvalidKey")
                continue
            key_problems = list(_check_str(key, _join(path, safe_text(key, 40)), MAX_KEY_CHARS, what="key"))
            if key_problems:
                yield from key_problems
                continue
            yield from _walk(item, _join(path, key), depth + 1, budget)
            if budget[0] < 0:
                return
        return
    if isinstance(value, NotPlain):
        yield _problem(path, str(value), f"is {value.what}, not plain data")
        return
    yield _problem(path, f"<a {kind.__name__}>", f"is a Python {kind.__name__}, not plain data")


def _kind(value: Any) -> str:
    return value.what if isinstance(value, NotPlain) else type(value).__name__


def _check_str(s: str, path: str, limit: int, *, what: str = "string") -> Iterator[Problem]:
    if len(s) > limit:
        yield _problem(path, safe_text(s), f"is a {what} of {len(s)} characters", f"at most {limit} characters",
                       "TooLong")
    elif "\x00" in s:
        yield _problem(path, safe_text(s), f"holds a NUL character in the {what}", "text without NUL characters",
                       "InvalidText")
    elif any("\ud800" <= c <= "\udfff" for c in s):
        yield _problem(path, safe_text(s), f"holds a lone surrogate (not Unicode text) in the {what}",
                       "Unicode text", "InvalidText")


# ---- rendering the parameters cell --------------------------------------------------------------------
def render_literal(value: Any) -> str:
    """Python source for a plain value: exactly one literal (``repr`` of the exact built-in types only)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return repr(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return repr(value)
    if kind is list:
        return "[" + ", ".join(render_literal(v) for v in value) + "]"
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise TypeError("a mapping key is not a string")
        return "{" + ", ".join(f"{k!r}: {render_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"{kind.__name__} is not plain data")


def render_assignments(values: dict[str, Any], *, comment: str = "Parameters") -> str:
    """``# Parameters`` then one ``name = <literal>`` line per value, verified to evaluate back to ``values``."""
    lines = [f"# {comment}"]
    for name, value in values.items():
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"{safe_text(str(name))!r} is not a parameter name")
        problems = check(value, name)
        if problems:
            raise ValueError(str(problems[0]))
        lines.append(f"{name} = {render_literal(value)}")
    source = "\n".join(lines) + "\n"
    verify_assignments(source, values)
    return source


def verify_assignments(source: str, values: dict[str, Any]) -> None:
    """Proof that ``source`` only assigns literals equal (type for type) to ``values``; raises ``ValueError``."""
    tree = ast.parse(source)
    seen: dict[str, Any] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise ValueError("the parameters cell holds something other than one assignment per line")
        seen[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    if list(seen) != list(values) or not all(_same(seen[k], values[k]) for k in values):
        raise ValueError("the parameters cell does not evaluate to the validated parameters")


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b
