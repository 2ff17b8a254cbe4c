"""JupyterLab's file checkpoints kept outside the project's folders (``vpnrunbook lab`` configures it).

JupyterLab writes a checkpoint — a copy of the file — when it opens a file, by default into ``.ipynb_checkpoints/``
beside it; opening ``evidence/<run>/notebook.html`` would add a file to a run's folder. ``OutsideCheckpoints``
keeps them under its ``root_dir`` (``vpnrunbook lab`` sets ``<state folder>/lab-checkpoints``) in the same
relative folders: ``<root_dir>/evidence/<run>/.ipynb_checkpoints/notebook-checkpoint.html``.
"""

from __future__ import annotations

import os

from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints


class OutsideCheckpoints(AsyncFileCheckpoints):
    """File checkpoints under ``root_dir`` (a folder outside the project), mirroring the file's folder."""

    def checkpoint_path(self, checkpoint_id: str, path: str) -> str:
        parent, _, name = path.strip("/").rpartition("/")
        basename, ext = os.path.splitext(name)
        root = os.path.abspath(self.root_dir)
        folder = os.path.normpath(os.path.join(root, parent, self.checkpoint_dir))
        if os.path.commonpath([root, folder]) != root:  # an API path never leaves its root; refuse if it would
            raise ValueError(f"checkpoint folder {folder!r} is outside {root!r}")
        with self.perm_to_403():
            os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.path.join(folder, f"{basename}-{checkpoint_id}{ext}")
