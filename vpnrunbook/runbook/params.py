"""Typed parameters for the runbook notebooks.

Each step declares its parameters once (``vpnrunbook.runbook.steps``) as :class:`Param` objects with a
type written like a Python annotation (``str``, ``int``, ``bool``, ``list[str]``, ``dict[str, str]``,
``str | None``, ``policy``, ``secret_ref``). The same declaration checks a YAML parameter file before a kernel
starts (``load_file``) and the notebook's globals inside the kernel (``validate``), so the two can never
disagree. Every problem is reported at once, naming the field, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook import plaindata
from vpnrunbook.policy.rules import Problem

SECRET_REF_RE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|generate)$")
SECRET_REF_ALLOWED = "a reference: env:NAME, file:PATH or generate (never the key itself)"
# Parameters the runner sets itself; a parameter file may not carry them.
RUNNER_OWNED = ("apply",)


class ParameterError(ValueError):
    """Bad parameters: every problem at once. Raised before anything is changed."""

    def __init__(self, problems: Sequence[Problem], *, subject: str = "parameters") -> None:
        self.problems = list(problems)
        self.subject = subject
        n = len(self.problems)
        # "parameters of 04_connect are invalid", "the parameters in my.yaml are invalid" (a file is not plural)
        what = subject if subject.startswith("parameters") else f"the parameters in {subject}"
        lines = [f"{what} are invalid ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Param:
    """One notebook parameter: name, type (annotation text), default, help text and optional choices."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    secret: bool = False  # holds a secret *reference*; the value itself is never accepted

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) if c is None else str(c) for c in self.choices)
        return _TYPE_TEXT.get(self.type.replace(" | None", ""), self.type) + (
            " or null" if self.type.endswith("| None") else "")


_TYPE_TEXT = {
    "str": "a string", "int": "an integer", "bool": "true or false", "float": "a number",
    "list[str]": "a list of strings", "dict[str, str]": "a mapping of string to string",
    "policy": "a preset name, a policy YAML path or a mapping of the eight policy fields",
    "secret_ref": SECRET_REF_ALLOWED, "dict": "a mapping",
    "proposals": "strongSwan proposals: a list of strings or one comma-separated string",
}


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": _is_str,
    "int": _is_int,
    "bool": lambda v: isinstance(v, bool),
    "float": lambda v: (isinstance(v, int | float)) and not isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "dict[str, str]": lambda v: isinstance(v, Mapping) and all(isinstance(k, str) and isinstance(x, str)
                                                               for k, x in v.items()),
    "dict": lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v),
    "policy": lambda v: isinstance(v, str | Mapping),
    "secret_ref": _is_str,
    "proposals": lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
}


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, plaindata.NotPlain):
        return v.what
    return {int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(type(v), type(v).__name__)


def _shown(p: Param, v: Any) -> Any:
    return "<redacted>" if p.secret and not (isinstance(v, str) and SECRET_REF_RE.match(v)) else plaindata.shown(v)


def check_value(p: Param, value: Any) -> list[Problem]:
    """Type (and choice) check for one value."""
    base, optional = p.type, False
    if base.endswith("| None"):
        base, optional = base[: -len("| None")].strip(), True
    if value is None:
        if optional or (p.choices is not None and None in p.choices):
            return []
        return [Problem(p.name, None, "is null but is required", p.allowed(), "InvalidType")]
    checker = _CHECKS[base]
    if not checker(value):
        shown = _shown(p, value)
        return [Problem(p.name, shown, f"{_type_name(value)} {shown!r} has the wrong type", p.allowed(), "InvalidType")]
    if p.choices is not None and value not in p.choices:
        return [Problem(p.name, value, f"{value!r} is not allowed", p.allowed(), "InvalidValue")]
    if base == "secret_ref" and not SECRET_REF_RE.match(value):
        # Never echo what might be the key itself.
        return [Problem(p.name, "<redacted>", "is not a secret reference (a literal key is refused)",
                        SECRET_REF_ALLOWED, "InvalidSecretReference")]
    if base == "secret_ref":  # a reference, but only to a place the operator allows (azure.secrets)
        from vpnrunbook.azure import secrets

        why = secrets.place_problem(value)
        if why is not None:
            return [Problem(p.name, value, f"{value!r}: {why}", secrets.place_rule(), "SecretPlaceNotAllowed")]
    return []


@dataclass
class StepParams:
    """Validated parameters (attribute access) plus the table shown in the notebook."""

    step: str
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def table(self) -> Any:
        """The parameters as run: a light :class:`~vpnrunbook.runbook.table.Table` (``.to_frame()`` for pandas)."""
        from vpnrunbook.runbook import steps
        from vpnrunbook.runbook.table import Table

        spec = steps.get_step(self.step)
        rows = [{"parameter": p.name, "value": _display(self.values.get(p.name)), "help": p.help}
                for p in spec.params]
        return Table.from_records(rows, columns=("parameter", "value", "help"), index="parameter")


def _display(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v))
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={x}" for k, x in v.items())
    return "" if v is None else str(v)


