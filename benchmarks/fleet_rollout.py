"""Benchmark 4: rollout to 200 connections with 8 workers under injected throttling, over the sequential run.

Each run gets a freshly seeded fleet (200 connections in 20 resource groups, 10 VNet-to-VNet pairs, none with
the target policy) at the emulator's default time factor (a connection update takes 60 s × 0.002 = 0.12 s),
and the same fault: 20 % of connection PUTs answered 429 with Retry-After 0.5 s. Checks: every connection
applied, each written exactly once by a successful PUT, and its final ETag is the one the rollout recorded
(no lost update). Prints both runs, and last: the ratio concurrent / sequential.
Run: ``python -m benchmarks.fleet_rollout [connections] [workers]``.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from benchmarks._common import fresh_state, timed

FAULT = {"status": 429, "method": "PUT", "path_regex": r"/connections/[^/]+$", "retry_after": 0.5, "fraction": 0.2}


def one_run(n: int, workers: int) -> tuple[float, dict[str, Any]]:
    fresh_state(f"rollout{workers}")
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.emulator.control import EmulatorControl
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.rollout import rollout
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.policy import presets

    session = connect(target="emulator")
    seed_fleet(session, connections=n, resource_groups=max(1, n // 10), vnet_to_vnet_pairs=n // 20,
               policies={"default": 1, "seed-s2s": 1, "seed-update": 1})
    targets = audit_fleet(session).frame
    ctl = EmulatorControl(session)
    ctl.add_fault(**FAULT)
    start = len(session.transport.requests)
    seconds, result = timed(lambda: rollout(session, targets, policy="strong-modern", max_workers=workers))
    ctl.clear_faults()
    reqs = session.transport.requests[start:]
    puts = [p for m, p, s in reqs if m == "PUT" and re.search(FAULT["path_regex"], p)]
    ok_puts = [p for m, p, s in reqs if m == "PUT" and s in (200, 201) and re.search(FAULT["path_regex"], p)]
    throttled = sum(1 for m, p, s in reqs if s == 429)
    after = audit_fleet(session).frame
    want = presets.get_preset("strong-modern")
    all_strong = all(after[f.name].eq(getattr(want, f.name)).all() for f in __import__(
        "vpnrunbook.policy.rules", fromlist=["FIELDS"]).FIELDS)
    applied = int(result.frame["outcome"].eq("applied").sum())
    connections_applied = applied + int(result.frame.loc[result.frame["outcome"].eq("applied"), "peer"].ne("").sum())
    recorded = {}
    for row in result.frame.itertuples(index=False):
        names = [row.connection] + ([row.peer] if row.peer else [])
        for name, etag in zip(names, str(row.etag_after).split(" "), strict=False):
            recorded[name] = etag
    final = {c.name: c.etag for rg in sorted(set(after["resource_group"]))
             for c in session.network.virtual_network_gateway_connections.list(rg)}
    lost = [name for name, etag in final.items() if recorded.get(name) != etag]
    info = {"outcomes": result.counts, "connections_applied": connections_applied, "all_strong": all_strong,
            "puts": len(puts), "successful_puts": len(ok_puts), "distinct_written": len(set(ok_puts)),
            "throttled_answers": throttled, "lost_updates": len(lost), "evidence": str(result.evidence_dir)}
    return seconds, info


def main(argv: list[str]) -> float:
    n = int(argv[0]) if argv else 200
    workers = int(argv[1]) if len(argv) > 1 else 8
    t_con, con = one_run(n, workers)
    print(f"concurrent ({workers} workers): {t_con:.1f} s; {con}")
    t_seq, seq = one_run(n, 1)
    print(f"sequential (1 worker): {t_seq:.1f} s; {seq}")
    for label, info in (("concurrent", con), ("sequential", seq)):
        ok = (info["connections_applied"] == n and info["all_strong"] and info["lost_updates"] == 0
              and info["successful_puts"] == info["distinct_written"] == n)
        print(f"{label}: all {n} applied, each written once, no lost update: {'yes' if ok else 'NO'}")
    ratio = t_con / t_seq
    print(f"ratio concurrent / sequential: {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
