"""The auditor's index: one line per run, newest first — ``vpnrunbook evidence list`` and ``<evidence>/index.html``.

Per run: when, who, connection(s), the change from → to in one line, the verify read-back, whether the change
weakened crypto or broke (or was predicted to break) a tunnel, the outcome, the run id. Built from the ledger alone
(the run lines and the apply path's intent/outcome lines, :func:`vpnrunbook.evidence.record.applied`), so it shows
the same change whatever door made it; a run without intent changed nothing (``plan only``).

``index.html`` is derived, not evidence: it is not hashed nor listed in any manifest, and is rewritten (atomically,
whole) by ``vpnrunbook evidence list`` from the whole ledger, and — from the rows kept up in ``.index-rows.jsonl``,
reading only the ledger lines after ``.index-mark.json`` (:func:`refresh`: O(1) in the history) — at the end of
``vpnrunbook run`` and of the demo, after a change made in JupyterLab or through the Python API, and after a rollout (not inside the runner's own evidence writing, which
jupyter-scheduler and Airflow call: there the next of those rewrites it). The page names the ledger head it was built
from, so a page older than the ledger shows it. The rule ``evidence verify`` applies: files at the top of the
evidence folder other than the ledger are not evidence and not checked; the ledger and the run folders are. Delete
or edit ``index.html`` and the next rewrite builds it again from the ledger.

Every text taken from the evidence is escaped for its medium (``vpnrunbook.render``): ``html_text`` on the page
(HTML-escaped, a control, bidi or line-break character shown as a marked escape), ``terminal`` on the terminal
(shown escaped, repr-style): a line break inside a field never starts a line. The operator is spelled by
``vpnrunbook.evidence.identity.label`` (``user@host``) for every run; a change's flags name who accepted it
(``BROKE A TUNNEL (accepted by alice@jump1)``, :func:`vpnrunbook.evidence.record.flags`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import os
import uuid
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import identity, ledger, record

INDEX_FILE = "index.html"
COLUMNS = ("when", "who", "connection", "change", "verify", "weakened/broke", "outcome", "run")


def rows(root: Path) -> list[dict[str, Any]]:
    """One row per run of the ledger (runs cut off before their run line included, from their change records),
    newest first."""
    runs: dict[str, dict[str, Any]] = {}
    journals: dict[str, list[dict[str, Any]]] = {}
    order: list[str] = []
    for _, _, e in ledger.read(root):
        if e is None or not e.get("run_id"):
            continue
        run_id = str(e["run_id"])
        if run_id not in runs and run_id not in journals:
            order.append(run_id)
        if (e.get("kind") or "run") == "run":
            runs[run_id] = e
        elif e.get("kind") in ("intent", "outcome", "reconcile"):
            journals.setdefault(run_id, []).append(e)
    out = [_row(run_id, runs.get(run_id), journals.get(run_id, [])) for run_id in order]
    out.sort(key=lambda r: (str(r["when"] or ""), r["seq"]), reverse=True)
    return out


def _row(run_id: str, run: dict[str, Any] | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    change = record.applied(entries)
    run = run or {}
    when = (change or {}).get("when") or run.get("started") or run.get("ended")
    who = (change or {}).get("who") or identity.label(run.get("operator") or {})  # one spelling
    seq = run.get("seq") or (entries[0].get("seq") if entries else 0)
    base = {"run": run_id, "seq": seq or 0, "when": when, "who": who, "step": run.get("step"),
            "target": run.get("target") or (change or {}).get("target"),
            "outcome": run.get("outcome") or "incomplete (no run line: cut off or in progress)"}
    if change is None:
        return base | {"connection": "-", "change": "plan only (nothing changed)", "verify": "-", "verify_ok": True,
                       "weakened": False, "breaks": False, "flags": "-", "accepted": "", "status": None}
    return base | {"connection": _few(change["connections"]) or _resources(entries),
                   "change": change["summary"], "verify": _verify_line(change["verify"]),
                   "verify_ok": bool(change["verify"]) and all(v["ok"] for v in change["verify"]),
                   "weakened": change["weakened"],
                   "breaks": change["breaks"], "flags": record.flags(change),  # "BROKE A TUNNEL (accepted by X)"
                   "accepted": record.accepted_by(change),
                   "status": change["status"]}


FEW = 5   # a run of more connections (a rollout) names the first few and counts the rest: its record has them all


def _few(names: list[str]) -> str:
    if len(names) <= FEW:
        return ", ".join(names)
    return f"{len(names)} connections: {', '.join(names[:3])}, … (`vpnrunbook evidence show` lists them all)"


def _verify_line(verify: list[dict[str, Any]]) -> str:
    """Each connection's status read back, or for many connections the count per status and those not OK."""
    if not verify:
        return "not read back"
    if len(verify) <= FEW:
        return ", ".join(f"{v['connection'].rsplit('/', 1)[-1]}: {v['status']}" for v in verify)
    counts: dict[str, int] = {}
    for v in verify:
        counts[str(v["status"])] = counts.get(str(v["status"]), 0) + 1
    bad = [f"{v['connection'].rsplit('/', 1)[-1]}: {v['status']}" for v in verify if not v["ok"]]
    text = ", ".join(f"{status} ×{n}" for status, n in counts.items())
    return text + (f"; not OK: {_few(bad)}" if bad else "")


