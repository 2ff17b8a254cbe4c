"""``vpnrunbook lab``: JupyterLab on the project, kernels sharing the CLI's emulator state."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab", help="start JupyterLab on the project (kernels share the CLI's emulator state)",
        description="Start JupyterLab with the project as its root. VPNRUNBOOK_STATE_DIR, VPNRUNBOOK_DB, "
                    "VPNRUNBOOK_EVIDENCE_DIR and VPNRUNBOOK_EMULATOR_CA are made absolute (relative to the project "
                    "root), so a kernel running in notebooks/ uses the same emulator state as the CLI. "
                    "VPNRUNBOOK_EMULATOR_URL, when set (vpnrunbook emulator serve), is passed on.")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port (default 8888)")
    parser.add_argument("--open-browser", action="store_true", help="open a browser window")
    parser.add_argument("--dry-run", action="store_true", help="print the environment and command, start nothing")
    parser.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="further arguments for jupyter lab")
    parser.set_defaults(handler=_lab)


def _lab(args: argparse.Namespace) -> int:
    from vpnrunbook.project import project_root
    from vpnrunbook.ui.lab import (
        CHECKPOINTS_DIR,
        PATH_VARIABLES,
        SEED_KEY_ENV,
        SEED_KEY_FILE,
        lab_command,
        lab_environment,
        write_lab_settings,
    )

    try:
        project = project_root()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = lab_environment(project)
    settings_dir = Path(env["VPNRUNBOOK_STATE_DIR"]) / "lab-settings"
    cmd = lab_command(project, ip=args.ip, port=args.port, open_browser=args.open_browser,
                      extra=[a for a in args.jupyter_args if a != "--"], settings_dir=settings_dir,
                      checkpoints_dir=Path(env["VPNRUNBOOK_STATE_DIR"]) / CHECKPOINTS_DIR)
    for var in (*PATH_VARIABLES, "VPNRUNBOOK_TARGET", "VPNRUNBOOK_EMULATOR_URL"):
        if env.get(var):
            print(f"{var}={env[var]}")
    if env.get(SEED_KEY_ENV):
        print(f"{SEED_KEY_ENV} set (from the environment or {SEED_KEY_FILE} in the state folder; not shown)")
    print(shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    write_lab_settings(settings_dir)
    os.chdir(project)
    os.execvpe(cmd[0], cmd, env)
    return 0  # pragma: no cover - exec does not return
