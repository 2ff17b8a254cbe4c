"""Owner-only files and folders for the emulator's state: the folder 0700, the database (and -wal/-shm) 0600.

The database holds every connection's shared key in clear, so no other local user may read it. Files are
created with the mode from the start (``umask 077`` around their creation, ``O_CREAT`` with 0600), and
state found with looser modes (written by an older version) is tightened when it is opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
PRIVATE_UMASK = 0o077
DB_SUFFIXES = ("", "-wal", "-shm", "-journal")
_umask_lock = threading.Lock()  # os.umask is process-wide: one swap at a time


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside get no group/other bits (other threads only get stricter modes)."""
    with _umask_lock:
        old = os.umask(PRIVATE_UMASK)
        try:
            yield
        finally:
            os.umask(old)


def private_dir(path: Path, *, tighten_existing: bool = True) -> Path:
    """Create ``path`` (and missing parents) as 0700; an existing one is chmod-ed 0700 when it is ours."""
    with private_umask():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if tighten_existing:
        tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 if missing (never truncating), and tighten an existing one to 0600."""
    with private_umask(), contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten(path, FILE_MODE)


def tighten_database(path: Path) -> None:
    """The database and its companions (``-wal``, ``-shm``, ``-journal``) that exist: 0600."""
    for suffix in DB_SUFFIXES:
        part = Path(f"{path}{suffix}")
        if part.exists():
            tighten(part, FILE_MODE)


def tighten(path: Path, mode: int) -> None:
    """chmod to ``mode`` if it grants more and the file is ours (someone else's file: left as it is)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        st = path.stat()
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
