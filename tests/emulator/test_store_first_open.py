"""Several processes opening a brand-new emulator database at once (the demo's two gateway kernels do).

Switching a new SQLite file to WAL answers "database is locked" at once to the losers of that race; the
store must retry instead of failing the run. The race is timing-dependent, so it is repeated on fresh files.
"""

from __future__ import annotations

import multiprocessing as mp


def _open_and_write(path: str, index: int, barrier, results) -> None:
    try:
        barrier.wait()
        from vpnrunbook.emulator.store import Store

        store = Store(path)
        with store.write() as db:
            store.set_setting(db, f"writer-{index}", "done")
        results.put("")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put(repr(exc))


def test_many_processes_open_a_new_database_at_once(tmp_path):
    ctx = mp.get_context("fork")
    writers, trials = 8, 25
    errors = []
    for trial in range(trials):
        path = str(tmp_path / f"fresh-{trial}.sqlite3")
        barrier, results = ctx.Barrier(writers), ctx.Queue()
        procs = [ctx.Process(target=_open_and_write, args=(path, i, barrier, results)) for i in range(writers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        errors += [e for e in (results.get(timeout=5) for _ in procs) if e]
        from vpnrunbook.emulator.store import Store

        store = Store(path)
        with store.read() as db:
            assert all(store.get_setting(db, f"writer-{i}") == "done" for i in range(writers))
    assert errors == []
