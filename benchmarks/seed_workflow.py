"""Benchmark 1: critical path of the seed workflow — ``make demo`` wall time over the simulated gateway time T.

T (default 90 s) sets the emulator's time factor (a VPN gateway takes 45 min × factor = T). The demo as
``make demo`` runs it (``vpnrunbook.runbook.demo.run_demo``: a dependency graph, each run starting as soon as
what it needs has succeeded, so the two gateways build at the same time and the local gateway and policy files
are made meanwhile) is timed, then the sequential baseline (one run at a time, in the same order) in the same
benchmark run, each on fresh state. Prints both, and last: demo / T.
Run: ``python -m benchmarks.seed_workflow [T_seconds]``.
"""

from __future__ import annotations

import io
import os
import sys

from benchmarks._common import fresh_state, timed

GATEWAY_SIMULATED_SECONDS = 45 * 60


def run(max_parallel: int | None, label: str, *, timeline: bool = False) -> float:
    base = fresh_state(label)
    os.environ.pop("VPNRUNBOOK_SEED_KEY", None)
    from vpnrunbook.runbook.demo import run_demo

    out = io.StringIO()
    seconds, code = timed(lambda: run_demo(evidence_dir=base / "evidence", max_parallel=max_parallel,
                                                out=out))
    if code != 0:
        print(out.getvalue())
        raise SystemExit(f"{label}: demo exited {code}")
    if timeline:  # when each run started and ended (seconds after the demo started)
        print("".join(line + "\n" for line in out.getvalue().splitlines() if line.startswith("  [")), end="")
    return seconds


def main(argv: list[str]) -> float:
    t_gateway = float(argv[0]) if argv else 90.0
    factor = t_gateway / GATEWAY_SIMULATED_SECONDS
    os.environ["VPNRUNBOOK_EMULATOR_TIME_FACTOR"] = repr(factor)
    from vpnrunbook.runbook.demo import RUNS, default_max_parallel

    print(f"simulated gateway time T = {t_gateway:.1f} s (time factor {factor:.5f}); "
          f"{len(RUNS)} runs, up to {default_max_parallel()} at once")
    t_demo = run(None, "demo", timeline=True)
    print(f"make demo (dependency graph, gateways concurrently): {t_demo:.1f} s = {t_demo / t_gateway:.2f} T")
    t_seq = run(1, "sequential")
    print(f"sequential baseline (one run at a time): {t_seq:.1f} s = {t_seq / t_gateway:.2f} T")
    ratio = t_demo / t_gateway
    print(f"ratio demo / T: {ratio:.3f} (goal <= 1.2; sequential {t_seq / t_gateway:.2f})")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
