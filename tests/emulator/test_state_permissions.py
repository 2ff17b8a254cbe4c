"""The emulator's state is owner-only: the folder 0700, the database and its -wal/-shm 0600, from creation.

The database holds every connection's shared key in clear; the state folder also holds the TLS key and the
bearer token of ``emulator serve``. Checked by mode, and (where the tests run as root) by another user
trying to read them.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.emulator import seed
from vpnrunbook.azure.connect import connect
from vpnrunbook.emulator import server
from vpnrunbook.emulator.store import Store

NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_parent():
    """A folder every user can traverse (pytest's own tmp folders are 0700 for root, which would hide the
    state from another user whatever its own modes are)."""
    folder = Path(tempfile.mkdtemp(prefix="vpnrunbook-perm-"))
    os.chmod(folder, 0o755)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _state_with_a_key(state: Path, monkeypatch) -> Store:
    """An emulator state with a connection (its shared key in the database), the connection left open."""
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(state))
    monkeypatch.delenv("VPNRUNBOOK_DB", raising=False)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    old = os.umask(0o022)  # the usual umask: without the fix everything would be world-readable
    try:
        s = connect(polling_interval=0)
        s.transport.fast_sleep = True
        seed.build_topology(s)
    finally:
        os.umask(old)
    return s.transport.app.store


def test_state_folder_and_database_files_are_owner_only(open_parent, monkeypatch):
    state = open_parent / "state"
    store = _state_with_a_key(state, monkeypatch)
    try:
        db = state / "emulator.sqlite3"
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]
        assert _mode(state) == 0o700
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        store.close()


def test_looser_existing_state_is_tightened_on_open(open_parent, monkeypatch):
    state = open_parent / "old"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    db = state / "emulator.sqlite3"
    first = Store(db)
    with first.write() as conn:
        first.set_secret(conn, "k", "a-key-written-by-an-older-version")
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        os.chmod(f, 0o644)
    os.chmod(state, 0o755)
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(state))
    again = Store(db)
    try:
        assert _mode(state) == 0o700
        assert [_mode(f) for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))] == [0o600] * 3
    finally:
        again.close()
        first.close()


def test_served_state_key_and_token_are_owner_only(open_parent, monkeypatch):
    state = open_parent / "served"
    old = os.umask(0o022)
    try:
        running = server.make_server(directory=state, db_path=str(state / "emulator.sqlite3"))
    finally:
        os.umask(old)
    try:
        assert _mode(state) == 0o700
        for name in (server.KEY_NAME, server.TOKEN_NAME, "emulator.sqlite3"):
            assert _mode(state / name) == 0o600, name
    finally:
        running.httpd.server_close()


def _as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_another_user_cannot_read_the_database_or_the_keys(open_parent, monkeypatch):
    state = open_parent / "state"
    store = _state_with_a_key(state, monkeypatch)
    old = os.umask(0o022)
    try:
        server.ensure_certificate(state)
        server.ensure_token(state)
    finally:
        os.umask(old)
    try:
        db = state / "emulator.sqlite3"
        targets = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), state / server.KEY_NAME, state / server.TOKEN_NAME]
        # the control: the same user reads a file in the same open parent folder
        (open_parent / "public.txt").write_text("readable\n")
        os.chmod(open_parent / "public.txt", 0o644)
        control = subprocess.run(["/bin/cat", str(open_parent / "public.txt")], preexec_fn=_as_nobody,
                                 capture_output=True, text=True, check=False)
        assert control.returncode == 0 and control.stdout == "readable\n", control.stderr
        for target in targets:
            assert target.exists(), target
            tried = subprocess.run(["/bin/cat", str(target)], preexec_fn=_as_nobody, capture_output=True,
                                   check=False)
            assert tried.returncode != 0 and b"Permission denied" in tried.stderr, (target.name, tried.stderr)
            assert tried.stdout == b""
        listed = subprocess.run(["/bin/ls", str(state)], preexec_fn=_as_nobody, capture_output=True, check=False)
        assert listed.returncode != 0 and b"Permission denied" in listed.stderr
    finally:
        store.close()
