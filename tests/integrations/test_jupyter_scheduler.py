"""A notebook job created with jupyter-scheduler's own API leaves the same evidence as ``vpnrunbook run``.

The job is created by ``jupyter_scheduler.scheduler.Scheduler.create_job`` (what the JupyterLab extension's REST
handler calls) from ``integrations/jupyter_scheduler/vpnrunbook_job.ipynb`` with parameters; jupyter-scheduler
copies it to its staging folder, injects the parameters and executes it in its own process (its
``DefaultExecutionManager``, nbconvert). The job runs the step through ``run_step``, like ``vpnrunbook run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

JOB_NOTEBOOK = "integrations/jupyter_scheduler/vpnrunbook_job.ipynb"
VPNRUNBOOK = Path(sys.executable).parent / "vpnrunbook"
COMPARED = ("step", "outcome", "exit_code", "apply", "parameters", "target", "subscription_id", "error")


@pytest.fixture
def scheduler(tmp_path, monkeypatch):
    from jupyter_scheduler.environments import CondaEnvironmentManager
    from jupyter_scheduler.orm import create_tables
    from jupyter_scheduler.scheduler import Scheduler

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    db_url = f"sqlite:///{tmp_path / 'scheduler.sqlite'}"
    create_tables(db_url)
    sched = Scheduler(root_dir=str(REPO), environments_manager=CondaEnvironmentManager(), db_url=db_url,
                      task_runner_class=None)
    sched.staging_path = str(tmp_path / "staging")
    return sched


def _job(scheduler, name: str, parameters: dict[str, str], timeout: float = 300):
    from jupyter_scheduler.models import CreateJob, Status

    job_id = scheduler.create_job(CreateJob(input_uri=JOB_NOTEBOOK, runtime_environment_name="", name=name,
                                            parameters=parameters, output_formats=["ipynb"]))
    deadline = time.monotonic() + timeout
    while True:
        job = scheduler.get_job(job_id)
        if job.status in (Status.COMPLETED, Status.FAILED):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.5)


def _manifests(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/manifest.json")}


def _same_evidence(a: dict, b: dict) -> None:
    assert {k: a.get(k) for k in COMPARED} == {k: b.get(k) for k in COMPARED}
    assert a["notebook"]["sha256"] == b["notebook"]["sha256"]
    assert [r.get("name") for r in a.get("records") or []] == [r.get("name") for r in b.get("records") or []]


def test_a_scheduled_job_with_parameters_leaves_the_evidence_of_vpnrunbook_run(scheduler, tmp_path):
    from vpnrunbook.fleet.seed import seed_fleet

    seed_fleet(None, connections=2, resource_groups=1, vnet_to_vnet_pairs=0)
    overrides = {"resource_group": "fleet-rg-000", "connection_name": "gw-000-to-site-0000"}
    job = _job(scheduler, "show policy", {"step": repr("08_show_policy"), "overrides": repr(overrides)})
    assert job.status.value == "COMPLETED", job.status_message
    root = tmp_path / "evidence"
    (scheduled,) = _manifests(root).values()
    cli = subprocess.run([str(VPNRUNBOOK), "run", "08_show_policy",
                          *[a for k, v in overrides.items() for a in ("-P", f"{k}={v}")]],
                         capture_output=True, text=True, env=os.environ.copy(), cwd=str(REPO), timeout=300)
    assert cli.returncode == 0, cli.stderr
    by_cli = next(m for run_id, m in _manifests(root).items() if run_id != scheduled["run_id"])
    _same_evidence(scheduled, by_cli)
    assert scheduled["outcome"] == "succeeded" and scheduled["parameters"]["connection_name"] == "gw-000-to-site-0000"
    verify = subprocess.run([str(VPNRUNBOOK), "evidence", "verify", "--evidence-dir", str(root)],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and "2 run(s)" in verify.stdout, verify.stdout + verify.stderr


def test_a_refused_run_fails_the_job_and_is_recorded_like_the_cli_refusal(scheduler, tmp_path):
    bad = {"resource_group": "fleet-rg-000", "connection_name": "no/such name"}
    job = _job(scheduler, "refused", {"step": repr("08"), "overrides": repr(bad)})
    assert job.status.value == "FAILED" and "refused (exit 2)" in (job.status_message or "")
    root = tmp_path / "evidence"
    (scheduled,) = _manifests(root).values()
    cli = subprocess.run([str(VPNRUNBOOK), "run", "08", *[a for k, v in bad.items() for a in ("-P", f"{k}={v}")]],
                         capture_output=True, text=True, env=os.environ.copy(), cwd=str(REPO), timeout=300)
    assert cli.returncode == 2
    by_cli = next(m for run_id, m in _manifests(root).items() if run_id != scheduled["run_id"])
    assert scheduled["outcome"] == by_cli["outcome"] == "refused"
    assert {k: scheduled.get(k) for k in ("step", "exit_code", "parameters")} == \
        {k: by_cli.get(k) for k in ("step", "exit_code", "parameters")}


def test_the_seed_workflow_as_notebook_jobs_in_graph_order(scheduler, tmp_path, monkeypatch):
    """jupyter-scheduler has no dependency graph: one job per run of the demo's graph, each created when the
    runs it needs have completed (what an operator, or a job definition per step, does)."""
    from vpnrunbook.runbook.demo import RUNS

    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "SchedulerSeedKey0123456789abcdef")   # test-only key
    for run in RUNS:   # listed in an order where every need comes first
        params = {"step": repr(run.step), "params_file": repr(f"parameters/seed/{run.params}"), "apply": "True"}
        job = _job(scheduler, run.params, params)
        assert job.status.value == "COMPLETED", f"{run.params}: {job.status_message}"
    root = tmp_path / "evidence"
    lines = [json.loads(line) for line in (root / "ledger.jsonl").read_text().splitlines()]
    ledger = [e for e in lines if e.get("kind", "run") == "run"]  # run lines (beside the change records)
    assert [e["step"] for e in ledger] == [r.step for r in RUNS] and {e["outcome"] for e in ledger} == {"succeeded"}
    verify = subprocess.run([str(VPNRUNBOOK), "evidence", "verify", "--evidence-dir", str(root)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for path in root.rglob("*"):
        if path.is_file():
            assert b"SchedulerSeedKey0123456789abcdef" not in path.read_bytes(), path
