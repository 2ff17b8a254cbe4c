"""The ``injected-parameters`` cell, written by vpnrunbook from validated plain data — not by papermill.

papermill's translator renders values it does not know with ``str()`` inside quotes, so a value that is not a
plain string can break out of the literal. Here every value must be plain data (``vpnrunbook.plaindata``), is
rendered as an exact Python literal, and the cell is parsed back and proven to assign exactly those values before
the notebook is written. papermill then runs the notebook with no parameters of its own; the cell carries the same
tag and the notebook the same ``metadata.papermill.parameters`` as a papermill-parameterized one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vpnrunbook import plaindata

INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"


def parameterize(nb: Any, parameters: dict[str, Any]) -> Any:
    """``nb`` with one injected-parameters cell (after the ``parameters`` cell, else first). Raises
    ``ValueError``/``TypeError`` for anything that is not plain data — before a kernel starts."""
    import nbformat
    import papermill

    source = plaindata.render_assignments(parameters)
    cell = nbformat.v4.new_code_cell(source=source)
    cell.metadata["tags"] = [INJECTED_TAG]
    cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    at = next((i + 1 for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), 0)
    nb.cells = cells[:at] + [cell] + cells[at:]
    meta = nb.metadata.setdefault("papermill", {})
    meta.setdefault("default_parameters", {})
    meta.setdefault("environment_variables", {})
    meta.setdefault("version", papermill.__version__)
    meta["parameters"] = parameters
    return nb


def write_parameterized(notebook: Path, parameters: dict[str, Any], dest: Path) -> Path:
    """Read ``notebook``, inject ``parameters`` (:func:`parameterize`) and write the result to ``dest``."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    nbformat.write(parameterize(nb, parameters), str(dest))
    return dest
