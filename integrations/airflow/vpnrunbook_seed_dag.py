"""Airflow DAG ``vpnrunbook_seed``: the seed workflow's runs as tasks, each one ``vpnrunbook run`` (one evidence run).

The task graph is the one ``vpnrunbook demo`` runs: read from ``vpnrunbook demo --graph`` when the DAG file is
parsed (never copied here). A task starts when the runs it ``needs`` succeeded. Where the demo starts a run as soon
as a resource group made in the first cells of another run exists, the task depends on that run (an Airflow task
holding a worker slot to poll would deadlock a serial executor such as ``airflow dags test``).

Per DAG run (``dag_run.conf``, all optional)::

    {"apply": true,                                   # false: every run only plans (nothing written)
     "change_window": {"start": "2026-12-02T18:00:00+00:00", "end": "2026-12-02T20:00:00+00:00"},
     "parameters": {"04_vnet1_to_site6": {"dpd_timeout_seconds": 60}},   # per task: -P NAME=VALUE overrides
     "evidence_dir": "/srv/evidence", "seed_dir": "/srv/params/seed", "timeout_seconds": 7200}

A task outside the change window fails before anything runs. Exit codes of ``vpnrunbook run`` → task state:
0 success; 2 refused (bad parameters, nothing changed) and 1 failed (a person reads the evidence first) and 4 →
failed, no retry (``AirflowFailException``); 3 timed out and 130 / a signal (interrupted) → up for retry
(``AirflowException``, the task's ``retries``). Each task pushes to XCom ``ledger_head`` (``SEQ:SHA256``, for
``vpnrunbook evidence verify --head``), ``run_id``, ``evidence`` and ``outcome``; its return value is the same dict.

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
CONF_KEYS = ("apply", "change_window", "parameters", "evidence_dir", "seed_dir", "timeout_seconds")


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


def check_conf(conf: dict[str, Any], task_ids: list[str]) -> None:
    unknown = sorted(set(conf) - set(CONF_KEYS))
    if unknown:
        raise AirflowFailException(f"dag_run.conf: unknown key {unknown[0]!r}; allowed: {', '.join(CONF_KEYS)}")
    params = conf.get("parameters") or {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise AirflowFailException("dag_run.conf.parameters: allowed is {task id: {parameter: value}}")
    bad = sorted(set(params) - set(task_ids))
    if bad:
        raise AirflowFailException(f"dag_run.conf.parameters: {bad[0]!r} is not a task; allowed: {', '.join(task_ids)}")


def check_window(window: Any, now: dt.datetime | None = None) -> None:
    """Fail (no retry) outside ``{"start": ISO, "end": ISO}``; no window: always open."""
    if window is None:
        return
    try:
        start = dt.datetime.fromisoformat(str(window["start"]))
        end = dt.datetime.fromisoformat(str(window["end"]))
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("a time zone is required")
    except (KeyError, TypeError, ValueError) as exc:
        raise AirflowFailException(f"dag_run.conf.change_window: {exc}; allowed: {{\"start\": ISO 8601 with a "
                                   "time zone, \"end\": ...}") from None
    now = now or dt.datetime.now(dt.UTC)
    if not start <= now < end:
        raise AirflowFailException(f"outside the change window {start.isoformat()} .. {end.isoformat()} "
                                   f"(now {now.isoformat(timespec='seconds')}): nothing was run")


def run_one(run: dict[str, Any], graph: dict[str, Any], conf: dict[str, Any], ti: Any = None) -> dict[str, Any]:
    """One ``vpnrunbook run`` for ``run`` with the DAG run's conf; pushes and returns the ledger head."""
    tid = task_id(run["params"])
    check_conf(conf, [task_id(r["params"]) for r in graph["runs"]])
    check_window(conf.get("change_window"))
    env = dict(os.environ)
    if conf.get("evidence_dir"):
        env["VPNRUNBOOK_EVIDENCE_DIR"] = str(conf["evidence_dir"])
    seed_dir = Path(conf.get("seed_dir") or graph["seed_dir"])
    cmd = [VPNRUNBOOK, "run", run["step"], "-p", str(seed_dir / run["params"])]
    if conf.get("apply", True):
        cmd.append("--apply")
    for name, value in ((conf.get("parameters") or {}).get(tid) or {}).items():
        cmd += ["-P", f"{name}={json.dumps(value)}"]   # JSON is YAML: read back exactly
    if conf.get("timeout_seconds"):
        cmd += ["--timeout", str(float(conf["timeout_seconds"]))]
    proc = subprocess.run(cmd, cwd=graph["repo"], env=env, capture_output=True, text=True)
    print(proc.stdout)
    print(proc.stderr)
    head = re.search(r"^ledger head: (\S+)", proc.stdout, re.M)
    evidence = re.search(r"^evidence: (\S+)", proc.stdout, re.M)
    outcome = re.search(r": (\w+) \(exit \d+\)$", proc.stdout.splitlines()[0] if proc.stdout else "")
    result = {"task": tid, "exit_code": proc.returncode, "outcome": outcome.group(1) if outcome else None,
              "ledger_head": head.group(1) if head else None, "evidence": evidence.group(1) if evidence else None,
              "run_id": Path(evidence.group(1)).name if evidence else None}
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
