"""Rollout plan files: which connection gets which policy, from CSV or YAML, with every problem reported at once.

CSV — one row per connection; columns (header names as below, any order):
    resource_group, connection            required
    policy                                a preset name (``strong-modern`` ...), ``default`` (Azure's default
                                          proposals), or a policy YAML file (relative to the plan file)
    ike_encryption ... sa_data_size_kilobytes   the eight fields instead of ``policy`` (REST/PowerShell names too)
    dpd_timeout_seconds                   optional, 9..3600
    use_policy_based_traffic_selectors    optional, true/false (in YAML a boolean: "yes", "1" are refused)
An empty cell means "not given"; a row without policy columns uses the rollout's common policy (if any).

YAML — either a list of such mappings, or ``{policy: <common policy>, connections: [...]}`` where each entry is
``{resource_group, connection, policy?, dpd_timeout_seconds?, use_policy_based_traffic_selectors?}`` or the
text ``"resource_group/connection"``. A ``policy`` may also be a mapping of the eight fields.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpnrunbook.azure.names import (
    RESOURCE_GROUP_ALLOWED,
    RESOURCE_NAME_ALLOWED,
    resource_group_problem,
    resource_name_problem,
)
from vpnrunbook.policy import presets, rules
from vpnrunbook.policy.model import ALIASES, IpsecIkePolicy, load_policy_file

DEFAULT_WORDS = ("default", "none", "azure-default")
BOOL_WORDS = {"true": True, "false": False}   # a CSV cell; YAML and the API take only a boolean (vpnrunbook.gate)
KNOWN_KEYS = ("resource_group", "connection", "policy", "dpd_timeout_seconds", "use_policy_based_traffic_selectors")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()   # "no policy given in this row": the rollout's common policy applies


class RolloutPlanError(rules.PolicyValidationError):
    """A plan file (or plan arguments) is invalid; ``problems`` name the row, the field, the value and what is
    allowed. Nothing was read from or written to Azure."""


@dataclass(frozen=True)
class RolloutItem:
    """One connection to update. ``policy``: an IpsecIkePolicy, None (Azure's default proposals) or UNSET."""

    resource_group: str
    connection: str
    policy: Any = UNSET
    dpd_timeout_seconds: int | None = None
    use_policy_based_traffic_selectors: bool | None = None
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.resource_group}/{self.connection}".lower()

    def desired(self) -> dict[str, Any]:
        """JSON-safe description of what this item asks for (used to recognise it in the state file)."""
        policy: Any = "unchanged" if self.policy is UNSET else (
            "default" if self.policy is None else self.policy.as_wire_dict())
        return {"policy": policy, "dpd_timeout_seconds": self.dpd_timeout_seconds,
                "use_policy_based_traffic_selectors": self.use_policy_based_traffic_selectors}


def _problem(where: str, field: str, value: Any, message: str, allowed: str, code: str = "InvalidValue") -> rules.Problem:
    return rules.Problem(f"{where}: {field}" if where else field, value, f"{value!r} {message}", allowed, code)


