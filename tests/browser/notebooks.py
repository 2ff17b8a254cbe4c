"""The notebooks the browser test opens: the project's own create-policy (03) and update (05) notebooks when they
carry the UI cell; otherwise a minimal stand-in with the same UI cell (used while the real ones are being written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]

CREATE_CELLS = [
    ("parameters", 'policy_file = "parameters/policies/seed-s2s.yaml"'),
    ("code", "from vpnrunbook.ui import policy_picker\n\npicker = policy_picker(policy_file)\npicker"),
]
UPDATE_CELLS = [
    ("parameters", 'resource_group = "TestRG1"\nconnection_name = "VNet1toSite6"\n'
                   'policy_file = "parameters/policies/seed-update.yaml"'),
    ("code", "from vpnrunbook.azure.connect import connect\nfrom vpnrunbook.ui import update_panel\n\n"
             "session = connect()\n"
             "panel = update_panel(session, resource_group=resource_group, connection_name=connection_name,\n"
             "                     initial=policy_file)\npanel"),
]


def _stand_in(path: Path, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        cell = nbformat.v4.new_code_cell(src)
        if kind == "parameters":
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (vpnrunbook)", "language": "python"}
    nbformat.write(nb, path)


def real_notebook(prefix: str, call: str) -> Path | None:
    for path in sorted((REPO / "notebooks").glob(f"{prefix}_*.ipynb")):
        if call in path.read_text(encoding="utf-8"):
            return path
    return None


def prepare_workspace(root: Path) -> dict[str, Path]:
    """A copy of the project's notebooks/ and parameters/ under ``root``; returns the two notebooks' paths
    (relative to root) and which source each came from."""
    shutil.copytree(REPO / "parameters", root / "parameters")
    (root / "notebooks").mkdir()
    out: dict[str, Path] = {}
    for key, prefix, call, cells in (("create", "03", "policy_picker(", CREATE_CELLS),
                                     ("update", "05", "update_panel(", UPDATE_CELLS)):
        real = real_notebook(prefix, call)
        if real is not None:
            for sibling in (REPO / "notebooks").iterdir():  # helpers a notebook may import
                if sibling.is_file() and sibling.suffix != ".ipynb":
                    shutil.copy(sibling, root / "notebooks" / sibling.name)
            target = root / "notebooks" / real.name
            shutil.copy(real, target)
            out[key] = target.relative_to(root)
            out[f"{key}_source"] = real
        else:
            target = root / "notebooks" / f"{prefix}_{key}_stand_in.ipynb"
            _stand_in(target, cells)
            out[key] = target.relative_to(root)
    return out
