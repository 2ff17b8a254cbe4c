"""Fleet reports: CSV, and a self-contained HTML page (inline CSS and SVG, no script, nothing fetched).

The summary chart counts connections by policy strength — the weakest algorithm of the custom policy as
rated by :mod:`vpnrunbook.policy.strength`, or "default" for Azure's default proposals.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpnrunbook.render import csv_frame, html_document, html_text

STRENGTHS = ("deprecated", "weak", "acceptable", "strong", "default")
COLOURS = {"deprecated": "#b2182b", "weak": "#ef8a62", "acceptable": "#d9c34a", "strong": "#1a9850",
           "default": "#7f8fa6"}
LABELS = {"default": "default proposals"}


def strength_counts(frame: Any) -> dict[str, int]:
    """Connections per strength, in the fixed order of :data:`STRENGTHS` (zeros included)."""
    counts = {s: 0 for s in STRENGTHS}
    if frame is not None and len(frame) and "strength" in frame:
        for value, n in frame["strength"].value_counts().items():
            counts[str(value)] = counts.get(str(value), 0) + int(n)
    return counts


def strength_chart_svg(counts: Mapping[str, int], *, title: str = "Connections by policy strength",
                       width: int = 560) -> str:
    """A horizontal bar chart as a standalone SVG string (one bar per strength, count at the bar's end)."""
    bar_h, gap, left, top = 26, 10, 150, 36
    rows = list(counts.items())
    height = top + len(rows) * (bar_h + gap) + 16
    most = max([n for _, n in rows] + [1])
    span = width - left - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
             'font-family="sans-serif" font-size="13">',
             f'<title>{html.escape(title)}</title>',
             f'<text x="10" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>']
    for i, (name, n) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = 0 if n == 0 else max(2, round(span * n / most))
        label = LABELS.get(name, name)
        parts.append(f'<text x="{left - 8}" y="{y + bar_h * 0.68:.0f}" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h}" '
                     f'fill="{COLOURS.get(name, "#999999")}"><title>{html.escape(label)}: {n}</title></rect>')
        parts.append(f'<text x="{left + w + 6}" y="{y + bar_h * 0.68:.0f}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_csv(frame: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_frame(frame).to_csv(out, index=False)   # formula prefixes neutralized, controls escaped (vpnrunbook.render)
    return out


_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}td.wide{white-space:normal;min-width:40em}
tr:nth-child(even){background:#fafafa}.summary{margin:.5em 0 1em}.errors{color:#b2182b}
td.s-deprecated{background:#f4c7c3}td.s-weak{background:#fbe0cf}td.s-strong{background:#d6efd8}"""


_WRAP = ' style="white-space:normal;max-width:70ch;text-align:left"'
_NOWRAP = ' style="white-space:nowrap"'


def _table_html(frame: Any, *, wrap: tuple[str, ...] = (), nowrap: tuple[str, ...] = ()) -> str:
    """``frame`` as an HTML table; the ``wrap`` columns wrap at 70 characters, the ``nowrap`` ones never (inline
    styles, so they hold in a notebook too)."""
    cols = list(frame.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for rec in frame.itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            text = "" if v is None or (isinstance(v, float) and v != v) else str(v)
            cls = f' class="s-{html.escape(text)}"' if c == "strength" else (' class="wide"' if c == "findings" else "")
            cls += _WRAP if c in wrap else (_NOWRAP if c in nowrap else "")
            cells.append(f"<td{cls}>{html_text(text)}</td>")   # names, tags: controls and bidi marked
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def html_fragment(audit: Any, *, max_rows: int | None = 50, compact: bool = True) -> str:
    """The chart, the summary and (the first ``max_rows`` of) the table — for notebooks.

    ``compact`` (notebooks): one short line per connection (policy on one line, the number of findings), then
    the distinct findings with the connections that have them. Otherwise every column, findings in full."""
    full = audit.compact() if compact else audit.frame
    frame = full if max_rows is None else full.head(max_rows)
    more = "" if max_rows is None or len(full) <= max_rows else \
        f"<p>showing {max_rows} of {len(full)} connections</p>"
    errs = "".join(f"<li>{html.escape(s)}: {html.escape(m)}</li>" for s, m in audit.errors)
    text = (audit.chart_svg() + f'<p class="summary">{html.escape(audit.summary())}</p>'
            + (f'<ul class="errors">{errs}</ul>' if errs else "")
            + _table_html(frame, nowrap=tuple(frame.columns) if compact else ()) + more)
    if compact:
        findings = audit.findings_table()
        text += ("<h4>Findings</h4>" + (_table_html(findings, wrap=("finding", "where")) if len(findings)
                                        else "<p>none</p>"))
    return html_document(text)   # no control or bidi character anywhere in the fragment (vpnrunbook.render)


def write_html(audit: Any, path: str | Path, *, title: str = "VPN connection fleet audit") -> Path:
    """A self-contained HTML report (chart, summary, errors, full table)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
           f"<p>generated {when} by vpnrunbook audit</p>{html_fragment(audit, max_rows=None, compact=False)}</body></html>\n")
    out.write_text(doc, encoding="utf-8")
    return out


__all__ = ["STRENGTHS", "html_fragment", "strength_chart_svg", "strength_counts", "write_csv", "write_html"]
