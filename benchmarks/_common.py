"""Shared by the benchmarks: a fresh temporary state/evidence folder, the served emulator, and timing helpers."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def served_emulator() -> Iterator[str | None]:
    """``vpnrunbook emulator serve`` in its own process on the current state; yields its URL (None, with a line
    saying so, when it did not start) and stops it afterwards."""
    server = subprocess.Popen([sys.executable, "-m", "vpnrunbook", "emulator", "serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if "serving on" not in line:
            print(f"HTTPS: the server did not start ({line.strip()!r}); skipped")
            yield None
        else:
            yield line.split("serving on", 1)[1].strip()
    finally:
        server.terminate()
        server.wait(timeout=30)
