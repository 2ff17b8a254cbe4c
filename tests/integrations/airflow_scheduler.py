"""A real Airflow 3 deployment on loopback for one DAG run: ``airflow scheduler`` (LocalExecutor), ``airflow
dag-processor`` and ``airflow api-server`` (the execution API the task SDK reports to), one SQLite metadata DB,
all in a temporary ``AIRFLOW_HOME``.

Used by ``tests/integrations/test_airflow_dag.py`` and ``benchmarks/airflow_seed.py``::

    with seed_dag_airflow(venv, home, env) as airflow:      # db migrate, start the three components
        airflow.wait_for_dag("vpnrunbook_seed")
        run = airflow.run_dag("vpnrunbook_seed", conf, timeout=600)   # trigger, wait, read the task instances

Each component is started in a session (process group) of its own and the whole group is ended on exit (SIGTERM,
then SIGKILL after a grace period), so the LocalExecutor's workers and the task processes they fork go with it.
Nothing listens beyond 127.0.0.1: the API server is bound to loopback on a free port, the scheduler does not serve
logs (``--skip-serve-logs``; the logs are files under ``AIRFLOW_HOME/logs``). Only the standard library is used
here; Airflow lives in its own venv.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time(value: Any) -> dt.datetime | None:
    """A timestamp as SQLAlchemy stores it in SQLite (``2026-12-07 01:30:00.123456`` in UTC, maybe with an
    offset) → an aware datetime."""
    if not value:
        return None
    t = dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class TaskTimes:
    """One task instance as the metadata DB recorded it; offsets in seconds from the DAG run's queued time."""

    task_id: str
    state: str | None
    try_number: int
    queued: float | None
    start: float | None
    end: float | None

    @property
    def waited(self) -> float | None:
        """Seconds between queued (sent to the executor) and running (the task process reported start)."""
        return None if self.queued is None or self.start is None else self.start - self.queued

    @property
    def ran(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class DagRunResult:
    run_id: str
    state: str | None
    seconds: float | None               # the DAG run's queued_at -> end_date, as Airflow recorded them
    tasks: dict[str, TaskTimes] = field(default_factory=dict)
    xcom: dict[str, dict[str, Any]] = field(default_factory=dict)   # task id -> {key: value} it pushed

    def overlapped(self, a: str, b: str) -> bool:
        """Whether tasks ``a`` and ``b`` were running at the same time (by the recorded start and end)."""
        ta, tb = self.tasks[a], self.tasks[b]
        if None in (ta.start, ta.end, tb.start, tb.end):
            return False
        return max(ta.start, tb.start) < min(ta.end, tb.end)  # type: ignore[type-var]

    def table(self, extra: dict[str, float] | None = None, extra_name: str = "") -> str:
        """One line per task, by start: state, queued/start/end (s from the trigger), waited, ran, and ``extra``'s
        value for the task (e.g. the run's own seconds) under ``extra_name``."""
        extra = extra or {}

        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        rows = [f"{'task':28} {'state':9} {'queued':>7} {'start':>7} {'end':>7} {'waited':>7} {'ran':>6}"
                + (f" {extra_name:>10}" if extra else "")]
        for t in sorted(self.tasks.values(), key=lambda t: (t.start is None, t.start or 0.0)):
            rows.append(f"{t.task_id:28} {t.state or '-':9} {f(t.queued):>7} {f(t.start):>7} {f(t.end):>7} "
                        f"{f(t.waited):>7} {f(t.ran):>6}" + (f" {f(extra.get(t.task_id)):>10}" if extra else ""))
        return "\n".join(rows)


class LocalAirflow:
    """Airflow's scheduler (LocalExecutor), DAG processor and API server for ``home``, on loopback (see the
    module doc). ``env`` is the environment of every component (and so of the tasks): the caller's
    ``VPNRUNBOOK_*`` settings and ``AIRFLOW__CORE__DAGS_FOLDER``; the deployment's own settings are added here."""

    COMPONENTS = (("api-server", "--workers", "1"), ("dag-processor",), ("scheduler", "--skip-serve-logs"))

    def __init__(self, venv: Path, home: Path, env: dict[str, str], *, parallelism: int | None = None,
                 pools: dict[str, int] | None = None, idle_sleep: float = 0.2) -> None:
        self.venv, self.home = Path(venv), Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.db = self.home / "airflow.db"
        self.env = dict(env)
        self.env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # worker processes of the LocalExecutor (tasks at once, sensors included)
            "AIRFLOW__CORE__PARALLELISM": str(parallelism or (os.cpu_count() or 2) + 2),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            # the scheduler signs the tasks' tokens, the API server checks them: one secret, this deployment's
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # how long an idle scheduler loop sleeps before it looks at the DB again (default 1 s): a finished
            # task's downstream tasks are queued on the next loop
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": str(idle_sleep),
            # a worker's supervisor waits in select() for up to this many seconds (default 5) between heartbeats;
            # when the task process closes its sockets before it is reaped, the supervisor notices the exit only
            # then, and the worker slot stays taken that long after the task ended
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        })
        self.pools = dict(pools or {})
        self.procs: list[subprocess.Popen] = []
        self.groups: list[int] = []            # process group ids (one per component), kept after stop()
        self.started_in: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "airflow"), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, cwd=str(self.home))

    def __enter__(self) -> LocalAirflow:
        t = time.monotonic()
        migrated = self.airflow("db", "migrate")
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed: {(migrated.stdout + migrated.stderr)[-3000:]}")
        for name, slots in self.pools.items():
            made = self.airflow("pools", "set", name, str(slots), "vpnrunbook runs at once")
            if made.returncode:
                raise RuntimeError(f"airflow pools set {name} failed: {(made.stdout + made.stderr)[-3000:]}")
        try:
            for args in self.COMPONENTS:
                log = open(self.home / f"{args[0]}.log", "wb")  # noqa: SIM115 - closed with the process
                self.procs.append(subprocess.Popen([str(self.venv / "bin" / "airflow"), *args], env=self.env,
                                                   cwd=str(self.home), stdout=log, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, start_new_session=True))
                log.close()
                self.groups.append(self.procs[-1].pid)
            self._wait_api(timeout=180)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - t
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, grace: float = 20) -> None:
        """End each component's whole process group: SIGTERM, then SIGKILL what is left after ``grace`` s."""
        for p in self.procs:
            _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        for p in self.procs:
            _signal_group(p.pid, signal.SIGKILL)   # the group: workers and task processes a component left
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        self.procs = []

    def alive_in_groups(self) -> list[int]:
        """Pids still in the components' process groups (none after :meth:`stop`)."""
        groups = set(self.groups)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) in groups:
                        found.append(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return found

    def _wait_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"the API server did not listen on 127.0.0.1:{self.port} within {timeout:.0f} s; "
                           f"see {self.home / 'api-server.log'}")

    def _check_alive(self) -> None:
        for p, args in zip(self.procs, self.COMPONENTS, strict=False):
            if p.poll() is not None:
                log = (self.home / f"{args[0]}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {args[0]} exited {p.returncode}: {log}")

    # -- DAG runs --------------------------------------------------------------------------------------------
    def _query(self, sql: str, *params: Any) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []       # a table the migration or the processor has not written yet
        finally:
            con.close()

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the DAG processor has parsed and serialized ``dag_id`` (the scheduler only runs those)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self._query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id):
                return
            time.sleep(0.5)
        errors = self._query("SELECT filename, stacktrace FROM import_error")
        raise TimeoutError(f"DAG {dag_id} was not parsed within {timeout:.0f} s; import errors: {errors}; "
                           f"see {self.home / 'dag-processor.log'}")

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run_id = f"manual__vpnrunbook_{secrets.token_hex(6)}"
        out = self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))
        if out.returncode:
            raise RuntimeError(f"airflow dags trigger failed: {(out.stdout + out.stderr)[-3000:]}")
        return run_id

    def wait(self, dag_id: str, run_id: str, timeout: float) -> DagRunResult:
        """Until the DAG run is success or failed (or ``timeout`` s passed: then its state as it is)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            state = self._query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
            if state and state[0][0] in ("success", "failed"):
                break
            time.sleep(0.5)
        return self.result(dag_id, run_id)

    def result(self, dag_id: str, run_id: str) -> DagRunResult:
        rows = self._query("SELECT state, queued_at, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?",
                           dag_id, run_id)
        if not rows:
            return DagRunResult(run_id, None, None)
        state, queued_at, end = rows[0]
        t0 = _time(queued_at)
        def off(v):
            return (None if t0 is None or _time(v) is None else (_time(v) - t0).total_seconds())
        tasks = {}
        for tid, tstate, tries, queued, start, end_t in self._query(
                "SELECT task_id, state, try_number, queued_dttm, start_date, end_date FROM task_instance "
                "WHERE dag_id = ? AND run_id = ?", dag_id, run_id):
            tasks[tid] = TaskTimes(tid, tstate, int(tries or 0), off(queued), off(start), off(end_t))
        xcom: dict[str, dict[str, Any]] = {}
        for tid, key, value in self._query("SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
                                           dag_id, run_id):
            try:
                xcom.setdefault(tid, {})[key] = json.loads(value)
            except (TypeError, ValueError):
                xcom.setdefault(tid, {})[key] = value
        return DagRunResult(run_id, state, off(end) if state in ("success", "failed") else None, tasks, xcom)

    def run_dag(self, dag_id: str, conf: dict[str, Any], timeout: float) -> DagRunResult:
        return self.wait(dag_id, self.trigger(dag_id, conf), timeout)


RUN_POOL = "vpnrunbook_runs"


def seed_dag_airflow(venv: Path, home: Path, env: dict[str, str], *, runs_at_once: int | None = None,
                     sensors: int = 2) -> LocalAirflow:
    """The deployment the seed DAG is tested and measured in: at most as many runs at once as `vpnrunbook demo`
    (cores + 2), through the pool :data:`RUN_POOL` the run tasks take a slot of (``VPNRUNBOOK_AIRFLOW_POOL``),
    and a worker process more for each resource-group sensor, so that waiting never holds a run's slot."""
    cap = runs_at_once or (os.cpu_count() or 2) + 2
    return LocalAirflow(venv, home, {**env, "VPNRUNBOOK_AIRFLOW_POOL": RUN_POOL}, parallelism=cap + sensors,
                        pools={RUN_POOL: cap})


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
