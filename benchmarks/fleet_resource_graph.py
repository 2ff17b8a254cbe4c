"""Benchmark 5: audit of 50,000 connections in 50 subscriptions through Azure Resource Graph (in-process emulator).

Seeds 50 emulated subscriptions × 1,000 connections (20 resource groups each; the seeding is timed: goal ≤ 120 s),
then times, in the same run after one warm-up of each (Resource Graph's first query fills the emulator's index of
rows, kept in the database as Azure keeps its index): ``audit_resource_graph`` (GET /subscriptions + one paged
query, 1,000 rows a page) and ``audit_fleet`` over the same subscriptions (a list call per resource group and
segment, 8 workers), five times each, interleaved, each in a fresh process on the seeded database (its peak RSS
is its own; goal ≤ 300 MB for Resource Graph); the medians make the ratio. Checks every run gives the same table. ``--https``: the same pair over
HTTPS against ``vpnrunbook emulator serve`` too. Last line: ``ratio Resource Graph / list calls at N: X``
(goal ≤ 0.5 at 50,000).
Run: ``python -m benchmarks fleet_resource_graph`` or
``python -m benchmarks.fleet_resource_graph [subscriptions] [connections per subscription] [--https]``.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from benchmarks._common import fresh_state, served_emulator, timed

ROUNDS = 5


def _audit(kind: str, subs: list[str]) -> dict[str, object]:
    """In this (fresh) process: one timed audit (``warm``: one of each, untimed); the table's digest and the
    process's peak RSS."""
    import hashlib

    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.resource_graph import audit_resource_graph

    session = connect(target="emulator")

    def run() -> object:
        return audit_resource_graph(session) if kind == "graph" else audit_fleet(session, subscriptions=subs)

    if kind == "warm":   # Resource Graph's index of rows is filled by its first query (and kept in the database)
        audit_resource_graph(session)
        kind = "lists"
    seconds, result = timed(run)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # the audit's peak, before the check
    frame = result.frame  # type: ignore[attr-defined]
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]
    return {"seconds": seconds, "rows": len(frame), "requests": result.requests,  # type: ignore[attr-defined]
            "digest": digest, "rss_mb": rss_mb}


def _in_child(kind: str, subs: list[str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.fleet_resource_graph", "--child", kind, ",".join(subs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _times(runs: list[dict[str, object]]) -> str:
    return ", ".join(f"{float(r['seconds']):.2f}" for r in runs)  # type: ignore[arg-type]


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
    _in_child("warm", subs)
    graphs, lists = [], []
    for _ in range(ROUNDS):   # interleaved, each in a fresh process: a shared machine's load falls on both
        graphs.append(_in_child("graph", subs))
        lists.append(_in_child("lists", subs))
    t_graph = statistics.median(float(g["seconds"]) for g in graphs)  # type: ignore[arg-type]
    t_lists = statistics.median(float(x["seconds"]) for x in lists)  # type: ignore[arg-type]
    graph = graphs[0]
    print(f"audit_resource_graph: median {t_graph:.2f} s of {_times(graphs)}; "
          f"{graph['requests']} requests; {graph['rows']} rows; peak RSS of its process "
          f"{max(float(g['rss_mb']) for g in graphs):.0f} MB (goal ≤ 300 MB)")  # type: ignore[arg-type]
    print(f"audit_fleet (per-resource-group lists, 8 workers): median {t_lists:.2f} s of "
          f"{_times(lists)}; {lists[0]['requests']} requests; peak RSS "
          f"{max(float(x['rss_mb']) for x in lists):.0f} MB; same table: "  # type: ignore[arg-type]
          f"{all(x['digest'] == graph['digest'] for x in graphs + lists)}")
    if https:
        over_https(subs)
    ratio = t_graph / t_lists
    print(f"ratio Resource Graph / list calls at {seeded.connections}: {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_audit(sys.argv[2], sys.argv[3].split(","))))
    else:
        main(sys.argv[1:])
