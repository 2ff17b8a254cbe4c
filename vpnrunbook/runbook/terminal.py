"""What `vpnrunbook run` prints on the terminal: a compact plan (field, current → desired), every warning, the
outcome, the verify status, `08`'s policy — read from the records the notebook wrote (``vpnrunbook.runbook.record``,
the same ones the manifest holds) — and the live progress of long operations.

Progress: the CLI names a file in ``VPNRUNBOOK_PROGRESS_FILE``; inside the kernel the headless progress bars of
:mod:`vpnrunbook.ui.progress` (the gateway creation's, with percentage and expected remaining time) write their
current line there, and :class:`ProgressRelay` prints each new line while the run goes on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

PROGRESS_FILE_ENV = "VPNRUNBOOK_PROGRESS_FILE"
ARROW = "→"


def _fmt(value: Any) -> str:
    from vpnrunbook.operations.plan import display_value

    return display_value(value, none="-")


def _finding(w: dict[str, Any]) -> str:
    from vpnrunbook.policy.strength import Finding

    return str(Finding.from_dict(w))


def _plans_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    plan = record.get("plan")
    plans = plan if isinstance(plan, list) else [plan] if isinstance(plan, dict) else []
    return [p for p in plans if isinstance(p, dict) and "changes" in p]


def plan_lines(plan: dict[str, Any], *, applied: bool) -> list[str]:
    """One plan, compact: its summary line, then one line per change, every warning and note."""
    changes = plan.get("changes") or []
    if not changes:
        head = f"plan  {plan.get('step')}: nothing to change"
    else:
        resources = len({c.get("resource") for c in changes})
        head = (f"plan  {plan.get('step')}: {len(changes)} change(s) on {resources} resource(s)"
                f"{' — applied' if applied else ' — not applied (plan only)'}")
    lines = [head]
    for c in changes:
        current = "(new)" if c.get("action") == "create" and c.get("current") is None else _fmt(c.get("current"))
        lines.append(f"      {c.get('resource')}  {c.get('field')}: {current} {ARROW} {_fmt(c.get('desired'))}")
    lines += [f"  {t}" for t in plan.get("tunnel_warnings") or []]
    lines += [f"  {_finding(w)}" for w in plan.get("warnings") or [] if w.get("severity") != "info"]
    lines += [f"  note: {n}" for n in plan.get("notes") or []]
    return lines


def verify_lines(record: dict[str, Any]) -> list[str]:
    lines = [f"verify  {record.get('connection')}: {record.get('status')} — {record.get('reason')}"]
    if record.get("warning"):
        lines.append(f"  WARNING: {record['warning']}")
    if record.get("peer"):
        lines.append(f"  peer {record['peer']}: {record.get('peer_status') or '(absent)'}")
    lines += [f"  note: {n}" for n in record.get("notes") or []]
    return lines


def policy_lines(record: dict[str, Any]) -> list[str]:
    """`08`: the connection's policy, field by field with its strength, or Azure's default proposals."""
    from vpnrunbook.policy import presets, rules
    from vpnrunbook.policy.strength import rate

    pbts = "on" if record.get("use_policy_based_traffic_selectors") else "off"
    lines = [f"policy  {record.get('connection')} ({record.get('connection_type')}; status "
             f"{record.get('connection_status')}; DPD {record.get('dpd_timeout_seconds')} s; policy-based traffic "
             f"selectors {pbts})"]
    policy = record.get("policy")
    if not policy:
        ike = ", ".join(f"{e}/{i}" for e, i in presets.DEFAULT_IKE_OFFERS)
        esp = ", ".join(f"{e}/{i}/PFS {p}" for e, i, p in presets.DEFAULT_IPSEC_INITIATOR_OFFERS)
        lines += ["  no custom IPsec/IKE policy: the connection uses Azure's default proposals",
                  f"  IKE offers {ike} with {presets.DEFAULT_IKE_DH_GROUP}", f"  IPsec offers {esp}"]
    else:
        for spec in rules.FIELDS:
            value = policy.get(spec.wire)
            rating = rate(spec.name, value) if isinstance(value, str) else None
            lines.append(f"  {spec.wire:22} {_fmt(value)}" + (f"  ({rating.strength.label})" if rating else ""))
    lines += [f"  {_finding(w)}" for w in record.get("warnings") or [] if w.get("severity") != "info"]
    return lines


def would_be_refused(records: Iterable[dict[str, Any]], *, apply: bool, allow_breaking: bool) -> list[str]:
    """A plan-only run's reasons why `--apply` would be refused (the run then exits 2, refused, as a pre-check
    refusal does: nothing written either way)."""
    if apply:
        return []
    out: list[str] = []
    for record in records:
        for plan in _plans_of(record):
            out += [n for n in plan.get("notes") or [] if "would be refused" in n]
            if plan.get("breaks_tunnel") and not allow_breaking:
                out.append(f"{plan.get('step')}: the change would break a tunnel (see the WARNING above); `--apply` "
                           "refuses it (exit 2, nothing written) unless `--allow-breaking`")
    return out


def report_lines(manifest: dict[str, Any], *, allow_breaking: bool = False) -> list[str]:
    """Everything the terminal shows about a finished run, before its outcome line."""
    records = [r for r in manifest.get("records") or [] if isinstance(r, dict)]
    lines: list[str] = []
    for record in records:
        plans = _plans_of(record)
        if plans:
            for plan in plans:
                lines += plan_lines(plan, applied=bool(record.get("applied")))
        elif record.get("name") == "verify" or str(record.get("step", "")).startswith("verify "):
            lines += verify_lines(record)
        elif record.get("name") == "policy" and "uses_default_proposals" in record:
            lines += policy_lines(record)
    refused = would_be_refused(records, apply=bool(manifest.get("apply")), allow_breaking=allow_breaking)
    if refused:
        lines += ["", "WOULD BE REFUSED — this plan-only run changed nothing; `--apply` would refuse it:"]
        lines += [f"  ! {n}" for n in refused]
    return lines


# ---- live progress (headless) ------------------------------------------------------------------
def write_progress(line: str) -> None:
    """Inside the kernel: publish a progress line to the CLI (no-op without ``VPNRUNBOOK_PROGRESS_FILE``)."""
    target = os.environ.get(PROGRESS_FILE_ENV)
    if not target:
        return
    try:
        path = Path(target)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(line, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # progress is a courtesy: never fail a run for it


class ProgressRelay:
    """In the CLI: prints each new progress line the run's kernel writes (a thread polling one small file)."""

    def __init__(self, path: Path, emit: Callable[[str], None], *, interval: float = 0.5) -> None:
        self.path, self.emit, self.interval = path, emit, interval
        self._stop = threading.Event()
        self._last = ""
        self._thread = threading.Thread(target=self._run, name="vpnrunbook-progress", daemon=True)

    def _poll(self) -> None:
        try:
            line = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return
        if line and line != self._last:
            self._last = line
            self.emit(line)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def __enter__(self) -> ProgressRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._poll()


__all__ = ["PROGRESS_FILE_ENV", "ProgressRelay", "report_lines", "would_be_refused", "write_progress"]
