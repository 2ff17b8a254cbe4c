"""The light display table (vpnrunbook.runbook.table): HTML for notebooks and evidence, text for logs, pandas on
request — and no pandas import on the way."""

from __future__ import annotations

import pytest

from tests.conftest import python_prints
from vpnrunbook.runbook.table import Table


def test_from_records_keeps_first_seen_column_order_and_fills_gaps():
    t = Table.from_records([{"b": 1, "a": 2}, {"a": 3, "c": True}])
    assert t.columns == ("b", "a", "c")
    assert t.rows == ((1, 2, None), (None, 3, True))
    assert t.to_records() == [{"b": 1, "a": 2, "c": None}, {"b": None, "a": 3, "c": True}]


def test_index_column_moves_first_and_must_exist():
    t = Table.from_records([{"value": 1, "name": "x"}], index="name")
    assert t.columns == ("name", "value") and t.column("name") == ["x"]
    with pytest.raises(ValueError, match="index 'nope' is not a column; columns: value, name"):
        Table.from_records([{"value": 1, "name": "x"}], index="nope")


def test_html_escapes_every_cell_and_marks_the_index():
    t = Table.from_records([{"k": "<script>", "v": "a & b"}], index="k", caption="<cap>")
    html = t._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &amp; b" in html
    assert "<th>&lt;script&gt;</th>" in html, "the index cell is a row header"
    assert "<caption>&lt;cap&gt;</caption>" in html and 'class="dataframe"' in html


def test_text_is_aligned_with_a_rule_and_lists_joined():
    t = Table(("name", "prefixes"), (("site", ["10.1.0.0/16", "10.2.0.0/16"]), ("longer-name", None)))
    lines = str(t).splitlines()
    assert lines[0].split() == ["name", "prefixes"] and set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("site         10.1.0.0/16, 10.2.0.0/16")
    assert lines[3].rstrip() == "longer-name" and repr(t) == str(t)


def test_to_frame_and_to_record():
    t = Table.from_records([{"p": "a", "v": 1}, {"p": "b", "v": 2}], index="p", caption="c")
    frame = t.to_frame()
    assert list(frame.index) == ["a", "b"] and list(frame["v"]) == [1, 2]
    assert t.to_record() == {"caption": "c", "columns": ["p", "v"], "rows": [{"p": "a", "v": 1}, {"p": "b", "v": 2}]}


def test_building_and_rendering_does_not_import_pandas():
    code = ("import sys\nfrom vpnrunbook.runbook.table import Table\n"
            "t = Table.from_records([{'a': 1}], index='a')\nt._repr_html_(); str(t)\n"
            "assert 'pandas' not in sys.modules\nprint('ok')")
    assert python_prints(code) == "ok"
