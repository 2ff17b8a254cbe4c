"""Benchmark 5: audit of 50,000 connections in 50 subscriptions through Azure Resource Graph (in-process emulator).

Seeds 50 emulated subscriptions × 1,000 connections (20 resource groups each; the seeding is timed: goal ≤ 120 s),
then times, in the same run and after one warm-up of each: ``audit_resource_graph`` (GET /subscriptions + one
paged query, 1,000 rows a page) and ``audit_fleet`` over the same subscriptions (a list call per resource group
and segment, 8 workers). Each audit runs in a fresh process of its own on the seeded database, so its peak RSS
(goal ≤ 300 MB for Resource Graph) is its own. Checks both give the same table. ``--https``: the same pair over
HTTPS against ``vpnrunbook emulator serve`` too. Last line: ``ratio Resource Graph / list calls at N: X``
(goal ≤ 0.5 at 50,000).
Run: ``python -m benchmarks fleet_resource_graph`` or
``python -m benchmarks.fleet_resource_graph [subscriptions] [connections per subscription] [--https]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

from benchmarks._common import fresh_state, served_emulator, timed


def _audit(kind: str, subs: list[str]) -> dict[str, object]:
    """In this (fresh) process: one warm-up and one timed audit; the table's digest and the peak RSS."""
    import hashlib

    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.resource_graph import audit_resource_graph

    session = connect(target="emulator")

    def run() -> object:
        return audit_resource_graph(session) if kind == "graph" else audit_fleet(session, subscriptions=subs)

    run()
    seconds, result = timed(run)
    frame = result.frame  # type: ignore[attr-defined]
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]
    return {"seconds": seconds, "rows": len(frame), "requests": result.requests,  # type: ignore[attr-defined]
            "digest": digest, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _in_child(kind: str, subs: list[str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.fleet_resource_graph", "--child", kind, ",".join(subs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def over_https(subs: list[str]) -> float | None:
    """Both audits through ``vpnrunbook emulator serve`` (own process, same SQLite file)."""
    with served_emulator() as url:
        if url is None:
            return None
        from vpnrunbook.azure.connect import connect
        from vpnrunbook.fleet.audit import audit_fleet
        from vpnrunbook.fleet.resource_graph import audit_resource_graph

        session = connect(target="emulator", emulator_url=url)
        audit_resource_graph(session)
        t_graph, graph = timed(lambda: audit_resource_graph(session))
        t_lists, lists = timed(lambda: audit_fleet(session, subscriptions=subs))
        print(f"HTTPS: Resource Graph {t_graph:.2f} s ({len(graph.frame)} rows), lists {t_lists:.2f} s; same table: "
              f"{lists.frame.equals(graph.frame)}; ratio {t_graph / t_lists:.3f}")
        session.close()
        return t_graph / t_lists


def main(argv: list[str]) -> float:
    https = "--https" in argv
    args = [a for a in argv if not a.startswith("--")]
    subs_n = int(args[0]) if args else 50
    per_sub = int(args[1]) if len(args) > 1 else 1000
    fresh_state("graph")
    from vpnrunbook.fleet.seed import seed_subscriptions

    t = time.perf_counter()
    seeded = seed_subscriptions(None, subscriptions=subs_n, connections=per_sub, resource_groups=20)
    print(f"{seeded.summary()}\nseed {seeded.connections} connections: {time.perf_counter() - t:.1f} s "
          "(goal at 50000: ≤ 120 s)")
    subs = list(seeded.by_subscription)
    graph = _in_child("graph", subs)
    print(f"audit_resource_graph: {graph['seconds']:.2f} s; {graph['requests']} requests; {graph['rows']} rows; "
          f"peak RSS of its process {graph['rss_mb']:.0f} MB (goal ≤ 300 MB)")
    lists = _in_child("lists", subs)
    print(f"audit_fleet (per-resource-group lists, 8 workers): {lists['seconds']:.2f} s; {lists['requests']} "
          f"requests; peak RSS {lists['rss_mb']:.0f} MB; same table: {lists['digest'] == graph['digest']}")
    if https:
        over_https(subs)
    ratio = float(graph["seconds"]) / float(lists["seconds"])  # type: ignore[arg-type]
    print(f"ratio Resource Graph / list calls at {seeded.connections}: {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_audit(sys.argv[2], sys.argv[3].split(","))))
    else:
        main(sys.argv[1:])
