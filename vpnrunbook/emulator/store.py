"""SQLite state of the emulator, shared safely by several processes (WAL, busy timeout, BEGIN IMMEDIATE).

Every resource is one row holding its ARM body (without secrets), its ETag and the timestamps of its
current long-running operation. Provisioning state is *derived* from those timestamps at read time,
so every process that opens the same file sees the same progress. Shared keys live in their own table
and never enter a resource body.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator.private_files import private_dir, private_file, private_umask, tighten_database

DEFAULT_TIME_FACTOR = 0.002
FAILED_SUFFIX = ":failed"  # op_kind "create:failed": the operation runs, then the resource is Failed
SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,            -- the ARM id folded as ARM compares ids (vpnrunbook.azure.names.fold)
    id TEXT NOT NULL,                -- ARM id as created
    sub TEXT NOT NULL, rg TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL,
    location TEXT, body TEXT NOT NULL, etag TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    op_id TEXT, op_kind TEXT, op_start REAL, op_done REAL
);
CREATE INDEX IF NOT EXISTS resources_scope ON resources (sub, type, rg, seq);
CREATE INDEX IF NOT EXISTS resources_seq ON resources (seq);          -- save(): MAX(seq) without a scan
CREATE INDEX IF NOT EXISTS resources_type_id ON resources (type, id);  -- Resource Graph pages in id order
CREATE INDEX IF NOT EXISTS resources_op_kind ON resources (op_kind);   -- purge() before each write: no scan
CREATE TABLE IF NOT EXISTS operations (
    op_id TEXT PRIMARY KEY, resource_key TEXT NOT NULL, kind TEXT NOT NULL, location TEXT,
    start REAL NOT NULL, done REAL NOT NULL, status TEXT NOT NULL, error TEXT, result TEXT
);
CREATE TABLE IF NOT EXISTS secrets (resource_key TEXT PRIMARY KEY, shared_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path_regex TEXT, status INTEGER NOT NULL,
    retry_after REAL, remaining INTEGER, fraction REAL,
    lro_outcome TEXT, lro_error TEXT  -- set: not an HTTP fault; the matching PUT's operation ends Failed
);
CREATE TABLE IF NOT EXISTS stats (method TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
                                  PRIMARY KEY (method, kind));
CREATE TABLE IF NOT EXISTS activity_log (  -- Activity Log events (activity_log.py); columns lower-cased for filters
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, sub TEXT NOT NULL, rg TEXT NOT NULL,
    resource_id TEXT NOT NULL, correlation_id TEXT NOT NULL, provider TEXT NOT NULL, caller TEXT NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_log_time ON activity_log (sub, ts);
CREATE INDEX IF NOT EXISTS activity_log_age ON activity_log (ts);
"""


def state_dir() -> Path:
    return Path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook")


def default_db_path() -> Path:
    env = os.environ.get("VPNRUNBOOK_DB")
    return Path(env) if env else state_dir() / "emulator.sqlite3"


@dataclass
class Record:
    """One stored resource. ``body`` holds the ARM JSON as stored (provisioningState is derived)."""

    key: str
    id: str
    sub: str
    rg: str
    type: str
    name: str
    location: str | None
    body: dict[str, Any]
    etag: str
    seq: int = 0
    created_at: float = 0.0
    op_id: str | None = None
    op_kind: str | None = None
    op_start: float | None = None
    op_done: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def in_progress(self, now: float) -> bool:
        return self.op_done is not None and now < self.op_done

    @property
    def op_fails(self) -> bool:
        """The current (or last) operation ends Failed (a control-API ``lro_outcome`` fault chose it)."""
        return bool(self.op_kind and self.op_kind.endswith(FAILED_SUFFIX))

    @property
    def op_base_kind(self) -> str | None:
        """create / update / delete / sharedkey, without the failure mark."""
        return self.op_kind.removesuffix(FAILED_SUFFIX) if self.op_kind else None

    def provisioning_state(self, now: float) -> str:
        if self.op_kind == "delete":
            return "Deleting"
        if self.in_progress(now) or self.extra.get("accepted"):  # the answer to the PUT itself says Updating
            return "Updating"
        if self.op_fails:
            return "Failed"
        return "Succeeded"


