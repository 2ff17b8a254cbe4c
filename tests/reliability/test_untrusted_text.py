"""Issue 22.3: nothing untrusted reaches a terminal, a page or a spreadsheet raw.

Hostile names, operator names and ledger fields are planted (control characters, ANSI/OSC escapes, bidi overrides),
then every CLI command that shows them runs: no raw control byte may reach its output, and the hostile text must
be there, escaped (so the test is not passing on an empty output). The notebook HTML and ``--csv`` files likewise.
"""

from __future__ import annotations

import csv
import json

import pytest

from vpnrunbook import render
from vpnrunbook.cli import main
from vpnrunbook.evidence import rundir

HOSTILE = "\x1b[2J\x1b[Hverified OK\x1b]0;owned\x07\u202eevil\u2066\r\x9b31m\x7f"


def _outputs(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _assert_clean(text: str, *, expect_escaped: bool = True) -> None:
    bad = sorted({repr(c) for c in text if c != "\n" and render.is_unsafe(c)})
    assert not bad, f"raw control characters in the output: {bad}\n{text[-2000:]!r}"
    if expect_escaped:
        assert "\\x1b" in text, "the hostile text should have been printed, escaped"


@pytest.fixture
def hostile_evidence(tmp_path, monkeypatch, capsys):
    """A refused run by a hostile operator name with a hostile parameter, a forged ledger line and a planted
    folder with a hostile name."""
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", HOSTILE)
    code, text = _outputs(capsys, "run", "06", "-P", f"connection_name={json.dumps(HOSTILE)}")
    assert code == 2
    _assert_clean(text, expect_escaped=False)
    lines = (root / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    forged = dict(json.loads(lines[-1]), seq=len(lines) + 1, run_id=f"forged{HOSTILE}", step=HOSTILE,
                  operator=HOSTILE, outcome=HOSTILE)
    forged.pop("envelope", None)
    with open(root / "ledger.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(forged, ensure_ascii=False) + "\n")
    (root / f"20200101T000000Z-{HOSTILE}").mkdir()
    return root


@pytest.mark.parametrize("argv", [
    ("evidence", "list"),
    ("evidence", "verify"),
    ("evidence", "show", "06_remove"),
    ("evidence", "reconcile"),
    ("evidence", "head"),
    ("run", "06", "-P", "connection_name=\"\\e[2J\\u202e\""),
    ("run", "06", "-P", "\x1b[2Jx=1"),
    ("run", "\x1b]0;evil\x07"),
])
def test_every_command_escapes_planted_text(hostile_evidence, capsys, argv):
    code, text = _outputs(capsys, *argv)
    _assert_clean(text, expect_escaped=argv[:2] != ("evidence", "head"))


def test_the_notebook_html_and_manifest_carry_no_raw_bidi_or_escape(hostile_evidence):
    for run in rundir.list_runs(hostile_evidence)[:1]:
        page = (hostile_evidence / run["run_id"] / rundir.HTML_FILE).read_text(encoding="utf-8")
        assert "\u202e" not in page and "\x1b" not in page and "\u2066" not in page
        assert "\\u202e" in page                       # shown, marked as an escape


def test_the_terminal_renderer():
    assert render.terminal("a\x1b[31mb\u202ec\n") == "a\\x1b[31mb\\u202ec\\x0a"
    assert render.terminal("line\nnext", newlines=True) == "line\nnext"
    assert render.terminal("plain → text — ok") == "plain → text — ok"
    assert render.html_text("<b>\u202e</b>") == ('&lt;b&gt;<span class="vr-ctl" title="control character U+202E">'
                                                 '\\u202e</span>&lt;/b&gt;')


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_never_start_a_formula(tmp_path, cell):
    import pandas as pd

    from vpnrunbook.fleet.report import write_csv

    path = write_csv(pd.DataFrame({"connection": [cell], "n": [-5]}), tmp_path / "audit.csv")
    with open(path, newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["connection"].startswith("'") and not render.has_raw_controls(row["connection"], allowed="")
    assert row["n"] == "-5"                              # numbers stay numbers


def test_fleet_audit_csv_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    out = tmp_path / "audit.csv"
    code, text = _outputs(capsys, "audit", "--csv", str(out))
    _assert_clean(text, expect_escaped=False)
    if out.exists():
        with open(out, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                assert not any(c.startswith(render.CSV_FORMULA_PREFIXES) for c in row)


def test_a_newline_in_a_ledger_field_cannot_forge_a_line(hostile_evidence, capsys):
    lines = (hostile_evidence / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    forged = dict(json.loads(lines[0]), seq=len(lines) + 1, operator="mallory\nverified OK: all runs signed")
    forged.pop("envelope", None)
    with open(hostile_evidence / "ledger.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(forged) + "\n")
    for argv in (("evidence", "list"), ("evidence", "verify")):
        _, text = _outputs(capsys, *argv)
        assert not any(line.startswith("verified OK") for line in text.splitlines()), text
        _assert_clean(text)


def test_the_audit_html_marks_controls_and_bidi():
    import pandas as pd

    from vpnrunbook.fleet.report import _table_html
    from vpnrunbook.render import html_document

    page = html_document(_table_html(pd.DataFrame({"connection": ["ok\u202etxt.exe\x1b[2J"]})))
    assert "\u202e" not in page and "\x1b" not in page
    assert 'class="vr-ctl"' in page and "\\u202e" in page


def test_the_unsafe_class_matches_unicodedata_for_every_code_point():
    import unicodedata

    unsafe = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in render.UNSAFE_CATEGORIES)
    assert render.UNSAFE_RE.sub("", unsafe) == ""
    everything = "".join(chr(c) for c in range(0x110000))
    assert "".join(render.UNSAFE_RE.findall(everything)) == unsafe


# ---- a line break inside a field (CR, LF, U+2028, U+0085, ESC …) stays on its line, shown escaped ---------------
BREAKS = {"lf": ("a\nFORGED-LF", "a\\x0aFORGED-LF"), "cr": ("b\rFORGED-CR", "b\\x0dFORGED-CR"),
          "ls": ("c\u2028FORGED-LS", "c\\u2028FORGED-LS"), "nel": ("d\x85FORGED-NEL", "d\\x85FORGED-NEL"),
          "esc": ("e\x1b[2J\x1b[HFORGED-ESC", "e\\x1b[2J\\x1b[HFORGED-ESC"),
          "fs": ("f\x1cFORGED-FS", "f\\x1cFORGED-FS"), "ps": ("g\u2029FORGED-PS", "g\\u2029FORGED-PS")}


@pytest.fixture
def planted_fields(tmp_path, monkeypatch):
    """A change recorded through the journal (as the apply path writes it) whose connection name, field, values,
    warnings, tunnel warning, verify read-back, operator and acceptance each hold a planted line break."""
    from types import SimpleNamespace

    from vpnrunbook.evidence import journal

    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", BREAKS["cr"][0])
    sub = "00000000-0000-0000-0000-000000000000"  # the emulator's: crosscheck reads its Activity Log
    session = SimpleNamespace(target="emulator", subscription_id=sub, base_url="https://127.0.0.1")
    conn = BREAKS["lf"][0]
    label = f"TestRG1/connections/{conn}"
    rid = f"/subscriptions/{sub}/resourceGroups/TestRG1/providers/Microsoft.Network/connections/{conn}"
    with journal.run_scope("update connection") as scope:
        intent = journal.intent(scope, session, step="update connection", writes=[{
            "resource_id": rid, "label": label,
            "kind": "connection", "resource_group": "TestRG1", "name": conn, "action": "update",
            "changes": [{"resource": label, "field": f"properties.tags.{BREAKS['fs'][0]}",
                         "current": BREAKS["nel"][0], "desired": BREAKS["esc"][0], "action": "update"}]}],
            warnings=[f"WARNING {BREAKS['ls'][0]}"], tunnel_warnings=[BREAKS["ps"][0]],
            accepted=[{"warning": BREAKS["ps"][0], "risk": "breaks_tunnel", "statement": BREAKS["lf"][0]}])
        journal.outcome(scope, intent, status="applied", written=[{"resource_id": rid, "label": label}],
                        verify={label: {"status": BREAKS["esc"][0], "reason": BREAKS["nel"][0], "ok": False}})
    return root, str(scope.run_id)


def _no_forged_line(text: str, *kinds: str) -> None:
    _assert_clean(text, expect_escaped=False)
    for line in text.split("\n"):
        assert not line.lstrip(" -|").startswith("FORGED"), f"a field started a line: {line!r}\n{text}"
    for kind in kinds:
        assert BREAKS[kind][1] in text, f"{kind}: {BREAKS[kind][1]!r} not shown escaped on its line\n{text}"


def test_evidence_show_keeps_a_line_break_inside_a_field_on_its_line(planted_fields, capsys):
    root, run_id = planted_fields
    code, text = _outputs(capsys, "evidence", "show", run_id[:20], "--evidence-dir", str(root))
    assert code == 0, text
    _no_forged_line(text, *BREAKS)
    assert f"who:       {BREAKS['cr'][1]}@" in text


def test_evidence_list_keeps_a_line_break_inside_a_field_on_its_line(planted_fields, capsys):
    root, run_id = planted_fields
    code, text = _outputs(capsys, "evidence", "list", "--evidence-dir", str(root), "--wide")
    assert code == 0
    _no_forged_line(text, "lf", "cr", "fs", "nel", "esc")
    (row,) = [ln for ln in text.split("\n") if run_id in ln]
    assert BREAKS["lf"][1] in row and BREAKS["cr"][1] in row and BREAKS["esc"][1] in row, "one run, one line"


def test_the_html_record_and_index_show_a_line_break_inside_a_field(planted_fields):
    from vpnrunbook.evidence import index, record

    root, run_id = planted_fields
    pages = {"index.html": (root / "index.html").read_text(encoding="utf-8"),
             "record": record.to_html(record.for_run(root, run_id))}
    for name, page in pages.items():
        for kind in ("lf", "cr", "nel", "esc"):
            raw, shown = BREAKS[kind]
            head, tail = raw.split("FORGED")[0][0], "FORGED" + raw.split("FORGED")[1]
            marked = f'{head}<span class="vr-ctl" title="control character U+{ord(raw[1]):04X}">{shown[1:5]}'
            assert marked in page and raw not in page, (name, kind)
            assert f"{head}\n" not in page.replace(tail, ""), (name, kind)
    assert index.to_html(index.rows(root), root) == pages["index.html"]


def test_evidence_crosscheck_keeps_a_line_break_inside_a_field_on_its_line(planted_fields, capsys, monkeypatch):
    root, _ = planted_fields
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    code, text = _outputs(capsys, "evidence", "crosscheck", "--evidence-dir", str(root))
    assert BREAKS["lf"][1] in text, text   # the planted connection, never seen by Azure, named on its line
    _no_forged_line(text, "lf")


def test_csv_cells_keep_a_line_break_inside_a_field_escaped(tmp_path):
    import pandas as pd

    from vpnrunbook.fleet.report import write_csv

    frame = pd.DataFrame({"connection": [raw for raw, _ in BREAKS.values()]})
    path = write_csv(frame, tmp_path / "audit.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r["connection"] for r in csv.DictReader(f)]
    assert rows == [shown for _, shown in BREAKS.values()]
    assert path.read_text(encoding="utf-8").count("\n") == len(BREAKS) + 1, "one line per row"
