"""`vpnrunbook evidence list | head`: the reader closes the pipe early; the command stops quietly (exit 141, as
a shell reports SIGPIPE), with no Python traceback on the operator's terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vpnrunbook.evidence import ledger


def test_a_closed_pipe_ends_the_listing_without_a_traceback(tmp_path: Path):
    root = tmp_path / "ev"
    for n in range(700):  # ~100 KB of listing: more than a pipe holds
        ledger.append(root, {"kind": "run", "run_id": f"20261207T0000{n:04d}Z-08_show_policy-c{n}", "step": "08",
                             "outcome": "succeeded", "started": "2026-12-07T00:00:00Z"})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vpnrunbook", "evidence", "list", "--evidence-dir", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().startswith(b"when")
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
