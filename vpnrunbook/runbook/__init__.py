"""Runbooks: notebooks executed headless with papermill, leaving tamper-evident evidence.

Inside a notebook, ``record(result, name=...)`` hands a result (an ``OperationResult`` or any JSON-like mapping)
to the runner, which puts its before/after snapshots into the run's manifest. Interactively (no runner) it is a
no-op that returns None. This module stays light: the kernel imports it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import RUN_DIR_ENV, RUN_ID_ENV

__all__ = ["INTERACTIVE_ENV", "RUN_DIR_ENV", "RUN_ID_ENV", "is_headless", "record"]
INTERACTIVE_ENV = "VPNRUNBOOK_HEADLESS"  # set to 1 by the runner; notebooks use it for `INTERACTIVE`


def is_headless() -> bool:
    return os.environ.get(INTERACTIVE_ENV) == "1"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_record"):
        return value.to_record()
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame
        return json.loads(value.to_json(orient="records", default_handler=str))
    return value


def record(result: Any, name: str | None = None) -> Path | None:
    """Write ``result`` as JSON into ``$VPNRUNBOOK_RUN_DIR`` for the runner; returns the file (None interactively)."""
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        return None
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = _jsonable(result)
    if not isinstance(data, dict):
        data = {"value": data}
    name = name or str(data.get("step") or "record")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60]
    n = len(list(folder.glob("*.json"))) + 1
    path = folder / f"{n:03d}-{safe}.json"
    path.write_text(json.dumps({"name": name, **data}, indent=2, default=str, sort_keys=False), encoding="utf-8")
    return path
