"""Benchmark: what a change costs on a long history — the same rollout on a fresh ledger and on one holding
100,000 lines (a fleet team's year: 50 rollouts of 1,000 connections, sealed as `ledger.append` seals it), both
measured in this run. Issue 24's row "a rollout on a large history: <= 1.1 x".

Both rollouts run in-process against a freshly seeded emulator (same fleet, same policy, 8 workers), each
journaling every unit (intent, outcome) into its evidence folder, writing its run folder and bringing the
auditor's index up to date. The long history is the `ledger_growth` benchmark's (signed by this run's key, the key
the rollout signs with). Before the timed rollout, the index is brought up to date once on the long history: the
first run after an upgrade reads the history once to build `.index-rows.jsonl`; every run after reads only its own
lines (that one-time reading is printed too).

Prints last::

    ratio rollout on a 100000-line history / on a fresh ledger: X

Run: ``python -m benchmarks history_cost`` or ``python -m benchmarks.history_cost [lines] [connections]``.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from benchmarks._common import fresh_state, timed
from benchmarks.ledger_growth import history


def rollout_seconds(evidence: Path, connections: int) -> float:
    """Seconds of one rollout to ``connections`` on a freshly seeded emulator, journaling into ``evidence``."""
    fresh_state("history-cost-emulator")
    os.environ["VPNRUNBOOK_EVIDENCE_DIR"] = str(evidence)
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.rollout import rollout
    from vpnrunbook.fleet.seed import seed_fleet

    session = connect(target="emulator")
    seed_fleet(session, connections=connections, resource_groups=max(1, connections // 10), vnet_to_vnet_pairs=0,
               policies={"default": 1, "seed-s2s": 1})
    targets = audit_fleet(session).frame
    seconds, result = timed(lambda: rollout(session, targets, policy="strong-modern", max_workers=8))
    session.transport.app.store.close()
    if result.outcome != "succeeded":
        raise SystemExit(f"the rollout did not succeed: {result.summary()}")
    return seconds


def main(argv: list[str]) -> None:
    lines = int(argv[0]) if argv else 100_000
    connections = int(argv[1]) if len(argv) > 1 else 300
    base = fresh_state("history-cost")
    signing_dir = os.environ["VPNRUNBOOK_SIGNING_DIR"]
    from vpnrunbook.evidence import index, ledger, signing

    signer = signing.load_signer()
    long_history = base / "evidence-history"
    t, _ = timed(lambda: history(long_history, lines, signer))
    t_seal, segments = timed(lambda: ledger.seal(long_history))
    print(f"history: {lines} lines written in {t:.1f} s, sealed into {len(segments)} segments in {t_seal:.1f} s")
    t_index, _ = timed(lambda: index.refresh(long_history))
    print(f"the index built once from the whole history (the first run after an upgrade pays it): {t_index:.1f} s")

    fresh_times, long_times = [], []
    for k in range(3):  # interleaved, so both sides see the same machine
        os.environ["VPNRUNBOOK_SIGNING_DIR"] = signing_dir  # the key that signed the history
        fresh_times.append(rollout_seconds(base / f"evidence-fresh-{k}", connections))
        os.environ["VPNRUNBOOK_SIGNING_DIR"] = signing_dir
        long_times.append(rollout_seconds(long_history, connections))
        print(f"round {k + 1}: fresh ledger {fresh_times[-1]:.1f} s, {lines}-line history {long_times[-1]:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
    fresh, long_ = statistics.median(fresh_times), statistics.median(long_times)
    print(f"rollout of {connections} connections, medians of 3: fresh ledger {fresh:.1f} s, on the history {long_:.1f} s")
    print(f"ratio rollout on a {lines}-line history / on a fresh ledger: {long_ / fresh:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
