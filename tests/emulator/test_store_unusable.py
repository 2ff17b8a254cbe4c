"""A state file that is not an emulator database: a clear error naming it (no traceback), and `reset` keeps it
aside and starts empty."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from vpnrunbook.emulator.store import Store, StoreUnusableError

GARBAGE = b"this is not a database\n" * 64


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "vpnrunbook", "emulator", *args], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ), timeout=120)


def test_store_names_the_unusable_file(tmp_path):
    db = tmp_path / "emulator.sqlite3"
    db.write_bytes(GARBAGE)
    with pytest.raises(StoreUnusableError) as exc:
        Store(db)
    assert exc.value.path == db and "file is not a database" in str(exc.value)
    assert "vpnrunbook emulator reset" in str(exc.value)
    assert db.read_bytes() == GARBAGE, "nothing written to it"


def test_status_refuses_without_traceback_and_reset_moves_it_aside():
    db = Store().path
    Store().close()
    db.write_bytes(GARBAGE)
    for f in (f"{db}-wal", f"{db}-shm"):
        if os.path.exists(f):
            os.remove(f)
    status = _cli("status")
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert str(db) in status.stderr and "not a usable SQLite database" in status.stderr
    reset = _cli("reset")
    assert reset.returncode == 0, reset.stderr
    (kept,) = [p for p in db.parent.iterdir() if p.name.startswith(f"{db.name}.unusable-")]
    assert kept.read_bytes() == GARBAGE and str(kept) in reset.stdout
    after = _cli("status")
    assert after.returncode == 0 and "resources: none" in after.stdout
