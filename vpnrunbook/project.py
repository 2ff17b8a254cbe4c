"""Where the project is: the folder holding ``notebooks/`` and ``parameters/`` (the CLI's and JupyterLab's root).

A kernel started by JupyterLab runs in ``notebooks/``, the CLI wherever the operator stands; paths written in
parameters (a ``file:`` key reference, a policy file) mean the same file from both because they are taken relative
to this root.
"""

from __future__ import annotations

from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder (upwards) holding both ``notebooks/`` and ``parameters/``; FileNotFoundError if none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "parameters").is_dir():
            return folder
    raise FileNotFoundError(f"no vpnrunbook project (a folder with notebooks/ and parameters/) at or above {here}")


def project_path(path: str | Path) -> Path:
    """``path`` as written in a parameter: absolute or ``~`` as is; relative to the project root when there is one
    (else to the current folder)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    try:
        return project_root() / p
    except FileNotFoundError:
        return p
