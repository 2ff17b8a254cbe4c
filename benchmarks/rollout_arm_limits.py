"""Benchmark 7: a rollout of 1,000 connections within ARM's per-subscription limits (``--all-subscriptions``).

Seeds one emulated subscription with 1,000 connections in 50 resource groups (the default mix: 50 VNet-to-VNet
pairs, a quarter already ``strong-modern``), reads them through Resource Graph as ``vpnrunbook rollout
--all-subscriptions`` does, then times :func:`vpnrunbook.fleet.subscription_rollout.rollout_by_subscription` to
``strong-modern`` with ARM's token buckets in every client (reads 250 + 25/s, writes 200 + 10/s). The requests
counted are the ones the buckets took — what ARM would count: every attempt, LRO polls and list pages included.
Checks that nothing is lost: every connection applied or unchanged, every one ``strong-modern`` afterwards, each
written connection in the rollout's evidence (its change record with the ETag after) and the ledger verifies.
First, as the baseline in the same run: 100 connections through the operations layer's own reads
(``shared_reads=False``: a GET per resource and per poll) and through the shared list reads.
Last line: ``rollout 1000 within ARM limits: X s, reads per write Y`` (goal: ≤ 120 s, ≤ 2.5).
Run: ``python -m benchmarks rollout_arm_limits`` or ``python -m benchmarks.rollout_arm_limits [connections]``.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks._common import fresh_state, timed


def baseline(n: int) -> None:
    """The same rollout of ``n`` connections through the operations layer's own reads (a GET per resource and per
    poll, the SDK's pollers) and through the shared reads, each on a fresh fleet, in this run."""
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.resource_graph import audit_resource_graph
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.fleet.subscription_rollout import rollout_by_subscription
    from vpnrunbook.fleet.write_limits import SubscriptionBudget

    for shared in (False, True):
        fresh_state("armlimits-base")
        session = connect(target="emulator")
        seed_fleet(session, connections=n, resource_groups=max(1, n // 20))
        budget = SubscriptionBudget()
        targets = audit_resource_graph(session).frame
        started = time.perf_counter()
        rollout_by_subscription(session, targets, policy="strong-modern", budget=budget, shared_reads=shared,
                                evidence=False)
        seconds = time.perf_counter() - started
        reads = sum(v for (_, op), v in budget.taken.items() if op == "read")
        writes = sum(v for (_, op), v in budget.taken.items() if op == "write")
        print(f"{n} connections, {'shared list reads' if shared else 'operations layer alone (before)'}: "
              f"{seconds:.1f} s, {reads} reads for {writes} writes = {reads / max(writes, 1):.2f} reads per write")


def main(argv: list[str]) -> tuple[float, float]:
    n = int(argv[0]) if argv else 1000
    baseline(100)
    base = fresh_state("armlimits")
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.resource_graph import audit_resource_graph
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.fleet.subscription_rollout import rollout_by_subscription
    from vpnrunbook.fleet.write_limits import SubscriptionBudget
    from vpnrunbook.policy import presets
    from vpnrunbook.policy.rules import FIELDS

    session = connect(target="emulator")
    seeded = seed_fleet(session, connections=n, resource_groups=max(1, n // 20))
    print(seeded.summary())
    targets = audit_resource_graph(session).frame
    budget = SubscriptionBudget()
    seconds, result = timed(lambda: rollout_by_subscription(session, targets, policy="strong-modern", budget=budget,
                                                            state_dir=base / "state"))
    reads = sum(v for (_, op), v in budget.taken.items() if op == "read")
    writes = sum(v for (_, op), v in budget.taken.items() if op == "write")
    waited = {op: round(sum(v for (_, o), v in budget.waited.items() if o == op), 1) for op in ("read", "write")}
    print(result.summary())
    print(f"requests taken from the subscription's buckets: {reads} reads, {writes} writes; waited for tokens "
          f"{waited} s; least time for the writes alone: {budget.minimum_seconds(writes):.1f} s")
    # nothing lost: every connection done and strong-modern now, every write in the evidence
    after = audit_fleet(session).frame
    want = presets.get_preset("strong-modern")
    all_strong = bool(all(after[f.name].eq(getattr(want, f.name)).all() for f in FIELDS))
    counts = result.counts
    done = counts.get("applied", 0) + counts.get("unchanged", 0)
    units = sum(len(r.frame) for r in result.by_subscription.values())  # both directions of a pair: one unit
    from vpnrunbook.evidence import ledger
    entries, findings = ledger.verify(base / "evidence")
    by_seq = {e.get("seq"): e for _, _, e in ledger.read(base / "evidence") if e}
    recorded = 0
    for one in result.by_subscription.values():   # each applied unit names its outcome line, with the ETags after
        manifest = json.loads((one.evidence_dir / "manifest.json").read_text(encoding="utf-8"))
        recorded += sum(len([w for w in by_seq.get(u.get("outcome_seq"), {}).get("written") or [] if w.get("etag")])
                        for u in manifest["units"] if u["outcome"] == "applied")
    print(f"all {len(targets)} connections ({units} units) done (applied/unchanged): {done == units}; "
          f"all strong-modern: {all_strong}; "
          f"connections written, each in the evidence with its ETag after: {recorded}; ledger: {len(entries)} "
          f"lines, {len(findings)} finding(s)")
    ratio = reads / writes if writes else float("inf")
    print(f"rollout {n} within ARM limits: {seconds:.1f} s, reads per write {ratio:.2f}")
    return seconds, ratio


if __name__ == "__main__":
    main(sys.argv[1:])
