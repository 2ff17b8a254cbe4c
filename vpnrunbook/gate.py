"""The one entry gate: every way a runbook step is started passes the same checks and ends the same way.

Entry points: ``vpnrunbook run`` (the CLI), the Airflow DAG (``integrations/airflow``: it hands its
``dag_run.conf`` to ``vpnrunbook run --job``), a jupyter-scheduler job (``vpnrunbook.runbook.scheduled``), the Python
API (:func:`vpnrunbook.runbook.runner.run_step`, which calls :func:`request_problems` first) and rollout plans
(``vpnrunbook.fleet.planfile`` takes its yes/no and number rules from here).

What the gate holds, in one place:

- **strict types** — a boolean is ``True`` or ``False``: ``"false"``, ``"yes"``, ``1`` are refused naming the field
  (:func:`bool_problem`);
- **timeouts** — a finite number of seconds from :data:`TIMEOUT_MIN` to :data:`TIMEOUT_MAX`; ``nan``, ``inf``,
  ``0``, ``-5`` and ``0.001`` are refused (:func:`timeout_problem`);
- **the evidence root** — fixed by the project's configuration (``$VPNRUNBOOK_EVIDENCE_DIR`` of the process, else
  ``./evidence``; the operator's own ``--evidence-dir`` on the command line), never by a job: a job's
  ``evidence_dir`` is refused (:func:`read_job`);
- **refusal** — every refusal is exit 2 *and* a ``refused`` evidence folder, whatever the entry point
  (:func:`start` hands the problems to the runner, which writes the folder and runs nothing);
- **exit codes** — :data:`EXIT_CODES`, the table ``vpnrunbook run --help`` prints, and which of them a scheduler
  retries (:func:`retryable`).

Every refusal is a :class:`~vpnrunbook.policy.rules.Problem`: the field, the value given (bounded, secrets never
echoed) and the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook import plaindata
from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from vpnrunbook.policy.rules import Problem

EXIT_REFUSED = EXIT_USAGE
EXIT_UNANCHORED = 5        # verify --key: signatures fine, but the key's anchor could not be checked
EXIT_INTERRUPTED = 130
# code -> (outcome word, meaning, retried by a scheduler)
EXIT_CODES: dict[int, tuple[str, str, bool]] = {
    EXIT_OK: ("succeeded", "succeeded (a plan-only run too)", False),
    EXIT_FAILED: ("failed", "failed: a cell raised or Azure refused; a person reads the evidence first", False),
    EXIT_REFUSED: ("refused", "refused before any change, nothing written (bad parameters, a pre-check)", False),
    EXIT_TIMEOUT: ("timed_out", "timed out: the kernel did not start, or a cell or the run exceeded its bound", True),
    EXIT_EVIDENCE: ("evidence", "(evidence verify) tampering or an incomplete change found", False),
    EXIT_UNANCHORED: ("unanchored", "(evidence verify --key) signatures verify but the key's anchor (the head it "
                                    "last signed) could not be checked; --accept-unanchored accepts that", False),
    EXIT_INTERRUPTED: ("interrupted", "interrupted (Ctrl-C or SIGTERM); the evidence is still written", True),
}

TIMEOUT_MIN = 1.0                  # seconds: below this no kernel starts and no cell runs
TIMEOUT_MAX = 7 * 24 * 3600.0      # a week: anything longer is a typo
TIMEOUT_ALLOWED = f"a finite number of seconds from {TIMEOUT_MIN:g} to {TIMEOUT_MAX:g}"
BOOL_ALLOWED = "true or false (a boolean, not a string or a number)"
TARGETS = ("emulator", "azure")
EVIDENCE_ROOT_RULE = ("the evidence root is fixed by the project's configuration ($VPNRUNBOOK_EVIDENCE_DIR of the "
                      "worker, else ./evidence), never by a job: remove it from the job")
# A job (the Airflow DAG's dag_run.conf, a jupyter-scheduler job, `vpnrunbook run --job FILE`) may hold these keys
JOB_KEYS = ("apply", "allow_breaking", "parameters", "timeout_seconds", "start_timeout_seconds",
            "cell_timeout_seconds")
SCHEDULER_KEYS = ("change_window", "seed_dir")   # read by the DAG itself before the run (not by the gate)


def retryable(code: int) -> bool:
    """Whether a scheduler should retry a run that ended with ``code`` (a timeout, an interruption, a signal)."""
    return code < 0 or EXIT_CODES.get(code, ("", "", False))[2]


def outcome_of(code: int) -> str:
    return EXIT_CODES.get(code, ("failed", "", False))[0] if code >= 0 else "interrupted"


def exit_table() -> str:
    """The exit-code table, as ``vpnrunbook run --help`` and the docs print it."""
    return "\n".join(f"  {code:<4} {meaning}{'  [retried by schedulers]' if retry else ''}"
                     for code, (_, meaning, retry) in EXIT_CODES.items())


# ---- the rules ---------------------------------------------------------------------------------
def _shown(value: Any) -> Any:
    return plaindata.shown(value) if not isinstance(value, float) or math.isfinite(value) else str(value)


def bool_problem(name: str, value: Any) -> Problem | None:
    """``value`` must be a real boolean: ``"false"`` (a true string), ``"yes"`` and ``1`` are refused."""
    if type(value) is bool:
        return None
    kind = "string" if isinstance(value, str) else type(value).__name__
    return Problem(name, _shown(value), f"{kind} {_shown(value)!r} is not a boolean", BOOL_ALLOWED, "InvalidType")


def timeout_problem(name: str, value: Any) -> Problem | None:
    """``value`` must be a finite number of seconds in [TIMEOUT_MIN, TIMEOUT_MAX] (not a string, not a boolean)."""
    if type(value) not in (int, float):
        kind = "string" if isinstance(value, str) else "boolean" if isinstance(value, bool) else type(value).__name__
        return Problem(name, _shown(value), f"{kind} {_shown(value)!r} is not a number of seconds", TIMEOUT_ALLOWED,
                       "InvalidType")
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(name, str(value), f"{value} is not a finite number", TIMEOUT_ALLOWED, "InvalidValue")
    if not TIMEOUT_MIN <= value <= TIMEOUT_MAX:
        return Problem(name, value, f"{value:g} s is out of range", TIMEOUT_ALLOWED, "OutOfRange")
    return None


def target_problem(name: str, value: Any) -> Problem | None:
    if value is None or value in TARGETS:
        return None
    return Problem(name, _shown(value), "is not a target", " or ".join(TARGETS), "InvalidValue")


def request_problems(*, apply: Any = False, allow_breaking: Any = False, target: Any = None,
                     timeouts: Any = None, parameters: Any = None, labels: Mapping[str, str] | None = None) -> list[Problem]:
    """The checks every start of a step passes (whoever calls): strict booleans, a known target, finite positive
    timeouts and a mapping of parameters. ``labels`` renames fields (``{"apply": "dag_run.conf.apply"}``)."""
    name = dict(labels or {}).get
    found = [bool_problem(name("apply", "apply"), apply),
             bool_problem(name("allow_breaking", "allow_breaking"), allow_breaking),
             target_problem(name("target", "target"), target)]
    if timeouts is not None:
        for part, flag in (("start", "start_timeout"), ("cell", "cell_timeout"), ("run", "timeout")):
            found.append(timeout_problem(name(flag, flag), getattr(timeouts, part, None)))
    if parameters is not None and not isinstance(parameters, Mapping):
        found.append(Problem(name("parameters", "parameters"), _shown(parameters), "is not a mapping",
                             "a mapping of parameter names to values", "InvalidType"))
    return [p for p in found if p is not None]


# ---- jobs (schedulers) -------------------------------------------------------------------------
@dataclass
class Job:
    """What a scheduler's job asks for, once read by :func:`read_job` (values only where valid)."""

    apply: bool = False
    allow_breaking: bool = False
    apply_given: bool = False
    allow_breaking_given: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)   # start / cell / run, only those given
    problems: list[Problem] = field(default_factory=list)


