"""DataFrames in an interactive kernel: left-aligned, no default index column, no NaN, nothing truncated."""

from __future__ import annotations

import pandas as pd

from vpnrunbook.ui.tables import frame_html


def test_readable_frame_html():
    long_id = "/subscriptions/" + "0" * 36 + "/resourceGroups/TestRG1/providers/Microsoft.Network/connections/" + "x" * 80
    html = frame_html(pd.DataFrame([{"resource": long_id, "current": None, "desired": float("nan")}]))
    assert long_id in html  # not truncated with "..."
    assert "NaN" not in html and "None" not in html
    assert "text-align:left" in html
    assert "<th>0</th>" not in html  # no 0..n index column