_COLUMNS = ("key", "id", "sub", "rg", "type", "name", "location", "body", "etag", "seq", "created_at",
            "op_id", "op_kind", "op_start", "op_done")


def _enable_wal(conn: sqlite3.Connection, *, deadline_seconds: float = 30.0) -> None:
    """Switch a connection to WAL. On a new file several processes race for it, and SQLite answers
    "database is locked" at once (the busy handler does not cover the switch): retry until the deadline."""
    deadline = time.monotonic() + deadline_seconds
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _record(row: sqlite3.Row) -> Record:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["body"] = json.loads(data["body"])
    return Record(**data)


class StoreUnusableError(RuntimeError):
    """The state file exists but is not a usable SQLite database (damaged, truncated, or some other file)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"emulator state {path} is not a usable SQLite database ({reason}); allowed: an emulator "
                         "database — `vpnrunbook emulator reset` moves this file aside and starts an empty one")


def move_aside(path: Path) -> Path:
    """Rename an unusable state file (and its -wal/-shm) to ``<name>.unusable-<UTC time>``; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.unusable-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{target}{suffix}"))
    return target


class Store:
    """Thread-safe access to one SQLite file (one connection per thread)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        # The database holds shared keys in clear: owner-only from creation. The state folder is made 0700
        # (created so, or tightened); a folder the caller chose with VPNRUNBOOK_DB is only created, not changed.
        parent = self.path.parent
        private_dir(parent, tighten_existing=not parent.exists() or _same_dir(parent, state_dir()))
        private_file(self.path)
        tighten_database(self.path)
        self._local = threading.local()
        # Threads of this process queue here for the write lock instead of in SQLite's busy handler, whose
        # growing sleeps (1, 2, 5 ... 100 ms) made concurrent in-process clients slower than one.
        self._write_lock = threading.RLock()
        try:
            self._conn().executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, ...: not about the file's content
                raise
            self.close()
            raise StoreUnusableError(self.path, str(exc)) from None

    def _migrate(self) -> None:
        """Add columns that a database written by an older version lacks (several processes may race here)."""
        conn = self._conn()
        have = {row[1] for row in conn.execute("PRAGMA table_info(faults)")}
        for column in ("lro_outcome", "lro_error"):
            if column not in have:
                try:
                    conn.execute(f"ALTER TABLE faults ADD COLUMN {column} TEXT")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc).lower():
                        raise
        self._refold_keys(conn)

    @staticmethod
    def _refold_keys(conn: sqlite3.Connection) -> None:
        """Keys written before names were folded as ARM does (``str.lower()``) differ from today's only where an
        id has a non-ASCII character: fold those again (with their rows' operations and secrets)."""
        rows = conn.execute("SELECT key, id FROM resources WHERE key GLOB '*[^ -~]*'").fetchall()
        for old, rid in rows:
            new = fold(rid)
            if new == old:
                continue
            parts = rid.split("/")
            rg = fold(parts[4]) if len(parts) > 4 else ""
            conn.execute("UPDATE OR REPLACE resources SET key = ?, rg = ? WHERE key = ?", (new, rg, old))
            conn.execute("UPDATE operations SET resource_key = ? WHERE resource_key = ?", (new, old))
            conn.execute("UPDATE OR REPLACE secrets SET resource_key = ? || substr(resource_key, ?) "
                         "WHERE resource_key = ? OR substr(resource_key, 1, ?) = ?",
                         (new, len(old) + 1, old, len(old) + 1, old + "#"))

    # ---- connections and transactions ---------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with private_umask():  # -wal / -shm are created here (SQLite also gives them the database's mode)
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 30000")
                _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE), so two processes never deadlock."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def now() -> float:
        return time.time()

    # ---- resources ---------------------------------------------------------------------------
    _VISIBLE = "NOT (COALESCE(op_kind, '') = 'delete' AND COALESCE(op_done, 0) <= ?)"

    def get(self, db: sqlite3.Connection, key: str, now: float) -> Record | None:
        row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM resources WHERE key = ? AND {self._VISIBLE}",
                         (fold(key), now)).fetchone()
        return _record(row) if row else None

    def list(self, db: sqlite3.Connection, now: float, *, sub: str, type: str, rg: str | None = None,
             after_seq: int = 0, limit: int | None = None) -> list[Record]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM resources WHERE sub = ? AND type = ? AND seq > ? AND {self._VISIBLE}"
        args: list[Any] = [fold(sub), fold(type), after_seq, now]
        if rg is not None:
            sql += " AND rg = ?"
            args.append(fold(rg))
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_record(r) for r in db.execute(sql, args).fetchall()]

    def list_where(self, db: sqlite3.Connection, now: float, *, type: str, sub: str | None = None,
                   rg: str | None = None, body_contains: str | None = None) -> list[Record]:
        """``body_contains``: only rows whose stored body mentions this text (as ARM compares names), filtered in
        SQL so a lookup among thousands of resources does not parse every body. (An ASCII text: SQLite's lower()
        folds ASCII letters only, which is :func:`fold` for it, since no other character folds to an ASCII one;
        bodies are stored with non-ASCII characters escaped, so other texts are compared after parsing.)"""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM resources WHERE type = ? AND {self._VISIBLE}"
        args: list[Any] = [fold(type), now]
        if sub is not None:
            sql += " AND sub = ?"
            args.append(fold(sub))
        if rg is not None:
            sql += " AND rg = ?"
            args.append(fold(rg))
        if body_contains and body_contains.isascii():
            sql += " AND instr(lower(body), ?) > 0"
            args.append(fold(body_contains))
        found = [_record(r) for r in db.execute(sql + " ORDER BY seq", args).fetchall()]
        if body_contains and not body_contains.isascii():
            wanted = fold(body_contains)
            found = [r for r in found if wanted in fold(json.dumps(r.body, ensure_ascii=False))]
        return found

    def get_many(self, db: sqlite3.Connection, keys: list[str], now: float) -> dict[str, Record]:
        """{key: record} of the ``keys`` that exist (one query per 500 keys instead of one per key)."""
        out: dict[str, Record] = {}
        wanted = sorted({k.lower() for k in keys if k})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            sql = (f"SELECT {', '.join(_COLUMNS)} FROM resources WHERE key IN ({','.join('?' * len(chunk))}) "
                   f"AND {self._VISIBLE}")
            for row in db.execute(sql, (*chunk, now)).fetchall():
                rec = _record(row)
                out[rec.key] = rec
        return out

    def count_in(self, db: sqlite3.Connection, now: float, *, subs: list[str], type: str) -> int:
        marks = ",".join("?" * len(subs))
        return int(db.execute(f"SELECT count(*) FROM resources WHERE sub IN ({marks}) AND type = ? AND "
                              f"{self._VISIBLE}", (*[s.lower() for s in subs], type.lower(), now)).fetchone()[0])

    def save(self, db: sqlite3.Connection, rec: Record) -> Record:
        if not rec.seq:
            rec.seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM resources").fetchone()[0])
        values = [getattr(rec, c) for c in _COLUMNS]
        values[_COLUMNS.index("body")] = json.dumps(rec.body, sort_keys=True)
        values[_COLUMNS.index("key")] = fold(rec.key)
        db.execute(f"INSERT OR REPLACE INTO resources ({', '.join(_COLUMNS)}) VALUES "
                   f"({', '.join('?' for _ in _COLUMNS)})", values)
        return rec

    def purge(self, db: sqlite3.Connection, now: float) -> None:
        """Drop rows whose delete operation has finished (and their secrets)."""
        keys = [r[0] for r in db.execute("SELECT key FROM resources WHERE op_kind = 'delete' AND op_done <= ?",
                                         (now,)).fetchall()]
        for key in keys:
            db.execute("DELETE FROM resources WHERE key = ?", (key,))
            _delete_secrets(db, key)

    def remove(self, db: sqlite3.Connection, key: str) -> None:
        db.execute("DELETE FROM resources WHERE key = ?", (fold(key),))
        _delete_secrets(db, fold(key))

    # ---- operations -------------------------------------------------------------------------
    def add_operation(self, db: sqlite3.Connection, *, op_id: str, resource_key: str, kind: str,
                      location: str | None, start: float, done: float, status: str = "Succeeded",
                      error: dict[str, Any] | None = None, result: dict[str, Any] | None = None) -> None:
        db.execute("INSERT INTO operations (op_id, resource_key, kind, location, start, done, status, error, result) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (op_id, fold(resource_key), kind, location, start, done, status,
                    json.dumps(error) if error else None, json.dumps(result) if result is not None else None))

    def get_operation(self, db: sqlite3.Connection, op_id: str) -> dict[str, Any] | None:
        row = db.execute("SELECT op_id, resource_key, kind, location, start, done, status, error, result "
                         "FROM operations WHERE op_id = ?", (op_id,)).fetchone()
        if row is None:
            return None
        keys = ("op_id", "resource_key", "kind", "location", "start", "done", "status", "error", "result")
        op = dict(zip(keys, row, strict=True))
        op["error"] = json.loads(op["error"]) if op["error"] else None
        op["result"] = json.loads(op["result"]) if op["result"] else None
        return op

    # ---- secrets ----------------------------------------------------------------------------
    def get_secret(self, db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT shared_key FROM secrets WHERE resource_key = ?", (fold(key),)).fetchone()
        return row[0] if row else None

    def set_secret(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO secrets (resource_key, shared_key) VALUES (?, ?)", (fold(key), value))

    # ---- settings ---------------------------------------------------------------------------
    def get_setting(self, db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, db: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def time_factor(self, db: sqlite3.Connection) -> float:
        """The control API's factor if one was set, else ``VPNRUNBOOK_EMULATOR_TIME_FACTOR``, else 0.002."""
        stored = self.get_setting(db, "time_factor")
        if stored is not None:
            return float(stored)
        return env_time_factor()

    # ---- stats ------------------------------------------------------------------------------
    def count(self, db: sqlite3.Connection, method: str, kind: str) -> None:
        db.execute("INSERT INTO stats (method, kind, count) VALUES (?, ?, 1) "
                   "ON CONFLICT (method, kind) DO UPDATE SET count = count + 1", (method, kind))

    def stats(self, db: sqlite3.Connection) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in db.execute("SELECT method, kind, count FROM stats ORDER BY method, kind")]

    # ---- whole state ------------------------------------------------------------------------
    def reset(self, db: sqlite3.Connection) -> None:
        for table in ("resources", "operations", "secrets", "settings", "faults", "stats", "activity_log"):
            db.execute(f"DELETE FROM {table}")
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'graph_index'").fetchone():
            db.execute("DELETE FROM graph_index")   # Resource Graph's rows (handlers/resource_graph.py)


def _delete_secrets(db: sqlite3.Connection, key: str) -> None:
    """A resource's secrets: its own row and those keyed ``<key>#...`` (a gateway's RADIUS secrets)."""
    db.execute("DELETE FROM secrets WHERE resource_key = ? OR substr(resource_key, 1, ?) = ?",
               (key, len(key) + 1, key + "#"))


def env_time_factor() -> float:
    raw = os.environ.get("VPNRUNBOOK_EMULATOR_TIME_FACTOR")
    if raw is None or raw.strip() == "":
        return DEFAULT_TIME_FACTOR
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"VPNRUNBOOK_EMULATOR_TIME_FACTOR={raw!r} is not a number; allowed: a number >= 0 "
                         f"(default {DEFAULT_TIME_FACTOR})") from exc
    if value < 0:
        raise ValueError(f"VPNRUNBOOK_EMULATOR_TIME_FACTOR={raw!r} is negative; allowed: a number >= 0")
    return value