def load_json_text(text: str, *, name: str) -> tuple[Any, Problem | None]:
    """JSON text → value; text nested too deeply for the parser, or not JSON, is a Problem (never an exception)."""
    try:
        value = json.loads(text)
    except RecursionError:
        return None, Problem(name, f"<JSON text of {len(text)} characters>", "nests too deeply to be read",
                             plaindata.ALLOWED + f", at most {plaindata.MAX_DEPTH} levels deep", "TooDeep")
    except ValueError as exc:
        return None, Problem(name, plaindata.safe_text(text), f"is not JSON ({exc})", "a JSON object", "InvalidJson")
    return value, None


def read_job(job: Any, *, label: str = "job", task: str | None = None, tasks: Iterable[str] = (),
             scheduler_keys: Iterable[str] = ()) -> Job:
    """Check a scheduler's job (a mapping; JSON text too). ``task``: the job's ``parameters`` are per task
    (``{task: {name: value}}``, the Airflow DAG's shape) and this task's are taken; ``tasks`` lists the known ones.
    Every problem names ``label.key``, the value and the rule; nothing raises."""
    out = Job()
    if isinstance(job, str):
        job, problem = load_json_text(job, name=label)
        if problem is not None:
            out.problems.append(problem)
            return out
    if job is None:
        job = {}
    deep = [p for p in plaindata.check(job, label) if p.code in ("TooDeep", "TooBig")]
    if deep:
        out.problems += deep[:1]
        return out
    if not isinstance(job, Mapping):
        out.problems.append(Problem(label, _shown(job), "is not a mapping", "a JSON object with keys "
                                    + ", ".join(JOB_KEYS), "InvalidType"))
        return out
    allowed = (*JOB_KEYS, *scheduler_keys)
    for key in job:
        if key == "evidence_dir":
            out.problems.append(Problem(f"{label}.evidence_dir", _shown(job[key]), "may not be set by a job",
                                        EVIDENCE_ROOT_RULE, "NotAllowedHere"))
        elif key not in allowed:
            out.problems.append(Problem(f"{label}.{plaindata.safe_text(str(key), 60)}", _shown(job[key]),
                                        "is not a key of a job", ", ".join(allowed), "UnknownKey"))
    for key in ("apply", "allow_breaking"):
        if key in job:
            problem = bool_problem(f"{label}.{key}", job[key])
            if problem:
                out.problems.append(problem)
            # given: it replaces the caller's default; not a boolean: False (the run is refused and records False)
            setattr(out, key, job[key] is True)
            setattr(out, f"{key}_given", True)
    for key, part in (("timeout_seconds", "run"), ("start_timeout_seconds", "start"),
                      ("cell_timeout_seconds", "cell")):
        if key in job and job[key] is not None:
            problem = timeout_problem(f"{label}.{key}", job[key])
            if problem:
                out.problems.append(problem)
            else:
                out.timeouts[part] = float(job[key])
    if "change_window" in allowed and job.get("change_window") is not None:
        out.problems += _window_problems(f"{label}.change_window", job["change_window"])
    if "seed_dir" in allowed and "seed_dir" in job and not (isinstance(job["seed_dir"], str) and job["seed_dir"]):
        out.problems.append(Problem(f"{label}.seed_dir", _shown(job["seed_dir"]), "is not a folder path",
                                    "a folder of parameter files (text)", "InvalidType"))
    params = job.get("parameters")
    where = f"{label}.parameters"
    if params is None:
        return out
    if not isinstance(params, Mapping):
        out.problems.append(Problem(where, _shown(params), "is not a mapping",
                                    "{task id: {parameter: value}}" if task else "{parameter: value}", "InvalidType"))
        return out
    if task is not None:
        known = list(tasks)
        for key, value in params.items():
            if known and key not in known:
                out.problems.append(Problem(f"{where}.{plaindata.safe_text(str(key), 60)}", None, "is not a task",
                                            ", ".join(known), "UnknownTask"))
            elif not isinstance(value, Mapping):
                out.problems.append(Problem(f"{where}.{plaindata.safe_text(str(key), 60)}", _shown(value),
                                            "is not a mapping", "{parameter: value}", "InvalidType"))
        mine = params.get(task)
        out.parameters = dict(mine) if isinstance(mine, Mapping) else {}
    else:
        out.parameters = dict(params)
    return out


