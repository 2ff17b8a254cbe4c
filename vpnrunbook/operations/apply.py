"""Executing a plan: check the ETags read at plan time, then PUT with If-Match (If-None-Match: * for creates).

A change made by someone else between the plan and the apply ends in :class:`ConcurrentChangeError`
before any write (checked for every resource of the plan first, so a VNet-to-VNet pair is never
half-written because of it) or, in the remaining race window, through ARM's HTTP 412.

This is the one place that writes (``apply_plan``; the gateway start uses ``start_write`` through
``journaled``): each plan's writes are preceded by an intent record and followed by an outcome record in the
evidence ledger (:mod:`vpnrunbook.evidence.journal`). No intent, no write.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import time
from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from vpnrunbook.azure.secrets import resolve_shared_key
from vpnrunbook.azure.states import SETTLING
from vpnrunbook.evidence import journal
from vpnrunbook.evidence.compare import covers, unplanned_changes, unplanned_text
from vpnrunbook.operations.arm import error_code_message, log, lro_options, read, read_kind
from vpnrunbook.operations.errors import ConcurrentChangeError, PrecheckError, ProvisioningFailedError
from vpnrunbook.operations.plan import FAILED_STATES, OperationResult, Plan, Write, dig, scrub, snapshot
from vpnrunbook.policy.rules import Problem
from vpnrunbook.policy.strength import WEAKER


def _conditions(write: Write) -> dict[str, str]:
    if write.kind == "resource_group":
        return {}  # resource groups carry no ETag in ARM
    if write.exists:
        return {"If-Match": write.etag} if write.etag else {}
    return {"If-None-Match": "*"}


def verify_unchanged(session: Any, plan: Plan) -> dict[str, dict[str, Any] | None]:
    """Re-read every planned resource; refuse (no write) if one changed since the plan. Returns the reads."""
    current: dict[str, dict[str, Any] | None] = {}
    for w in plan.writes:
        now = read_kind(session, w.kind, w.resource_group, w.name)
        current[w.resource_id] = now
        if w.kind == "resource_group":
            continue
        if not w.exists and now is not None:
            raise ConcurrentChangeError(w.label, step=plan.step, planned_etag=None)
        if w.exists and now is None:
            raise ConcurrentChangeError(w.label, step=plan.step, planned_etag=w.etag, detail="it was deleted")
        if w.exists and w.etag and now is not None and now.get("etag") != w.etag:
            raise ConcurrentChangeError(w.label, step=plan.step, planned_etag=w.etag)
    return current


def current_shared_key(session: Any, resource_group: str, name: str, conn: dict[str, Any] | None) -> str | None:
    """The key a connection has now: from its body if the service returns it, else the ``sharedkey`` endpoint."""
    key = (conn or {}).get("properties", {}).get("sharedKey")
    if key:
        return str(key)
    try:
        found = session.network.virtual_network_gateway_connections.get_shared_key(resource_group, name)
    except (ResourceNotFoundError, HttpResponseError):
        return None
    value = found.get("value") if hasattr(found, "get") else None
    return str(value) if value else None


def _connection_key(session: Any, write: Write, current: dict[str, Any] | None) -> str | None:
    """The shared key to send with a connection PUT: from the reference, else the one the connection has."""
    if write.shared_key_ref:
        return resolve_shared_key(write.shared_key_ref)
    return current_shared_key(session, write.resource_group, write.name, current)




class _LandedWrite:
    """A write ARM applied although its response was lost: the SDK's retry of the conditional PUT then met 412
    from the ETag this write itself changed. Behaves like the SDK poller by reading the resource back."""

    def __init__(self, session: Any, write: Write) -> None:
        self.session, self.write = session, write
        interval = getattr(session, "polling_interval", None)
        self.interval = 5.0 if interval is None else max(float(interval), 0.05)

    def _read(self) -> dict[str, Any] | None:
        return read_kind(self.session, self.write.kind, self.write.resource_group, self.write.name)

    def done(self) -> bool:
        return dig(self._read(), "properties", "provisioningState", default="") not in SETTLING

    def wait(self, timeout: float | None = None) -> None:
        if not self.done():
            time.sleep(self.interval if timeout is None else min(self.interval, timeout))

    def result(self, timeout: float | None = None) -> dict[str, Any] | None:
        while not self.done():
            time.sleep(self.interval)
        current = self._read()
        state = dig(current, "properties", "provisioningState", default="")
        if state in FAILED_STATES:
            raise HttpResponseError(message=f"{self.write.label}: provisioningState {state}")
        return current


def request_headers(intent: dict[str, Any] | None, write: Write) -> dict[str, str]:
    """``x-ms-client-request-id`` and ``x-ms-correlation-request-id`` of one write, as its intent record holds them:
    Azure's Activity Log keeps both with every event of the write (``httpRequest.clientRequestId``,
    ``correlationId``), which ties what Azure saw to the ledger (``vpnrunbook evidence crosscheck``)."""
    if not intent:
        return {}
    ids = journal.request_ids(intent, write.resource_id)
    recorded = next((w.get("client_request_id") for w in intent.get("writes") or []
                     if w.get("resource_id") == write.resource_id), None)
    return {"x-ms-client-request-id": recorded or ids["client_request_id"],
            "x-ms-correlation-request-id": intent.get("correlation_id") or ids["correlation_id"]}


def start_write(session: Any, write: Write, *, step: str, current: dict[str, Any] | None = None,
                intent: dict[str, Any] | None = None) -> Any:
    """Send one planned PUT (with the request ids of ``intent``). Returns the SDK poller (LRO kinds) or the REST
    dict (resource group)."""
    headers = {**_conditions(write), **request_headers(intent, write)}
    sent: list[Any] = []  # the PUT's pipeline context: azure-core's RetryPolicy counts its attempts there
    log.info("%s: %s %s", step, "update" if write.exists else "create", write.label)
    try:
        if write.kind == "resource_group":
            return session.resources.resource_groups.create_or_update(write.name, write.body,
                                                                      headers=headers).as_dict()
        net = session.network
        ops = {
            "virtual_network": net.virtual_networks,
            "public_ip": net.public_ip_addresses,
            "virtual_network_gateway": net.virtual_network_gateways,
            "local_network_gateway": net.local_network_gateways,
            "connection": net.virtual_network_gateway_connections,
        }[write.kind]
        body = write.body
        if write.kind == "connection":
            key = _connection_key(session, write, current)
            body = copy.deepcopy(write.body)
            if key is not None:
                body.setdefault("properties", {})["sharedKey"] = key
            del key
        return ops.begin_create_or_update(write.resource_group, write.name, body, headers=headers,
                                          raw_request_hook=lambda request: sent.append(request.context),
                                          **lro_options(session))
    except HttpResponseError as exc:
        # Only a PUT the SDK sent more than once can have met its own earlier attempt; a 412 on the first attempt
        # is always someone else's write, even one identical to ours.
        if exc.status_code == 412 and sent and sent[0].get("retry_count", 0) > 0 and covers(
                read_kind(session, write.kind, write.resource_group, write.name), write.body):
            log.info("%s: %s — 412 on a retried PUT whose first response was lost; the resource already holds this "
                     "write", step, write.label)
            return _LandedWrite(session, write)
        if exc.status_code == 412:
            raise ConcurrentChangeError(write.label, step=step, planned_etag=write.etag,
                                        detail="ARM answered 412 Precondition Failed") from None
        if exc.status_code == 409:  # azure-core's ResourceExistsError: another change on it is still running
            code, message = error_code_message(exc)
            raise ConcurrentChangeError(write.label, step=step, planned_etag=write.etag or "",
                                        detail=f"ARM answered 409 {code or 'Conflict'}: another change of it is "
                                               f"still in progress — {message or 'no message'}") from None
        raise


def finish_write(poller_or_dict: Any) -> dict[str, Any] | None:
    if isinstance(poller_or_dict, dict):
        return poller_or_dict
    done = poller_or_dict.result()
    return None if done is None else (done.as_dict() if hasattr(done, "as_dict") else dict(done))


def refuse_if_breaking(plan: Plan) -> None:
    """``refuse_breaking=True``: a plan that would break a tunnel is refused before any write."""
    if not plan.breaks_tunnel:
        return
    problems = [Problem("policy", i.after, i.text, "a policy the other end accepts (check it with `vpnrunbook "
                        "device check`), or, to apply it anyway and then reconfigure the other end: `vpnrunbook run "
                        "... --apply --allow-breaking` (interactively: the Apply button, under the warning)",
                        "UpdateBreaksTunnel")
                for i in plan.impacts if i.breaks]
    raise PrecheckError(problems, step=plan.step)


def _write_rows(plan: Plan, writes: list[Write]) -> list[dict[str, Any]]:
    """The plan's writes as the plain data the evidence layer records (bodies without secrets)."""
    return [{"resource_id": w.resource_id, "label": w.label, "kind": w.kind, "resource_group": w.resource_group,
             "name": w.name, "action": "update" if w.exists else "create", "etag": w.etag,
             "changes": [c.as_dict() for c in plan.changes if c.resource == w.label],
             "body": scrub(w.body), "shared_key_ref": w.shared_key_ref} for w in writes]


