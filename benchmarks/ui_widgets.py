"""Benchmark: how quickly the UI reacts — picker refresh per change (validation + lint + table + proposals),
update-panel re-plan per change against the in-process emulator, and topology collect + render.

Run: ``.venv/bin/python benchmarks/ui_widgets.py``. Prints median / max milliseconds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time


def timed(fn, n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as state:
        os.environ.update({"VPNRUNBOOK_STATE_DIR": state, "VPNRUNBOOK_DB": f"{state}/emulator.sqlite3",
                           "VPNRUNBOOK_SIGNING_DIR": f"{state}/signing",
                           "VPNRUNBOOK_EVIDENCE_DIR": f"{state}/evidence",
                           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": "0.0005", "VPNRUNBOOK_SEED_KEY": "Bench0Key0Not0Secret"})
        from tests.browser.seed_state import create_seed_connection
        from vpnrunbook.policy.presets import PRESETS
        from vpnrunbook.ui import policy_picker, topology_svg, update_panel

        picker = policy_picker("seed-s2s", interactive=True, save_dir=state)
        groups = ["DHGroup14", "ECP256", "ECP384", "DHGroup24"]
        med, worst = timed(lambda i: picker.set(dh_group=groups[i % 4]), 200)
        print(f"picker refresh per change: median {med:.2f} ms, max {worst:.2f} ms (200 changes)")

        session = create_seed_connection(PRESETS["seed-s2s"].policy)
        panel = update_panel(session, resource_group="TestRG1", connection_name="VNet1toSite6", interactive=True)
        med, worst = timed(lambda i: panel.picker.set(dh_group=groups[i % 4]), 40)
        print(f"update panel re-plan per change (emulator, in-process): median {med:.1f} ms, max {worst:.1f} ms")
        med, worst = timed(lambda i: topology_svg(session, ["TestRG1"]), 20)
        print(f"topology collect + render (1 group, 1 connection): median {med:.1f} ms, max {worst:.1f} ms")


if __name__ == "__main__":
    main()
