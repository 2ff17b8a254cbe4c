"""Benchmark: the strongSwan prediction matrix (vpnrunbook.device.lab) with 1, 2 and 4 namespace pairs.

Run as root with strongSwan installed: ``.venv/bin/python benchmarks/device_lab.py [parallel ...]``.
Prints the wall time of the whole matrix and the mean time per case (daemons up, negotiate, rekey, down).
"""

from __future__ import annotations

import sys


def main() -> None:
    from vpnrunbook.device.lab import default_matrix, lab_available, run_matrix

    ok, why = lab_available()
    if not ok:
        print(f"skipped: {why}")
        return
    cases = default_matrix()
    for parallel in [int(a) for a in sys.argv[1:]] or [1, 2, 4]:
        result = run_matrix(cases, parallel=parallel)
        per_case = sum(r.observed.seconds for r in result.results) / len(result.results)
        print(f"parallel {parallel}: {len(cases)} cases in {result.wall_seconds:.2f} s wall, "
              f"{per_case:.2f} s per case, all match: {result.all_match}")


if __name__ == "__main__":
    main()
