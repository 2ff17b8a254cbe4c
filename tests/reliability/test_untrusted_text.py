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
