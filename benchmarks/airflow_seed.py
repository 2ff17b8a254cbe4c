"""Benchmark 6: the seed workflow run by a real Airflow scheduler (LocalExecutor) over ``vpnrunbook demo``.

Both run the same eleven ``vpnrunbook run``s against the emulator with the same time factor, each with fresh
state, in this run. Airflow 3.3.2 runs as a deployment does: ``airflow scheduler`` (LocalExecutor: at most as
many runs at once as the demo, cores + 2, through a pool, plus a worker per resource-group sensor), ``airflow
dag-processor`` and ``airflow api-server`` (the execution API the tasks report to), on 127.0.0.1 in a temporary
``AIRFLOW_HOME`` with SQLite (``tests/integrations/airflow_scheduler.py``), stopped afterwards. The time
measured is the DAG run's, as Airflow recorded it: ``queued_at`` (the trigger) to ``end_date``; the demo's is the
whole command's wall time.

A scheduler that has just started has cold worker processes: the first task each one runs loads Airflow's DAG
bundle and provider machinery first (seconds). A running deployment's workers are warm, so before the measured
run the benchmark triggers one warm-up run outside its change window (every root task fails at once, nothing runs,
no evidence); the warm-up's task times are printed as the cold per-task overhead. Per task it prints queued, start
and end (seconds from the trigger), the wait in the queue, the task's running time and ``vpnrunbook run``'s own
(the run's ``duration_seconds``); the difference is Airflow's task process (task SDK, DAG file parse) and the CLI's
start. ``VPNRUNBOOK_BENCH_DAGS_TEST=1`` also times ``airflow dags test`` (serial, about a minute more).

Needs Airflow's venv (``.venv/airflow-3.3.2``, made by ``tests/integrations/test_airflow_dag.py``, or
``$VPNRUNBOOK_AIRFLOW_VENV``). Last line: the ratio. Run: ``python -m benchmarks airflow_seed``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTOR = "0.002"   # a gateway: 45 min x 0.002 = 5.4 s, as `make demo`
DAG_ID = "vpnrunbook_seed"
VPNRUNBOOK = Path(sys.executable).parent / "vpnrunbook"


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VPNRUNBOOK_"))}
    env.update({"VPNRUNBOOK_STATE_DIR": str(base / "state"), "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"),
                "VPNRUNBOOK_EMULATOR_TIME_FACTOR": FACTOR, "VPNRUNBOOK_SEED_KEY": "BenchSeedKey0123456789abcdefghij",
                "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "integrations/airflow"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "VPNRUNBOOK_BIN": str(VPNRUNBOOK)})
    return env


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _demo(base: Path) -> float:
    t = time.perf_counter()
    demo = subprocess.run([str(VPNRUNBOOK), "demo"], env=_env(base), cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t
    print(f"vpnrunbook demo: {took:.1f} s (exit {demo.returncode}; load average {_load()})")
    for line in demo.stdout.splitlines():
        if "succeeded in" in line or "failed in" in line:
            print("  demo" + line)
    return took


def _past_window() -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {"start": (now - dt.timedelta(hours=3)).isoformat(), "end": (now - dt.timedelta(hours=2)).isoformat()}


def _scheduler(venv: Path, base: Path) -> float | None:
    sys.path.insert(0, str(ROOT))
    from tests.integrations.airflow_scheduler import RUN_POOL, seed_dag_airflow

    env = _env(base)
    with seed_dag_airflow(venv, base / "airflow", env) as airflow:
        airflow.wait_for_dag(DAG_ID)
        print(f"airflow scheduler + dag-processor + api-server (LocalExecutor, parallelism "
              f"{airflow.env['AIRFLOW__CORE__PARALLELISM']}, runs at once: pool {RUN_POOL} of "
              f"{airflow.pools[RUN_POOL]}, SQLite) started in {airflow.started_in:.1f} s")
        warm = airflow.run_dag(DAG_ID, {"change_window": _past_window()}, timeout=300)
        cold = [t.ran for t in warm.tasks.values() if t.ran is not None and t.state == "failed"]
        print(f"warm-up run (outside its window: {len(cold)} root tasks fail at once, nothing runs): "
              f"{warm.seconds or 0:.1f} s; a cold worker's first task (fork, task SDK, bundle load, DAG parse, "
              f"window check): {min(cold or [0]):.1f} .. {max(cold or [0]):.1f} s")
        t = time.perf_counter()
        run = airflow.run_dag(DAG_ID, {}, timeout=900)
        wall = time.perf_counter() - t
    ledger = base / "evidence" / "ledger.jsonl"
    runs = [json.loads(x) for x in ledger.read_text().splitlines()] if ledger.exists() else []
    own = {}
    for tid, pushed in run.xcom.items():
        manifest = Path(str(pushed.get("evidence") or "")) / "manifest.json"
        if manifest.is_file():
            own[tid] = json.loads(manifest.read_text()).get("duration_seconds")
    print(f"airflow DAG run (LocalExecutor): {run.state}, {run.seconds or 0:.1f} s trigger to end as Airflow "
          f"recorded it ({wall:.1f} s for the CLI trigger and the wait; load average {_load()}; "
          f"{sum(1 for r in runs if r.get('kind', 'run') == 'run')} evidence runs)")
    print(run.table(extra={k: v for k, v in own.items() if v is not None}, extra_name="vpnrunbook"))
    return run.seconds if run.state == "success" else None


def _dags_test(venv: Path, base: Path) -> float:
    env = _env(base)
    subprocess.run([str(venv / "bin" / "airflow"), "db", "migrate"], env=env, capture_output=True)
    t = time.perf_counter()
    out = subprocess.run([str(venv / "bin" / "airflow"), "dags", "test", DAG_ID], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    took = time.perf_counter() - t
    print(f"airflow dags test (serial): {took:.1f} s (exit {out.returncode})")
    return took


def main() -> float | None:
    venv = Path(os.environ.get("VPNRUNBOOK_AIRFLOW_VENV") or ROOT / ".venv" / "airflow-3.3.2")
    if not (venv / "bin" / "airflow").exists():
        print(f"no Airflow venv at {venv}: run tests/integrations/test_airflow_dag.py once; skipped")
        return None
    base = Path(tempfile.mkdtemp(prefix="vpnrunbook-bench-airflow-"))
    t_demo = _demo(base / "demo")
    t_dag = _scheduler(venv, base / "scheduler")
    if os.environ.get("VPNRUNBOOK_BENCH_DAGS_TEST") == "1":
        print(f"ratio airflow dags test / vpnrunbook demo: {_dags_test(venv, base / 'dags-test') / t_demo:.2f}")
    if t_dag is None:
        print("the scheduler's DAG run did not succeed: no ratio")
        return None
    ratio = t_dag / t_demo
    print(f"ratio airflow scheduler (LocalExecutor) / vpnrunbook demo: {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