def _window_problems(name: str, window: Any) -> list[Problem]:
    import datetime as dt

    allowed = '{"start": ISO 8601 with a time zone, "end": ISO 8601 with a time zone}'
    if not isinstance(window, Mapping):
        return [Problem(name, _shown(window), "is not a mapping", allowed, "InvalidType")]
    out = []
    for key in ("start", "end"):
        value = window.get(key)
        try:
            when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            out.append(Problem(f"{name}.{key}", _shown(value), "is not a time with a time zone", allowed,
                               "InvalidValue"))
    return out


# ---- starting a step ---------------------------------------------------------------------------
def start(step: str, *, params_file: str | Path | None = None, parameters: Any = None, apply: Any = False,
          allow_breaking: Any = False, target: Any = None, timeouts: Any = None,
          evidence_dir: str | Path | None = None, problems: Iterable[Problem] = (), cwd: str | Path | None = None,
          progress: bool = False, extra_secrets: Iterable[str] = (), labels: Mapping[str, str] | None = None) -> Any:
    """Start ``step`` through the gate and return its :class:`~vpnrunbook.runbook.runner.RunResult`. Never raises
    for bad input: ``problems`` found by the caller (a job's) and the gate's own end in a ``refused`` run (exit 2,
    its evidence folder written, nothing run). ``evidence_dir``: the operator's own ``--evidence-dir`` only."""
    from vpnrunbook.runbook.params import ParameterError
    from vpnrunbook.runbook.runner import execute, run_step
    from vpnrunbook.runbook.steps import get_step

    found = list(problems)
    found += request_problems(apply=apply, allow_breaking=allow_breaking, target=target, timeouts=timeouts,
                              parameters=parameters, labels=labels)
    given = parameters if isinstance(parameters, Mapping) else {}
    try:
        spec = get_step(step) if isinstance(step, str) else None
    except KeyError:
        spec = None
    if spec is None:
        found.insert(0, Problem("step", _shown(step), "is not a step", "a step name, number or short name "
                                "(`vpnrunbook run --help`)", "UnknownStep"))
    if found:
        subject = f"parameters of {spec.name}" if spec is not None else "the request"
        return execute(spec.path if spec is not None else Path("<no notebook>"),
                       step=spec.name if spec is not None else "unknown-step", parameters=given,
                       apply=apply is True, target=target if target in TARGETS else None, evidence_dir=evidence_dir,
                       timeouts=_safe_timeouts(timeouts), refusal=ParameterError(found, subject=subject),
                       parameters_file=params_file, secret_params=[p.name for p in spec.params if p.secret]
                       if spec is not None else (), cwd=cwd, title=spec.title if spec else "",
                       changes=spec.changes if spec else "")
    return run_step(spec.name, params_file=params_file, parameters=given, apply=apply, target=target,
                    evidence_dir=evidence_dir, timeouts=timeouts, cwd=cwd, extra_secrets=extra_secrets,
                    progress=progress, allow_breaking=allow_breaking)


def _safe_timeouts(timeouts: Any) -> Any:
    """The timeouts a refused run records: the given ones when they are numbers, else the defaults."""
    from vpnrunbook.runbook.runner import Timeouts

    if timeouts is None:
        return None
    t = Timeouts()
    for part in ("start", "cell", "run"):
        value = getattr(timeouts, part, None)
        if type(value) in (int, float) and math.isfinite(value):
            setattr(t, part, value)
    return t


def result_dict(result: Any, root: Path) -> dict[str, Any]:
    """A run's result as a scheduler reads it (``vpnrunbook run --result FILE``, the jupyter job's return)."""
    from vpnrunbook.evidence.ledger import head

    return {"step": result.step, "outcome": result.outcome, "exit_code": result.exit_code, "run_id": result.run_id,
            "evidence": str(result.run_dir), "ledger_head": head(root), "error": result.error,
            "retry": retryable(result.exit_code)}


__all__ = ["EXIT_CODES", "EXIT_INTERRUPTED", "EXIT_REFUSED", "EXIT_UNANCHORED", "Job", "bool_problem",
           "read_job", "request_problems", "result_dict", "retryable", "start", "timeout_problem"]