def check_mapping(step: str, data: Mapping[str, Any], *, partial: bool = False,
                  runner_owned_ok: bool = True) -> list[Problem]:
    """Plain data first (``vpnrunbook.plaindata``: anything else is refused naming its dotted path), then unknown
    keys, wrong types, then the step's own semantic checks (which reuse the policy rules)."""
    from vpnrunbook.runbook import steps

    spec = steps.get_step(step)
    known = {p.name: p for p in spec.params}
    problems: list[Problem] = []
    not_plain: set[str] = set()
    for key in data:
        if type(key) is not str:
            problems.append(Problem(plaindata.safe_text(str(plaindata.shown(key)), 40), plaindata.shown(key),
                                    "is not a parameter name (not a string)", ", ".join(known), "UnknownParameter"))
            continue
        if key not in known:
            problems.append(Problem(plaindata.safe_text(key, 60),
                                    plaindata.shown(data[key]) if not _looks_secret(key) else "<redacted>",
                                    f"is not a parameter of step {spec.name}",
                                    ", ".join(known), "UnknownParameter"))
            if isinstance(data[key], plaindata.NotPlain):  # e.g. -P x=[unclosed: say that too
                problems += plaindata.check(data[key], plaindata.safe_text(key, 60))
            continue
        plain = plaindata.check(data[key], key)
        if plain:
            not_plain.add(key)
            problems += [_redact(known[key], p) for p in plain]
        elif not runner_owned_ok and key in RUNNER_OWNED:
            problems.append(Problem(key, plaindata.shown(data[key]), "is set by the runner, not by a parameter file "
                                    "or -P", "`vpnrunbook run ... --apply` to apply; omit it to only plan",
                                    "RunnerOwned"))
    for key, p in known.items():
        if key in data and key not in not_plain:
            problems += check_value(p, data[key])
    if problems or partial:
        return problems
    values = {p.name: data.get(p.name, p.default) for p in spec.params}
    if spec.check is not None:
        problems += spec.check(values)
    return problems


def _redact(p: Param, problem: Problem) -> Problem:
    return Problem(problem.field, "<redacted>", problem.message, problem.allowed, problem.code) if p.secret else problem


def _looks_secret(key: Any) -> bool:
    return "key" in str(key).lower() or "secret" in str(key).lower() or "password" in str(key).lower()


def validate(step: str, namespace: Mapping[str, Any]) -> StepParams:
    """Inside the notebook: ``P = validate("04_connect", globals())``. Raises :class:`ParameterError`.

    In a kernel it also registers the display of expected errors as one box (vpnrunbook.ui.errors)."""
    from vpnrunbook.runbook import steps
    from vpnrunbook.ui.errors import install_error_display
    from vpnrunbook.ui.tables import install_table_display

    install_error_display()
    install_table_display()  # interactive only: left-aligned tables without index column, NaN or truncation

    spec = steps.get_step(step)
    data = {p.name: namespace[p.name] for p in spec.params if p.name in namespace}
    missing = [p.name for p in spec.params if p.name not in namespace]
    problems = [Problem(m, None, "is not defined in the notebook's parameters cell", "a value", "MissingParameter")
                for m in missing]
    problems += check_mapping(spec.name, data)
    if problems:
        raise ParameterError(problems, subject=f"parameters of {spec.name}")
    values = {p.name: data.get(p.name, p.default) for p in spec.params}
    return StepParams(spec.name, values)


def parse_yaml(text: str, *, source: str = "parameters") -> dict[str, Any]:
    """YAML text → mapping, with a clear error naming line and column for malformed YAML.

    Read with the bounded plain-data loader (``vpnrunbook.plaindata.load_yaml``): tags other than the core
    scalars come back as markers that ``check_mapping`` refuses by field; nesting and merges are bounded."""
    import yaml

    try:
        data = plaindata.load_yaml(text)
    except yaml.YAMLError as exc:
        where, reason = plaindata.yaml_error_text(exc)
        raise ParameterError([Problem("file", source, f"is not valid YAML{where}: {reason}",
                                      "a YAML mapping of parameter names to values", "InvalidYaml")],
                             subject=source) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError([Problem("file", source, f"holds a {_type_name(data)}, not a mapping",
                                      "a YAML mapping of parameter names to values", "InvalidYaml")],
                             subject=source)
    if any(p.code == "TooDeep" for p in plaindata.check(data, "")):
        raise ParameterError([Problem("file", source, "holds an alias that refers to itself (e.g. &a [*a]) or "
                                      "nests too deeply", "a YAML mapping of parameter names to values, without "
                                      "recursive aliases", "InvalidYaml")], subject=source)
    return dict(data)


def load_file(step: str, path: str | Path) -> dict[str, Any]:
    """Read and check a parameter file for ``step``; returns the mapping (defaults not filled in)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError([Problem("file", str(path), f"cannot be read ({exc.strerror})",
                                      "a readable YAML file", "FileNotReadable")], subject=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ParameterError([Problem("file", str(path), f"is not UTF-8 text (byte {exc.start})",
                                      "a UTF-8 YAML file", "FileNotReadable")], subject=str(path)) from None
    data = parse_yaml(text, source=str(path))
    problems = check_mapping(step, data, runner_owned_ok=False)
    if problems:
        raise ParameterError(problems, subject=f"{path} (step {step})")
    return data
