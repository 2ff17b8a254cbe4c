"""Whether a resource read back holds what was written: the apply path's check and reconcile's, on plain dicts."""

from __future__ import annotations

import json
from typing import Any


def covers(current: Any, desired: Any) -> bool:
    """Whether ``current`` holds everything ``desired`` sets (lists in any order, strings case-insensitively)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(covers(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(current, list) and len(current) == len(desired)
                and all(any(covers(c, d) for c in current) for d in desired))
    if isinstance(desired, str) and isinstance(current, str):
        return current.replace(" ", "").lower() == desired.replace(" ", "").lower()
    return current == desired


def differences(now: Any, written: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(field path, written, now) for each field of ``written`` that ``now`` does not hold."""
    if covers(now, written):
        return []
    if isinstance(written, dict) and isinstance(now, dict):
        out: list[tuple[str, Any, Any]] = []
        for k, v in written.items():
            out += differences(now.get(k), v, f"{path}.{k}" if path else k)
        return out or [(path, written, now)]
    return [(path, written, now)]


def unplanned_changes(writes: list[dict[str, Any]], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields whose after-state differs from what an apply wrote (``writes``: resource_id, label, body): someone
    else wrote between the write and the read-back (the plan's ETag check cannot see a change made after it)."""
    out = []
    for w in writes:
        now = after.get(w["resource_id"])
        if now is None:
            continue
        for where, wrote, found in differences(now, w["body"]):
            if where.endswith("sharedKey"):
                continue
            out.append({"resource": w["label"], "field": where, "written": wrote, "after": found})
    return out


def unplanned_text(rows: list[dict[str, Any]]) -> str:
    parts = [f"{r['resource']} {r['field']}: written {json.dumps(r['written'], default=str)[:120]}, now "
             f"{json.dumps(r['after'], default=str)[:120]}" for r in rows[:6]]
    more = f" (+{len(rows) - 6} more)" if len(rows) > 6 else ""
    return ("WARNING — another writer changed the resource after this apply wrote it (the after-state holds changes "
            "not in the plan): " + "; ".join(parts) + more)
