"""Static HTML pieces shared by the widgets and their headless (papermill/nbconvert) rendering."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape as _escape_attr
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.strength import Finding, Strength, rate


def escape(text: str) -> str:
    """Escape text content (quotes stay readable; attribute values use ``_escape_attr``)."""
    return _escape_attr(text, quote=False)


STRENGTH_COLOURS = {
    Strength.DEPRECATED: "#b3261e", Strength.WEAK: "#b26a00", Strength.ACCEPTABLE: "#5f6368", Strength.STRONG: "#1e7e34",
}
SEVERITY_STYLE = {
    "error": ("#fde7e9", "#b3261e", "✖"), "warning": ("#fff4e5", "#8a5300", "⚠"), "info": ("#e8f0fe", "#174ea6", "ℹ"),
}
TABLE_STYLE = "border-collapse:collapse;font-size:13px;margin:4px 0"
CELL = "border:1px solid #ccc;padding:2px 8px;text-align:left"
DIFF_STYLE = "background:#fff3b0;font-weight:bold"


def _cell(text: Any, *, tag: str = "td", style: str = "") -> str:
    return f'<{tag} style="{CELL};{style}">{escape(str(text))}</{tag}>'


def strength_badge(field: str, value: Any) -> str:
    rating = rate(field, value) if isinstance(value, str) else None
    if rating is None:
        return ""
    colour = STRENGTH_COLOURS[rating.strength]
    return (f'<span class="vpnrunbook-strength vpnrunbook-strength-{rating.strength.label}" '
            f'style="color:{colour};font-weight:bold" title="{_escape_attr(rating.reason)}">{rating.strength.label}</span>')


def policy_table_html(values: Mapping[str, Any]) -> str:
    """The eight fields with their value and strength (one row per field)."""
    rows = ["<tr>" + _cell("field", tag="th") + _cell("value", tag="th") + _cell("strength", tag="th") + "</tr>"]
    for spec in rules.FIELDS:
        value = values.get(spec.name)
        rows.append(f'<tr class="vpnrunbook-row-{spec.name}">' + _cell(spec.label) + _cell(value)
                    + f'<td style="{CELL}">{strength_badge(spec.name, value)}</td></tr>')
    return f'<table class="vpnrunbook-policy-table" style="{TABLE_STYLE}">{"".join(rows)}</table>'


def findings_html(findings: Iterable[Finding]) -> str:
    """Errors, warnings (with the reason and source) and advice; 'no findings' when clean."""
    items = []
    for f in findings:
        bg, fg, icon = SEVERITY_STYLE.get(f.severity, SEVERITY_STYLE["info"])
        # the rule's source ids (e.g. "A14; I13" of the Azure rules reference) as a hover hint, not as text
        source = f' title="source: {escape(f.source)} (docs: Azure IPsec/IKE rules reference)"' if f.source else ""
        tag = f" [{escape(f.strength)}]" if f.strength else ""
        items.append(f'<div class="vpnrunbook-finding vpnrunbook-{f.severity}"{source} style="background:{bg};color:{fg};'
                     f'padding:2px 6px;margin:2px 0;border-radius:3px">{icon} <b>{escape(f.severity)}</b> '
                     f'{escape(f.field)} = {escape(str(f.value))}{tag}: {escape(f.message)}</div>')
    if not items:
        return ('<div class="vpnrunbook-finding vpnrunbook-clean" style="color:#1e7e34">✔ valid; no weak algorithms'
                '</div>')
    return "".join(items)


def proposals_html(policy: IpsecIkePolicy | None) -> str:
    from vpnrunbook.ui.proposals import strongswan_proposals

    if policy is None:
        return '<div class="vpnrunbook-proposals" style="color:#666">proposals: (fix the errors first)</div>'
    try:
        p = strongswan_proposals(policy)
    except ValueError as exc:  # valid for Azure but not expressible for the device (DH group None)
        return f'<div class="vpnrunbook-proposals" style="color:#b3261e">proposals: {escape(str(exc))}</div>'
    return (f'<div class="vpnrunbook-proposals" style="font-family:monospace;font-size:13px">'
            f'strongSwan proposals — ike: <b>{escape(p.ike)}</b> &nbsp; esp: <b>{escape(p.esp)}</b></div>')


def comparison_html(current: IpsecIkePolicy | None, chosen: Mapping[str, Any] | None) -> str:
    """Current policy beside the chosen one; differing rows highlighted (class ``vpnrunbook-diff``)."""
    head = ("<tr>" + _cell("field", tag="th") + _cell("current", tag="th") + _cell("chosen", tag="th") + "</tr>")
    rows = [head]
    for spec in rules.FIELDS:
        cur = getattr(current, spec.name) if current is not None else "(Azure default)"
        new = chosen.get(spec.name) if chosen is not None else "(Azure default)"
        differs = cur != new
        cls = "vpnrunbook-diff" if differs else "vpnrunbook-same"
        style = DIFF_STYLE if differs else ""
        rows.append(f'<tr class="{cls} vpnrunbook-row-{spec.name}">' + _cell(spec.label) + _cell(cur, style=style)
                    + _cell(new, style=style) + "</tr>")
    return f'<table class="vpnrunbook-compare" style="{TABLE_STYLE}">{"".join(rows)}</table>'


def plan_html(changes: Iterable[Any]) -> str:
    """The plan's changes (``Change(resource, field, current, desired)``) as a table."""
    changes = list(changes)
    if not changes:
        return '<div class="vpnrunbook-plan vpnrunbook-plan-empty">Plan: no change — the connection already matches.</div>'
    rows = ["<tr>" + "".join(_cell(h, tag="th") for h in ("resource", "field", "current", "desired")) + "</tr>"]
    for c in changes:
        resource = str(getattr(c, "resource", ""))
        rows.append("<tr>" + _cell(resource.rsplit("/", 1)[-1]) + _cell(getattr(c, "field", ""))
                    + _cell(_short(getattr(c, "current", None))) + _cell(_short(getattr(c, "desired", None)), style=DIFF_STYLE)
                    + "</tr>")
    return (f'<div class="vpnrunbook-plan"><b>Plan: {len(changes)} change(s)</b>'
            f'<table style="{TABLE_STYLE}">{"".join(rows)}</table></div>')


def _short(value: Any) -> str:
    if isinstance(value, IpsecIkePolicy):
        return value.summary()
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        try:
            return IpsecIkePolicy.from_mapping(value[0], validate=False).summary()
        except Exception:  # noqa: BLE001 - show whatever it is
            pass
    if value is None or value == []:
        return "(none)"
    return str(value)


def message_html(kind: str, text: str) -> str:
    bg, fg, icon = {"ok": ("#e6f4ea", "#1e7e34", "✔"), **SEVERITY_STYLE}.get(kind, SEVERITY_STYLE["info"])
    body = escape(text).replace("\n", "<br>")
    return (f'<div class="vpnrunbook-message vpnrunbook-message-{kind}" style="background:{bg};color:{fg};'
            f'padding:4px 8px;border-radius:3px;white-space:pre-wrap">{icon} {body}</div>')
