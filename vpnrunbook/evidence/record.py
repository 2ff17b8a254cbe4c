"""The change record: what an auditor reads first — one function builds it, HTML and terminal render it.

``build`` takes a run's manifest (or the manifest about to be written) and the ledger's view of the run, and
returns a plain dict: who, when (start, end), target and subscription, apply, outcome and error, the plan as rows
``resource field: current → desired``, every warning (weak crypto findings, tunnel impact, notes), the verify
result per connection, the ledger lines and the signer's fingerprint. ``to_html`` opens each run's
notebook.html with it; ``to_text`` is what ``vpnrunbook evidence show RUN`` prints.

The ledger line of a run holds the SHA-256 of its manifest, which holds the SHA-256 of the HTML, so the HTML
cannot name its own line. It names what is true when it is written: the ledger head at that moment and the lines
already recorded for the run (intent records, when the apply path writes them); ``evidence show`` adds the run's
own line (seq, SHA-256, signature check).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SECTION_ID = "vpnrunbook-change-record"


def _display(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value) if value else "[]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _finding_text(w: Any) -> str:
    if isinstance(w, dict) and "field" in w:
        tag = f" [{w['strength']}]" if w.get("strength") else ""
        return f"{str(w.get('severity', 'warning')).upper()} {w['field']}={_display(w.get('value'))}{tag}: " \
               f"{w.get('message', '')}"
    return str(w)


def _who(recorded: Any) -> str | None:
    """A recorded operator (a manifest's or an intent's ``{user, host}``, a run line's text) in its one spelling."""
    from vpnrunbook.evidence.identity import label

    return label(recorded) if recorded not in (None, "", {}) else None


def _short_field(path: str) -> str:
    """``properties.ipsecPolicies[0].dhGroup`` → ``dhGroup`` (the one-line summary; the record keeps the path)."""
    return re.split(r"[.\]]", path)[-1] or path


def _verify_row(label: str, v: Any) -> dict[str, Any]:
    v = v if isinstance(v, dict) else {}
    status = v.get("status")
    ok = v.get("ok") if "ok" in v else status == "Connected"
    return {"connection": label, "status": status if status is not None else "not read back", "ok": bool(ok),
            "reason": v.get("reason"), "warning": v.get("warning"), "peer": v.get("peer"),
            "peer_status": v.get("peer_status")}


def applied(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the apply path recorded for a run (its ledger ``intent`` / ``outcome`` / ``reconcile`` lines), or None
    when it recorded no intent (a plan-only run). The same whatever the door — ``vpnrunbook run``, a JupyterLab
    panel, a cell, the Python API, a rollout, a scheduler — since every door applies through the one apply path.

    Returns plain data: ``plan`` (rows resource, field, current, desired, action), ``warnings`` (weak-crypto
    findings and every tunnel-break warning), ``accepted`` (what the operator accepted: per warning ``warning``,
    ``by``, ``at``, ``statement`` — from the intent's field, or an older intent's ``ACCEPTED …`` lines), ``notes``, ``verify`` (per connection the status read back after
    the write: ``NotConnected`` stays ``NotConnected``), ``status`` (per intent its outcome: applied, failed,
    refused, accepted, a reconcile conclusion, or ``no outcome recorded``), ``connections``, ``who``, ``when``,
    ``target``, ``subscription``, ``weakened`` / ``breaks`` (booleans) and ``summary`` (field from → to, one line)."""
    intents = [e for e in entries if e.get("kind") == "intent"]
    if not intents:
        return None
    last: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("kind") in ("outcome", "reconcile") and e.get("intent_id"):
            last[str(e["intent_id"])] = e
    plan: list[dict[str, str]] = []
    warnings: list[str] = []
    notes: list[str] = []
    verify: list[dict[str, Any]] = []
    statuses: list[str] = []
    errors: list[str] = []
    connections: list[str] = []
    accepted: list[dict[str, Any]] = []
    breaks = weakened = False
    for i in intents:
        for w in i.get("writes") or []:
            if not isinstance(w, dict):
                continue
            if w.get("kind") == "connection" and w.get("name"):
                connections.append(str(w["name"]))
            for c in w.get("changes") or []:
                if isinstance(c, dict):
                    plan.append({"resource": str(c.get("resource", "")), "field": str(c.get("field", "")),
                                 "current": _display(c.get("current")), "desired": _display(c.get("desired")),
                                 "action": str(c.get("action", ""))})
        accepted += _accepted_of(i)
        for text in (str(x) for x in i.get("warnings") or []):
            if text.startswith("INFO "):
                notes.append(text)
            elif text.startswith(ACCEPTED_PREFIX):  # an older record's acceptance (read by _accepted_of)
                continue
            else:
                warnings.append(text)
                weakened = weakened or text.startswith(("WARNING ", "ERROR "))
        tunnel = [str(t) for t in i.get("tunnel_warnings") or []]
        breaks = breaks or bool(tunnel)
        warnings += tunnel
        o = last.get(str(i.get("intent_id")))
        if o is None:
            statuses.append("no outcome recorded")
            continue
        statuses.append(str(o.get("status") or o.get("conclusion") or o.get("kind")))
        if isinstance(o.get("error"), dict):
            errors.append(f"{o['error'].get('type')}: {o['error'].get('message')}")
        for u in o.get("unplanned_changes") or []:
            warnings.append(f"unplanned change (another writer?): {_display(u)}")
        for label, v in (o.get("verify") or {}).items() if isinstance(o.get("verify"), dict) else ():
            verify.append(_verify_row(str(label), v))
    who = _who(intents[0].get("operator"))
    broken = [v for v in verify if not v["ok"]]
    # each distinct field change once: a rollout of 1,000 connections to one policy reads as one connection's
    summary = "; ".join(dict.fromkeys(f"{_short_field(p['field'])} {p['current']} → {p['desired']}"
                                      for p in plan)) or "no field"
    return {"plan": plan, "warnings": list(dict.fromkeys(warnings)), "notes": list(dict.fromkeys(notes)),
            "verify": verify, "status": ", ".join(dict.fromkeys(statuses)), "errors": errors,
            "connections": list(dict.fromkeys(connections)), "who": who, "when": intents[0].get("time"),
            "target": intents[0].get("target"), "subscription": intents[0].get("subscription_id"),
            "weakened": weakened, "breaks": breaks or bool(broken), "summary": summary,
            "accepted": list({json.dumps(a, sort_keys=True): a for a in accepted}.values())}


ACCEPTED_PREFIX = "ACCEPTED"  # how an older intent recorded an acceptance: a line among its warnings


def _accepted_of(intent: dict[str, Any]) -> list[dict[str, Any]]:
    """What the operator accepted, per the intent: its ``accepted`` field (``warning``, ``by``, ``at``,
    ``statement``), or — an intent written before that field — its ``ACCEPTED …`` warning lines, each an item by
    the intent's operator at the intent's time."""
    field = intent.get("accepted")
    if isinstance(field, list):
        return [{"warning": str(a.get("warning")), "risk": a.get("risk"), "by": _who(a.get("by")), "at": a.get("at"),
                 "statement": a.get("statement")} for a in field if isinstance(a, dict)]
    out = []
    for text in (str(x) for x in intent.get("warnings") or []):
        if text.startswith(ACCEPTED_PREFIX):
            words = text.split(":", 1)[1].strip() if ":" in text else text
            by_operator = text.startswith(f"{ACCEPTED_PREFIX} by the operator")
            # the older lines named no risk: "applied although it breaks N tunnel(s)", or the operator's words
            risk = "breaks_tunnel" if not by_operator or "breaks the tunnel" in words else \
                "weakens" if "weakens" in words else None
            out.append({"warning": words, "risk": risk, "by": _who(intent.get("operator")), "at": intent.get("time"),
                        "statement": words if by_operator else None})
    return out


def accepted_by(change: dict[str, Any] | None, risk: str | None = "any") -> str:
    """``accepted by alice@jump1`` (each operator once) when the change record holds an acceptance (of ``risk``:
    ``breaks_tunnel``, ``weakens``; default any), else ""."""
    names = [str(a.get("by") or "?") for a in (change or {}).get("accepted") or []
             if risk == "any" or a.get("risk") == risk]
    return f"accepted by {', '.join(dict.fromkeys(names))}" if names else ""


def flags(change: dict[str, Any]) -> str:
    """What the change did that an auditor must see, one text: ``WEAKENED``, ``BROKE A TUNNEL``, each followed by
    who accepted it when it was accepted (``BROKE A TUNNEL (accepted by alice@jump1)``); ``no`` when neither."""
    out = []
    for text, on, risk in (("WEAKENED", change.get("weakened"), "weakens"),
                           ("BROKE A TUNNEL", change.get("breaks"), "breaks_tunnel")):
        if on:
            by = accepted_by(change, risk)
            out.append(f"{text} ({by})" if by else text)
    if not any("(accepted by" in f for f in out) and accepted_by(change):
        out.append(accepted_by(change))  # accepted, though the record names no weakening or break
    return ", ".join(out) or "no"


def accepted_text(a: dict[str, Any]) -> str:
    """One accepted warning, one line: the warning, who accepted it and when, and how (their words)."""
    text = f"{a.get('warning')} — accepted by {a.get('by') or '?'} at {a.get('at') or '?'}"
    return text + (f" ({a['statement']})" if a.get("statement") and a["statement"] != a.get("warning") else "")


# ---- a rollout's record: each plan once ---------------------------------------------------------------------
def change_set(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of one resource without its name: (field, current, desired, action), values as recorded."""
    return [{"field": r.get("field"), "current": r.get("current"), "desired": r.get("desired"),
             "action": r.get("action")} for r in rows]


def group_plans(resources: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Each distinct change set once, with every resource that gets it: ``resources`` is (label, plan rows of that
    resource) in order; returns ``[{"plan": 1, "changes": [...], "connections": [label, ...]}, ...]`` (ids from 1,
    in order of first use; a resource without a change is in no plan)."""
    by_key: dict[str, dict[str, Any]] = {}
    for label, rows in resources:
        if not rows:
            continue
        changes = change_set(rows)
        key = json.dumps(changes, sort_keys=True, default=str)
        group = by_key.setdefault(key, {"plan": len(by_key) + 1, "changes": changes, "connections": []})
        group["connections"].append(label)
    return list(by_key.values())


_VERIFY_KEYS = ("status", "ok", "reason", "warning", "peer", "peer_status")


def grouped(entries: list[dict[str, Any]], plans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """:func:`applied` for a run of many connections (a rollout), each thing once: ``plans`` names the ids of the
    run's ``plans`` (:func:`group_plans`) that its intent lines wrote (a change set the ledger holds and ``plans``
    does not is added to them), ``verify`` groups the identical read-backs with their ``connections``, and the
    connections are counted (``connection_count``; they are in ``plans`` and the manifest's units). The rows are
    back with :func:`change_of`; the ledger's intent/outcome lines hold each unit's full record."""
    rec = applied(entries)
    if rec is None:
        return None
    by_key = {json.dumps(p["changes"], sort_keys=True, default=str): p for p in plans}
    used: list[int] = []
    for i in (e for e in entries if e.get("kind") == "intent"):
        for w in i.get("writes") or []:
            if not isinstance(w, dict) or not w.get("changes"):
                continue
            changes = change_set([c for c in w["changes"] if isinstance(c, dict)])
            key = json.dumps(changes, sort_keys=True, default=str)
            label = str(w.get("label") or w.get("resource_id"))
            if key not in by_key:
                by_key[key] = {"plan": len(plans) + 1, "changes": changes, "connections": []}
                plans.append(by_key[key])
            group = by_key[key]
            if label not in group["connections"]:
                group["connections"].append(label)
            if group["plan"] not in used:
                used.append(group["plan"])
    verify: dict[str, dict[str, Any]] = {}
    for v in rec["verify"]:
        same = {k: v.get(k) for k in _VERIFY_KEYS}
        verify.setdefault(json.dumps(same, sort_keys=True, default=str), {**same, "connections": []})[
            "connections"].append(v["connection"])
    out = {k: v for k, v in rec.items() if k not in ("plan", "verify", "connections")}
    return {"grouped": True, "plans": used, **out, "verify": list(verify.values()),
            "connection_count": len(rec["connections"])}


def _unit_labels(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each connection of a rollout's units (``rg/name`` and its peers' names, lower case) → its unit row."""
    out: dict[str, dict[str, Any]] = {}
    for u in manifest.get("units") or []:
        out[str(u.get("connection", "")).lower()] = u
        for peer in str(u.get("peer") or "").split(", "):
            if peer:
                out.setdefault(peer.lower(), u)
                out.setdefault(peer.rsplit("/", 1)[-1].lower(), u)
    return out


def change_of(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's change record as every door's manifest names it (:func:`applied`: a row per field per
    connection), whether it holds the rows or, for a rollout, each plan once (:func:`grouped`)."""
    rec = manifest.get("change_record")
    if not isinstance(rec, dict) or not rec.get("grouped"):
        return rec
    units = _unit_labels(manifest)
    plans = {p["plan"]: p for p in manifest.get("plans") or []}
    rows: list[dict[str, str]] = []
    connections: list[str] = []
    for pid in rec.get("plans") or []:
        for label in plans.get(pid, {}).get("connections") or []:
            parts = label.split("/")
            unit = units.get(f"{parts[0]}/{parts[-1]}".lower()) or units.get(parts[-1].lower())
            if unit is not None and unit.get("intent_seq") is None:
                continue   # planned, never written: no intent line
            rows += [{"resource": label, "field": str(c["field"]), "current": _display(c["current"]),
                      "desired": _display(c["desired"]), "action": str(c["action"])} for c in plans[pid]["changes"]]
            connections.append(parts[-1])
    verify = [{"connection": label, **{k: g.get(k) for k in _VERIFY_KEYS}}
              for g in rec.get("verify") or [] for label in g.get("connections") or []]
    out = {k: v for k, v in rec.items() if k not in ("grouped", "plans", "verify", "connection_count")}
    return {"plan": rows, **out, "verify": verify, "connections": list(dict.fromkeys(connections))}


def build(manifest: dict[str, Any], *, ledger_lines: list[dict[str, Any]] | None = None,
          head_before: str | None = None, signer: str | None = None,
          journal_entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The change record of one run. ``ledger_lines``: the run's ledger lines known (each with seq, sha256 and
    optionally kind, signed_by, signature); ``head_before``: the ledger head when the record was made;
    ``journal_entries``: the run's intent/outcome lines. When the apply path recorded an intent, the plan,
    warnings and verify come from those lines alone (:func:`applied`), whatever the notebook recorded — so a
    change made from a JupyterLab panel after the notebook's cells ran is recorded as it was made. A run without
    intent (plan only) shows the plan its notebook recorded."""
    who = _who(manifest.get("operator"))
    plan: list[dict[str, str]] = []
    warnings: list[str] = []
    notes: list[str] = []
    verify: list[dict[str, Any]] = []
    for rec in manifest.get("records") or []:
        if not isinstance(rec, dict):
            continue
        p = rec.get("plan")
        if isinstance(p, dict):
            for c in p.get("changes") or []:
                plan.append({"resource": str(c.get("resource", "")), "field": str(c.get("field", "")),
                             "current": _display(c.get("current")), "desired": _display(c.get("desired")),
                             "action": str(c.get("action", ""))})
            warnings += [_finding_text(w) for w in p.get("warnings") or [] if _is_warning(w)]
            warnings += [str(t) for t in p.get("tunnel_warnings") or []]
            notes += [str(n) for n in p.get("notes") or []]
        warnings += [_finding_text(w) for w in rec.get("warnings") or [] if _is_warning(w)]
        if rec.get("name") == "verify" or (str(rec.get("step", "")).startswith("verify ") and "status" in rec):
            verify.append({"connection": rec.get("connection"), "status": rec.get("status"), "ok": rec.get("ok"),
                           "reason": rec.get("reason"), "warning": rec.get("warning"),
                           "peer": rec.get("peer"), "peer_status": rec.get("peer_status")})
    error = manifest.get("error")
    error_text = f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) else error
    change = applied(journal_entries or [])
    if change is not None:
        plan, verify = change["plan"], change["verify"]
        warnings, notes = change["warnings"], change["notes"]
        who = who or change["who"]
        if change["errors"] and not error_text:
            error_text = "; ".join(change["errors"])
    return {
        "run_id": manifest.get("run_id"), "step": manifest.get("step"), "title": manifest.get("title"),
        "what": manifest.get("changes_what"), "who": who, "started": manifest.get("started"),
        "ended": manifest.get("ended"), "duration_seconds": manifest.get("duration_seconds"),
        "target": manifest.get("target") or (change or {}).get("target"),
        "subscription": manifest.get("subscription_id", manifest.get("subscription")),
        "apply": manifest.get("apply"), "outcome": manifest.get("outcome"), "error": error_text,
        "plan": plan, "warnings": list(dict.fromkeys(warnings)), "notes": list(dict.fromkeys(notes)),
        "verify": verify, "ledger": list(ledger_lines or []), "head_before": head_before, "signer": signer,
        "journal": journal(journal_entries or []),
        "source": "apply path (the ledger's intent/outcome lines)" if change is not None
        else "the notebook's records (no change was applied)",
        "status": change["status"] if change is not None else None,
        "accepted": change["accepted"] if change is not None else [],
        "change": change,
    }


def _is_warning(w: Any) -> bool:
    return not (isinstance(w, dict) and str(w.get("severity", "")).lower() == "info")


# ---- reading a recorded run back ----------------------------------------------------------------
def find_run(root: Path, run: str) -> str:
    """A run id from an exact id, or a unique part of one (run folders and the ledger's run ids, so a run cut
    off before its manifest is found too); LookupError otherwise."""
    from vpnrunbook.evidence import ledger

    if (root / run / "manifest.json").exists():
        return run
    ids = set(ledger.run_folders(root))
    ids |= {str(e["run_id"]) for _, _, e in ledger.read(root) if e is not None and e.get("run_id")}
    ordered = sorted(ids)
    hits = [i for i in ordered if i == run] or [i for i in ordered if i.startswith(run) or i.endswith(run)] \
        or [i for i in ordered if run in i]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise LookupError(f"no run {run!r} under {root}; allowed: a run id as `vpnrunbook evidence list` shows it "
                          "(a unique part of it is enough)")
    raise LookupError(f"{run!r} matches {len(hits)} runs under {root}: {', '.join(hits[:5])}; give more of the id")


def _run_entries(root: Path, run_id: str, *, since: str | None = None) -> list[tuple[bytes, dict[str, Any]]]:
    from vpnrunbook.evidence import ledger

    return [(raw, e) for _, raw, e in ledger.read_naming(root, run_id, since=since)
            if e is not None and e.get("run_id") == run_id]


def journal(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The apply path's change records of a run (``kind`` intent / outcome / reconcile): per intent, when, what
    it writes and what its outcome says (``None``: no outcome recorded — the change may or may not have been
    made; ``vpnrunbook evidence reconcile`` finds out)."""
    out: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for e in entries:
        kind = e.get("kind")
        if kind == "intent":
            item = {"seq": e.get("seq"), "time": e.get("time"), "step": e.get("step"),
                    "writes": [str(w.get("label") or w.get("resource_id")) for w in e.get("writes") or []
                               if isinstance(w, dict)], "outcome": None, "etags": []}
            out.append(item)
            by_id[str(e.get("intent_id"))] = item
        elif kind in ("outcome", "reconcile") and str(e.get("intent_id")) in by_id:
            item = by_id[str(e["intent_id"])]
            item["outcome"] = str(e.get("status") or e.get("conclusion") or kind)
            item["etags"] = [f"{w.get('label') or w.get('resource_id')}: {w.get('etag')}"
                             for w in e.get("written") or [] if isinstance(w, dict) and w.get("etag")]
    return out


def _manifest_from_journal(run_id: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What the change records say when the run's manifest is missing (a run cut off by a kill or a full disk)."""
    intents = [e for e in entries if e.get("kind") == "intent"]
    first = intents[0] if intents else (entries[0] if entries else {})
    records: list[dict[str, Any]] = []
    for e in intents:
        changes = [c for w in e.get("writes") or [] if isinstance(w, dict) for c in w.get("changes") or []]
        records.append({"plan": {"changes": changes, "tunnel_warnings": e.get("tunnel_warnings") or []},
                        "warnings": e.get("warnings") or []})
    for e in entries:
        verify = e.get("verify")
        if isinstance(verify, dict) and "status" in verify:
            records.append({"name": "verify", **verify})
    times = [str(e.get("time") or e.get("ended") or "") for e in entries if e.get("time") or e.get("ended")]
    return {"run_id": run_id, "step": first.get("step"), "operator": first.get("operator"),
            "target": first.get("target"), "subscription_id": first.get("subscription_id"),
            "started": times[0] if times else None, "ended": times[-1] if times else None,
            "outcome": "incomplete: no manifest.json (the run was cut off; its change records follow)",
            "records": records}


def run_lines(root: Path, run_id: str, *, check: bool = True) -> list[dict[str, Any]]:
    """The run's ledger lines: seq, sha256 of the line, prev, kind, and who signed it (signature verified)."""
    from vpnrunbook.evidence import ledger, signing

    out = []
    for raw, entry in _run_entries(root, run_id):
        line: dict[str, Any] = {"seq": entry.get("seq"), "sha256": ledger.sha256_bytes(raw),
                                "prev": entry.get("prev"), "kind": entry.get("kind") or "run"}
        manifest = root / run_id / "manifest.json"
        if entry.get("manifest_sha256") and manifest.exists():
            line["manifest"] = "matches" if ledger.sha256_file(manifest) == entry["manifest_sha256"] else "DIFFERS"
        if check:
            try:
                opened, problems = signing.open_line(entry, raw)
            except signing.SignatureError as exc:
                line["signature"] = f"INVALID: {exc}"
            else:
                line["signed_by"] = opened.key.fingerprint
                line["signature"] = "valid" if not problems else f"INVALID: the line {problems[0]}"
        out.append(line)
    return out


def for_run(root: Path, run: str) -> dict[str, Any]:
    """The change record of a recorded run (manifest + its ledger lines, signatures checked)."""
    run_id = find_run(root, run)
    entries = [e for _, e in _run_entries(root, run_id)]
    path = root / run_id / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = _manifest_from_journal(run_id, entries)
    lines = run_lines(root, run_id)
    signers = sorted({ln["signed_by"] for ln in lines if ln.get("signed_by")})
    return build(manifest, ledger_lines=lines, signer=", ".join(signers) or None, journal_entries=entries)


def for_evidence(where: dict[str, Any]) -> dict[str, Any]:
    """The change record of the run an apply names (``result.details["evidence"]``: ``run_id`` and ``path``) —
    for a widget showing what it just applied. LookupError when the run is not (yet) in its evidence folder."""
    run_id, path = where.get("run_id"), where.get("path")
    if not run_id or not path:
        raise LookupError(f"no evidence run named in {where!r}")
    return for_run(Path(str(path)).parent, str(run_id))


# ---- rendering --------------------------------------------------------------------------------------
def _when(rec: dict[str, Any]) -> str:
    dur = rec.get("duration_seconds")
    return f"{rec.get('started')} → {rec.get('ended')}" + (f" ({dur:g} s)" if isinstance(dur, int | float) else "")


def _target(rec: dict[str, Any]) -> str:
    sub = rec.get("subscription")
    text = f"{rec.get('target')}" + (f", subscription {sub}" if sub else "")
    if rec.get("target") != "azure":
        text += " — NOT a change on Azure (not production evidence)"
    return text


def _journal_text(rec: dict[str, Any]) -> list[str]:
    out = []
    for j in rec.get("journal") or []:
        outcome = j["outcome"] or "NO OUTCOME RECORDED (incomplete: `vpnrunbook evidence reconcile`)"
        text = f"line {j['seq']} {j['time']} {j['step']}: writes {', '.join(j['writes']) or '-'} → {outcome}"
        if j.get("etags"):
            text += f" (new ETag {'; '.join(j['etags'])})"
        out.append(text)
    return out


def _verify_text(v: dict[str, Any]) -> str:
    text = f"{v.get('connection')}: {v.get('status')}"
    if v.get("peer"):
        text += f" (peer {v['peer']}: {v.get('peer_status')})"
    text += " — OK" if v.get("ok") else " — NOT OK"
    if v.get("reason"):
        text += f" — {v['reason']}"
    if v.get("warning"):
        text += f" — WARNING: {v['warning']}"
    return text


def _ledger_text(rec: dict[str, Any]) -> list[str]:
    out = []
    for ln in rec.get("ledger") or []:
        text = f"line {ln.get('seq')} ({ln.get('kind', 'run')}) sha256 {ln.get('sha256')}"
        if ln.get("prev"):
            text += f", prev {str(ln['prev'])[:16]}…"
        if ln.get("manifest"):
            text += f" — manifest.json hash {ln['manifest']}"
        if ln.get("signature"):
            text += f" — signature {ln['signature']}" + (f" by {ln['signed_by']}" if ln.get("signed_by") else "")
        out.append(text)
    if rec.get("head_before") is not None or not out:
        out.append(f"ledger head when this record was written: {rec.get('head_before') or '(empty ledger)'}; the "
                   "run's own line is appended after it, naming this folder's manifest hash — "
                   f"`vpnrunbook evidence show {rec.get('run_id')}` prints it")
    return out


def _terminal_safe(value: Any) -> Any:
    """Every text of the record through the one terminal renderer (``vpnrunbook.render.terminal``): a newline,
    CR, U+2028, U+0085, an ESC sequence inside a field is shown as its visible escape and never starts a line."""
    from vpnrunbook.render import terminal

    if isinstance(value, str):
        return terminal(value)
    if isinstance(value, dict):
        return {k: _terminal_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_terminal_safe(v) for v in value]
    return value


def to_text(rec: dict[str, Any]) -> str:
    """What ``vpnrunbook evidence show`` prints: one line per item; every field escaped for a terminal first, so
    the only line breaks are the layout's."""
    rec = _terminal_safe(rec)
    lines = [f"CHANGE RECORD  {rec.get('run_id')}",
             f"  step:      {rec.get('step')}" + (f" — {rec['title']}" if rec.get("title") else ""),
             f"  who:       {rec.get('who')}",
             f"  when:      {_when(rec)}",
             f"  target:    {_target(rec)}",
             f"  apply:     {rec.get('apply')}",
             f"  outcome:   {rec.get('outcome')}" + (f" — {rec['error']}" if rec.get("error") else "")]
    if rec.get("status"):
        lines.append(f"  applied:   {rec['status']} (the apply path's outcome; record built from {rec.get('source')})")
    if rec.get("plan"):
        lines.append("  plan (field: current → desired):")
        lines += [f"    {p['action']:6} {p['resource']} {p['field']}: {p['current']} → {p['desired']}"
                  for p in rec["plan"]]
    else:
        lines.append("  plan:      nothing to change")
    lines.append("  warnings:" + ("" if rec.get("warnings") else "  none"))
    lines += [f"    - {w}" for w in rec.get("warnings") or []]
    lines += [f"    note: {n}" for n in rec.get("notes") or []]
    if rec.get("accepted"):
        lines.append("  accepted (by the operator, before the write):")
        lines += [f"    - {accepted_text(a)}" for a in rec["accepted"]]
    lines.append("  verify:" + ("" if rec.get("verify") else "    not recorded (no connection was read back)"))
    lines += [f"    - {_verify_text(v)}" for v in rec.get("verify") or []]
    if rec.get("journal"):
        lines.append("  changes recorded by the apply path (intent → outcome):")
        lines += [f"    - {t}" for t in _journal_text(rec)]
    lines.append("  ledger:")
    lines += [f"    - {t}" for t in _ledger_text(rec)]
    lines.append(f"  signer:    {rec.get('signer') or '(unsigned)'}")
    return "\n".join(lines)


_STYLE = ("#vpnrunbook-change-record{font-family:system-ui,sans-serif;border:2px solid #333;padding:12px 16px;"
          "margin:12px;background:#fafafa}#vpnrunbook-change-record table{border-collapse:collapse}"
          "#vpnrunbook-change-record td,#vpnrunbook-change-record th{border:1px solid #bbb;padding:2px 8px;"
          "text-align:left;vertical-align:top}#vpnrunbook-change-record .warn{color:#b00020;font-weight:bold}"
          "#vpnrunbook-change-record code{font-size:90%}")


def to_html(rec: dict[str, Any]) -> str:
    """The record as the top of notebook.html: every field HTML-escaped with its control, bidi and line-break
    characters shown as marked escapes (``vpnrunbook.render.html_text``: a newline in a field stays visible)."""
    from vpnrunbook.render import html_text as e

    def row(name: str, value: str, cls: str = "") -> str:
        c = f' class="{cls}"' if cls else ""
        return f"<tr><th>{e(name)}</th><td{c}>{value}</td></tr>"

    outcome = e(str(rec.get("outcome"))) + (f" — {e(str(rec['error']))}" if rec.get("error") else "")
    head = "".join([
        row("step", e(str(rec.get("step"))) + (f" — {e(str(rec['title']))}" if rec.get("title") else "")),
        row("who", e(str(rec.get("who")))), row("when", e(_when(rec))),
        row("target", e(_target(rec)), "" if rec.get("target") == "azure" else "warn"),
        row("apply", e(str(rec.get("apply")))),
        row("outcome", outcome, "" if rec.get("outcome") == "succeeded" else "warn"),
    ] + ([row("applied", e(f"{rec['status']} (the apply path's outcome; record built from {rec.get('source')})"),
              "" if rec["status"] in ("applied", "accepted") else "warn")] if rec.get("status") else []))
    if rec.get("plan"):
        plan = ("<table><tr><th>action</th><th>resource</th><th>field</th><th>current → desired</th></tr>"
                + "".join(f"<tr><td>{e(p['action'])}</td><td>{e(p['resource'])}</td><td><code>{e(p['field'])}"
                          f"</code></td><td>{e(p['current'])} → {e(p['desired'])}</td></tr>" for p in rec["plan"])
                + "</table>")
    else:
        plan = "<p>nothing to change</p>"
    warn = "".join(f'<li class="warn">{e(w)}</li>' for w in rec.get("warnings") or [])
    warn += "".join(f"<li>note: {e(n)}</li>" for n in rec.get("notes") or [])
    bad = ' class="warn"'
    accepted = "".join(f'<li class="warn">{e(accepted_text(a))}</li>' for a in rec.get("accepted") or [])
    accepted = f"<h2>Accepted (by the operator, before the write)</h2><ul>{accepted}</ul>" if accepted else ""
    verify = "".join(f'<li{"" if v.get("ok") else bad}>{e(_verify_text(v))}</li>' for v in rec.get("verify") or [])
    ledger_items = "".join(f"<li><code>{e(t)}</code></li>" for t in _ledger_text(rec))
    journal_items = "".join(f"<li>{e(t)}</li>" for t in _journal_text(rec))
    journal_html = f"<h2>Changes recorded by the apply path (intent → outcome)</h2><ul>{journal_items}</ul>" \
        if journal_items else ""
    return (f'<section id="{SECTION_ID}"><style>{_STYLE}</style>'
            f"<h1>Change record — <code>{e(str(rec.get('run_id')))}</code></h1>"
            f"<table>{head}</table>"
            f"<h2>Plan (field: current → desired)</h2>{plan}"
            f"<h2>Warnings</h2><ul>{warn or '<li>none</li>'}</ul>{accepted}"
            f"<h2>Verify</h2><ul>{verify or '<li>not recorded (no connection was read back)</li>'}</ul>"
            f"{journal_html}<h2>Ledger</h2><ul>{ledger_items}</ul>"
            f"<p>signer (Ed25519 public key fingerprint, SHA-256 of the raw key): "
            f"<code>{e(str(rec.get('signer') or '(unsigned)'))}</code></p>"
            "<p>Code inputs are hidden in this export; every output is kept. The full executed notebook is "
            "notebook.ipynb in the same folder.</p></section>")


_BODY_RE = re.compile(r"<body\b[^>]*>", re.I)


def insert_into(page: str, rec: dict[str, Any]) -> str:
    """``page`` with the record's HTML as the first thing in its body (prepended when there is no body)."""
    section = to_html(rec)
    m = _BODY_RE.search(page)
    if m is None:
        return section + page
    return page[:m.end()] + "\n" + section + page[m.end():]
