"""Start JupyterLab on the project so that notebook kernels see the same emulator state as the CLI.

A kernel started by JupyterLab runs in ``notebooks/``; the state folder defaults to ``./.vpnrunbook``, which
there would be ``notebooks/.vpnrunbook`` — a different emulator. ``lab_environment`` pins the state, database,
evidence and server-certificate paths to absolute paths under the project root (relative values are taken as
relative to the project root), so in-process kernels, ``vpnrunbook emulator serve`` and the CLI share one truth.
"""

from __future__ import annotations

import json
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
RUNNER_ONLY = ("VPNRUNBOOK_RUN_DIR", "VPNRUNBOOK_HEADLESS", "VPNRUNBOOK_RUN_ID", "VPNRUNBOOK_STEP")
SEED_KEY_ENV = "VPNRUNBOOK_SEED_KEY"
SEED_KEY_FILE = "secrets/seed-demo.key"  # under the state folder, written by `vpnrunbook demo`


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
    seed_key = Path(env["VPNRUNBOOK_STATE_DIR"]) / SEED_KEY_FILE
    if not env.get(SEED_KEY_ENV) and seed_key.is_file():  # the seed parameters' env:VPNRUNBOOK_SEED_KEY after the demo
        env[SEED_KEY_ENV] = seed_key.read_text(encoding="utf-8").strip()
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


# No "Would you like to receive official Jupyter news?" pop-up and no update check (lab setting overrides).
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def write_lab_settings(folder: Path) -> Path:
    """An ``overrides.json`` for JupyterLab's app settings folder: announcements and update checks off."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overrides.json"
    path.write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n", encoding="utf-8")
    return path


CHECKPOINTS_DIR = "lab-checkpoints"  # under the state folder: where JupyterLab keeps its file checkpoints


def lab_command(project: Path, *, ip: str = "127.0.0.1", port: int = 8888, open_browser: bool = False,
                extra: list[str] | None = None, settings_dir: Path | None = None,
                checkpoints_dir: Path | None = None) -> list[str]:
    """The ``jupyter lab`` command. Its file checkpoints (the copy JupyterLab writes when a file is opened) go to
    ``checkpoints_dir`` (default ``<project>/.vpnrunbook/lab-checkpoints``), mirroring the project's folders,
    never into ``.ipynb_checkpoints/`` beside the file: opening ``evidence/<run>/notebook.html`` writes nothing
    into the run's folder."""
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
    checkpoints = checkpoints_dir or project / ".vpnrunbook" / CHECKPOINTS_DIR
    cmd = [jupyter, "lab", f"--ip={ip}", f"--port={port}", f"--ServerApp.root_dir={project}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--ContentsManager.checkpoints_class=vpnrunbook.ui.labcheckpoints.OutsideCheckpoints",
           f"--OutsideCheckpoints.root_dir={checkpoints}"]
    if settings_dir is not None:
        cmd.append(f"--LabApp.app_settings_dir={settings_dir}")
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    return cmd + list(extra or [])
