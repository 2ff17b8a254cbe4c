"""The emulator's control API (under ``/_emulator/``) and a Python wrapper that calls it through a session.

Endpoints (same app, same transport, so they also work against ``emulator serve``):

* ``POST reset`` — forget every resource, operation, secret, fault, setting and counter.
* ``GET|POST time-factor`` ``{"factor": x}`` — scale simulated durations (a gateway takes 45 min × x);
  operations already running keep their progress and finish the rest at the new factor.
* ``POST faults`` ``{"match": {"method": "PUT", "path_regex": "..."}, "status": 429, "retry_after": 1,
  "count": 2, "fraction": null}`` — status 429/500/503, or 0 to drop the connection; ``count`` requests
  (default 1), or each matching request with probability ``fraction`` (optionally limited by ``count``).
  ``GET faults`` lists them, ``DELETE faults`` removes them.
* ``POST faults`` ``{"match": {"method": "PUT", "path_regex": "virtualNetworkGateways/VNet1GW$"},
  "lro_outcome": "Failed", "error": {"code": "...", "message": "..."}, "count": 1}`` — not an HTTP fault: the
  matching PUT is accepted (201/200, Updating) and its operation runs its simulated duration, then the
  Azure-AsyncOperation status answers ``Failed`` with that ARM error and the resource's provisioningState is
  ``Failed`` (as when a gateway deployment fails). A later PUT on the Failed resource retries the deployment
  (Updating → Succeeded; a failed create is redone with the create duration). Only a PUT that passes
  validation uses up the fault. ``error`` defaults to :data:`DEFAULT_LRO_ERROR`.
* ``POST faults`` ``{"match": {...}, "delay": 3.0, "count": 1}`` — not an error: the matching request waits
  ``delay`` seconds, then is answered normally (to interrupt a client at a known moment, e.g. during a PUT).
* ``GET stats`` — request counts by method and ``writes`` (PUT/PATCH/POST/DELETE on ARM resources).
* ``GET|POST page-size`` ``{"size": n}`` — items per list page before ``nextLink``.
* ``GET|POST resource-graph`` ``{"denied_subscriptions": [...]}`` — subscriptions Resource Graph answers 403
  for (see ``handlers/resource_graph.py``).
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
LRO_OUTCOMES = ("Failed",)
LRO_FAULT_STATUS = -1  # stored in faults.status for an lro_outcome fault (the column is NOT NULL)
DELAY_FAULT_STATUS = -2  # a delay fault: its seconds are stored in faults.retry_after
DEFAULT_LRO_ERROR = {"code": "InternalServerError",
                     "message": "An error occurred while provisioning the resource (failure injected by the "
                                "emulator control API)."}


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    from vpnrunbook.emulator.limits import loads

    data = loads(body, what="control request body")
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
        if name == "resource-graph" and method in ("GET", "POST"):
            from vpnrunbook.emulator.handlers import resource_graph

            return resource_graph.control(store, db, method, _json(body))
    raise errors.RouteNotFound(f"The emulator control API has no {method} {path}; see vpnrunbook.emulator.control.")


def rescale_pending(store: Any, db: Any, factor: float) -> int:
    """Operations still running keep their progress; what remains of them runs at the new factor.

    So a demo can speed up a 45-minute gateway already under way, and ``factor 0`` finishes everything now.
    Returns how many operations were rescaled.
    """
    from vpnrunbook.emulator.lro import simulated_seconds
    from vpnrunbook.emulator.store import FAILED_SUFFIX

    now = store.now()
    rows = db.execute("SELECT key, type, op_id, op_kind, op_start, op_done FROM resources "
                      "WHERE op_done IS NOT NULL AND op_done > ?", (now,)).fetchall()
    for key, type_, op_id, op_kind, op_start, op_done in rows:
        total = op_done - op_start
        left = (op_done - now) / total if total > 0 else 0.0
        base_kind = (op_kind or "update").removesuffix(FAILED_SUFFIX)
        new_done = now + left * simulated_seconds(type_, base_kind) * factor
        db.execute("UPDATE resources SET op_done = ? WHERE key = ?", (new_done, key))
        db.execute("UPDATE operations SET done = ? WHERE op_id = ?", (new_done, op_id))
    return len(rows)


def status(app: EmulatorApp, db: Any) -> dict[str, Any]:
    from vpnrunbook.emulator.store import FAILED_SUFFIX

    now = app.store.now()
    by_type: dict[str, int] = {}
    pending = failed = 0
    for type_, op_kind, op_done in db.execute("SELECT type, op_kind, op_done FROM resources"):
        if op_kind == "delete" and op_done is not None and op_done <= now:
            continue
        by_type[type_] = by_type.get(type_, 0) + 1
        if op_done is not None and op_done > now:
            pending += 1
        elif op_kind and op_kind.endswith(FAILED_SUFFIX):
            failed += 1
    return {"database": str(app.store.path), "time_factor": app.store.time_factor(db), "resources": by_type,
            "operations_in_progress": pending, "resources_failed": failed}


def _lro_error(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_LRO_ERROR)
    allowed = 'an object {"code": "<text>", "message": "<text>"} (optional "details": a list of such objects)'
    if not isinstance(value, dict):
        raise _bad("error", value, allowed)
    for field in ("code", "message"):
        if not isinstance(value.get(field), str) or not value[field].strip():
            raise _bad(f"error.{field}", value.get(field), "a non-empty string")
    details = value.get("details")
    if details is not None and (not isinstance(details, list) or not all(isinstance(d, dict) for d in details)):
        raise _bad("error.details", details, "a list of objects")
    unknown = sorted(set(value) - {"code", "message", "details", "target"})
    if unknown:
        raise _bad(f"error.{unknown[0]}", value[unknown[0]], "code, message, target, details")
    return dict(value)


def _add_fault(db: Any, spec: dict[str, Any]) -> dict[str, Any]:
    match = spec.get("match") or {}
    if not isinstance(match, dict):
        raise _bad("match", match, 'an object such as {"method": "PUT", "path_regex": "connections"}')
    outcome = spec.get("lro_outcome")
    lro_error = None
    if outcome is not None:
        if outcome not in LRO_OUTCOMES:
            raise _bad("lro_outcome", outcome, ", ".join(LRO_OUTCOMES) + ", or null for an HTTP fault")
        if spec.get("status") is not None:
            raise _bad("status", spec["status"], "null (or absent) with lro_outcome: the PUT itself is accepted")
        if (match.get("method") or "PUT").upper() != "PUT":
            raise _bad("match.method", match.get("method"), "PUT (or null): lro_outcome applies to a PUT's operation")
        match = {**match, "method": "PUT"}
        lro_error = _lro_error(spec.get("error"))
        if spec.get("retry_after") is not None:
            raise _bad("retry_after", spec["retry_after"], "null with lro_outcome")
        status = LRO_FAULT_STATUS
    elif spec.get("delay") is not None:
        delay = spec["delay"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600:
            raise _bad("delay", delay, "a number of seconds from 0 to 600")
        if spec.get("status") is not None or spec.get("retry_after") is not None or spec.get("error") is not None:
            raise _bad("delay", delay, "alone: a delayed request is answered normally (no status/retry_after/error)")
        status = DELAY_FAULT_STATUS
        spec = {**spec, "retry_after": float(delay)}
    else:
        if spec.get("error") is not None:
            raise _bad("error", spec["error"], "only with lro_outcome (an HTTP fault answers its status's error)")
        status = spec.get("status")
        if status not in FAULT_STATUSES:
            raise _bad("status", status, "429, 500, 503, or 0 (drop the connection); or lro_outcome \"Failed\"")
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
    cur = db.execute("INSERT INTO faults (method, path_regex, status, retry_after, remaining, fraction, lro_outcome, "
                     "lro_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (method.upper() if method else None, regex, status, retry_after, count, fraction, outcome,
                      json.dumps(lro_error) if lro_error is not None else None))
    return _fault_view(cur.lastrowid, method, regex, status, retry_after, count, fraction, outcome, lro_error)


def _fault_view(fid: int | None, method: str | None, regex: str | None, status: int, retry_after: float | None,
                count: int | None, fraction: float | None, outcome: str | None,
                lro_error: dict[str, Any] | None) -> dict[str, Any]:
    view = {"id": fid, "match": {"method": method, "path_regex": regex},
            "status": None if outcome is not None else status, "retry_after": retry_after, "count": count,
            "fraction": fraction}
    if status == DELAY_FAULT_STATUS:
        view.update(status=None, retry_after=None, delay=retry_after)
    if outcome is not None:
        view["lro_outcome"], view["error"] = outcome, lro_error
    return view


_FAULT_COLUMNS = "id, method, path_regex, status, retry_after, remaining, fraction, lro_outcome, lro_error"


def _faults(db: Any) -> list[dict[str, Any]]:
    return [_fault_view(i, m, r, s, ra, c, f, o, json.loads(e) if e else None)
            for i, m, r, s, ra, c, f, o, e in db.execute(f"SELECT {_FAULT_COLUMNS} FROM faults ORDER BY id")]


def _take(db: Any, method: str, path: str, *, lro: bool) -> tuple[Any, ...] | None:
    """The first fault of the wanted family matching ``method path``; uses one of its ``count``."""
    for row in db.execute(f"SELECT {_FAULT_COLUMNS} FROM faults ORDER BY id").fetchall():
        fid, m, regex, _status, _ra, remaining, fraction, outcome, _err = row
        if (outcome is not None) != lro:
            continue
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
        return tuple(row)
    return None


def take_lro_failure(db: Any, method: str, path: str) -> dict[str, Any] | None:
    """For a PUT about to start its operation (validation passed): the ARM error its operation ends with, if an
    ``lro_outcome`` fault matches (it is used up, inside the handler's transaction), else None."""
    row = _take(db, method, path, lro=True)
    if row is None:
        return None
    return json.loads(row[8]) if row[8] else dict(DEFAULT_LRO_ERROR)


def maybe_fault(app: EmulatorApp, method: str, path: str) -> None:
    """Fire the first matching HTTP fault: raise its ARM error, or :class:`errors.DropConnection` for status 0."""
    with app.store.write() as db:
        row = _take(db, method, path, lro=False)
        fired = (row[3], row[4]) if row is not None else None
    if fired is None:
        return
    status, retry_after = fired
    if status == DELAY_FAULT_STATUS:
        import time

        time.sleep(retry_after or 0)
        return
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

    def add_lro_failure(self, *, path_regex: str | None = None, code: str | None = None,
                        message: str | None = None, details: list[dict[str, Any]] | None = None,
                        count: int | None = None, fraction: float | None = None) -> dict[str, Any]:
        """The next matching PUT is accepted, its operation runs, then ends ``Failed`` with this ARM error
        (``code``/``message`` default to :data:`DEFAULT_LRO_ERROR`) and the resource is provisioningState Failed."""
        error = None
        if code is not None or message is not None or details is not None:
            error = {"code": code or DEFAULT_LRO_ERROR["code"], "message": message or DEFAULT_LRO_ERROR["message"]}
            if details is not None:
                error["details"] = details
        return self._call("POST", "faults", {"match": {"method": "PUT", "path_regex": path_regex},
                                             "lro_outcome": "Failed", "error": error, "count": count,
                                             "fraction": fraction})

    def add_delay(self, seconds: float, *, method: str | None = None, path_regex: str | None = None,
                  count: int | None = None) -> dict[str, Any]:
        """The next ``count`` matching requests wait ``seconds``, then are answered normally."""
        return self._call("POST", "faults", {"match": {"method": method, "path_regex": path_regex},
                                             "delay": seconds, "count": count})

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def deny_resource_graph(self, subscriptions: list[str]) -> dict[str, Any]:
        """Resource Graph answers 403 for queries over these subscriptions ([] allows all again)."""
        return dict(self._call("POST", "resource-graph", {"denied_subscriptions": list(subscriptions)}))

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "status"))
