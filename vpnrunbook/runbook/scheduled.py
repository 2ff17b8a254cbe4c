"""A runbook step run by a notebook job (jupyter-scheduler): the same ``run_step`` as ``vpnrunbook run``.

jupyter-scheduler executes a copy of a notebook in a staging folder with the job's parameters injected as a
cell of ``name = value`` lines (the values are Python source). ``integrations/jupyter_scheduler/vpnrunbook_job.ipynb``
is such a notebook: its parameters cell names the step, the parameter file, ``apply`` and overrides, and its
next cell calls :func:`run_scheduled`, which runs the step exactly as ``vpnrunbook run`` does (papermill, evidence,
ledger line) from the repository folder. A run that did not succeed raises :class:`ScheduledRunError`, so the job
ends ``FAILED`` with the outcome and the exit code ``vpnrunbook run`` would have returned in its message.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from vpnrunbook.runbook.runner import Timeouts

REPO = Path(__file__).resolve().parents[2]


class ScheduledRunError(RuntimeError):
    """The step's run did not succeed (refused, failed, timed out); its evidence was written all the same."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(f"vpnrunbook run {result['step']}: {result['outcome']} (exit {result['exit_code']}); "
                         f"evidence {result['evidence']}; {result.get('error') or ''}".rstrip("; "))
        self.result = result


def _pin_paths() -> None:
    """The job runs in jupyter-scheduler's staging folder: state, database and evidence paths are made absolute
    under the repository (as ``vpnrunbook lab`` does for its kernels), so the job shares the CLI's emulator and
    evidence store."""
    import os

    from vpnrunbook.ui.lab import PATH_VARIABLES, SEED_KEY_ENV, lab_environment

    env = lab_environment(REPO)
    for var in (*PATH_VARIABLES, SEED_KEY_ENV):
        if env.get(var):
            os.environ[var] = env[var]


def run_scheduled(*, step: Any, params_file: Any = "", apply: Any = False, overrides: Any = None,
                  evidence_dir: Any = "", timeout_seconds: Any = None) -> dict[str, Any]:
    """Run ``step`` like ``vpnrunbook run STEP -p PARAMS_FILE [-P k=v ...] [--apply]`` and return its outcome,
    run id, evidence folder and ledger head. ``params_file`` relative to the repository; ``overrides``: a mapping
    or its JSON text.

    Everything goes through the project's entry gate (:mod:`vpnrunbook.gate`): ``apply`` must be a boolean (``'yes'``
    is refused), a timeout a finite number of seconds, ``overrides`` plain data (JSON nested 50,000 deep is refused,
    never a crash); ``evidence_dir`` is refused (the evidence root is the project's configuration). A refusal is a
    ``refused`` run with its evidence folder, raised as :class:`ScheduledRunError` (exit code 2)."""
    from vpnrunbook import gate
    from vpnrunbook.evidence.rundir import evidence_root

    _pin_paths()
    job: dict[str, Any] = {"apply": apply}
    problems = []
    if isinstance(overrides, str):
        overrides, problem = gate.load_json_text(overrides, name="job.overrides") if overrides.strip() else ({}, None)
        if problem is not None:
            problems.append(problem)
    if overrides is not None:
        job["parameters"] = overrides
    if timeout_seconds is not None:
        job["timeout_seconds"] = timeout_seconds
    if evidence_dir:
        job["evidence_dir"] = evidence_dir
    read = gate.read_job(job, label="job")
    path = None
    if params_file:
        if isinstance(params_file, str | Path):
            path = Path(params_file) if Path(params_file).is_absolute() else REPO / params_file
        else:
            read.problems.append(gate.Problem("job.params_file", gate.plaindata.shown(params_file),
                                              "is not a path", "a parameter file path (text)", "InvalidType"))
    timeouts = Timeouts()
    for part, value in read.timeouts.items():
        setattr(timeouts, part, value)
    # from the repository, as `vpnrunbook run` is: parameter files name other files relative to it
    with contextlib.chdir(REPO):
        res = gate.start(step, params_file=path, parameters=read.parameters, apply=read.apply, timeouts=timeouts,
                         problems=[*problems, *read.problems], cwd=REPO)
    result = gate.result_dict(res, evidence_root())
    print(json.dumps(result, indent=1))
    if not res.ok:
        raise ScheduledRunError(result)
    return result


__all__ = ["ScheduledRunError", "run_scheduled"]
