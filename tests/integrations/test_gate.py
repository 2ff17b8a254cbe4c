"""Issue 22.1: every entry point goes through one gate (vpnrunbook/gate.py).

Hostile input at each door — the CLI, a jupyter-scheduler job (``run_scheduled``), the Python API (``run_step``)
and the Airflow DAG (its own ``run_one``, with Airflow's task API stubbed) — must end the same way: exit 2, a
``refused`` evidence folder in the project's evidence root, and a refusal naming the field, the value and the rule.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import REPO
from vpnrunbook import gate
from vpnrunbook.cli import EXIT_USAGE, main
from vpnrunbook.evidence import rundir


def _refused_runs(root: Path) -> list[dict]:
    runs = rundir.list_runs(root)
    assert runs, f"no evidence under {root}"
    return [rundir.load_manifest(root, r["run_id"]) for r in runs if r["outcome"] == "refused"]


def _problem_text(manifest: dict) -> str:
    return json.dumps(manifest["error"]["problems"])


# ---- the rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["false", "yes", "true", 1, 0, None, [], "False"])
def test_a_boolean_is_a_boolean(value):
    problem = gate.bool_problem("dag_run.conf.apply", value)
    assert problem is not None and problem.field == "dag_run.conf.apply"
    assert "boolean" in problem.allowed and problem.code == "InvalidType"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -5, 0, 0.001, "60", True, 10**9])
def test_a_timeout_is_a_finite_positive_number(value):
    problem = gate.timeout_problem("timeout_seconds", value)
    assert problem is not None and problem.field == "timeout_seconds" and "finite number of seconds" in problem.allowed


def test_exit_codes_and_retries_in_one_table():
    assert [c for c in gate.EXIT_CODES if gate.retryable(c)] == [3, 130]
    assert gate.retryable(-15) and not gate.retryable(2) and not gate.retryable(1)
    assert gate.outcome_of(2) == "refused" and gate.outcome_of(3) == "timed_out"


# ---- the CLI --------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,field", [(["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"),
                                        (["--timeout=-5"], "--timeout"), (["--timeout", "0"], "--timeout"),
                                        (["--cell-timeout", "0.001"], "--cell-timeout"),
                                        (["--start-timeout", "nan"], "--start-timeout")])
def test_cli_bad_timeouts_are_refused_with_exit_2_and_a_refused_folder(tmp_path, capsys, args, field):
    root = tmp_path / "ev"
    assert main(["run", "06", "--evidence-dir", str(root), *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert field in err and "finite number of seconds" in err
    (manifest,) = _refused_runs(root)
    assert field in _problem_text(manifest)
    assert json.dumps(manifest["timeouts_seconds"], allow_nan=False)   # never NaN in the evidence


def test_cli_job_file_is_checked_by_the_gate(tmp_path, capsys):
    root = tmp_path / "ev"
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"apply": "false", "evidence_dir": str(tmp_path / "elsewhere"),
                               "timeout_seconds": "NaN"}))
    result = tmp_path / "result.json"
    assert main(["run", "06", "--evidence-dir", str(root), "--job", str(job), "--result", str(result)]) == 2
    (manifest,) = _refused_runs(root)
    text = _problem_text(manifest)
    for field in ("job.apply", "job.evidence_dir", "job.timeout_seconds"):
        assert field in text
    assert manifest["apply"] is False                  # "false" is never read as true
    assert not (tmp_path / "elsewhere").exists()
    written = json.loads(result.read_text())
    assert written["outcome"] == "refused" and written["exit_code"] == 2 and written["retry"] is False
    assert written["run_id"] == manifest["run_id"]


def test_cli_unknown_step_is_refused_with_a_folder(tmp_path, capsys):
    root = tmp_path / "ev"
    assert main(["run", "../../99_nothing", "--evidence-dir", str(root)]) == EXIT_USAGE
    (manifest,) = _refused_runs(root)
    assert manifest["step"] == "unknown-step" and "UnknownStep" in _problem_text(manifest)
    assert [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] == [manifest["run_id"]]


# ---- the Python API ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,field", [({"apply": "false"}, "apply"), ({"apply": 1}, "apply"),
                                          ({"allow_breaking": "yes"}, "allow_breaking"),
                                          ({"target": "prod"}, "target")])
def test_run_step_refuses_non_booleans(tmp_path, kwargs, field):
    from vpnrunbook.runbook.runner import run_step

    res = run_step("06", evidence_dir=tmp_path / "ev", **kwargs)
    assert (res.outcome, res.exit_code) == ("refused", 2)
    assert res.manifest["apply"] is False
    assert f'"field": "{field}"' in _problem_text(res.manifest)


# ---- jupyter-scheduler ------------------------------------------------------------------------------
@pytest.fixture
def configured_root(tmp_path, monkeypatch):
    root = tmp_path / "evidence"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path / "state"))
    return root


def _deep_json(depth: int) -> str:
    return '{"policy": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("kwargs,field", [
    ({"apply": "yes"}, "job.apply"),
    ({"apply": "false"}, "job.apply"),
    ({"overrides": _deep_json(50_000)}, "job.overrides"),
    ({"overrides": json.loads(_deep_json(200))}, "job.parameters"),
    ({"overrides": "{not json"}, "job.overrides"),
    ({"timeout_seconds": float("nan")}, "job.timeout_seconds"),
    ({"timeout_seconds": "60"}, "job.timeout_seconds"),
    ({"evidence_dir": "/tmp/elsewhere-h20gate"}, "job.evidence_dir"),
    ({"step": "no-such-step"}, "step"),
])
def test_run_scheduled_refuses_with_evidence(configured_root, kwargs, field):
    from vpnrunbook.runbook.scheduled import ScheduledRunError, run_scheduled

    kwargs = {"step": "06", **kwargs}
    with pytest.raises(ScheduledRunError) as info:
        run_scheduled(**kwargs)
    result = info.value.result
    assert (result["outcome"], result["exit_code"]) == ("refused", 2)
    assert Path(result["evidence"]).parent == configured_root       # the project's root, never the job's
    (manifest,) = _refused_runs(configured_root)
    assert f'"field": "{field}' in _problem_text(manifest)
    assert manifest["apply"] is False
    assert not Path("/tmp/elsewhere-h20gate").exists()


# ---- Airflow: the DAG's own code path, Airflow's task API stubbed -----------------------------------------
class _AirflowException(Exception):
    pass


class _AirflowFailException(_AirflowException):
    pass


class _Task:
    def __rshift__(self, other):
        return other


def _stub_airflow(monkeypatch) -> None:
    sdk = types.ModuleType("airflow.sdk")

    class DAG:
        def __init__(self, *a, **kw):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def task(**kw):
        return lambda fn: (lambda *a, **k: _Task())

    task.sensor = task  # the resource-group sensors (@task.sensor)
    sdk.DAG, sdk.task, sdk.get_current_context = DAG, task, lambda: {}
    exceptions = types.ModuleType("airflow.sdk.exceptions")
    exceptions.AirflowException, exceptions.AirflowFailException = _AirflowException, _AirflowFailException
    monkeypatch.setitem(sys.modules, "airflow", types.ModuleType("airflow"))
    monkeypatch.setitem(sys.modules, "airflow.sdk", sdk)
    monkeypatch.setitem(sys.modules, "airflow.sdk.exceptions", exceptions)


class _TI:
    def __init__(self):
        self.xcom: dict = {}

    def xcom_push(self, *, key, value):
        self.xcom[key] = value


@pytest.fixture
def dag(monkeypatch, configured_root):
    _stub_airflow(monkeypatch)
    monkeypatch.setenv("VPNRUNBOOK_BIN", str(Path(sys.executable).parent / "vpnrunbook"))
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    spec = importlib.util.spec_from_file_location("vpnrunbook_seed_dag_under_test",
                                                  REPO / "integrations" / "airflow" / "vpnrunbook_seed_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("conf,field", [
    ({"apply": "false"}, "dag_run.conf.apply"),
    ({"apply": 1}, "dag_run.conf.apply"),
    ({"evidence_dir": "/tmp/elsewhere-h20gate-dag"}, "dag_run.conf.evidence_dir"),
    ({"timeout_seconds": "NaN"}, "dag_run.conf.timeout_seconds"),
    ({"timeout_seconds": -5}, "dag_run.conf.timeout_seconds"),
    ({"parameters": {"no_such_task": {}}}, "dag_run.conf.parameters.no_such_task"),
    ({"parameters": []}, "dag_run.conf.parameters"),
    ({"change_window": {"start": "yesterday"}}, "dag_run.conf.change_window.start"),
    ({"colour": "red"}, "dag_run.conf.colour"),
])
def test_dag_conf_is_refused_by_the_gate_with_evidence_and_no_retry(dag, configured_root, conf, field):
    graph = dag.load_graph()
    run = graph["runs"][-1]
    ti = _TI()
    with pytest.raises(_AirflowFailException) as info:        # refused: no retry
        dag.run_one(run, graph, conf, ti)
    assert "refused" in str(info.value)
    assert ti.xcom["outcome"] == "refused"                       # read from the run's result, not the output
    (manifest,) = _refused_runs(configured_root)
    assert ti.xcom["run_id"] == manifest["run_id"] and field in _problem_text(manifest)
    assert manifest["apply"] is ("apply" not in conf)               # the DAG's default, or never a bad value as true
    assert not Path("/tmp/elsewhere-h20gate-dag").exists()


def test_dag_conf_nested_beyond_the_encoder_is_a_refusal(dag, configured_root):
    graph = dag.load_graph()
    conf: dict = {}
    inner = conf
    for _ in range(50_000):
        inner["x"] = {}
        inner = inner["x"]
    ti = _TI()
    with pytest.raises(_AirflowFailException):
        dag.run_one(graph["runs"][-1], graph, {"parameters": conf}, ti)
    assert ti.xcom["outcome"] == "refused"
    assert _refused_runs(configured_root)


def test_dag_plan_only_success_outcome_comes_from_the_result(dag, configured_root):
    graph = dag.load_graph()
    ti = _TI()
    result = dag.run_one(graph["runs"][0], graph, {"apply": False}, ti)
    (run,) = rundir.list_runs(configured_root)
    assert result["outcome"] == ti.xcom["outcome"] == "succeeded" and run["apply"] is False
    assert ti.xcom["run_id"] == run["run_id"] and ti.xcom["ledger_head"].startswith("1:")


def test_dag_timeout_while_the_kernel_starts_is_retried_with_the_timeout_code(dag, configured_root):
    graph = dag.load_graph()
    ti = _TI()
    with pytest.raises(_AirflowException) as info:
        dag.run_one(graph["runs"][0], graph, {"apply": False, "timeout_seconds": 1}, ti)
    assert not isinstance(info.value, _AirflowFailException), "a timeout is retried"
    assert "exit 3" in str(info.value) and ti.xcom["outcome"] == "timed_out"
    (manifest,) = [rundir.load_manifest(configured_root, r["run_id"]) for r in rundir.list_runs(configured_root)]
    assert manifest["outcome"] == "timed_out" and manifest["error"]["type"] in ("RunTimeout", "KernelStartTimeout")


# ---- rollout plans ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ['"false"', '"yes"', "1", "0"])
def test_a_yaml_rollout_plan_takes_only_a_boolean(tmp_path, value):
    from vpnrunbook.fleet.planfile import RolloutPlanError, load_plan

    plan = tmp_path / "plan.yaml"
    plan.write_text(f"policy: strong-modern\nconnections:\n  - {{resource_group: rg1, connection: a, "
                    f"use_policy_based_traffic_selectors: {value}}}\n", encoding="utf-8")
    with pytest.raises(RolloutPlanError) as info:
        load_plan(plan)
    (problem,) = info.value.problems
    assert "use_policy_based_traffic_selectors" in problem.field and problem.allowed == gate.BOOL_ALLOWED


@pytest.mark.parametrize("cell,ok", [("true", True), ("FALSE", True), ("yes", False), ("1", False), ("no", False)])
def test_a_csv_rollout_plan_reads_only_true_or_false(tmp_path, cell, ok):
    from vpnrunbook.fleet.planfile import RolloutPlanError, load_plan

    plan = tmp_path / "plan.csv"
    plan.write_text(f"resource_group,connection,policy,use_policy_based_traffic_selectors\nrg1,a,strong-modern,{cell}\n",
                    encoding="utf-8")
    if ok:
        (item,) = load_plan(plan)
        assert item.use_policy_based_traffic_selectors is (cell.lower() == "true")
    else:
        with pytest.raises(RolloutPlanError, match="use_policy_based_traffic_selectors"):
            load_plan(plan)


def test_rollout_api_targets_take_only_a_boolean():
    from vpnrunbook.fleet.planfile import RolloutPlanError, items_for

    with pytest.raises(RolloutPlanError, match="is not a boolean"):
        items_for(["rg1/a"], "strong-modern", use_policy_based_traffic_selectors="false")


def test_dag_conf_without_apply_applies_as_documented(dag, configured_root, monkeypatch):
    graph = dag.load_graph()
    seen = {}
    real_run = dag.subprocess.run

    def spy(cmd, **kw):
        seen["cmd"] = cmd
        return real_run(cmd, **kw)

    monkeypatch.setattr(dag.subprocess, "run", spy)
    ti = _TI()
    with pytest.raises(_AirflowFailException):   # a bad parameter: refused before any change, apply recorded
        dag.run_one(graph["runs"][0], graph, {"parameters": {dag.task_id(graph["runs"][0]["params"]):
                                                             {"no_such_parameter": 1}}}, ti)
    assert "--apply" in seen["cmd"]
    (manifest,) = _refused_runs(configured_root)
    assert manifest["apply"] is True                              # the DAG's default: apply
