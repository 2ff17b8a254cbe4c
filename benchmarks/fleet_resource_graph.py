"""Benchmark 5: audit of 10,000 connections in 10 subscriptions through Azure Resource Graph (in-process emulator).

Seeds 10 emulated subscriptions × 1,000 connections (20 resource groups each), then times, in the same run and
after one warm-up of each: ``audit_resource_graph`` (GET /subscriptions + one paged query, 1,000 rows a page)
and ``audit_fleet`` over the same subscriptions (a list call per resource group and segment, 8 workers). Checks
both give the same table; then the same pair over HTTPS against ``vpnrunbook emulator serve``. Last line: the ratio Resource Graph / per-resource-group lists (goal: < 10 s absolute).
Run: ``python -m benchmarks.fleet_resource_graph [subscriptions] [connections per subscription]``.
"""

from __future__ import annotations

import sys

from benchmarks._common import fresh_state, median_time, served_emulator


def over_https(subs: list[str]) -> float | None:
    """Both audits through ``vpnrunbook emulator serve`` (own process, same SQLite file): a network between
    client and "ARM", where the 11 requests against 480 weigh as they do on Azure."""
    with served_emulator() as url:
        if url is None:
            return None
        from vpnrunbook.azure.connect import connect
        from vpnrunbook.fleet.audit import audit_fleet
        from vpnrunbook.fleet.resource_graph import audit_resource_graph

        session = connect(target="emulator", emulator_url=url)
        audit_resource_graph(session)
        t_graph, runs, graph = median_time(lambda: audit_resource_graph(session), 3)
        print(f"HTTPS audit_resource_graph: median {t_graph:.3f} s of {', '.join(f'{t:.3f}' for t in runs)}; "
              f"{len(graph.frame)} rows")
        t_lists, runs, lists = median_time(lambda: audit_fleet(session, subscriptions=subs), 3)
        print(f"HTTPS audit_fleet (lists): median {t_lists:.3f} s of {', '.join(f'{t:.3f}' for t in runs)}; "
              f"same table: {lists.frame.equals(graph.frame)}")
        ratio = t_graph / t_lists
        print(f"HTTPS ratio Resource Graph / lists: {ratio:.3f}")
        session.close()
        return ratio


def main(argv: list[str]) -> float:
    subs_n = int(argv[0]) if argv else 10
    per_sub = int(argv[1]) if len(argv) > 1 else 1000
    fresh_state("graph")
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.resource_graph import audit_resource_graph
    from vpnrunbook.fleet.seed import seed_subscriptions

    session = connect(target="emulator")
    seeded = seed_subscriptions(session, subscriptions=subs_n, connections=per_sub, resource_groups=20)
    print(seeded.summary())
    subs = list(seeded.by_subscription)
    warm = audit_resource_graph(session)
    assert len(warm.frame) == seeded.connections, f"Resource Graph found {len(warm.frame)} of {seeded.connections}"
    t_graph, runs, graph = median_time(lambda: audit_resource_graph(session), 3)
    print(f"audit_resource_graph: median {t_graph:.3f} s of {', '.join(f'{t:.3f}' for t in runs)}; "
          f"{graph.requests} requests ({graph.graph_requests} queries); {len(graph.frame)} rows")
    audit_fleet(session, subscriptions=subs)
    t_lists, runs, lists = median_time(lambda: audit_fleet(session, subscriptions=subs), 3)
    print(f"audit_fleet (per-resource-group lists, 8 workers): median {t_lists:.3f} s of "
          f"{', '.join(f'{t:.3f}' for t in runs)}; {lists.requests} requests; same table: "
          f"{lists.frame.equals(graph.frame)}")
    over_https(subs)
    print(f"absolute Resource Graph audit: {t_graph:.2f} s for {len(graph.frame)} connections in {subs_n} "
          f"subscriptions (goal < 10 s)")
    ratio = t_graph / t_lists
    print(f"ratio Resource Graph / per-resource-group lists (in-process emulator): {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