def _resources(entries: list[dict[str, Any]]) -> str:
    names = [str(w.get("name") or w.get("label")) for e in entries if e.get("kind") == "intent"
             for w in e.get("writes") or [] if isinstance(w, dict)]
    return ", ".join(dict.fromkeys(names)) or "-"


def terminal_text(value: Any) -> str:
    """Untrusted text for a terminal: the project's one terminal renderer (``vpnrunbook.render.terminal``: control,
    ANSI/OSC, bidi and zero-width characters shown as visible escapes, a newline too)."""
    from vpnrunbook.render import terminal

    return terminal("-" if value is None else value)


def _cells(r: dict[str, Any]) -> list[str]:
    return [terminal_text(r["when"]), terminal_text(r["who"]), terminal_text(r["connection"]),
            terminal_text(r["change"]), terminal_text(r["verify"]), terminal_text(r["flags"]),
            terminal_text(r["outcome"]), terminal_text(r["run"])]


def to_text(found: list[dict[str, Any]], *, width: int = 60) -> str:
    """The table ``vpnrunbook evidence list`` prints (long cells cut to ``width`` characters with …)."""
    table = [[c if len(c) <= width else c[: width - 1] + "…" for c in _cells(r)] for r in found]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


_STYLE = ("body{font-family:system-ui,sans-serif;margin:16px}table{border-collapse:collapse}"
          "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}"
          "th{background:#eee}.warn{color:#b00020;font-weight:bold}code{font-size:90%}")


def to_html(found: list[dict[str, Any]], root: Path) -> str:
    """The offline page: no script, no external resource; every value escaped (``vpnrunbook.render.html_text``:
    a control or line-break character in a field shown as a marked escape); links to each run's notebook.html."""
    from vpnrunbook.render import html_text as e

    body = []
    for r in found:
        run = str(r["run"])
        link = f'<a href="{html.escape(run)}/notebook.html">{e(run)}</a>' if (root / run / "notebook.html").exists() \
            else e(run)
        flag = ' class="warn"' if r["weakened"] or r["breaks"] else ""
        bad_verify = "" if r["verify_ok"] else ' class="warn"'
        body.append(f"<tr><td>{e(str(r['when']))}</td><td>{e(str(r['who']))}</td><td>{e(str(r['connection']))}</td>"
                    f"<td>{e(str(r['change']))}</td><td{bad_verify}>{e(str(r['verify']))}</td>"
                    f"<td{flag}>{e(str(r['flags']))}</td><td>{e(str(r['outcome']))}</td><td><code>{link}</code></td>"
                    "</tr>")
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    from vpnrunbook.render import html_document  # control and bidi characters shown as visible escapes

    return html_document("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>vpnrunbook evidence index</title>"
            f"<style>{_STYLE}</style></head><body><h1>Evidence index</h1>"
            f"<p>{len(found)} run(s) under <code>{e(str(root))}</code>, newest first. Built from the ledger "
            f"(<code>ledger.jsonl</code>) at its head <code>{e(str(ledger.head(root)))}</code>; newer runs are "
            "listed by <code>vpnrunbook evidence list</code>, which rewrites this page. This page is not evidence — "
            "check the evidence with <code>vpnrunbook evidence verify</code>.</p>"
            f"<table><tr>{head}</tr>{''.join(body)}</table></body></html>\n")


def write(root: Path) -> Path | None:
    """Rewrite ``<root>/index.html`` whole (a temporary file renamed over it); None when there is no ledger."""
    if not (root / ledger.LEDGER_NAME).exists():
        return None
    return _write_page(root, rows(root))


# ---- the index kept up after each run: O(1) in the ledger's length ------------------------------------------
ROWS_FILE = ".index-rows.jsonl"   # derived, like index.html: one row per line, a later row of a run replaces it
MARK_FILE = ".index-mark.json"    # the ledger line the rows were read up to, and the runs still open then
PAGE_RUNS = 1000                  # index.html after a run shows the newest this many; `evidence list` shows all


def refresh(root: Path) -> None:
    """Best effort after a run: the index is derived, so failing to write it never fails the run.

    Reads only the ledger lines after the mark it left last time (:class:`ledger.Follow`), appends the rows of
    the runs they touch to ``.index-rows.jsonl`` and rewrites ``index.html`` from the newest :data:`PAGE_RUNS`
    rows — so a run's cost does not grow with the history. A run still open (no run line yet) keeps its records
    in the mark until it closes; a record added later to a closed run (a reconcile) reads that run again. A ledger
    that no longer holds the marked line (cut back, replaced) rebuilds the rows from its first line."""
    with contextlib.suppress(OSError, ValueError):
        _refresh(root)


