"""Benchmark 8: crosscheck of a 1,000-connection rollout's ledger against the Activity Log (issue 23 point 5).

A fleet of 1,000 connections (100 resource groups, 50 VNet-to-VNet pairs) is seeded, then a rollout applies a
policy to all of them through the apply path (each write with its request ids, each change an intent and an
outcome in the ledger). ``vpnrunbook evidence crosscheck`` then reads the Activity Log: one filtered query per
subscription over the span the ledger covers, page by page. Prints the ledger's size, the Activity Log's events,
queries and pages read, the findings (none expected), and last: the ratio pages read / ledger lines (bounded by
the events per page, not by the resources: a per-resource reader would make at least one query per connection).
Run: ``python -m benchmarks.activity_crosscheck [connections]``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks._common import fresh_state, timed


def main(argv: list[str]) -> float:
    n = int(argv[0]) if argv else 1000
    base = fresh_state("crosscheck")
    os.environ["VPNRUNBOOK_EMULATOR_TIME_FACTOR"] = "0"
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.evidence import ledger
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.rollout import rollout
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.runbook import crosscheck_cli

    session = connect(target="emulator", polling_interval=0)
    seed_fleet(session, connections=n, resource_groups=max(1, n // 10), vnet_to_vnet_pairs=n // 20,
               policies={"default": 1, "seed-s2s": 1})
    targets = audit_fleet(session).frame
    t_roll, result = timed(lambda: rollout(session, targets, policy="strong-modern", max_workers=8))
    root = Path(os.environ["VPNRUNBOOK_EVIDENCE_DIR"])
    lines = sum(1 for _ in ledger.read(root))
    t_check, report = timed(lambda: crosscheck_cli.run(root, "emulator", None))
    kinds: dict[str, int] = {}
    for f in report.findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    print(f"rollout of {n} connections: {result.counts} in {t_roll:.1f} s; ledger: {lines} lines, "
          f"{report.changes} changes (state in {base})")
    print(f"crosscheck: {len(report.queries)} quer{'y' if len(report.queries) == 1 else 'ies'}, "
          f"{report.pages_read} pages, {report.events_read} events, {report.confirmed} writes confirmed, "
          f"{report.resources_read} resources read live, findings {kinds or 'none'}, exit {report.exit_code}, "
          f"{t_check:.1f} s")
    ratio = report.pages_read / max(lines, 1)
    print(f"pages per connection: {report.pages_read / n:.4f} (a per-resource reader: >= 1)")
    print(f"ratio pages read / ledger lines: {ratio:.4f}")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
