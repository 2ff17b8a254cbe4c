"""Shared by the benchmarks: a fresh temporary state/evidence folder, and timing helpers."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fresh_state(prefix: str) -> Path:
    """Point the state dir, DB and evidence root at a new temporary folder (kept for inspection)."""
    base = Path(tempfile.mkdtemp(prefix=f"vpnrunbook-bench-{prefix}-"))
    os.environ.update({"VPNRUNBOOK_STATE_DIR": str(base / "state"),
                       "VPNRUNBOOK_DB": str(base / "state" / "emulator.sqlite3"),
                       "VPNRUNBOOK_EVIDENCE_DIR": str(base / "evidence"),
                       "VPNRUNBOOK_SIGNING_DIR": str(base / "state" / "signing")})  # never the real home
    os.environ.pop("VPNRUNBOOK_EMULATOR_URL", None)
    os.environ.pop("VPNRUNBOOK_TARGET", None)
    return base


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times, value = [], None
    for _ in range(repeat):
        t, value = timed(fn)
        times.append(t)
    return statistics.median(times), times, value
