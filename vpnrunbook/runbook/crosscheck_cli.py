"""``vpnrunbook evidence crosscheck``: the CLI side — it builds the readers (Activity Log, live resources) from the
target's session and hands them, with the ledger's entries, to :mod:`vpnrunbook.evidence.crosscheck`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

EPILOG = """exit codes:
  0    consistent: every applied change is in Azure's Activity Log, no write outside the ledger, live ETags as
       last recorded
  1    the Activity Log or a resource could not be read (no permission, no network): nothing concluded
  2    bad command line
  4    the ledger is contradicted: an applied record Azure never saw (forged, or another target), or a write by
       this tool the ledger no longer holds (rollback: lines cut off or removed)
  5    the ledger is intact, but resources it names were changed outside it (out-of-band writes, drift)
what it cannot see: events older than the Activity Log's 90 days (reported as unconfirmed; export the log with a
diagnostic setting to keep more); writes by other tools are reported, not judged.
"""


def add_parser(esub: Any, evidence_arg: Any) -> None:
    p = esub.add_parser("crosscheck", help="check the ledger against Azure's Activity Log and the live resources: "
                                           "out-of-band changes, records Azure never saw, rollback (exit 4/5)",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    evidence_arg(p)
    p.add_argument("--target", choices=("emulator", "azure"),
                   help="whose Activity Log to read (default: $VPNRUNBOOK_TARGET or emulator); the ledger's records "
                        "for this target are checked. On azure the Reader role on the subscriptions is enough")
    p.add_argument("--subscription", metavar="ID", help="check only the records of this subscription")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_evidence_crosscheck)


class Sessions:
    """One session per subscription of the target, opened when first needed."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._open: dict[str, Any] = {}

    def __call__(self, subscription_id: str) -> Any:
        from vpnrunbook.azure.connect import connect

        key = subscription_id.lower()
        if key not in self._open:
            self._open[key] = connect(target=self.target, subscription_id=subscription_id)
        return self._open[key]

    def live(self, write: dict[str, Any]) -> dict[str, Any] | None:
        """The resource a ledger write names, read now (None: it does not exist)."""
        from vpnrunbook.operations.arm import read_resource

        sub = str(write.get("resource_id", "")).split("/")[2]
        return read_resource(self(sub), write)


def activity_of(session: Any) -> Any:
    """The Activity Log reader of ``session``'s target and subscription (``evidence reconcile`` hands it on)."""
    from vpnrunbook.azure.monitor import ActivityLogReader, monitor_client

    return ActivityLogReader(lambda sub: monitor_client(session))


def run(root: Any, target: str, subscription: str | None) -> Any:
    """The crosscheck of the ledger under ``root`` against ``target`` (the report)."""
    from vpnrunbook.azure.monitor import ActivityLogReader, monitor_client
    from vpnrunbook.evidence import crosscheck, ledger

    sessions = Sessions(target)
    reader = ActivityLogReader(lambda sub: monitor_client(sessions(sub)))
    entries = [e for _, _, e in ledger.read(root) if e is not None]
    return crosscheck.crosscheck(entries, activity=reader, live=sessions.live, target=target,
                                 subscription=subscription)


def cmd_evidence_crosscheck(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence import crosscheck
    from vpnrunbook.evidence.index import terminal_text
    from vpnrunbook.evidence.rundir import evidence_root

    root = evidence_root(args.evidence_dir)
    target = args.target or os.environ.get("VPNRUNBOOK_TARGET") or "emulator"
    try:
        report = run(root, target, args.subscription)
    except Exception as exc:  # noqa: BLE001 - the target cannot be reached as configured
        print(f"vpnrunbook evidence crosscheck: {terminal_text(f'{type(exc).__name__}: {exc}'[:600])}", file=sys.stderr)
        return crosscheck.EXIT_UNREADABLE
    if args.json:
        print(json.dumps({"exit_code": report.exit_code, "findings": [f.as_dict() for f in report.findings],
                          "errors": report.errors, "queries": report.queries, "pages_read": report.pages_read,
                          "events_read": report.events_read, "changes": report.changes,
                          "confirmed": report.confirmed, "resources_read": report.resources_read}, indent=2))
        return report.exit_code
    for line in crosscheck.lines(report):
        print(terminal_text(line))
    for err in report.errors:
        print(f"vpnrunbook evidence crosscheck: {terminal_text(err)}", file=sys.stderr)
    print(f"evidence under {root} against {target}: {report.changes} change(s) in the ledger "
          f"({report.ledger_entries} line(s)); Activity Log: {len(report.queries)} quer"
          f"{'y' if len(report.queries) == 1 else 'ies'}, {report.pages_read} page(s), {report.events_read} "
          f"event(s); {report.confirmed} recorded write(s) confirmed by Azure; {report.resources_read} resource(s) "
          f"read live — {verdict(report)}")
    return report.exit_code


def verdict(report: Any) -> str:
    """The one-word-or-so conclusion: consistent, not concluded, or the count of each kind of finding."""
    from vpnrunbook.evidence import crosscheck as xc

    code = report.exit_code
    if code == xc.EXIT_CONSISTENT:
        return "consistent"
    if code == xc.EXIT_UNREADABLE:
        return "not concluded (could not read)"
    counts = {k: len(report.of(k)) for k in (xc.OUT_OF_BAND, xc.DRIFT, xc.NEVER_SEEN, xc.ROLLBACK)}
    return ", ".join(f"{n} {k.replace('_', '-')}" for k, n in counts.items() if n)


def crosscheck_frame(session: Any, *, root: Any = None, subscription: str | None = None) -> Any:
    """The crosscheck of the ledger (under ``root``, default the evidence folder) against ``session``'s target, as
    the table a notebook cell shows (07): the verdict, the counts ``evidence crosscheck`` prints, then one row per
    finding. ``frame.attrs`` holds ``verdict`` and ``exit_code``. ``subscription`` defaults to the session's."""
    import pandas as pd

    from vpnrunbook.evidence import crosscheck as xc
    from vpnrunbook.evidence.rundir import evidence_root

    folder = evidence_root(root)
    sub = subscription or session.subscription_id
    report = run(folder, session.target, sub)
    titles = {xc.OUT_OF_BAND: "out-of-band", xc.DRIFT: "drift", xc.NEVER_SEEN: "never seen by Azure",
              xc.ROLLBACK: "rollback", xc.FAILED_ATTEMPT: "failed attempt (information)",
              xc.UNCONFIRMED: "unconfirmed (information)"}
    queries = len(report.queries)
    rows = [("verdict", verdict(report)), ("exit code", str(report.exit_code)),
            ("ledger", f"{report.changes} change(s) in {report.ledger_entries} line(s) under {folder}"),
            ("Activity Log", f"{queries} quer{'y' if queries == 1 else 'ies'}, {report.pages_read} page(s), "
                             f"{report.events_read} event(s) for subscription {sub} on {session.target}"),
            ("confirmed by Azure", f"{report.confirmed} recorded write(s)"),
            ("read live", f"{report.resources_read} resource(s)")]
    rows += [(titles.get(f.kind, f.kind), f"{f.resource_id}: {f.text}") for f in report.findings]
    rows += [("error", err) for err in report.errors]
    frame = pd.DataFrame(rows, columns=["crosscheck", "result"])
    frame.attrs.update(verdict=verdict(report), exit_code=report.exit_code)
    return frame