def _refresh(root: Path) -> None:
    with ledger.View(root) as view:
        if not view.exists:
            return
    lock = os.open(root / MARK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)  # one refresh at a time per folder
        mark = _read_mark(lock)
        follow = ledger.Follow(root, ledger.Start(**mark["ledger"]) if mark else None)
        opened: dict[str, dict[str, Any]] = dict(mark["open"]) if mark else {}
        closed: set[str] = set(mark.get("closed_recent", ())) if mark else set()
        new_rows = _consume(root, follow, opened, closed)
        if follow.lost:  # the ledger no longer holds the marked line: start again from its first line
            follow, opened, closed = ledger.Follow(root), {}, set()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(root / ROWS_FILE)
            new_rows = _consume(root, follow, opened, closed)
        if new_rows:
            with open(root / ROWS_FILE, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r, default=str, ensure_ascii=True) + "\n" for r in new_rows))
        _write_mark(lock, {"ledger": dataclasses.asdict(follow.end) | {"folders": None, "folder_names": None},
                           "open": opened, "closed_recent": sorted(closed)[-PAGE_RUNS:]})
        _write_page(root, _newest_rows(root, PAGE_RUNS))
    finally:
        os.close(lock)


def _consume(root: Path, follow: ledger.Follow, opened: dict[str, dict[str, Any]],
             closed: set[str]) -> list[dict[str, Any]]:
    """The rows of the runs the lines of ``follow`` touch (streamed: a rebuild never holds the whole ledger)."""
    rows_out: list[dict[str, Any]] = []
    reread: dict[str, None] = {}
    touched: dict[str, None] = {}
    for _, _, e in follow:
        if e is None or not e.get("run_id"):
            continue
        run_id = str(e["run_id"])
        kind = e.get("kind") or "run"
        if run_id not in opened and kind in ("reconcile", "outcome") and _known(root, run_id, closed):
            reread[run_id] = None  # a record added to a run already indexed (a reconcile): read it again
            continue
        slot = opened.setdefault(run_id, {"run": None, "journal": []})
        if kind == "run":
            slot["run"] = e
            rows_out.append(_row(run_id, e, slot["journal"]))  # closed: its row is final
            del opened[run_id]
            closed.add(run_id)
        elif kind in ("intent", "outcome", "reconcile"):
            slot["journal"].append(e)
            touched[run_id] = None
    rows_out += [_row(run_id, opened[run_id]["run"], opened[run_id]["journal"])  # still open (in progress, cut off)
                 for run_id in touched if run_id in opened]
    for run_id in reread:
        run, journal = _run_records(root, run_id)
        rows_out.append(_row(run_id, run, journal))
    return rows_out


def _known(root: Path, run_id: str, closed: set[str]) -> bool:
    """Whether the rows already hold a closed run ``run_id``: the recent ones are in the mark; an older one is
    looked for in the rows file (only when a record arrives for a run not open now: rare)."""
    if run_id in closed:
        return True
    try:
        with open(root / ROWS_FILE, "rb") as f:
            needle = json.dumps(run_id).encode()
            return any(needle in line and json.loads(line).get("run") == run_id for line in f)
    except (OSError, ValueError):
        return False


def _run_records(root: Path, run_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    run, journal = None, []
    for _, _, e in ledger.read_naming(root, run_id):
        if e is None or e.get("run_id") != run_id:
            continue
        if (e.get("kind") or "run") == "run":
            run = e
        elif e.get("kind") in ("intent", "outcome", "reconcile"):
            journal.append(e)
    return run, journal


def _read_mark(fd: int) -> dict[str, Any] | None:
    data = os.pread(fd, 1 << 26, 0)
    if not data.strip():
        return None
    try:
        mark = json.loads(data)
        ledger.Start(**mark["ledger"])
        if not isinstance(mark.get("open"), dict):
            return None
        return mark
    except (ValueError, TypeError, KeyError):
        return None  # (a torn or edited mark: the rows are read again from the ledger's first line)


def _write_mark(fd: int, mark: dict[str, Any]) -> None:
    data = json.dumps(mark, default=str, ensure_ascii=True).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _newest_rows(root: Path, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` runs of the rows file (its tail, a later row of a run replacing an earlier one),
    newest first."""
    found: dict[str, dict[str, Any]] = {}
    try:
        fd = os.open(root / ROWS_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return []
    try:
        for _, raw in ledger._reverse_lines(fd, os.fstat(fd).st_size):
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("run") not in found:
                found[str(row.get("run"))] = row
                if len(found) >= count:
                    break
    finally:
        os.close(fd)
    out = list(found.values())
    out.sort(key=lambda r: (str(r.get("when") or ""), r.get("seq") or 0), reverse=True)
    return out


def _write_page(root: Path, found: list[dict[str, Any]]) -> Path:
    """``index.html`` rewritten whole from ``found`` (a temporary file renamed over it)."""
    page = to_html(found, root)
    path = root / INDEX_FILE
    tmp = root / f".{INDEX_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(page)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
