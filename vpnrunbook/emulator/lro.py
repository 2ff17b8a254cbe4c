"""Long-running operations: simulated durations, the Azure-AsyncOperation / Location URLs and their answers.

A write stores ``op_start``/``op_done`` (wall-clock seconds) on the resource and a row in ``operations``;
``op_done = now + simulated_seconds × time_factor``. Status is derived from the clock at read time, so
every process sees the same progress. Served over HTTPS (``emulator serve``), long-running answers carry
``Retry-After``: a tenth of the remaining simulated time in whole seconds, between 1 and 10, so a stock
client (the Azure CLI, whose default is 30 s) polls quickly. Whole seconds because the SDK deserializes the
header as an integer; ``Retry-After: 0`` would make azure-core fall back to its default. In-process (the
package's default target) no ``Retry-After`` is sent: the package polls every 0.1 s instead.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.models import Ctx, Response
from vpnrunbook.emulator.store import FAILED_SUFFIX, Record

# Simulated durations in seconds, as Azure takes them (a VPN gateway: about 45 minutes).
SIMULATED_SECONDS: dict[str, dict[str, float]] = {
    "microsoft.resources/resourcegroups": {"create": 0, "update": 0, "delete": 20},
    "microsoft.network/virtualnetworks": {"create": 10, "update": 5, "delete": 10},
    "microsoft.network/publicipaddresses": {"create": 5, "update": 5, "delete": 5},
    "microsoft.network/localnetworkgateways": {"create": 20, "update": 15, "delete": 15},
    "microsoft.network/virtualnetworkgateways": {"create": 45 * 60, "update": 20 * 60, "delete": 15 * 60},
    "microsoft.network/connections": {"create": 90, "update": 60, "delete": 30, "sharedkey": 30},
}


def simulated_seconds(arm_type: str, kind: str) -> float:
    return SIMULATED_SECONDS.get(arm_type.lower(), {}).get(kind, 5.0)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def start(ctx: Ctx, rec: Record, kind: str, *, result: dict[str, Any] | None = None,
          seconds: float | None = None, error: dict[str, Any] | None = None) -> str:
    """Begin an operation of ``kind`` (create, update, delete, sharedkey) on ``rec``; returns the op id.

    ``error`` (an ARM error object): the operation runs its full simulated duration, then its status URL
    answers ``Failed`` with this error and the resource's provisioningState is ``Failed``.
    """
    duration = (simulated_seconds(rec.type, kind) if seconds is None else seconds) * ctx.factor
    op_id = str(uuid.uuid4())
    rec.op_id, rec.op_start, rec.op_done = op_id, ctx.now, ctx.now + duration
    rec.op_kind = kind + FAILED_SUFFIX if error is not None and kind != "delete" else kind
    ctx.store.add_operation(ctx.db, op_id=op_id, resource_key=rec.key, kind=kind, location=rec.location,
                            start=ctx.now, done=ctx.now + duration, result=result,
                            status="Failed" if error is not None else "Succeeded", error=error)
    return op_id


def _provider(rec_type: str) -> str:
    return "Microsoft.Resources" if rec_type.lower().startswith("microsoft.resources") else "Microsoft.Network"


def async_operation_url(ctx: Ctx, rec: Record, op_id: str) -> str:
    loc = (rec.location or "global").replace(" ", "").lower()
    return ctx.url(f"/subscriptions/{rec.sub}/providers/{_provider(rec.type)}/locations/{loc}/operations/{op_id}",
                   ctx.api_version)


def location_url(ctx: Ctx, rec: Record, op_id: str) -> str:
    loc = (rec.location or "global").replace(" ", "").lower()
    return ctx.url(f"/subscriptions/{rec.sub}/providers/{_provider(rec.type)}/locations/{loc}/operationResults/{op_id}",
                   ctx.api_version)


RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 10


def retry_after(remaining: float) -> str:
    """The ``Retry-After`` for an operation with ``remaining`` simulated seconds: a tenth of it, bounded."""
    return str(min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, math.ceil(remaining / 10))))


def _retry(ctx: Ctx, remaining: float) -> dict[str, str]:
    return {"Retry-After": retry_after(remaining)} if ctx.app.token is not None else {}


def async_headers(ctx: Ctx, rec: Record, op_id: str, *, with_location: bool = False) -> dict[str, str]:
    headers = {"Azure-AsyncOperation": async_operation_url(ctx, rec, op_id),
               **_retry(ctx, (rec.op_done or ctx.now) - ctx.now)}
    if with_location:
        headers["Location"] = location_url(ctx, rec, op_id)
    return headers


def _operation(ctx: Ctx) -> dict[str, Any]:
    op = ctx.store.get_operation(ctx.db, ctx.params["op"])
    if op is None:
        raise errors.ResourceNotFound(f"Operation {ctx.params['op']!r} was not found.")
    return op


def operation_status(ctx: Ctx) -> Response:
    """GET on an Azure-AsyncOperation URL: InProgress until the simulated duration ends."""
    op = _operation(ctx)
    body: dict[str, Any] = {"name": op["op_id"], "startTime": iso(op["start"])}
    if ctx.now < op["done"]:
        body["status"] = "InProgress"
        return Response(200, body, _retry(ctx, op["done"] - ctx.now))
    else:
        body["status"] = op["status"]
        body["endTime"] = iso(op["done"])
        if op["error"]:
            body["error"] = op["error"]
    return Response(200, body)


def operation_result(ctx: Ctx) -> Response:
    """GET on a Location URL: 202 while running, then the result (200) or 204 with no content."""
    op = _operation(ctx)
    if ctx.now < op["done"]:
        return Response(202, None, {"Location": ctx.url(ctx.path, ctx.api_version),
                                    **_retry(ctx, op["done"] - ctx.now)})
    if op["status"] == "Failed" and op["error"]:
        raise errors.ArmError(op["error"].get("message", "The operation failed."),
                              code=op["error"].get("code", "OperationFailed"), status=400)
    if op["result"] is not None:
        return Response(200, op["result"])
    return Response(204)