def parse_policy(value: Any, *, where: str, base: Path | None, problems: list[rules.Problem]) -> Any:
    """A policy cell: preset, 'default', YAML path, mapping, IpsecIkePolicy, or empty (UNSET)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return UNSET
    if isinstance(value, IpsecIkePolicy):
        return value
    if isinstance(value, Mapping):
        try:
            return IpsecIkePolicy.from_mapping(value, source=f"{where}: policy")
        except rules.PolicyValidationError as exc:
            problems.extend(rules.Problem(f"{where}: policy.{p.field}", p.value, p.message, p.allowed, p.code)
                            for p in exc.problems)
            return UNSET
    if not isinstance(value, str):
        problems.append(_problem(where, "policy", value, "is not a policy", "a preset name, default, a policy "
                                 "YAML file or a mapping of the eight fields", "InvalidPolicy"))
        return UNSET
    text = value.strip()
    if text.lower() in DEFAULT_WORDS:
        return None
    if text in presets.PRESETS:
        return presets.get_preset(text)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            return load_policy_file(path)
        except rules.PolicyValidationError as exc:
            problems.extend(rules.Problem(f"{where}: policy ({path})", p.value, p.message, p.allowed, p.code)
                            for p in exc.problems)
            return UNSET
    problems.append(_problem(where, "policy", text, "is not a preset, 'default' or a .yaml policy file",
                             "default, " + ", ".join(presets.PRESETS) + ", or a path ending in .yaml",
                             "UnknownPreset"))
    return UNSET


def _item(raw: Mapping[str, Any], *, where: str, base: Path | None, common: Any,
          problems: list[rules.Problem], text_cells: bool = False) -> RolloutItem | None:
    """One plan row. ``text_cells``: a CSV row (every cell is text: ``true``/``false`` and digits are read);
    from YAML or the API a yes/no must be a boolean and a number a number (the entry gate's rule,
    ``vpnrunbook.gate``)."""
    start = len(problems)
    data = {str(k).strip(): v for k, v in raw.items() if k is not None}
    names: dict[str, str] = {}
    for key in data:
        if key in KNOWN_KEYS:
            continue
        canonical = ALIASES.get(key)
        if canonical is None:
            problems.append(_problem(where, key, data[key], "is not a plan column",
                                     ", ".join(KNOWN_KEYS) + ", or the eight policy fields", "UnknownField"))
        else:
            names[key] = canonical
    rg, conn = data.get("resource_group"), data.get("connection")
    for field, value in (("resource_group", rg), ("connection", conn)):
        if not isinstance(value, str) or not value.strip():
            problems.append(_problem(where, field, value, "is missing", "a non-empty name", "Required"))
    if isinstance(rg, str) and rg.strip() and resource_group_problem(rg.strip()):
        problems.append(_problem(where, "resource_group", rg, "breaks Azure's resource group naming rule",
                                 RESOURCE_GROUP_ALLOWED, "InvalidResourceGroup"))
    if isinstance(conn, str) and conn.strip() and resource_name_problem(conn.strip()):
        problems.append(_problem(where, "connection", conn, "breaks Azure's resource naming rule",
                                 RESOURCE_NAME_ALLOWED, "InvalidResourceName"))
    policy = parse_policy(data.get("policy"), where=where, base=base, problems=problems)
    fields = {canonical: data[key] for key, canonical in names.items()
              if data[key] is not None and str(data[key]).strip() != ""}
    if fields:
        if policy is not UNSET or data.get("policy"):
            problems.append(_problem(where, "policy", data.get("policy"), "is given together with policy field "
                                     "columns", "either policy or the eight field columns", "InvalidArgument"))
        for k, v in list(fields.items()):
            if isinstance(v, str) and v.strip().lstrip("-").isdigit() and k.startswith("sa_"):
                fields[k] = int(v)
        try:
            policy = IpsecIkePolicy.from_mapping(fields, source=where)
        except rules.PolicyValidationError as exc:
            problems.extend(rules.Problem(f"{where}: {p.field}", p.value, p.message, p.allowed, p.code)
                            for p in exc.problems)
    if policy is UNSET:
        policy = common
    dpd = data.get("dpd_timeout_seconds")
    if dpd is None or (isinstance(dpd, str) and not dpd.strip()):
        dpd = None
    else:
        if text_cells and isinstance(dpd, str) and dpd.strip().isdigit():
            dpd = int(dpd)
        problems.extend(rules.Problem(f"{where}: {p.field}", p.value, p.message, p.allowed, p.code)
                        for p in rules.check_dpd_timeout(dpd))
    pbts = data.get("use_policy_based_traffic_selectors")
    if pbts is None or (isinstance(pbts, str) and not pbts.strip()):
        pbts = None
    elif isinstance(pbts, str) and text_cells:
        if pbts.strip().lower() not in BOOL_WORDS:
            problems.append(_problem(where, "use_policy_based_traffic_selectors", pbts, "is not true or false",
                                     "true or false, or empty for unchanged", "InvalidType"))
        pbts = BOOL_WORDS.get(pbts.strip().lower())
    elif not isinstance(pbts, bool):
        from vpnrunbook.gate import BOOL_ALLOWED

        problems.append(_problem(where, "use_policy_based_traffic_selectors", pbts, "is not a boolean "
                                 "(a string or a number is not read as yes/no)", BOOL_ALLOWED, "InvalidType"))
        pbts = None
    if policy is UNSET and dpd is None and pbts is None and len(problems) == start:
        problems.append(_problem(where, "policy", data.get("policy"), "is missing and the rollout has no common "
                                 "policy: nothing to change", "a policy (preset, default, YAML file or the eight "
                                 "fields), dpd_timeout_seconds or use_policy_based_traffic_selectors", "Required"))
    if len(problems) > start:
        return None
    return RolloutItem(str(rg).strip(), str(conn).strip(), policy, dpd, pbts, where)


def check_items(items: list[RolloutItem], problems: list[rules.Problem]) -> None:
    """The same connection twice with different wishes is an error (which one should win?)."""
    seen: dict[str, RolloutItem] = {}
    for it in items:
        other = seen.get(it.key)
        if other is not None and other.desired() != it.desired():
            problems.append(rules.Problem(f"{it.source}: connection", it.connection,
                                          f"{it.resource_group}/{it.connection} is also in {other.source} with "
                                          "different settings", "each connection once (or with the same settings)",
                                          "DuplicateConnection"))
        seen.setdefault(it.key, it)


def load_plan(path: str | Path, *, policy: Any = UNSET) -> list[RolloutItem]:
    """Read a CSV or YAML plan; ``policy`` is the common policy for rows without one. Raises
    :class:`RolloutPlanError` listing every problem (row, field, value, allowed)."""
    path = Path(path)
    problems: list[rules.Problem] = []
    common = parse_policy(policy, where="", base=None, problems=problems) if policy is not UNSET else UNSET
    if problems:
        raise RolloutPlanError(problems, subject="rollout policy")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RolloutPlanError([rules.Problem("plan", str(path), f"{str(path)!r} cannot be read ({exc.strerror})",
                                              "a readable .csv, .yaml or .yml file", "FileNotReadable")],
                               subject=f"rollout plan {path}") from None
    rows: list[tuple[str, Any]] = []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            problems.append(rules.Problem("plan", str(path), "has no header row", "a CSV header with "
                                          "resource_group, connection, policy ...", "EmptyPlan"))
        for n, row in enumerate(reader, start=2):
            if None in row:
                problems.append(_problem(f"row {n}", "cells", row[None], "are more than the header's columns",
                                         "one value per header column", "InvalidRow"))
            rows.append((f"row {n}", row))
    elif suffix in (".yaml", ".yml"):
        import yaml

        from vpnrunbook import plaindata

        try:  # the project's one bounded loader: core tags only, aliases and sizes bounded (issue 13)
            data = plaindata.load_yaml(text)
        except (yaml.YAMLError, plaindata.YamlLimitError) as exc:
            where, reason = plaindata.yaml_error_text(exc)
            if isinstance(exc, plaindata.YamlLimitError):
                reason = str(exc)
            raise RolloutPlanError([rules.Problem("plan", str(path), f"is not valid YAML{where}: {reason}",
                                                  "a list of connections or {policy:, connections: [...]}",
                                                  "InvalidYaml")], subject=f"rollout plan {path}") from None
        not_plain = plaindata.check(data, "plan")
        if not_plain:
            raise RolloutPlanError(not_plain, subject=f"rollout plan {path}")
        entries: Any = data
        if isinstance(data, Mapping):
            unknown = sorted(set(map(str, data)) - {"policy", "connections", "dpd_timeout_seconds",
                                                    "use_policy_based_traffic_selectors", "name", "description"})
            for key in unknown:
                problems.append(_problem("", key, data[key], "is not a plan key",
                                         "policy, connections, dpd_timeout_seconds, use_policy_based_traffic_selectors",
                                         "UnknownField"))
            if "policy" in data and common is UNSET:
                common = parse_policy(data["policy"], where="policy", base=path.parent, problems=problems)
            entries = data.get("connections")
            defaults = {k: data[k] for k in ("dpd_timeout_seconds", "use_policy_based_traffic_selectors") if k in data}
        else:
            defaults = {}
        if not isinstance(entries, list):
            problems.append(rules.Problem("connections", type(entries).__name__, "must be a list",
                                          "a list of {resource_group, connection, ...} or 'rg/connection'",
                                          "InvalidType"))
            entries = []
        for n, entry in enumerate(entries, start=1):
            if isinstance(entry, str) and entry.count("/") == 1:
                rg, conn = entry.split("/")
                entry = {"resource_group": rg, "connection": conn}
            if not isinstance(entry, Mapping):
                problems.append(_problem(f"connections[{n}]", "entry", entry, "is not a mapping",
                                         "{resource_group, connection, policy?} or 'rg/connection'", "InvalidType"))
                continue
            rows.append((f"connections[{n}]", {**defaults, **entry}))
    else:
        raise RolloutPlanError([rules.Problem("plan", str(path), f"{path.name!r} has an unknown file type",
                                              ".csv, .yaml or .yml", "UnknownFileType")],
                               subject=f"rollout plan {path}")
    items = [it for where, row in rows
             if (it := _item(row, where=where, base=path.parent, common=common, problems=problems,
                             text_cells=suffix == ".csv")) is not None]
    check_items(items, problems)
    if not rows and not problems:
        problems.append(rules.Problem("plan", str(path), "lists no connection", "at least one connection",
                                      "EmptyPlan"))
    if problems:
        raise RolloutPlanError(problems, subject=f"rollout plan {path}")
    return items


def items_for(targets: Any, policy: Any = UNSET, *, dpd_timeout_seconds: int | None = None,
              use_policy_based_traffic_selectors: bool | None = None) -> list[RolloutItem]:
    """Items for one policy applied to many connections: ``targets`` = (resource_group, connection) pairs,
    'rg/connection' strings, or an audit DataFrame (its resource_group and connection columns)."""
    problems: list[rules.Problem] = []
    common = parse_policy(policy, where="", base=None, problems=problems) if policy is not UNSET else UNSET
    if problems:
        raise RolloutPlanError(problems, subject="rollout policy")
    if hasattr(targets, "columns"):
        pairs = list(zip(targets["resource_group"], targets["connection"], strict=True))
    else:
        pairs = []
        for n, t in enumerate(targets, start=1):
            if isinstance(t, str) and t.count("/") == 1:
                pairs.append(tuple(t.split("/")))
            elif isinstance(t, tuple | list) and len(t) == 2:
                pairs.append((t[0], t[1]))
            else:
                problems.append(_problem(f"targets[{n}]", "target", t, "is not a connection",
                                         "(resource_group, connection) or 'rg/connection'", "InvalidType"))
    items = [it for n, (rg, conn) in enumerate(pairs, start=1)
             if (it := _item({"resource_group": rg, "connection": conn,
                              "dpd_timeout_seconds": dpd_timeout_seconds,
                              "use_policy_based_traffic_selectors": use_policy_based_traffic_selectors},
                             where=f"targets[{n}]", base=None, common=common, problems=problems)) is not None]
    check_items(items, problems)
    if problems:
        raise RolloutPlanError(problems, subject="rollout targets")
    return items


__all__ = ["UNSET", "RolloutItem", "RolloutPlanError", "items_for", "load_plan", "parse_policy"]
