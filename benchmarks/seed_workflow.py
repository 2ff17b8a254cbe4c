"""Benchmark 1: critical path of the seed workflow — ``make demo`` wall time over the simulated gateway time T.

T (default 90 s) sets the emulator's time factor (a VPN gateway takes 45 min × factor = T). The demo as
``make demo`` runs it (``vpnrunbook.runbook.demo.run_demo``: runs in one stage concurrently, so the two
gateways build at the same time) is timed, then the sequential baseline (every run in its own stage, in the
same order) in the same benchmark run, each on fresh state. Prints both, and last: demo / T.
Run: ``python -m benchmarks.seed_workflow [T_seconds]``.
"""

from __future__ import annotations

import io
import os
import sys

from benchmarks._common import fresh_state, timed

GATEWAY_SIMULATED_SECONDS = 45 * 60


def run(stages: object, label: str) -> float:
    base = fresh_state(label)
    os.environ.pop("VPNRUNBOOK_SEED_KEY", None)
    from vpnrunbook.runbook.demo import run_demo

    out = io.StringIO()
    seconds, code = timed(lambda: run_demo(evidence_dir=base / "evidence", stages=stages, out=out))
    if code != 0:
        print(out.getvalue())
        raise SystemExit(f"{label}: demo exited {code}")
    return seconds


def main(argv: list[str]) -> float:
    t_gateway = float(argv[0]) if argv else 90.0
    factor = t_gateway / GATEWAY_SIMULATED_SECONDS
    os.environ["VPNRUNBOOK_EMULATOR_TIME_FACTOR"] = repr(factor)
    from vpnrunbook.runbook.demo import STAGES

    print(f"simulated gateway time T = {t_gateway:.1f} s (time factor {factor:.5f}); "
          f"{sum(len(s) for s in STAGES)} runs in {len(STAGES)} stages")
    t_demo = run(STAGES, "demo")
    print(f"make demo (stages, gateways concurrently): {t_demo:.1f} s = {t_demo / t_gateway:.2f} T")
    sequential = tuple((item,) for stage in STAGES for item in stage)
    t_seq = run(sequential, "sequential")
    print(f"sequential baseline (one run at a time): {t_seq:.1f} s = {t_seq / t_gateway:.2f} T")
    ratio = t_demo / t_gateway
    print(f"ratio demo / T: {ratio:.3f} (goal <= 1.2; sequential {t_seq / t_gateway:.2f})")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
