"""The emulator's control API (under ``/_emulator/``) and a Python wrapper that calls it through a session.

Endpoints (same app, same transport, so they also work against ``emulator serve``):

* ``POST reset`` — forget every resource, operation, secret, fault, setting and counter.
* ``GET|POST time-factor`` ``{"factor": x}`` — scale simulated durations (a gateway takes 45 min × x);
  operations already running keep their progress and finish the rest at the new factor.
* ``POST faults`` ``{"match": {"method": "PUT", "path_regex": "..."}, "status": 429, "retry_after": 1,
  "count": 2, "fraction": null}`` — status 429/500/503, or 0 to drop the connection; ``count`` requests
  (default 1), or each matching request with probability ``fraction`` (optionally limited by ``count``).
  ``GET faults`` lists them, ``DELETE faults`` removes them.
* ``GET stats`` — request counts by method and ``writes`` (PUT/PATCH/POST/DELETE on ARM resources).
* ``GET|POST page-size`` ``{"size": n}`` — items per list page before ``nextLink``.
* ``GET status`` — resources by type, pending operations, the factor and the database path.
"""

from __future__ import annotations

import json
import random
import re
from typing import TYPE_CHECKING, Any

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.models import Response

if TYPE_CHECKING:
    from vpnrunbook.emulator.app import EmulatorApp

PREFIX = "/_emulator/"
FAULT_STATUSES = (0, 429, 500, 503)


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise errors.InvalidRequestFormat(f"Cannot parse the control request body as JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise errors.InvalidRequestFormat("The control request body must be a JSON object.")
    return data


def _bad(field: str, value: Any, allowed: str) -> errors.ArmError:
    return errors.ArmError(f"{field}: {value!r} is not allowed; allowed: {allowed}", code="InvalidControlRequest")


def handle(app: EmulatorApp, method: str, path: str, query: dict[str, str], body: bytes) -> Response:
    name = path[len(PREFIX):].strip("/")
    store = app.store
    with store.write() as db:
        if name == "reset" and method == "POST":
            store.reset(db)
            return Response(200, {"reset": True})
        if name == "time-factor":
            if method == "POST":
                factor = _json(body).get("factor")
                if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 0:
                    raise _bad("factor", factor, "a number >= 0 (0.002 makes a 45-minute gateway take 5.4 s)")
                store.set_setting(db, "time_factor", repr(float(factor)))
                rescale_pending(store, db, float(factor))
            return Response(200, {"factor": store.time_factor(db)})
        if name == "page-size":
            if method == "POST":
                size = _json(body).get("size")
                if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                    raise _bad("size", size, "an integer >= 1")
                store.set_setting(db, "page_size", str(size))
            raw = store.get_setting(db, "page_size")
            from vpnrunbook.emulator.handlers.common import DEFAULT_PAGE_SIZE

            return Response(200, {"size": int(raw) if raw else DEFAULT_PAGE_SIZE})
        if name == "faults":
            if method == "POST":
                return Response(201, _add_fault(db, _json(body)))
            if method == "DELETE":
                db.execute("DELETE FROM faults")
                return Response(200, {"faults": []})
            return Response(200, {"faults": _faults(db)})
        if name == "stats" and method == "GET":
            rows = store.stats(db)
            requests: dict[str, int] = {}
            for m, _kind, n in rows:
                requests[m] = requests.get(m, 0) + n
            return Response(200, {"requests": requests, "writes": sum(n for _m, k, n in rows if k == "write"),
                                  "polls": sum(n for _m, k, n in rows if k == "poll"),
                                  "by_kind": [{"method": m, "kind": k, "count": n} for m, k, n in rows]})
        if name == "status" and method == "GET":
            return Response(200, status(app, db))
    raise errors.RouteNotFound(f"The emulator control API has no {method} {path}; see vpnrunbook.emulator.control.")


def rescale_pending(store: Any, db: Any, factor: float) -> int:
    """Operations still running keep their progress; what remains of them runs at the new factor.

    So a demo can speed up a 45-minute gateway already under way, and ``factor 0`` finishes everything now.
    Returns how many operations were rescaled.
    """
    from vpnrunbook.emulator.lro import simulated_seconds

    now = store.now()
    rows = db.execute("SELECT key, type, op_id, op_kind, op_start, op_done FROM resources "
                      "WHERE op_done IS NOT NULL AND op_done > ?", (now,)).fetchall()
    for key, type_, op_id, op_kind, op_start, op_done in rows:
        total = op_done - op_start
        left = (op_done - now) / total if total > 0 else 0.0
        new_done = now + left * simulated_seconds(type_, op_kind or "update") * factor
        db.execute("UPDATE resources SET op_done = ? WHERE key = ?", (new_done, key))
        db.execute("UPDATE operations SET done = ? WHERE op_id = ?", (new_done, op_id))
    return len(rows)


def status(app: EmulatorApp, db: Any) -> dict[str, Any]:
    now = app.store.now()
    by_type: dict[str, int] = {}
    pending = 0
    for type_, op_kind, op_done in db.execute("SELECT type, op_kind, op_done FROM resources"):
        if op_kind == "delete" and op_done is not None and op_done <= now:
            continue
        by_type[type_] = by_type.get(type_, 0) + 1
        if op_done is not None and op_done > now:
            pending += 1
    return {"database": str(app.store.path), "time_factor": app.store.time_factor(db), "resources": by_type,
            "operations_in_progress": pending}


def _add_fault(db: Any, spec: dict[str, Any]) -> dict[str, Any]:
    match = spec.get("match") or {}
    if not isinstance(match, dict):
        raise _bad("match", match, 'an object such as {"method": "PUT", "path_regex": "connections"}')
    status = spec.get("status")
    if status not in FAULT_STATUSES:
        raise _bad("status", status, "429, 500, 503, or 0 (drop the connection)")
    regex = match.get("path_regex")
    if regex is not None:
        try:
            re.compile(regex)
        except (re.error, TypeError) as exc:
            raise _bad("match.path_regex", regex, f"a valid regular expression ({exc})") from exc
    count, fraction = spec.get("count"), spec.get("fraction")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise _bad("count", count, "an integer >= 1, or null")
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, int | float)
                                 or not 0 < fraction <= 1):
        raise _bad("fraction", fraction, "a number in (0, 1], or null")
    if count is None and fraction is None:
        count = 1
    retry_after = spec.get("retry_after")
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)
                                    or retry_after < 0):
        raise _bad("retry_after", retry_after, "a number of seconds >= 0, or null")
    method = match.get("method")
    cur = db.execute("INSERT INTO faults (method, path_regex, status, retry_after, remaining, fraction) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (method.upper() if method else None, regex, status, retry_after,
                                                  count, fraction))
    return {"id": cur.lastrowid, "match": {"method": method, "path_regex": regex}, "status": status,
            "retry_after": retry_after, "count": count, "fraction": fraction}


