"""``vpnrunbook audit``, ``vpnrunbook rollout`` and (registered by the emulator's CLI) ``vpnrunbook emulator seed``.

Exit codes: 0 done, 1 some connection failed / conflicted / was not reached (rollout) or a scope could not be
read (audit), 2 bad input (nothing read or written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SHOW_COLUMNS = ("resource_group", "connection", "type", "status", "gateway_sku", "policy", "strength",
                "dpd_timeout_seconds", "traffic_selectors", "warnings")


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="audit every connection of a fleet (list endpoints, concurrent)",
                           description="One row per connection: type, status, gateway SKU, policy or default, "
                                       "strength, DPD, traffic-selector mode, lint findings.")
    _target_args(audit)
    audit.add_argument("--csv", metavar="FILE", help="write the full table as CSV")
    audit.add_argument("--html", metavar="FILE", help="write a self-contained HTML report with the strength chart")
    audit.add_argument("--rows", type=int, default=30, metavar="N", help="rows to print (default 30; 0: none)")
    audit.add_argument("--resource-graph", action="store_true",
                       help="read through Azure Resource Graph: one paged query over every subscription the "
                            "credential sees (or the --subscription ones); list calls only where it answers 403")
    audit.set_defaults(handler=cmd_audit)

    roll = sub.add_parser("rollout", help="apply a policy to many connections (plan only unless --apply)",
                          description="One policy to the chosen connections, or a policy per connection from a "
                                      "CSV/YAML plan. ETag-checked through the operations layer, VNet-to-VNet pairs "
                                      "together, bounded concurrency, stoppable (Ctrl-C or the stop file) and "
                                      "resumable (the state file: a rerun skips what is done).")
    _target_args(roll, subscriptions=False)   # one subscription per rollout: $AZURE_SUBSCRIPTION_ID
    roll.add_argument("--policy", metavar="POLICY",
                      help="preset name, 'default' (Azure's default proposals) or a policy YAML file")
    roll.add_argument("--plan", metavar="FILE", help="CSV or YAML plan: a policy per connection")
    roll.add_argument("-c", "--connection", action="append", default=[], metavar="RG/NAME",
                      help="a connection to update (repeatable); default: every connection of the chosen groups")
    roll.add_argument("--strength", metavar="LIST",
                      help="only connections whose audit strength is in this comma list "
                           "(deprecated,weak,acceptable,strong,default)")
    roll.add_argument("--dpd", type=int, metavar="SECONDS", help="also set the DPD timeout (9..3600)")
    roll.add_argument("--apply", action="store_true", help="make the change (default: only plan every connection)")
    roll.add_argument("--state", metavar="FILE", help="state file for resuming (default: $VPNRUNBOOK_STATE_DIR/"
                                                      "rollout-state.json)")
    roll.add_argument("--stop-file", metavar="FILE", help="create this file to stop (default: <state>.stop)")
    roll.add_argument("--csv", metavar="FILE", help="write the per-connection outcome table as CSV")
    roll.add_argument("--evidence-dir", metavar="DIR", help="evidence root (default: $VPNRUNBOOK_EVIDENCE_DIR "
                                                            "or ./evidence)")
    roll.add_argument("--no-evidence", action="store_true", help="do not write an evidence record")
    roll.add_argument("--all-subscriptions", action="store_true",
                      help="every subscription the credential sees, read through Resource Graph; planned and run "
                           "per subscription within ARM's per-subscription write limits (a state file per "
                           "subscription beside --state, one evidence record each)")
    roll.set_defaults(handler=cmd_rollout)


def _target_args(p: argparse.ArgumentParser, *, subscriptions: bool = True) -> None:
    p.add_argument("-g", "--resource-group", action="append", default=[], metavar="RG",
                   help="resource group (repeatable; default: every group of the subscription)")
    if subscriptions:
        p.add_argument("--subscription", action="append", default=[], metavar="ID",
                       help="subscription (repeatable; default: the session's)")
    p.add_argument("--workers", type=int, default=8, metavar="N", help="concurrent requests/units (default 8)")
    p.add_argument("--target", choices=("emulator", "azure"), help="default: $VPNRUNBOOK_TARGET or emulator")


def add_seed_parser(sub: Any) -> None:
    """``seed`` under ``vpnrunbook emulator`` (the emulator's CLI calls this)."""
    seed = sub.add_parser("seed", help="fill the emulator with a synthetic fleet (fast, direct to its store)")
    seed.add_argument("--connections", type=int, default=100, metavar="N", help="connections (default 100)")
    seed.add_argument("--resource-groups", type=int, default=10, metavar="M",
                      help="resource groups, one VPN gateway each (default 10)")
    seed.add_argument("--v2v-pairs", type=int, default=None, metavar="P",
                      help="VNet-to-VNet pairs among the connections (default: connections // 20)")
    seed.add_argument("--prefix", default="fleet", help="name prefix of the resource groups (default fleet)")
    seed.add_argument("--location", default="eastus", help="region (default eastus)")
    seed.add_argument("--seed", type=int, default=0, help="random seed of the policy mix (default 0)")
    seed.add_argument("--subscriptions", type=int, default=1, metavar="N",
                      help="emulated subscriptions, each with the same layout (connections and resource groups "
                           "per subscription; default 1)")
    seed.set_defaults(handler=cmd_seed)


def _session(args: argparse.Namespace) -> Any:
    from vpnrunbook.azure.connect import connect

    return connect(args.target)


def _print_problems(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def cmd_audit(args: argparse.Namespace) -> int:
    from vpnrunbook.azure.connect import TargetConfigurationError
    from vpnrunbook.fleet.audit import audit_fleet

    try:
        session = _session(args)
        if args.resource_graph:
            if args.resource_group:
                raise ValueError("--resource-graph reads whole subscriptions; -g/--resource-group is not allowed "
                                 "with it (allowed: --subscription)")
            from vpnrunbook.fleet.resource_graph import audit_resource_graph

            result = audit_resource_graph(session, subscriptions=args.subscription or None,
                                          max_workers=args.workers)
        else:
            result = audit_fleet(session, resource_groups=args.resource_group or None,
                                 subscriptions=args.subscription or None, max_workers=args.workers)
    except (ValueError, TargetConfigurationError) as exc:
        return _print_problems(exc)
    if args.rows:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(result.frame.loc[:, list(SHOW_COLUMNS)].head(args.rows).to_string(index=False))
    print(result.summary())
    for scope, message in result.errors:
        print(f"error: {scope}: {message}", file=sys.stderr)
    if args.csv:
        print(f"CSV: {result.to_csv(args.csv)}")
    if args.html:
        print(f"HTML: {result.to_html(args.html)}")
    return EXIT_FAILED if result.errors else EXIT_OK


def _state_default() -> Path:
    import os

    return Path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook") / "rollout-state.json"


def cmd_rollout(args: argparse.Namespace) -> int:
    from vpnrunbook.azure.connect import TargetConfigurationError
    from vpnrunbook.fleet.planfile import UNSET, RolloutPlanError
    from vpnrunbook.fleet.rollout import rollout
    from vpnrunbook.policy.rules import PolicyValidationError

    if not args.plan and not args.policy and args.dpd is None:
        print("error: give --policy (preset, 'default' or a YAML file), --dpd, or --plan FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.all_subscriptions and args.plan:
        print("error: --all-subscriptions takes --policy/--dpd with --strength/--connection/-g, not --plan",
              file=sys.stderr)
        return EXIT_USAGE
    if args.plan and (args.connection or args.strength):
        print("error: --plan lists its connections; --connection/--strength are not allowed with it",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        session = _session(args)
        targets: Any = None
        if not args.plan:
            targets = _targets(session, args)
            if targets is None:
                return EXIT_USAGE
            if not len(targets):
                print("nothing to do: no connection matches")
                return EXIT_OK
        stop_file = args.stop_file
        state = Path(args.state) if args.state else _state_default()
        if args.all_subscriptions:
            return _rollout_subscriptions(session, targets, args, state)
        if args.apply:
            print(f"state file: {state} (create {stop_file or str(state) + '.stop'} to stop)", flush=True)
        result = rollout(session, targets, policy=args.policy if args.policy else UNSET, plan_file=args.plan,
                         dpd_timeout_seconds=args.dpd, apply=args.apply, state_file=state if args.apply else None,
                         stop_file=stop_file, max_workers=args.workers, evidence=not args.no_evidence,
                         evidence_root=args.evidence_dir, progress=_printer)
    except (RolloutPlanError, PolicyValidationError, TargetConfigurationError) as exc:
        return _print_problems(exc)
    print(result.summary())
    if result.evidence_dir:
        print(f"evidence: {result.evidence_dir}")
    if args.csv:
        from vpnrunbook.fleet.report import write_csv

        write_csv(result.frame, args.csv)   # formula prefixes neutralized (vpnrunbook.render.csv_cell)
        print(f"CSV: {args.csv}")
    return EXIT_OK if result.complete and not result.stopped else EXIT_FAILED


def _rollout_subscriptions(session: Any, targets: Any, args: argparse.Namespace, state: Path) -> int:
    from vpnrunbook.fleet.planfile import UNSET
    from vpnrunbook.fleet.subscription_rollout import rollout_by_subscription

    result = rollout_by_subscription(session, targets, policy=args.policy if args.policy else UNSET,
                                     dpd_timeout_seconds=args.dpd, apply=args.apply,
                                     state_dir=state.parent if args.apply else None, max_workers=args.workers,
                                     evidence=not args.no_evidence, evidence_root=args.evidence_dir)
    print(result.summary())
    for sub, one in result.by_subscription.items():
        if one.evidence_dir:
            print(f"evidence ({sub}): {one.evidence_dir}")
    if args.csv:
        import pandas as pd

        from vpnrunbook.fleet.report import write_csv

        write_csv(pd.concat([r.frame.assign(subscription=s) for s, r in result.by_subscription.items()],
                            ignore_index=True), args.csv)
        print(f"CSV: {args.csv}")
    return EXIT_OK if result.complete else EXIT_FAILED


def _printer(outcome: Any) -> None:
    peer = f" (+ {outcome.peer})" if outcome.peer else ""
    print(f"{outcome.outcome:>11}  {outcome.resource_group}/{outcome.connection}{peer}  {outcome.detail}",
          flush=True)


def _targets(session: Any, args: argparse.Namespace) -> Any:
    """Explicit --connection values, or the audit's rows for the chosen groups (optionally by strength)."""
    if args.connection:
        bad = [c for c in args.connection if c.count("/") != 1]
        if bad:
            print(f"error: --connection {bad[0]!r} is not allowed; allowed: RESOURCE_GROUP/NAME", file=sys.stderr)
            return None
        if not args.strength and not getattr(args, "all_subscriptions", False):
            return list(args.connection)
    from vpnrunbook.azure.names import fold
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.report import STRENGTHS

    if getattr(args, "all_subscriptions", False):
        from vpnrunbook.fleet.resource_graph import audit_resource_graph

        frame = audit_resource_graph(session, max_workers=args.workers).frame
        if args.resource_group:
            frame = frame[frame["resource_group"].map(fold).isin({fold(g) for g in args.resource_group})]
    else:
        frame = audit_fleet(session, resource_groups=args.resource_group or None, max_workers=args.workers).frame
    if args.connection:
        wanted = {fold(c) for c in args.connection}
        frame = frame[[fold(f"{r}/{c}") in wanted for r, c in zip(frame["resource_group"], frame["connection"],
                                                                    strict=True)]]
    if args.strength:
        chosen = [s.strip() for s in args.strength.split(",") if s.strip()]
        bad = [s for s in chosen if s not in STRENGTHS]
        if bad:
            print(f"error: --strength {bad[0]!r} is not allowed; allowed: {', '.join(STRENGTHS)}", file=sys.stderr)
            return None
        frame = frame[frame["strength"].isin(chosen)]
    return frame


def cmd_seed(args: argparse.Namespace) -> int:
    from vpnrunbook.fleet.seed import SeedError, seed_fleet, seed_subscriptions

    try:
        if args.subscriptions != 1:
            many = seed_subscriptions(None, subscriptions=args.subscriptions, connections=args.connections,
                                      resource_groups=args.resource_groups, vnet_to_vnet_pairs=args.v2v_pairs,
                                      prefix=args.prefix, location=args.location, seed=args.seed)
            print(many.summary())
            for sub, one in many.by_subscription.items():
                print(f"  {sub}: {one.connections} connections")
            print(f"database: {next(iter(many.by_subscription.values())).database}")
            return EXIT_OK
        result = seed_fleet(None, connections=args.connections, resource_groups=args.resource_groups,
                            vnet_to_vnet_pairs=args.v2v_pairs, prefix=args.prefix, location=args.location,
                            seed=args.seed)
    except SeedError as exc:
        return _print_problems(exc)
    print(result.summary())
    print(f"database: {result.database}")
    return EXIT_OK
