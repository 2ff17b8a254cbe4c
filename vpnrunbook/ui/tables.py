"""Readable tables in JupyterLab: a pandas DataFrame shown by a notebook cell renders left-aligned, without a
default 0..n index column, with empty cells instead of NaN/None and without truncated resource IDs or messages.

:func:`install_table_display` registers this as IPython's HTML formatter for DataFrames (interactive kernels
only: the headless evidence keeps pandas' own HTML). The objects stay DataFrames; only their display changes."""

from __future__ import annotations

from typing import Any

_INSTALLED = "_vpnrunbook_table_display"
STYLE = ("<style>.vpnrunbook-table td, .vpnrunbook-table th {text-align:left !important; white-space:pre-wrap; "
         "vertical-align:top}</style>")


def frame_html(frame: Any) -> str:
    import pandas as pd

    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    shown = frame.astype(object).where(frame.notna(), "")
    with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", None):
        body = shown.to_html(index=not default_index, na_rep="", justify="left", border=0,
                             classes=["dataframe", "vpnrunbook-table"], escape=True)
    return f'<div class="vpnrunbook-table-box" style="text-align:left;overflow-x:auto">{STYLE}{body}</div>'


def install_table_display(shell: Any = None) -> bool:
    from vpnrunbook.ui.env import is_interactive

    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            return False
        shell = get_ipython()
    if shell is None or not is_interactive() or getattr(shell, _INSTALLED, False):
        return False
    shell.display_formatter.formatters["text/html"].for_type_by_name("pandas.core.frame", "DataFrame", frame_html)
    setattr(shell, _INSTALLED, True)
    return True
