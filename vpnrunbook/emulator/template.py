"""A small ARM template evaluator: the expressions clients generate for network resources.

Supported: ``[parameters('x')]``, ``[variables('x')]``, ``[concat(...)]``, ``[resourceId(type, name...)]``,
``[resourceGroup()]``/``[subscription()]`` with property access, ``[reference(name|id)]`` (evaluated lazily,
in outputs), ``[toLower()]``/``[toUpper()]``, string literals ('' escapes a quote), numbers, ``true``/``false``
and ``.prop`` / ``[index]`` access. Anything else is an ``InvalidTemplate`` error naming the function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vpnrunbook.emulator import errors

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[(),.\[\]]))")


def jsonc_to_json(text: str) -> str:
    """The JSON of a JSONC deployment body as ARM reads it: ``//`` and ``/* */`` comments dropped, bare property
    names quoted, trailing commas removed. The Azure CLI sends ``{"properties": {...}, template:{…file text…}}``
    (its JsonCTemplatePolicy splices the template file in verbatim, comments and all), which ARM accepts."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] not in "\r\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "," and re.match(r"\s*(?://[^\n]*\s*|/\*.*?\*/\s*)*[}\]]", text[i + 1:], re.DOTALL):
            i += 1  # a trailing comma
        elif c.isalpha() or c in "_$":
            m = re.match(r"[A-Za-z_$][\w$]*", text[i:])
            assert m is not None
            word = m.group(0)
            rest = text[i + len(word):]
            if re.match(r"\s*:", rest) and word not in ("true", "false", "null"):
                out.append(f'"{word}"')
            else:
                out.append(word)
            i += len(word)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def invalid(message: str) -> errors.ArmError:
    return errors.ArmError(f"Deployment template validation failed: '{message}'.", code="InvalidTemplate")


class Evaluator:
    def __init__(self, *, sub: str, rg: str, location: str, parameters: dict[str, Any], variables: dict[str, Any],
                 reference: Callable[[str], Any] | None = None) -> None:
        self.sub, self.rg, self.location = sub, rg, location
        self.parameters, self.variables, self.reference = parameters, variables, reference

    def resource_id(self, type_: str, *names: str) -> str:
        ns, _, rest = type_.partition("/")
        types = rest.split("/")
        if len(types) != len(names):
            raise invalid(f"resourceId('{type_}') needs {len(types)} name(s), got {len(names)}")
        path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
        return f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/{ns}/{path}"

    # ---- evaluation ---------------------------------------------------------------------------------
    def value(self, node: Any) -> Any:
        if isinstance(node, str):
            if node.startswith("[[") or not (node.startswith("[") and node.endswith("]")):
                return node[1:] if node.startswith("[[") else node
            return self.expression(node[1:-1])
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, dict):
            return {k: self.value(v) for k, v in node.items()}
        return node

    def expression(self, text: str) -> Any:
        tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in TOKEN.finditer(text) if m.lastgroup]
        pos, result = self._expr(tokens, 0)
        if pos != len(tokens):
            raise invalid(f"unexpected {tokens[pos][1]!r} in [{text}]")
        return result

    def _expr(self, tokens: list[tuple[str, str]], pos: int) -> tuple[int, Any]:
        if pos >= len(tokens):
            raise invalid("unexpected end of expression")
        kind, text = tokens[pos]
        if kind == "str":
            pos, value = pos + 1, text[1:-1].replace("''", "'")
        elif kind == "num":
            pos, value = pos + 1, int(text)
        elif kind == "name" and text.lower() in ("true", "false") and \
                (pos + 1 >= len(tokens) or tokens[pos + 1][1] != "("):
            pos, value = pos + 1, text.lower() == "true"
        elif kind == "name":
            if pos + 1 >= len(tokens) or tokens[pos + 1][1] != "(":
                raise invalid(f"'{text}' is not a function call")
            pos += 2
            args: list[Any] = []
            while tokens[pos][1] != ")":
                pos, arg = self._expr(tokens, pos)
                args.append(arg)
                if tokens[pos][1] == ",":
                    pos += 1
            pos += 1
            value = self.call(text, args)
        else:
            raise invalid(f"unexpected {text!r}")
        while pos < len(tokens) and tokens[pos][1] in (".", "["):
            if tokens[pos][1] == ".":
                key = tokens[pos + 1][1]
                value = _member(value, key)
                pos += 2
            else:
                pos, index = self._expr(tokens, pos + 1)
                value = value[index] if isinstance(value, list) else _member(value, str(index))
                pos += 1  # "]"
        return pos, value

    def call(self, name: str, args: list[Any]) -> Any:
        fn = name.lower()
        if fn == "parameters":
            if args[0] not in self.parameters:
                raise invalid(f"The template parameter '{args[0]}' is not found")
            return self.parameters[args[0]]
        if fn == "variables":
            if args[0] not in self.variables:
                raise invalid(f"The template variable '{args[0]}' is not found")
            return self.value(self.variables[args[0]])
        if fn == "concat":
            if args and all(isinstance(a, list) for a in args):
                return [x for a in args for x in a]
            return "".join(str(a) for a in args)
        if fn == "resourceid":
            return self.resource_id(*[str(a) for a in args])
        if fn == "resourcegroup":
            return {"id": f"/subscriptions/{self.sub}/resourceGroups/{self.rg}", "name": self.rg,
                    "location": self.location}
        if fn == "subscription":
            return {"id": f"/subscriptions/{self.sub}", "subscriptionId": self.sub}
        if fn == "tolower":
            return str(args[0]).lower()
        if fn == "toupper":
            return str(args[0]).upper()
        if fn == "reference":
            if self.reference is None:
                raise invalid("reference() is only allowed in outputs and resource properties after deployment")
            return self.reference(str(args[0]))
        raise invalid(f"The template function '{name}' is not known to the emulator")


def _member(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            if k.lower() == key.lower():
                return v
    raise invalid(f"The language expression property '{key}' doesn't exist")
