"""Small display tables for notebook cells that must stay light: no pandas import.

A read-only step such as ``08_show_policy`` shows a handful of rows; importing pandas for them would cost the
kernel about 0.2 s, more than the rest of the step. :class:`Table` renders itself as an HTML table (with the
``dataframe`` class, so JupyterLab and the HTML evidence style it like a DataFrame) and as aligned text (headless
logs, ``print``). ``to_frame()`` gives the pandas DataFrame when a caller wants one.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


@dataclass(frozen=True)
class Table:
    """Rows of cells under ``columns``; with ``index`` set, the first column labels the rows (as a DataFrame index)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    index: str | None = None
    caption: str = ""

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *, columns: Sequence[str] | None = None,
                     index: str | None = None, caption: str = "") -> Table:
        """Columns in first-seen order (or ``columns``); a missing cell is empty. ``index`` names a column."""
        records = list(records)
        cols: list[str] = list(columns or [])
        if columns is None:
            for rec in records:
                cols += [k for k in rec if k not in cols]
        if index is not None:
            if index not in cols:
                raise ValueError(f"index {index!r} is not a column; columns: {', '.join(cols)}")
            cols = [index] + [c for c in cols if c != index]
        return cls(tuple(cols), tuple(tuple(rec.get(c) for c in cols) for rec in records), index, caption)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_record(self) -> dict[str, Any]:
        """For ``record()``: the rows as JSON-like mappings."""
        return {"caption": self.caption, "columns": list(self.columns), "rows": self.to_records()}

    def to_frame(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.to_records(), columns=list(self.columns))
        return frame.set_index(self.index) if self.index else frame

    # ---- rendering --------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = []
        for row in self.rows:
            cells = [f"<th>{esc(_cell(v))}</th>" if (self.index and i == 0) else f"<td>{esc(_cell(v))}</td>"
                     for i, v in enumerate(row)]
            body.append("<tr>" + "".join(cells) + "</tr>")
        caption = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="dataframe">{caption}<thead><tr style="text-align: right;">{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table>")

    def __str__(self) -> str:
        grid = [list(self.columns)] + [[_cell(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in grid) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in grid]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(([self.caption] if self.caption else []) + lines)

    def __repr__(self) -> str:  # text/plain in notebooks and logs
        return str(self)
