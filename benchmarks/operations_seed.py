"""Benchmark: the seed workflow through vpnrunbook.operations on the in-process emulator.

Run: ``.venv/bin/python benchmarks/operations_seed.py [time_factor]`` (default 0.002, the emulator's default:
a gateway takes about 5.4 s). Prints wall times, request and write counts of a first and a second run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time


def main() -> None:
    factor = sys.argv[1] if len(sys.argv) > 1 else "0.002"
    with tempfile.TemporaryDirectory() as state:
        os.environ.update({"VPNRUNBOOK_STATE_DIR": state, "VPNRUNBOOK_DB": f"{state}/emulator.sqlite3",
                           "VPNRUNBOOK_SIGNING_DIR": f"{state}/signing",
                           "VPNRUNBOOK_EVIDENCE_DIR": f"{state}/evidence",
                           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": factor, "VPN_PLANTED_KEY": "Bench0Key0Not0Secret"})
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tests.operations.conftest import WRITE_METHODS
        from tests.operations.test_seed_workflow import run_seed
        from vpnrunbook.azure.connect import connect

        session = connect(target="emulator")
        for label in ("first run", "second run"):
            before = len(session.transport.requests)
            t0 = time.perf_counter()
            run_seed(session, progress=False)
            elapsed = time.perf_counter() - t0
            reqs = session.transport.requests[before:]
            writes = [r for r in reqs if r[0] in WRITE_METHODS and "/_emulator" not in r[1]]
            print(f"{label}: {elapsed:.2f} s, {len(reqs)} requests, {len(writes)} writes "
                  f"(time factor {factor})")


if __name__ == "__main__":
    main()
