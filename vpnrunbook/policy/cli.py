"""``vpnrunbook policy list|check`` (``vpnrunbook demo`` lives in ``vpnrunbook.runbook.cli``)."""

from __future__ import annotations

import argparse
import sys

from vpnrunbook.policy.model import load_policy_file
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.policy.rules import PolicyValidationError
from vpnrunbook.policy.strength import lint, overall_strength


def register(sub: argparse._SubParsersAction) -> None:
    policy = sub.add_parser("policy", help="list preset policies or check a policy file")
    psub = policy.add_subparsers(dest="policy_command", metavar="ACTION")
    p_list = psub.add_parser("list", help="print the preset policies and their lint findings")
    p_list.set_defaults(handler=cmd_list)
    p_check = psub.add_parser("check", help="validate and lint policy YAML files")
    p_check.add_argument("files", nargs="+", metavar="FILE.yaml")
    p_check.set_defaults(handler=cmd_check)
    policy.set_defaults(handler=lambda a: (policy.print_help(), 2)[1])


def presets_table():
    import pandas as pd

    rows = []
    for p in PRESETS.values():
        row = {"preset": p.name, **{k: v for k, v in p.policy.as_python_dict().items()}}
        row["strength"] = overall_strength(p.policy).label
        row["findings"] = sum(1 for f in lint(p.policy) if f.severity != "info")
        rows.append(row)
    return pd.DataFrame(rows).set_index("preset")


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(presets_table().to_string())
    for p in PRESETS.values():
        print(f"\n{p.name}: {p.description}")
        for f in lint(p.policy):
            print(f"  {f}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    worst = 0
    for path in args.files:
        try:
            policy = load_policy_file(path)
        except PolicyValidationError as exc:
            print(str(exc), file=sys.stderr)
            worst = 2
            continue
        findings = lint(policy)
        print(f"{path}: valid ({overall_strength(policy).label}) — {policy.summary()}")
        for f in findings:
            print(f"  {f}")
    return worst
