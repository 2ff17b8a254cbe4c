"""Benchmark: the runbook layer — one tiny notebook through the runner (kernel start, papermill, HTML export,
evidence) and the whole seed demo (`vpnrunbook demo`), each in fresh temporary state and evidence folders.

Run: ``.venv/bin/python benchmarks/runbook_demo.py [time_factor]`` (default 0.002: a gateway takes about 5.4 s).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    factor = sys.argv[1] if len(sys.argv) > 1 else "0.002"
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ.update({"VPNRUNBOOK_STATE_DIR": str(base / "state"),
                           "VPNRUNBOOK_DB": str(base / "state" / "emulator.sqlite3"),
                           "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"),
                           "VPNRUNBOOK_SIGNING_DIR": str(base / "state" / "signing"),
                           "VPNRUNBOOK_EMULATOR_TIME_FACTOR": factor, "TINY_KEY": "Bench0Key0Not0Secret"})
        os.environ.pop("VPNRUNBOOK_SEED_KEY", None)
        t0 = time.perf_counter()
        from tests.notebooks.conftest import make_notebook
        from vpnrunbook.runbook.runner import execute
        print(f"import runner: {time.perf_counter() - t0:.2f} s")
        nb = make_notebook(base / "tiny.ipynb")
        for i in range(3):
            t = time.perf_counter()
            r = execute(nb, step="tiny", parameters={"x": i, "key_ref": "env:TINY_KEY", "mode": "ok"})
            print(f"tiny notebook run {i + 1}: {time.perf_counter() - t:.2f} s ({r.outcome})")

        from vpnrunbook.runbook.demo import run_demo

        out = io.StringIO()
        t = time.perf_counter()
        code = run_demo(evidence_dir=base / "evidence-demo", out=out)
        total = time.perf_counter() - t
        size = sum(f.stat().st_size for f in (base / "evidence-demo").rglob("*") if f.is_file())
        runs = len([d for d in (base / "evidence-demo").iterdir() if d.is_dir()])
        print(f"seed demo: {total:.2f} s, exit {code}, {runs} runs, evidence {size / 1e6:.1f} MB "
              f"(time factor {factor})")


if __name__ == "__main__":
    main()
