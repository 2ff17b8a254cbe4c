"""``vpnrunbook evidence crosscheck``: the ledger checked against Azure's Activity Log and the live resources.

The ledger is this tool's own account; Azure's Activity Log is the target's. Every write the apply path makes
carries request ids derived from its intent record (:func:`journal.request_ids`): ``x-ms-client-request-id``
(a GUID that starts with the signing key's tag and ends with the tool's mark, :data:`journal.TOOL_MARK`) and
``x-ms-correlation-request-id`` (the intent id). Azure keeps both with every event of the write
(``httpRequest.clientRequestId``, ``correlationId``). The crosscheck reads the Activity Log once per subscription
for the time span the ledger covers (from its first change to now: one filtered query, followed page by page, not
one per resource), reads the live state of every resource the ledger names, and reports:

* **out-of-band changes** — successful writes in the resource groups the ledger touches that carry no request id
  of the ledger and no mark of this tool: who (``caller``), when, which operation, which resource; and resources
  whose live ETag is not the one the last recorded outcome holds (``drift``: changed since, by anyone);
* **records Azure never saw** — ``applied`` (or ``accepted``) outcomes with no matching successful write in the
  Activity Log: forged, or made against another target;
* **rollback** — writes carrying this tool's mark and the tag of a key that signed this ledger, whose request ids
  the ledger no longer holds: lines cut off or removed after they were written (a ledger cut back verifies with a
  copy of the public key; Azure still remembers the write). A write carrying the mark of another key (another
  operator's evidence folder) is out-of-band, said so.

What it cannot see: events older than the Activity Log's retention (90 days; export the log with a diagnostic
setting to keep more) are reported as *unconfirmed*, not as never seen; writes by other tools are reported, not
judged (an emergency change by the on-call team is out-of-band all the same); failed attempts are listed for
information. The Activity Log is written a few minutes after a write on Azure: a crosscheck right after a change
may not see it yet (run it again).

This module imports no operations, runbook or ui code: the CLI hands it the ledger entries, an Activity Log
reader and a live-state reader (:class:`ActivityLog`, :data:`LiveRead`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from vpnrunbook.evidence import journal

RETENTION = dt.timedelta(days=90)
MARGIN = dt.timedelta(minutes=5)  # before the first record: clocks differ; the Started event precedes the intent
LEGACY_WINDOW = dt.timedelta(seconds=10)  # records written before request ids were sent: matched by time
# POST actions that read (the Activity Log lists every POST): not changes.
READ_ACTIONS = frozenset({"getikesas", "vpndeviceconfigurationscript", "supportedvpndevices", "getbgppeerstatus",
                          "getlearnedroutes", "getadvertisedroutes", "listkeys", "read", "validate", "whatif"})

# exit codes of `vpnrunbook evidence crosscheck` (the CLI prints them in its help)
EXIT_CONSISTENT = 0
EXIT_UNREADABLE = 1      # the Activity Log or a live resource could not be read: nothing concluded
EXIT_CONTRADICTED = 4    # the ledger is contradicted: records Azure never saw, or rollback
EXIT_OUT_OF_BAND = 5     # the ledger is intact, but resources were changed outside it (out-of-band, drift)

OUT_OF_BAND, DRIFT, NEVER_SEEN, ROLLBACK = "out_of_band", "drift", "never_seen", "rollback"
FAILED_ATTEMPT, UNCONFIRMED = "failed_attempt", "unconfirmed"
CONTRADICTING = (NEVER_SEEN, ROLLBACK)
CHANGED = (OUT_OF_BAND, DRIFT)


class ActivityLog(Protocol):
    """Reads a subscription's Activity Log (REST-shaped event dicts, as Azure sends them), counting pages."""

    pages_read: int

    def events(self, subscription_id: str, start: dt.datetime, end: dt.datetime, *,
               correlation_id: str | None = None) -> Iterable[dict[str, Any]]: ...


# A live read of one ledger write ({"resource_id", "kind", "resource_group", "name", ...}): the resource as ARM
# returns it (a dict with "etag"), or None when it does not exist.
LiveRead = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class AzureWrite:
    """The events of one write request merged: what Azure saw."""

    operation_id: str
    operation: str
    resource_id: str
    resource_group: str
    subscription_id: str
    caller: str
    time: dt.datetime
    status: str
    client_request_id: str
    correlation_id: str
    method: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in ("Succeeded", "Accepted", "Started")  # accepted or running: it is taking effect

    def describe(self) -> str:
        return (f"{self.operation} on {self.resource_id} by {self.caller or '(unknown caller)'} at "
                f"{self.time.isoformat(timespec='seconds')} — {self.status} (clientRequestId "
                f"{self.client_request_id or '-'}, correlationId {self.correlation_id or '-'})")


