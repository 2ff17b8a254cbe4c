"""Start JupyterLab on the project so that notebook kernels see the same emulator state as the CLI.

A kernel started by JupyterLab runs in ``notebooks/``; the state folder defaults to ``./.vpnrunbook``, which
there would be ``notebooks/.vpnrunbook`` — a different emulator. ``lab_environment`` pins the state, database,
evidence and server-certificate paths to absolute paths under the project root (relative values are taken as
relative to the project root), so in-process kernels, ``vpnrunbook emulator serve`` and the CLI share one truth.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

PATH_VARIABLES = {  # variable -> default, relative to the project root
    "VPNRUNBOOK_STATE_DIR": ".vpnrunbook",
    "VPNRUNBOOK_EVIDENCE_DIR": "evidence",
    "VPNRUNBOOK_DB": None,
    "VPNRUNBOOK_EMULATOR_CA": None,
}
RUNNER_ONLY = ("VPNRUNBOOK_RUN_DIR", "VPNRUNBOOK_HEADLESS")


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder (upwards) holding both ``notebooks/`` and ``parameters/``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "parameters").is_dir():
            return folder
    raise FileNotFoundError(f"no vpnrunbook project (a folder with notebooks/ and parameters/) at or above {here}")


def lab_environment(project: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for ``jupyter lab``: project-absolute state paths; runner-only variables removed."""
    env = dict(os.environ if base is None else base)
    for var, default in PATH_VARIABLES.items():
        value = env.get(var) or default
        if value:
            path = Path(value).expanduser()
            env[var] = str(path if path.is_absolute() else (project / path).resolve())
    for var in RUNNER_ONLY:
        env.pop(var, None)
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


def lab_command(project: Path, *, ip: str = "127.0.0.1", port: int = 8888, open_browser: bool = False,
                extra: list[str] | None = None) -> list[str]:
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    cmd = [jupyter, "lab", f"--ip={ip}", f"--port={port}", f"--ServerApp.root_dir={project}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    return cmd + list(extra or [])