# What the operator accepts for the applies made inside ``accepting(...)`` (an Apply control's click, a cell, a
# script): apply_plan takes it when not given ``accepted=`` itself, so an apply callable that does not pass it on
# still records the acceptance.
_ACCEPTING: contextvars.ContextVar[str | None] = contextvars.ContextVar("vpnrunbook_accepting", default=None)
LET_THROUGH = "let through by"  # a break applied without the operator's words: how (--allow-breaking, the caller)


@contextlib.contextmanager
def accepting(statement: str) -> Iterator[None]:
    """The applies inside the block are made with the operator's acceptance ``statement`` (e.g. "I accept that
    this change breaks the tunnel to Site6 …"), as ``apply_plan(accepted=statement)``; recorded in each intent's
    ``accepted`` field. ``with ops.accepting("…"): ops.update_connection(…, apply=True)``."""
    if not str(statement or "").strip():
        raise ValueError(f"accepting: statement={statement!r} is empty; allowed: the words of what is accepted")
    token = _ACCEPTING.set(str(statement))
    try:
        yield
    finally:
        _ACCEPTING.reset(token)


def risky_warnings(plan: Plan) -> list[tuple[str, str]]:
    """The warnings an acceptance covers, each with its risk: every tunnel the plan breaks (``breaks_tunnel``)
    and every field it weakens (``weakens``) — the texts the intent's ``tunnel_warnings`` / ``warnings`` hold."""
    return [(w, "breaks_tunnel") for w in plan.tunnel_warnings()] + [
        (str(w), "weakens") for w in plan.warnings if str(getattr(w, "message", "")).startswith(WEAKER)]


