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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpnrunbook.runbook.runner import Timeouts, run_step

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


def run_scheduled(*, step: str, params_file: str = "", apply: bool = False, overrides: Any = None,
                  evidence_dir: str = "", timeout_seconds: float | None = None) -> dict[str, Any]:
    """Run ``step`` like ``vpnrunbook run STEP -p PARAMS_FILE [-P k=v ...] [--apply]`` and return its outcome,
    run id, evidence folder and ledger head. ``params_file`` relative to the repository; ``overrides``: a mapping
    or its JSON text."""
    from vpnrunbook.evidence.ledger import head
    from vpnrunbook.evidence.rundir import evidence_root

    _pin_paths()
    if isinstance(overrides, str):
        overrides = json.loads(overrides) if overrides.strip() else {}
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(f"overrides={overrides!r} is not allowed; allowed: a mapping or its JSON text")
    if not isinstance(apply, bool):
        raise TypeError(f"apply={apply!r} is not allowed; allowed: True or False")
    path = Path(params_file) if params_file else None
    if path is not None and not path.is_absolute():
        path = REPO / path
    timeouts = Timeouts(run=float(timeout_seconds)) if timeout_seconds else None
    # from the repository, as `vpnrunbook run` is: parameter files name other files relative to it
    with contextlib.chdir(REPO):
        res = run_step(step, params_file=path, parameters=dict(overrides or {}), apply=apply,
                       evidence_dir=evidence_dir or None, timeouts=timeouts, cwd=REPO)
    result = {"step": res.step, "outcome": res.outcome, "exit_code": res.exit_code, "run_id": res.run_id,
              "evidence": str(res.run_dir), "ledger_head": head(evidence_root(evidence_dir or None)),
              "error": res.error}
    print(json.dumps(result, indent=1))
    if not res.ok:
        raise ScheduledRunError(result)
    return result


__all__ = ["ScheduledRunError", "run_scheduled"]