def _faults(db: Any) -> list[dict[str, Any]]:
    return [{"id": i, "match": {"method": m, "path_regex": r}, "status": s, "retry_after": ra, "count": c,
             "fraction": f}
            for i, m, r, s, ra, c, f in db.execute(
                "SELECT id, method, path_regex, status, retry_after, remaining, fraction FROM faults ORDER BY id")]


def maybe_fault(app: EmulatorApp, method: str, path: str) -> None:
    """Fire the first matching fault: raise its ARM error, or :class:`errors.DropConnection` for status 0."""
    with app.store.write() as db:
        fired = None
        for fid, m, regex, status, retry_after, remaining, fraction in db.execute(
                "SELECT id, method, path_regex, status, retry_after, remaining, fraction FROM faults ORDER BY id"
        ).fetchall():
            if m and m != method:
                continue
            if regex and not re.search(regex, path, re.IGNORECASE):
                continue
            if fraction is not None and random.random() >= fraction:
                continue
            if remaining is not None:
                if remaining <= 1:
                    db.execute("DELETE FROM faults WHERE id = ?", (fid,))
                else:
                    db.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fid,))
            fired = (status, retry_after)
            break
    if fired is None:
        return
    status, retry_after = fired
    if status == 0:
        raise errors.DropConnection(f"fault injected: connection dropped on {method} {path}")
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    raise errors.FAULT_ERRORS[status](f"Fault injected by the emulator control API ({status}) on {method} {path}.",
                                      headers=headers)


# ---- Python wrapper ---------------------------------------------------------------------------------------
class EmulatorControl:
    """Call the control API through a session's pipeline (in-process or over HTTPS alike).

    >>> ctl = EmulatorControl(session); ctl.reset(); ctl.set_time_factor(0)
    """

    def __init__(self, session: Any) -> None:
        self._client = session.resources

    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, f"{PREFIX}{name}", json=body)  # relative: joined to the base URL
        response = self._client.send_request(request, retry_total=0)
        if response.status_code >= 400:
            from azure.core.exceptions import HttpResponseError

            raise HttpResponseError(response=response)
        return response.json() if response.content else None

    def reset(self) -> None:
        self._call("POST", "reset")

    def time_factor(self) -> float:
        return float(self._call("GET", "time-factor")["factor"])

    def set_time_factor(self, factor: float) -> float:
        return float(self._call("POST", "time-factor", {"factor": factor})["factor"])

    def set_page_size(self, size: int) -> int:
        return int(self._call("POST", "page-size", {"size": size})["size"])

    def add_fault(self, *, status: int, method: str | None = None, path_regex: str | None = None,
                  retry_after: float | None = None, count: int | None = None,
                  fraction: float | None = None) -> dict[str, Any]:
        return self._call("POST", "faults", {"match": {"method": method, "path_regex": path_regex}, "status": status,
                                             "retry_after": retry_after, "count": count, "fraction": fraction})

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "status"))