def acceptances(plan: Plan, *, refuse_breaking: bool, accepted: str | None, runner: bool = False) -> list[dict[str, Any]]:
    """What the caller accepted, for the intent's ``accepted`` field (the evidence layer adds who and when): one
    item per warning accepted — ``warning`` (its text as the intent records it), ``risk`` (``breaks_tunnel`` |
    ``weakens``) and ``statement`` (how: the operator's words, or the tunnel break a caller let through with
    ``refuse_breaking=False``: ``--allow-breaking`` under ``vpnrunbook run``). ``accepted`` given for a plan
    without such warning: one item naming the words (risk None)."""
    how = "--allow-breaking (vpnrunbook run)" if runner else "the caller's refuse_breaking=False (no words given)"
    items: list[dict[str, Any]] = []
    if accepted:
        items = [{"warning": w, "risk": risk, "statement": accepted} for w, risk in risky_warnings(plan)] \
            or [{"warning": accepted, "risk": None, "statement": accepted}]
    elif plan.breaks_tunnel and not refuse_breaking:
        items = [{"warning": w, "risk": "breaks_tunnel", "statement": f"{LET_THROUGH} {how}"}
                 for w in plan.tunnel_warnings()]
    return items


def _record_intent(run: journal.RunScope, session: Any, plan: Plan, *,
                   accepted: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return journal.intent(run, session, step=plan.step, writes=_write_rows(plan, plan.writes),
                          plan_created_at=plan.created_at, warnings=[str(x) for x in plan.warnings],
                          tunnel_warnings=plan.tunnel_warnings(), accepted=list(accepted))


def _landed(writes: list[Write], *, body: bool = False) -> list[dict[str, Any]]:
    return [{"resource_id": w.resource_id, "label": w.label} | ({"body": w.body} if body else {}) for w in writes]


def apply_plan(session: Any, plan: Plan, *, refuse_breaking: bool = False, accepted: str | None = None) -> OperationResult:
    """Apply a plan made earlier (``apply=False``). Empty plan → no request that writes.

    A plan that would break a tunnel (``plan.breaks_tunnel``) is applied — its WARNING is in the plan and the
    result — unless ``refuse_breaking=True`` (then :class:`PrecheckError` ``UpdateBreaksTunnel``, nothing written).
    After connection writes, ``result.verification`` / ``details["connection_status"]`` hold the status read back.
    The intent and outcome records go to the evidence ledger (``details["evidence"]`` says where); an after-state
    holding changes the plan did not make is flagged (``details["unplanned_changes"]``, a WARNING in the result).
    ``accepted``: what the operator explicitly accepted (the Apply controls' confirmation, e.g. "I accept that this
    change breaks the tunnel to Site6"; default: the statement of an enclosing :func:`accepting`), recorded in the
    intent's ``accepted`` field — one item per warning accepted, with who and when — as is a break let through by
    ``refuse_breaking=False``.
    """
    accepted = accepted if accepted is not None else _ACCEPTING.get()
    if plan.empty:
        log.info("%s: nothing to change", plan.step)
        return OperationResult(plan.step, plan, True, dict(plan.before), dict(plan.before),
                               list(plan.warnings), list(plan.resources))
    if refuse_breaking:
        refuse_if_breaking(plan)
    for text in plan.tunnel_warnings():
        log.warning("%s: %s (applying anyway: refuse_breaking=False)", plan.step, text)
    with journal.run_scope(plan.step) as run:
        current = verify_unchanged(session, plan)
        intent = _record_intent(run, session, plan, accepted=acceptances(  # no record, no write
            plan, refuse_breaking=refuse_breaking, accepted=accepted, runner=run.owner == "runner"))
        result = _apply_writes(session, plan, current, run, intent)
    result.details["evidence"] = dict(run.where) or {"run_id": run.run_id, "path": str(run.run_dir)}
    return result


def _apply_writes(session: Any, plan: Plan, current: dict[str, dict[str, Any] | None], run: journal.RunScope,
                  intent: dict[str, Any]) -> OperationResult:
    after: dict[str, dict[str, Any] | None] = dict(plan.before)
    written: list[Write] = []
    try:
        for w in plan.writes:
            pending = start_write(session, w, step=plan.step, current=current.get(w.resource_id), intent=intent)
            try:
                done = finish_write(pending)
            except HttpResponseError as exc:
                if exc.status_code == 412:
                    raise ConcurrentChangeError(w.label, step=plan.step, planned_etag=w.etag,
                                                detail="ARM answered 412 Precondition Failed") from None
                state = dig(read_kind(session, w.kind, w.resource_group, w.name), "properties", "provisioningState")
                if state in FAILED_STATES:  # the PUT was accepted, its operation ended Failed: say what and what next
                    code, message = error_code_message(exc)
                    raise ProvisioningFailedError(w.label, state, code=code, error_message=message, step=plan.step,
                                                  written=[x.label for x in written]) from exc
                raise
            written.append(w)
            after[w.resource_id] = snapshot(done if done is not None else read_kind(session, w.kind,
                                                                                   w.resource_group, w.name))
    except Exception as exc:
        status = "refused" if isinstance(exc, ConcurrentChangeError) and not written else "failed"
        try:
            attempted = plan.writes[len(written)].resource_id if len(written) < len(plan.writes) else None
            journal.outcome(run, intent, status=status, after=after, written=_landed(written), error=exc,
                            detail={"attempted": attempted})
        except OSError:
            log.error("%s: the outcome of the failed apply could not be recorded; `vpnrunbook evidence reconcile` "
                      "records what happened", plan.step)
        raise
    log.info("%s: applied %d write(s)", plan.step, len(plan.writes))
    result = OperationResult(plan.step, plan, True, dict(plan.before), after, list(plan.warnings),
                             list(plan.resources))
    _verify_connections(session, plan, result)
    unplanned = unplanned_changes(_landed(plan.writes, body=True), after)
    if unplanned:
        result.details["unplanned_changes"] = unplanned
        log.warning("%s: %s", plan.step, unplanned_text(unplanned))
    verify = {k: {f: v.get(f) for f in ("status", "reason", "ok", "warning", "peer", "peer_status") if f in v}
              for k, v in result.details.get("connection_status", {}).items()}
    try:
        journal.outcome(run, intent, status="applied", after=after, written=_landed(written), verify=verify,
                        unplanned=unplanned)
    except OSError as exc:
        raise journal.OutcomeNotRecordedError(plan.step, str(run.run_id), exc, result) from exc
    return result


def start_long_write(session: Any, plan: Plan) -> tuple[Any, dict[str, Any]]:
    """The gateway path: check the ETags, record the intent, send the plan's one PUT, record it as accepted.
    Returns (poller, intent); :func:`finish_long_write` records the final outcome when the caller waited."""
    with journal.run_scope(plan.step) as run:
        verify_unchanged(session, plan)
        intent = _record_intent(run, session, plan)
        w = plan.writes[0]
        try:
            lro = start_write(session, w, step=plan.step, intent=intent)
        except Exception as exc:
            with contextlib.suppress(OSError):
                journal.outcome(run, intent, status="failed", error=exc, detail={"attempted": w.resource_id})
            raise
        now = snapshot(read_kind(session, w.kind, w.resource_group, w.name))
        journal.outcome(run, intent, status="accepted", after={w.resource_id: now}, written=_landed([w]),
                        detail={"note": "long-running operation started; the final state follows when waited for"})
    intent = {**intent, "scope": run}
    return lro, intent


def finish_long_write(intent: dict[str, Any], plan: Plan, after: dict[str, Any] | None, *,
                      error: BaseException | None = None) -> list[dict[str, Any]]:
    """The final outcome of a long write started by :func:`start_long_write` (best effort: its start is recorded).
    Returns the unplanned changes found in the final state."""
    run = intent.get("scope")
    if run is None:
        return []
    w = plan.writes[0]
    status = "failed" if error is not None else "applied"
    unplanned = unplanned_changes(_landed([w], body=True), {w.resource_id: after}) if error is None else []
    try:
        journal.outcome(run, intent, status=status, after={w.resource_id: after}, written=_landed([w] if after else []),
                        error=error, unplanned=unplanned, detail={"final": True})
    except OSError:
        log.error("%s: the final outcome could not be recorded (its start is in the ledger)", plan.step)
    return unplanned


def _verify_connections(session: Any, plan: Plan, result: OperationResult) -> None:
    """Read back the status of every connection written (the verify step), into the result."""
    from vpnrunbook.operations.verify import verify_connection

    statuses: dict[str, Any] = {}
    for w in plan.writes:
        if w.kind != "connection":
            continue
        try:
            view = verify_connection(session, resource_group=w.resource_group, connection_name=w.name)
        except Exception as exc:  # the writes succeeded: a failed read-back must not hide that
            log.warning("%s: could not read the status of %s back: %s", plan.step, w.label, type(exc).__name__)
            statuses[w.label] = {"status": None, "reason": f"could not read it back ({type(exc).__name__})"}
            continue
        statuses[w.label] = view.to_record()
        if result.verification is None:
            result.verification = view
        log.info("%s: %s is %s — %s", plan.step, w.label, view.status, view.reason)
    if statuses:
        result.details["connection_status"] = statuses


def finish(session: Any, plan: Plan, apply: bool, *, refuse_breaking: bool = False,
           **details: Any) -> OperationResult:
    """Apply when asked, else return the plan as an unapplied result."""
    if apply:
        result = apply_plan(session, plan, refuse_breaking=refuse_breaking)
    else:
        log.info("%s", plan.summary() + ("" if plan.empty else " (apply=False: nothing written)"))
        result = OperationResult(plan.step, plan, False, dict(plan.before), dict(plan.before),
                                 list(plan.warnings), list(plan.resources))
    result.details.update(details)
    return result


__all__ = ["accepting", "apply_plan", "finish", "read", "refuse_if_breaking", "start_write", "verify_unchanged"]
