"""Benchmark 6: the seed workflow scheduled through the Airflow DAG (``airflow dags test``) over ``vpnrunbook demo``.

Both run the same eleven ``vpnrunbook run``s against the emulator with the same time factor, each with fresh
state, in this run. ``airflow dags test`` executes one task at a time (Airflow's serial test executor), so the
ratio shows what the demo's parallel graph saves on one machine, plus Airflow's per-task overhead; a Local or
Celery executor runs independent tasks side by side. Needs Airflow's venv (``.venv/airflow-3.3.2``, made by
``tests/integrations/test_airflow_dag.py``, or ``$VPNRUNBOOK_AIRFLOW_VENV``). Last line: the ratio.
Run: ``python -m benchmarks.airflow_seed``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTOR = "0.002"   # a gateway: 45 min x 0.002 = 5.4 s, as `make demo`


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VPNRUNBOOK_"))}
    env.update({"VPNRUNBOOK_STATE_DIR": str(base / "state"), "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"),
                "VPNRUNBOOK_EMULATOR_TIME_FACTOR": FACTOR, "VPNRUNBOOK_SEED_KEY": "BenchSeedKey0123456789abcdefghij",
                "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "integrations/airflow"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "VPNRUNBOOK_BIN": str(Path(sys.executable).parent / "vpnrunbook")})
    return env


def main() -> float | None:
    venv = Path(os.environ.get("VPNRUNBOOK_AIRFLOW_VENV") or ROOT / ".venv" / "airflow-3.3.2")
    if not (venv / "bin" / "airflow").exists():
        print(f"no Airflow venv at {venv}: run tests/integrations/test_airflow_dag.py once; skipped")
        return None
    base = Path(tempfile.mkdtemp(prefix="vpnrunbook-bench-airflow-"))
    demo_env = _env(base / "demo")
    t = time.perf_counter()
    demo = subprocess.run([str(Path(sys.executable).parent / "vpnrunbook"), "demo"], env=demo_env, cwd=ROOT,
                          capture_output=True, text=True)
    t_demo = time.perf_counter() - t
    print(f"vpnrunbook demo: {t_demo:.1f} s (exit {demo.returncode})")
    af_env = _env(base / "airflow")
    t = time.perf_counter()
    migrate = subprocess.run([str(venv / "bin" / "airflow"), "db", "migrate"], env=af_env, capture_output=True)
    t_migrate = time.perf_counter() - t
    t = time.perf_counter()
    run = subprocess.run([str(venv / "bin" / "airflow"), "dags", "test", "vpnrunbook_seed"], env=af_env, cwd=ROOT,
                         capture_output=True, text=True)
    t_dag = time.perf_counter() - t
    ledger = base / "airflow" / "evidence" / "ledger.jsonl"
    runs = len(ledger.read_text().splitlines()) if ledger.exists() else 0
    print(f"airflow db migrate (SQLite): {t_migrate:.1f} s (exit {migrate.returncode}); airflow dags test "
          f"vpnrunbook_seed: {t_dag:.1f} s (exit {run.returncode}, {runs} evidence runs)")
    ratio = t_dag / t_demo
    print(f"ratio airflow dags test / vpnrunbook demo: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
