"""Keep the runbook notebooks output-free in git: strip outputs, execution counts and run metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RUN_METADATA = ("papermill", "widgets", "vpnrunbook")
CELL_RUN_METADATA = ("papermill", "execution", "collapsed", "scrolled")


def strip_notebook(nb: Any) -> bool:
    """Strip in place; True when anything changed."""
    changed = False
    for key in RUN_METADATA:
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    for cell in nb.cells:
        for key in CELL_RUN_METADATA:
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
    return changed


def strip_file(path: str | Path) -> bool:
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    changed = strip_notebook(nb)
    if changed:
        nbformat.write(nb, str(path))
    return changed


def dirty_cells(path: str | Path) -> list[int]:
    """Indexes of cells with outputs, execution counts or run metadata (empty when clean)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None) or any(k in cell.metadata for k in CELL_RUN_METADATA):
            bad.append(i)
    if any(k in nb.metadata for k in RUN_METADATA):
        bad.append(-1)
    return bad
