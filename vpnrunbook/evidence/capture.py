"""What an interactive kernel showed, kept for the evidence of a change made in JupyterLab.

The kernel never holds the notebook as the browser shows it; what it does see is every cell it executed (IPython's
``In``) and everything those cells displayed. :func:`install` (called when the runbook modules are imported in a
kernel that no runner drives) records both: the source of each executed cell and its outputs (streams, displays,
results, errors), plus what widget callbacks — the Apply button — displayed outside any cell. :func:`notebook`
turns that into an nbformat notebook, cells in the order they ran, so the evidence of an Apply holds the
notebook as it stood, with its outputs. Nothing is written here: the evidence layer scrubs and writes it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

_STATE: dict[str, Any] = {}
_LOCK = threading.Lock()
MAX_CELLS = 400  # a long session keeps its newest cells


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    return shell if shell is not None and type(shell).__name__ == "ZMQInteractiveShell" else None


def installed() -> bool:
    return bool(_STATE.get("installed"))


def install() -> bool:
    """Start recording this kernel's cells and outputs (once; only in a Jupyter kernel). Returns whether it records."""
    if _STATE.get("installed"):
        return True
    shell = _shell()
    if shell is None:
        return False
    with _LOCK:
        if _STATE.get("installed"):
            return True
        if isinstance(getattr(shell.history_manager, "outputs", None), dict):  # IPython 9+ keeps every output
            _STATE.update(installed=True, history=True)
            return True
        history = [str(src) for src in shell.user_ns.get("In", [])[1:]]  # the cells run before (no outputs kept)
        _STATE.update(installed=True, cells=[{"source": src, "outputs": [], "execution_count": n}
                                             for n, src in enumerate(history[:-1], start=1)],
                      current={"source": history[-1], "outputs": [], "execution_count": len(history)}
                      if history else None, loose=[])
        shell.events.register("pre_run_cell", _pre_run)
        shell.events.register("post_run_cell", _post_run)
        publish = shell.display_pub.publish

        def _publish(data: Any, metadata: Any = None, *args: Any, **kw: Any) -> Any:
            if not kw.get("update"):
                _add({"output_type": "display_data", "data": dict(data or {}), "metadata": dict(metadata or {})})
            return publish(data, metadata, *args, **kw)

        shell.display_pub.publish = _publish
        for name in ("stdout", "stderr"):
            _tee(name)
    return True


def _tee(name: str) -> None:
    """Keep what stdout/stderr receive (IPython < 9, which does not keep outputs itself)."""
    stream = getattr(sys, name)
    write = stream.write

    def _write(text: str, *args: Any, **kw: Any) -> Any:
        if isinstance(text, str) and text:
            _add({"output_type": "stream", "name": name, "text": text})
        return write(text, *args, **kw)

    with contextlib.suppress(AttributeError, TypeError):  # a stream that does not take it: streams are not kept
        stream.write = _write


def _add(output: dict[str, Any]) -> None:
    with _LOCK:
        cell = _STATE.get("current")
        outputs = cell["outputs"] if cell is not None else _STATE["loose"]
        if output["output_type"] == "stream" and outputs and outputs[-1].get("output_type") == "stream" \
                and outputs[-1].get("name") == output["name"]:
            outputs[-1]["text"] += output["text"]
        else:
            outputs.append(output)


def _pre_run(info: Any) -> None:
    with _LOCK:
        _STATE["current"] = {"source": str(getattr(info, "raw_cell", "") or ""), "outputs": [],
                             "execution_count": None}


def _post_run(result: Any) -> None:
    shell = _shell()
    value = getattr(result, "result", None)
    if value is not None and shell is not None:
        try:
            data, metadata = shell.display_formatter.format(value)
        except Exception:  # noqa: BLE001 - a result that cannot be shown again is shown as text
            data, metadata = {"text/plain": repr(value)}, {}
        _add({"output_type": "execute_result", "data": data, "metadata": metadata,
              "execution_count": getattr(result, "execution_count", None)})
    error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
    if error is not None:
        _add({"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": []})
    with _LOCK:
        cell = _STATE.get("current")
        if cell is not None:
            cell["execution_count"] = getattr(result, "execution_count", None)
            _STATE["cells"].append(cell)
            del _STATE["cells"][:-MAX_CELLS]
        _STATE["current"] = None


_STREAMS = {"out_stream": "stdout", "err_stream": "stderr"}


def _from_history() -> list[dict[str, Any]]:
    """Cells and outputs as IPython 9 keeps them (``In`` and ``history_manager.outputs``), newest MAX_CELLS."""
    shell = _shell()
    if shell is None:
        return []
    sources = list(shell.user_ns.get("In", [""]))
    outputs = shell.history_manager.outputs
    cells = []
    for n, source in list(enumerate(sources))[1:][-MAX_CELLS:]:
        outs: list[dict[str, Any]] = []
        for o in list(outputs.get(n, [])):
            bundle = dict(getattr(o, "bundle", {}) or {})
            kind = getattr(o, "output_type", "")
            if kind in _STREAMS:
                text = "".join(str(t) for t in bundle.get("stream", []))
                if outs and outs[-1]["output_type"] == "stream" and outs[-1]["name"] == _STREAMS[kind]:
                    outs[-1]["text"] += text
                else:
                    outs.append({"output_type": "stream", "name": _STREAMS[kind], "text": text})
            elif kind in ("display_data", "execute_result"):
                data = {k: v if (k.endswith("json") or isinstance(v, str)) else str(v) for k, v in bundle.items()}
                out: dict[str, Any] = {"output_type": kind, "data": data, "metadata": {}}
                if kind == "execute_result":
                    out["execution_count"] = n
                outs.append(out)
        cells.append({"source": str(source), "outputs": outs, "execution_count": n})
    return cells


def notebook_path() -> str | None:
    """The notebook this kernel belongs to, as JupyterLab names it (``JPY_SESSION_NAME`` / ``__session__``)."""
    path = os.environ.get("JPY_SESSION_NAME")
    shell = _shell()
    if not path and shell is not None:
        path = shell.user_ns.get("__session__")
    return str(path) if path else None


def notebook(extra_markdown: str = "") -> Any:
    """The executed cells with their outputs (in execution order), then what ran outside a cell (the Apply)."""
    import copy

    import nbformat

    if _STATE.get("history"):
        cells, loose = _from_history(), []
    else:
        with _LOCK:
            cells = copy.deepcopy(_STATE.get("cells", []))
            current = copy.deepcopy(_STATE.get("current"))
            loose = copy.deepcopy(_STATE.get("loose", []))
        if current is not None:  # the cell running now (an Apply called from code)
            cells.append(current)
    nb = nbformat.v4.new_notebook()
    if extra_markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(extra_markdown))
    for c in cells:
        cell = nbformat.v4.new_code_cell(c["source"], execution_count=c.get("execution_count"))
        cell.outputs = [nbformat.from_dict(o) for o in c["outputs"]]
        nb.cells.append(cell)
    if loose:
        nb.cells.append(nbformat.v4.new_markdown_cell("Shown outside any cell (widget callbacks such as Apply):"))
        cell = nbformat.v4.new_code_cell("# (output of a button click)")
        cell.outputs = [nbformat.from_dict(o) for o in loose]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def source_notebook(path: str | None) -> Any:
    """The notebook file as last saved (None when it cannot be read)."""
    if not path:
        return None
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None


def step_name(default: str) -> str:
    """The name of an interactive run: the notebook's (``05_update_policy``), else ``default``."""
    path = notebook_path()
    return Path(path).stem if path else default
