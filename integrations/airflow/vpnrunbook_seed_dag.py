"""Airflow DAG ``vpnrunbook_seed``: the seed workflow's runs as tasks, each one ``vpnrunbook run`` (one evidence run).

The task graph is the one ``vpnrunbook demo`` runs: read from ``vpnrunbook demo --graph`` when the DAG file is
parsed (never copied here). A task starts when the runs it ``needs`` succeeded. Where the demo starts a run as soon
as a resource group made in the first cells of another run exists, the task depends on that run (an Airflow task
holding a worker slot to poll would deadlock a serial executor such as ``airflow dags test``).

Per DAG run (``dag_run.conf``, all optional)::

    {"apply": true,                                   # a JSON boolean; false: every run only plans (nothing written)
     "change_window": {"start": "2026-12-02T18:00:00+00:00", "end": "2026-12-02T20:00:00+00:00"},
     "parameters": {"04_vnet1_to_site6": {"dpd_timeout_seconds": 60}},   # per task: -P NAME=VALUE overrides
     "seed_dir": "/srv/params/seed", "timeout_seconds": 7200}

The conf goes to ``vpnrunbook run --job`` whole: the project's entry gate (``vpnrunbook.gate``) checks it as it
checks every other entry point — ``"apply": "false"`` (a string), ``"yes"`` or ``1`` are refused, not read as true;
a timeout must be a finite number of seconds (1 .. 604800); ``evidence_dir`` is refused (the evidence root is the
worker's ``VPNRUNBOOK_EVIDENCE_DIR``, the project's configuration, never a job's). A refusal is exit 2 with a
``refused`` evidence folder, like any refused run.

A task outside the change window fails before anything runs. Exit codes of ``vpnrunbook run`` (``vpnrunbook run
--help``) → task state: 0 success; 2 refused (bad parameters, nothing changed), 1 failed (a person reads the
evidence first) and 4 → failed, no retry (``AirflowFailException``); 3 timed out (also a kernel that did not
start in time) and 130 / a signal (interrupted) → up for retry (``AirflowException``, the task's ``retries``).
Each task pushes to XCom ``ledger_head`` (``SEQ:SHA256``, for ``vpnrunbook evidence verify --head``), ``run_id``,
``evidence`` and ``outcome`` — read from the run's result file (``vpnrunbook run --result``), never parsed from
its output; its return value is the same dict.

Environment of the workers: ``VPNRUNBOOK_BIN`` (default ``<repo>/.venv/bin/vpnrunbook``), the usual
``VPNRUNBOOK_TARGET`` / ``AZURE_*`` / ``VPNRUNBOOK_EVIDENCE_DIR`` / ``VPNRUNBOOK_STATE_DIR`` and the shared key
reference's variable (``VPNRUNBOOK_SEED_KEY`` for the seed files). On Azure the tasks share nothing but Azure and
the evidence store, so any executor (Local, Celery, Kubernetes) works; against the emulator they share its SQLite
file in ``VPNRUNBOOK_STATE_DIR`` — the local case only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

REPO = Path(os.environ.get("VPNRUNBOOK_REPO") or Path(__file__).resolve().parents[2])
VPNRUNBOOK = os.environ.get("VPNRUNBOOK_BIN") or str(REPO / ".venv" / "bin" / "vpnrunbook")
DAG_ID = "vpnrunbook_seed"
RETRIES = int(os.environ.get("VPNRUNBOOK_AIRFLOW_RETRIES", "2"))
RETRY_DELAY = dt.timedelta(seconds=float(os.environ.get("VPNRUNBOOK_AIRFLOW_RETRY_DELAY", "60")))
EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_EVIDENCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
OUTCOMES = {EXIT_OK: "succeeded", EXIT_FAILED: "failed", EXIT_REFUSED: "refused", EXIT_TIMEOUT: "timed_out",
            EXIT_EVIDENCE: "evidence", EXIT_INTERRUPTED: "interrupted"}


def task_id(params_file: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", params_file.rsplit(".", 1)[0])


def load_graph() -> dict[str, Any]:
    """``vpnrunbook demo --graph``: the demo's dependency graph, from the project itself."""
    out = subprocess.run([VPNRUNBOOK, "demo", "--graph"], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def outcome_to_state(code: int, detail: str) -> None:
    """Raise what makes Airflow give the task the state its exit code means (see the module doc)."""
    if code == EXIT_OK:
        return
    if code in (EXIT_TIMEOUT, EXIT_INTERRUPTED) or code < 0:
        raise AirflowException(f"vpnrunbook run {'timed out' if code == EXIT_TIMEOUT else 'was interrupted'} "
                               f"(exit {code}); up for retry: {detail}")
    kind = {EXIT_REFUSED: "refused (nothing changed)", EXIT_FAILED: "failed", EXIT_EVIDENCE: "evidence problem"}
    raise AirflowFailException(f"vpnrunbook run {kind.get(code, 'failed')} (exit {code}); not retried: {detail}")


def window_bounds(window: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """``{"start": ISO, "end": ISO}`` with time zones → (start, end); None when malformed (the gate refuses it)."""
    try:
        start = dt.datetime.fromisoformat(str(window["start"]))
        end = dt.datetime.fromisoformat(str(window["end"]))
    except (KeyError, TypeError, ValueError):
        return None
    if start.tzinfo is None or end.tzinfo is None:
        return None
    return start, end


def check_window(window: Any, now: dt.datetime | None = None) -> None:
    """Fail (no retry) outside ``{"start": ISO, "end": ISO}``; no window: always open; a malformed one is left to
    the gate (a refused run, exit 2)."""
    bounds = None if window is None else window_bounds(window)
    if bounds is None:
        return
    start, end = bounds
    now = now or dt.datetime.now(dt.UTC)
    if not start <= now < end:
        raise AirflowFailException(f"outside the change window {start.isoformat()} .. {end.isoformat()} "
                                   f"(now {now.isoformat(timespec='seconds')}): nothing was run")


def conf_text(conf: Any) -> str:
    """The conf as JSON for ``vpnrunbook run --job``; a conf that cannot be written as JSON (nested beyond the
    encoder, not JSON data) becomes a text the gate refuses by name (a refused run, never a crash here)."""
    try:
        return json.dumps(conf)
    except (ValueError, TypeError, RecursionError) as exc:
        return json.dumps(f"<dag_run.conf is not JSON data: {type(exc).__name__}>")


def run_one(run: dict[str, Any], graph: dict[str, Any], conf: dict[str, Any], ti: Any = None) -> dict[str, Any]:
    """One ``vpnrunbook run`` for ``run`` with the DAG run's conf (checked by the project's entry gate); pushes
    and returns the run's result."""
    tid = task_id(run["params"])
    check_window(conf.get("change_window") if isinstance(conf, dict) else None)
    seed = conf.get("seed_dir") if isinstance(conf, dict) else None
    seed_dir = Path(seed if isinstance(seed, str) and seed else graph["seed_dir"])
    with tempfile.TemporaryDirectory(prefix="vpnrunbook-task-") as tmp:
        job, result_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(conf_text(conf), encoding="utf-8")
        # --apply: the DAG's default; the conf's "apply" (a JSON boolean, checked by the gate) overrides it
        cmd = [VPNRUNBOOK, "run", run["step"], "-p", str(seed_dir / run["params"]), "--apply", "--job", str(job),
               "--job-task", tid, "--job-label", "dag_run.conf", "--result", str(result_file)]
        proc = subprocess.run(cmd, cwd=graph["repo"], env=dict(os.environ), capture_output=True, text=True)
        print(proc.stdout)
        print(proc.stderr)
        try:
            written = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            written = {}   # the command refused before any run (a usage error): the exit code says what happened
    result = {"task": tid, "exit_code": proc.returncode,
              "outcome": written.get("outcome") or OUTCOMES.get(proc.returncode, "failed"),
              "ledger_head": written.get("ledger_head"), "evidence": written.get("evidence"),
              "run_id": written.get("run_id")}
    if ti is not None:
        for key in ("ledger_head", "run_id", "evidence", "outcome"):
            ti.xcom_push(key=key, value=result[key])
    detail = (proc.stderr.strip().splitlines() or [""])[-1]
    outcome_to_state(proc.returncode, f"{result['outcome']}; evidence {result['evidence']}; {detail}")
    return result


def build_dag(graph: dict[str, Any]) -> DAG:
    with DAG(DAG_ID, schedule=None, catchup=False, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
             default_args={"retries": RETRIES, "retry_delay": RETRY_DELAY}, tags=["vpnrunbook"],
             doc_md=__doc__, max_active_runs=1) as dag:
        tasks = {}
        for run in graph["runs"]:
            @task(task_id=task_id(run["params"]))
            def one(run: dict[str, Any] = run) -> dict[str, Any]:
                ctx = get_current_context()
                return run_one(run, graph, dict(ctx["dag_run"].conf or {}), ctx["ti"])

            tasks[run["params"]] = one()
            for need in dict.fromkeys([*run["needs"], *run.get("groups_created_by", [])]):
                tasks[need] >> tasks[run["params"]]
    return dag


dag = build_dag(load_graph())
