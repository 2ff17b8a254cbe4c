"""Airflow DAG ``vpnrunbook_seed``: the seed workflow's runs as tasks, each one ``vpnrunbook run`` (one evidence run).

The task graph is the one ``vpnrunbook demo`` runs: read from ``vpnrunbook demo --graph`` when the DAG file is
parsed (never copied here). A task starts when the runs it ``needs`` succeeded. Where the demo starts a run as soon
as a resource group made in the first cells of another run exists (``02_site6`` waits for TestRG1, the policy
files for TestRG1 and TestRG2), the task waits for a sensor, ``resource_group_<NAME>``, one per group
(``reschedule`` mode, a poke every ``VPNRUNBOOK_AIRFLOW_POKE_SECONDS``, default 1). While the run that creates the
group is running, a poke waits for the group there and then (``vpnrunbook demo --groups-exist NAME --wait S``, a
look every 0.25 s as the demo's): that run holds its own worker slot, so this one cannot starve it. Otherwise a
poke looks once and frees its slot until the next one, so a serial executor (``airflow dags test``) runs the
creating task meanwhile. So with a parallel executor (LocalExecutor) the local gateway and the policy files are
made while the gateways still build, as in the demo. A sensor fails (no retry) when the run that creates its
group ended without success; once that run succeeded the waiting run starts either way (with ``"apply": false``
nothing is created, and the run itself says so). Tasks are queued
in the demo's start priority order (``priority_weight``, absolute): the gateways, the long pole, first.

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

Environment of the workers: ``VPNRUNBOOK_BIN`` (default ``<repo>/.venv/bin/vpnrunbook``),
``VPNRUNBOOK_AIRFLOW_POOL`` (the pool the run tasks take a slot of; default ``default_pool``), the usual
``VPNRUNBOOK_TARGET`` / ``AZURE_*`` / ``VPNRUNBOOK_EVIDENCE_DIR`` / ``VPNRUNBOOK_STATE_DIR`` and the shared key
reference's variable (``VPNRUNBOOK_SEED_KEY`` for the seed files). On Azure the tasks share nothing but Azure and
the evidence store, so any executor (Local, Celery, Kubernetes) works; against the emulator they share its SQLite
file in ``VPNRUNBOOK_STATE_DIR`` — the local case only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
# the pool the run tasks take a slot of (its size: how many runs at once, as `vpnrunbook demo`'s cap, cores + 2);
# the sensors use Airflow's default pool, so waiting for a resource group never holds a run's slot
RUN_POOL = os.environ.get("VPNRUNBOOK_AIRFLOW_POOL") or "default_pool"
POKE_SECONDS = float(os.environ.get("VPNRUNBOOK_AIRFLOW_POKE_SECONDS", "1"))
GROUP_WAIT_SECONDS = 10.0          # one look-again loop of a poke while the creating task runs
SENSOR_TIMEOUT_SECONDS = 7200.0     # as long as one run may take (`vpnrunbook run --timeout`'s default)
ENDED_WITHOUT_SUCCESS = {"failed", "upstream_failed", "skipped", "removed"}
EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_EVIDENCE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
OUTCOMES = {EXIT_OK: "succeeded", EXIT_FAILED: "failed", EXIT_REFUSED: "refused", EXIT_TIMEOUT: "timed_out",
            EXIT_EVIDENCE: "evidence", EXIT_INTERRUPTED: "interrupted"}


def task_id(params_file: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", params_file.rsplit(".", 1)[0])


def _graph_stamp(graph: dict[str, Any] | None) -> list[Any]:
    """What the cached graph depends on: the CLI and the file that defines the graph (path, modification time)."""
    stamp: list[Any] = []
    for path in (VPNRUNBOOK, (graph or {}).get("source")):
        try:
            stamp.append([str(Path(str(path)).resolve()), Path(str(path)).stat().st_mtime_ns])
        except (OSError, TypeError):
            stamp.append([str(path), None])
    return stamp


def load_graph() -> dict[str, Any]:
    """``vpnrunbook demo --graph``: the demo's dependency graph, from the project itself.

    Every task process parses this file again, so the graph is kept in ``$AIRFLOW_HOME`` (one file per CLI) and
    asked for again only when the CLI or the file that defines the graph (``source``) changed: a ``vpnrunbook``
    process per task start costs 0.2 s on an idle 2-core machine, seconds on a busy one."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    cache = home / f"vpnrunbook-graph-{hashlib.sha256(VPNRUNBOOK.encode()).hexdigest()[:16]}.json"
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept["stamp"] == _graph_stamp(kept["graph"]):
            return dict(kept["graph"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    out = subprocess.run([VPNRUNBOOK, "demo", "--graph"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=120, check=True)
    graph = json.loads(out.stdout)
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=home, prefix=".vpnrunbook-graph-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"stamp": _graph_stamp(graph), "graph": graph}, f)
        os.replace(tmp, cache)
    except OSError:
        pass   # no cache: the next parse asks the CLI again
    return graph


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
        proc = subprocess.run(cmd, cwd=graph["repo"], env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True)
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


def sensor_id(group: str) -> str:
    return "resource_group_" + re.sub(r"[^A-Za-z0-9_.-]", "_", group)


def creator_state(ti: Any, creator: str) -> str | None:
    """The state of task ``creator`` in this DAG run (through the task SDK); None when it cannot be read."""
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[creator], run_ids=[ti.run_id])
    except Exception:   # noqa: BLE001 - an SDK without the call, or the API unreachable: poke on, bounded by timeout
        return None
    found = (states or {}).get(ti.run_id, {}).get(creator)
    return None if found is None else str(getattr(found, "value", found))


def group_check(group: str, graph: dict[str, Any], wait: float) -> bool:
    """``vpnrunbook demo --groups-exist GROUP --wait S``: True when the group exists (within ``wait`` s)."""
    proc = subprocess.run([VPNRUNBOOK, "demo", "--groups-exist", group, "--wait", str(wait)], cwd=graph["repo"],
                          env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=wait + 300)
    if proc.returncode not in (EXIT_OK, EXIT_FAILED):
        raise AirflowFailException(f"could not check resource group {group} (vpnrunbook demo --groups-exist, "
                                   f"exit {proc.returncode}): {(proc.stderr.strip().splitlines() or [''])[-1]}")
    return proc.returncode == EXIT_OK


def poke_group(group: str, creator: str, graph: dict[str, Any], conf: Any, ti: Any = None) -> bool:
    """One poke of the sensor for resource group ``group``, made in the first cells of task ``creator``.

    While ``creator`` is running the poke waits for the group (looking every 0.25 s, as the demo does): holding
    this worker slot cannot starve ``creator``, which has its own. Otherwise it looks once and, if the group is not
    there, frees the slot until the next poke (a serial executor runs ``creator`` meanwhile). True when the group
    exists or ``creator`` succeeded (a plan-only run creates nothing: the waiting run starts and says why); fails,
    without retry, outside the change window or once ``creator`` ended without success."""
    check_window(conf.get("change_window") if isinstance(conf, dict) else None)
    state = creator_state(ti, creator) if ti is not None else None
    while True:
        if state in ENDED_WITHOUT_SUCCESS:
            raise AirflowFailException(f"resource group {group} will not appear: task {creator}, which creates "
                                       f"it, ended {state}")
        running = state == "running"
        if group_check(group, graph, GROUP_WAIT_SECONDS if running else 0.0):
            return True
        state = creator_state(ti, creator) if ti is not None else None
        if not running or state != "running":
            break
    if state in ENDED_WITHOUT_SUCCESS:
        raise AirflowFailException(f"resource group {group} will not appear: task {creator}, which creates it, "
                                   f"ended {state}")
    return state == "success"


def build_dag(graph: dict[str, Any]) -> DAG:
    runs = graph["runs"]
    # the demo lists its runs in start priority order: the executor takes queued tasks by priority_weight
    priority = {r["params"]: len(runs) - i for i, r in enumerate(runs)}
    with DAG(DAG_ID, schedule=None, catchup=False, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
             default_args={"retries": RETRIES, "retry_delay": RETRY_DELAY, "weight_rule": "absolute"},
             tags=["vpnrunbook"], doc_md=__doc__, max_active_runs=1) as dag:
        tasks, sensors = {}, {}
        for run in runs:
            @task(task_id=task_id(run["params"]), priority_weight=priority[run["params"]], pool=RUN_POOL)
            def one(run: dict[str, Any] = run) -> dict[str, Any]:
                ctx = get_current_context()
                return run_one(run, graph, dict(ctx["dag_run"].conf or {}), ctx["ti"])

            tasks[run["params"]] = one()
            for need in run["needs"]:
                tasks[need] >> tasks[run["params"]]
            for group, creator in zip(run["resource_groups"], run["groups_created_by"], strict=True):
                if group not in sensors:
                    @task.sensor(task_id=sensor_id(group), mode="reschedule", poke_interval=POKE_SECONDS,
                                 timeout=SENSOR_TIMEOUT_SECONDS, retries=0,
                                 priority_weight=priority[creator])
                    def wait(group: str = group, creator: str = task_id(creator)) -> bool:
                        ctx = get_current_context()
                        return poke_group(group, creator, graph, dict(ctx["dag_run"].conf or {}), ctx["ti"])

                    sensors[group] = wait()
                sensors[group] >> tasks[run["params"]]
    return dag


dag = build_dag(load_graph())
