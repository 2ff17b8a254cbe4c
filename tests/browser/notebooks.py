"""The notebooks the browser test opens: the project's own create-policy (03) and update (05) notebooks, each of
which must carry the UI cell (the picker / the update panel), copied with parameters/ into a scratch project."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = {"create": ("03", "policy_picker("), "update": ("05", "update_panel(")}


def project_notebook(prefix: str, call: str) -> Path:
    candidates = sorted((REPO / "notebooks").glob(f"{prefix}_*.ipynb"))
    for path in candidates:
        if call in path.read_text(encoding="utf-8"):
            return path
    raise FileNotFoundError(f"no notebooks/{prefix}_*.ipynb calls vpnrunbook.ui's {call.rstrip('(')}() "
                            f"(found: {[p.name for p in candidates] or 'none'})")


def prepare_workspace(root: Path) -> dict[str, Path]:
    """Copy notebooks/ and parameters/ under ``root``; return the two notebooks' paths relative to root."""
    shutil.copytree(REPO / "parameters", root / "parameters")
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return {key: Path("notebooks") / project_notebook(prefix, call).name for key, (prefix, call) in NOTEBOOKS.items()}