@dataclass
class Finding:
    kind: str
    resource_id: str
    text: str
    caller: str | None = None
    time: str | None = None
    operation: str | None = None
    client_request_id: str | None = None
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)
    pages_read: int = 0
    events_read: int = 0
    ledger_entries: int = 0
    changes: int = 0
    confirmed: int = 0
    resources_read: int = 0

    def of(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_UNREADABLE
        if self.of(*CONTRADICTING):
            return EXIT_CONTRADICTED
        if self.of(*CHANGED):
            return EXIT_OUT_OF_BAND
        return EXIT_CONSISTENT


# ---- reading the ledger -------------------------------------------------------------------------------------
def parse_time(text: Any) -> dt.datetime | None:
    if isinstance(text, dt.datetime):
        return text if text.tzinfo else text.replace(tzinfo=dt.UTC)
    if not isinstance(text, str) or not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    if "." in value:  # .NET's seven fractional digits
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        value = f"{head}.{digits[:6]}{tail[len(digits):]}"
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass
class LedgerWrite:
    intent: dict[str, Any]
    write: dict[str, Any]
    client_request_id: str
    correlation_id: str
    sent_ids: bool  # the intent was recorded by a version that sends the ids (else: matched by time)

    @property
    def resource_id(self) -> str:
        return str(self.write.get("resource_id") or "")


def _key(resource_id: str) -> str:
    return resource_id.lower().rstrip("/")


def _rg_of(resource_id: str) -> tuple[str, str] | None:
    parts = resource_id.strip("/").split("/")
    if len(parts) >= 4 and parts[0].lower() == "subscriptions" and parts[2].lower() == "resourcegroups":
        return parts[1].lower(), parts[3].lower()
    return None


def _under(resource_id: str, base: str) -> bool:
    rid, b = _key(resource_id), _key(base)
    return rid == b or rid.startswith(b + "/")


# ---- reading the Activity Log -------------------------------------------------------------------------------
def _value(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("value") or "")
    return str(obj or "")


def merge_events(events: Iterable[dict[str, Any]]) -> list[AzureWrite]:
    """One :class:`AzureWrite` per write (its Started / Accepted / terminal events), read-only actions left out.

    Events belong together by correlation id, resource and operation (the operation id where no correlation id is
    given): an asynchronous write's final event and the SDK's retries of one request land in the same write. A write
    succeeded if any of its events says so (a retry after a 500 did), else it failed if one says Failed."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        op = _value(e.get("operationName"))
        verb = op.rsplit("/", 2)
        if op.lower().endswith("/action") and len(verb) == 3 and verb[1].lower() in READ_ACTIONS:
            continue
        if not (op.lower().endswith("/write") or op.lower().endswith("/delete") or op.lower().endswith("/action")):
            continue
        http = e.get("httpRequest") or {}
        correlation = str(e.get("correlationId") or "").lower()
        key = "|".join((correlation, _key(str(e.get("resourceId"))), op.lower())) if correlation else \
            str(e.get("operationId") or "") + "|" + str(http.get("clientRequestId"))
        grouped.setdefault(key, []).append(e)
    out = []
    for key, group in grouped.items():
        statuses = {_value(e.get("status")) for e in group}
        status = next((s for s in ("Succeeded", "Failed", "Canceled", "Accepted") if s in statuses), "Started")
        times = [t for t in (parse_time(e.get("eventTimestamp")) for e in group) if t is not None]
        first = group[0]
        http = next((e.get("httpRequest") for e in group if e.get("httpRequest")), None) or {}
        out.append(AzureWrite(
            operation_id=key, operation=_value(first.get("operationName")), resource_id=str(first.get("resourceId")),
            resource_group=str(first.get("resourceGroupName") or ""),
            subscription_id=str(first.get("subscriptionId") or ""), caller=str(first.get("caller") or ""),
            time=min(times) if times else dt.datetime.now(dt.UTC), status=status,
            client_request_id=str(http.get("clientRequestId") or ""),
            correlation_id=str(first.get("correlationId") or ""), method=str(http.get("method") or "")))
    out.sort(key=lambda w: w.time)
    return out


# ---- the check ------------------------------------------------------------------------------------------------
def _journal(entries: Iterable[dict[str, Any]], target: str, subscription: str | None) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if journal.kind_of(e) not in journal.JOURNAL_KINDS:
            continue
        if str(e.get("target") or "emulator") != target:
            continue
        if subscription and e.get("subscription_id") and str(e["subscription_id"]).lower() != subscription.lower():
            continue
        out.append(e)
    return out


def crosscheck(entries: Iterable[dict[str, Any]], *, activity: ActivityLog, live: LiveRead, target: str,
               subscription: str | None = None, now: dt.datetime | None = None) -> Report:
    """Check the journal records of ``entries`` (ledger lines) for ``target`` against ``activity`` and ``live``."""
    now = now or dt.datetime.now(dt.UTC)
    entries = list(entries)
    report = Report(ledger_entries=len(entries))
    records = _journal(entries, target, subscription)
    intents = [e for e in records if journal.kind_of(e) == journal.INTENT]
    report.changes = len(intents)
    if not intents:
        return report
    by_intent = {str(i.get("intent_id")): i for i in intents}
    writes: list[LedgerWrite] = []
    sending = False  # once an intent carries its request ids, every later one must (no matching by time after it)
    for i in intents:
        sending = sending or "correlation_id" in i
        for w in i.get("writes") or []:
            # the ids are derived from the intent id, never taken from the line: a record that copies another's
            # request id cannot claim that write
            ids = journal.request_ids(i, str(w.get("resource_id") or ""))
            writes.append(LedgerWrite(i, w, ids["client_request_id"], ids["correlation_id"], sending))
    key_tags = {journal.key_tag_of(i) for i in intents}  # the keys that signed this ledger's intents
    by_request = {lw.client_request_id.lower(): lw for lw in writes}
    correlations = {lw.correlation_id.lower() for lw in writes}
    scopes = {s for s in (_rg_of(lw.resource_id) for lw in writes) if s}
    subscriptions = sorted({s for s, _ in scopes})
    first = min((t for t in (parse_time(i.get("time")) for i in intents) if t), default=now) - MARGIN
    start = max(first, now - RETENTION)

    seen: list[AzureWrite] = []
    for sub in subscriptions:
        report.queries.append({"subscription_id": sub, "start": start.isoformat(), "end": now.isoformat()})
        try:
            events = list(activity.events(sub, start, now))
        except Exception as exc:  # noqa: BLE001 - a permission or network failure: say so, conclude nothing
            report.errors.append(f"the Activity Log of subscription {sub} could not be read ({type(exc).__name__}: "
                                 f"{str(exc)[:300]}); the Reader role on the subscription is enough")
            continue
        report.events_read += len(events)
        seen += [w for w in merge_events(events) if (w.subscription_id.lower() or sub, w.resource_group.lower())
                 in scopes or _rg_of(w.resource_id) in scopes]
    report.pages_read = getattr(activity, "pages_read", 0)
    if report.errors:
        return report

    explained: set[str] = set()
    matched: dict[str, list[AzureWrite]] = {}  # intent id -> the Azure writes carrying its ids
    for w in seen:
        lw = by_request.get(w.client_request_id.lower())
        if lw is None and w.correlation_id.lower() in correlations:
            lw = next((x for x in writes if x.correlation_id.lower() == w.correlation_id.lower()
                       and _under(w.resource_id, x.resource_id)), None)
        if lw is not None:
            explained.add(w.operation_id)
            matched.setdefault(str(lw.intent.get("intent_id")), []).append(w)
    _legacy_matches(records, writes, seen, explained, matched)
    for w in seen:
        if w.operation_id in explained:
            continue
        tag = journal.tool_key_tag(w.client_request_id)
        if tag is not None and tag in key_tags:
            report.findings.append(Finding(
                ROLLBACK, w.resource_id, "a write made by this tool, with this ledger's signing key, that the ledger "
                f"no longer holds (its lines were cut off or removed): {w.describe()}", w.caller, w.time.isoformat(),
                w.operation, w.client_request_id))
        elif tag is not None and w.status != "Failed":
            report.findings.append(Finding(
                OUT_OF_BAND, w.resource_id, f"a write made by vpnrunbook signing with another key (key tag {tag}: "
                f"another evidence folder's change, not in this ledger): {w.describe()}", w.caller,
                w.time.isoformat(), w.operation, w.client_request_id))
        elif w.status == "Failed":
            report.findings.append(Finding(FAILED_ATTEMPT, w.resource_id, f"a failed write outside the ledger: "
                                           f"{w.describe()}", w.caller, w.time.isoformat(), w.operation,
                                           w.client_request_id))
        else:
            report.findings.append(Finding(OUT_OF_BAND, w.resource_id, f"a write with no ledger record: "
                                           f"{w.describe()}", w.caller, w.time.isoformat(), w.operation,
                                           w.client_request_id))
    _never_seen(records, by_intent, matched, report, now)
    _drift(records, writes, seen, explained, live, report)
    return report


def _legacy_matches(records: list[dict[str, Any]], writes: list[LedgerWrite], seen: list[AzureWrite],
                    explained: set[str], matched: dict[str, list[AzureWrite]]) -> None:
    """Intents recorded before the apply path sent request ids: a successful write on the same resource between the
    intent and its outcome (with :data:`LEGACY_WINDOW` either side) is taken as the recorded one."""
    outcome_time = {str(e.get("intent_id")): parse_time(e.get("time")) for e in records
                    if journal.kind_of(e) == journal.OUTCOME}
    for lw in writes:
        if lw.sent_ids:
            continue
        iid = str(lw.intent.get("intent_id"))
        begin = parse_time(lw.intent.get("time"))
        end = outcome_time.get(iid) or begin
        if begin is None or end is None:
            continue
        for w in seen:
            if (w.operation_id not in explained and w.succeeded and _key(w.resource_id) == _key(lw.resource_id)
                    and begin - LEGACY_WINDOW <= w.time <= end + LEGACY_WINDOW):
                explained.add(w.operation_id)
                matched.setdefault(iid, []).append(w)
                break


def _never_seen(records: list[dict[str, Any]], by_intent: dict[str, dict[str, Any]],
                matched: dict[str, list[AzureWrite]], report: Report, now: dt.datetime) -> None:
    confirmed: set[tuple[str, str, str]] = set()
    for o in records:
        if journal.kind_of(o) != journal.OUTCOME or o.get("status") not in ("applied", "accepted"):
            continue
        iid = str(o.get("intent_id"))
        when = parse_time(o.get("time"))
        azure = [w for w in matched.get(iid, []) if w.succeeded]
        for item in o.get("written") or []:
            rid = str(item.get("resource_id") or "")
            once = (iid, _key(rid), str(o.get("status")))
            if once in confirmed:  # an intent has one applied (and one accepted) record per write
                report.findings.append(Finding(
                    NEVER_SEEN, rid, f"run {o.get('run_id')} records {o.get('status')} for a write another record "
                    f"of intent {iid[:12]} already holds (ledger line {o.get('seq')}): one write, two records — "
                    "the intent id was reused", time=str(o.get("time")), run_id=str(o.get("run_id"))))
                continue
            if any(_under(w.resource_id, rid) for w in azure):
                confirmed.add(once)
                report.confirmed += 1
                continue
            if when is not None and when < now - RETENTION:
                report.findings.append(Finding(UNCONFIRMED, rid, f"outcome {o.get('status')} of run "
                                               f"{o.get('run_id')} ({o.get('time')}) is older than the Activity "
                                               "Log's 90 days: it cannot be confirmed (export the log with a "
                                               "diagnostic setting to keep it)", run_id=str(o.get("run_id"))))
                continue
            intent = by_intent.get(iid) or {}
            report.findings.append(Finding(
                NEVER_SEEN, rid, f"the ledger says run {o.get('run_id')} step {o.get('step')} {o.get('status')} "
                f"this write at {o.get('time')} (ledger line {o.get('seq')}), but the Activity Log holds no "
                f"successful write of it (correlationId {intent.get('correlation_id') or '-'}): forged, or made "
                "against another target", time=str(o.get("time")), run_id=str(o.get("run_id"))))


def _last_recorded(records: list[dict[str, Any]]) -> dict[str, tuple[str | None, dt.datetime | None, str]]:
    """Per resource: the ETag its last outcome (or reconcile record) holds, that record's time and what it was."""
    last: dict[str, tuple[str | None, dt.datetime | None, str]] = {}
    for e in records:
        kind = journal.kind_of(e)
        if kind == journal.OUTCOME:
            for item in e.get("written") or []:
                if item.get("resource_id"):
                    last[_key(item["resource_id"])] = (item.get("etag"), parse_time(e.get("time")),
                                                       f"outcome {e.get('status')} of run {e.get('run_id')}")
        elif kind == journal.RECONCILE:
            for item in e.get("resources") or []:
                if item.get("resource_id") and item.get("state") not in ("unchanged",):
                    last[_key(item["resource_id"])] = (item.get("etag_now"), parse_time(e.get("time")),
                                                       f"reconcile record of run {e.get('run_id')}")
    return last


def _drift(records: list[dict[str, Any]], writes: list[LedgerWrite], seen: list[AzureWrite], explained: set[str],
           live: LiveRead, report: Report) -> None:
    last = _last_recorded(records)
    done: set[str] = set()
    for lw in writes:
        key = _key(lw.resource_id)
        if key in done or key not in last or lw.write.get("kind") == "resource_group":
            continue
        done.add(key)
        etag, when, what = last[key]
        if etag is None:
            continue
        try:
            now = live(lw.write)
        except Exception as exc:  # noqa: BLE001
            report.errors.append(f"{lw.resource_id} could not be read ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        report.resources_read += 1
        live_etag = (now or {}).get("etag")
        if now is not None and live_etag == etag:
            continue
        since = [w for w in seen if w.operation_id not in explained and w.succeeded
                 and _under(w.resource_id, lw.resource_id) and (when is None or w.time >= when - LEGACY_WINDOW)]
        who = "; ".join(f"{w.operation} by {w.caller} at {w.time.isoformat(timespec='seconds')}" for w in since[-3:])
        state = "it no longer exists" if now is None else f"its live ETag is {live_etag}"
        report.findings.append(Finding(
            DRIFT, lw.resource_id, f"the last record ({what}) holds ETag {etag}, but {state}: changed since"
            + (f" — the Activity Log names {who}" if who else " — by a write the Activity Log does not show (yet)"),
            since[-1].caller if since else None, since[-1].time.isoformat() if since else None,
            since[-1].operation if since else None))


# ---- for reconcile: what Azure says happened to an intent's writes ------------------------------------------
LOG_RANK = {"Succeeded": 4, "Accepted": 3, "Started": 2, "Failed": 1}


def write_statuses(intent: dict[str, Any], activity: ActivityLog, *, now: dt.datetime | None = None
                   ) -> dict[str, str]:
    """The Activity Log's status of each write of ``intent``, found by its request ids (one query filtered on the
    intent's correlation id): ``Succeeded``, ``Accepted``/``Started`` (still running), ``Failed``, or ``absent``
    (Azure saw no such request)."""
    now = now or dt.datetime.now(dt.UTC)
    sub = str(intent.get("subscription_id") or "")
    begin = (parse_time(intent.get("time")) or now) - MARGIN
    ids = {str(w.get("resource_id")): journal.request_ids(intent, str(w.get("resource_id")))
           for w in intent.get("writes") or []}
    correlation = str(intent.get("correlation_id") or next(iter(ids.values()), {}).get("correlation_id", ""))
    seen = merge_events(activity.events(sub, begin, now, correlation_id=correlation))
    out = {}
    for w in intent.get("writes") or []:
        rid = str(w.get("resource_id"))
        crid = str(w.get("client_request_id") or ids[rid]["client_request_id"]).lower()
        found = [x.status for x in seen if x.client_request_id.lower() == crid
                 or (x.correlation_id.lower() == correlation.lower() and _key(x.resource_id) == _key(rid))]
        out[rid] = max(found, key=lambda s: LOG_RANK.get(s, 0)) if found else "absent"
    return out


def conclusion_from_log(statuses: dict[str, str]) -> str:
    """A reconcile conclusion from :func:`write_statuses` (the same words as the live read's)."""
    values = set(statuses.values())
    if values and values == {"Succeeded"}:
        return "applied"
    if values <= {"Failed", "absent"}:
        return "not_applied"
    if values <= {"Succeeded", "Accepted", "Started"}:
        return "applied_still_provisioning"
    return "partly_applied"


def lines(report: Report) -> Iterator[str]:
    """The report as text lines (every value from Azure or the ledger is left to the caller's terminal renderer)."""
    titles = {OUT_OF_BAND: "OUT-OF-BAND", DRIFT: "DRIFT", NEVER_SEEN: "NEVER SEEN BY AZURE", ROLLBACK: "ROLLBACK",
              FAILED_ATTEMPT: "failed attempt (information)", UNCONFIRMED: "unconfirmed (information)"}
    for f in report.findings:
        yield f"{titles.get(f.kind, f.kind)}: {f.resource_id}: {f.text}"
