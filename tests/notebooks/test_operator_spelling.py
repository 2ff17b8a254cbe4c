"""One spelling of the operator: a read-only run (the runner's run line) and a change (the journal's intent) by
the same operator show the same operator in `evidence list`, index.html and `evidence show`
(``vpnrunbook.evidence.identity``); records written before keep reading."""

from __future__ import annotations

import html
import json
import socket

import pytest

from tests.notebooks.test_evidence_index import _write
from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import identity, index, ledger, record
from vpnrunbook.runbook.runner import execute

pytestmark = pytest.mark.slow


def test_a_read_only_run_and_a_change_show_one_operator(tiny_notebook, evidence_root, planted_key, monkeypatch,
                                                        capsys):
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", "alice")
    expected = f"alice@{socket.gethostname()}"
    assert identity.label() == expected
    read_only = execute(tiny_notebook, step="tiny", parameters={"x": 1, "key_ref": "env:TINY_KEY", "mode": "ok"})
    assert read_only.outcome == "succeeded"
    change = _write("VNet1toSite6", [("dhGroup", "DHGroup24", "DHGroup14")])

    run_lines = {e["run_id"]: e for _, _, e in ledger.read(evidence_root) if e and (e.get("kind") or "run") == "run"}
    assert run_lines[read_only.run_dir.name]["operator"] == expected, "the run line spells it as the intent"
    assert run_lines[change]["operator"] == expected

    rows = {r["run"]: r for r in index.rows(evidence_root)}
    assert rows[read_only.run_dir.name]["change"] == "plan only (nothing changed)"
    assert rows[read_only.run_dir.name]["who"] == rows[change]["who"] == expected

    assert main(["evidence", "list", "--evidence-dir", str(evidence_root), "--wide"]) == EXIT_OK
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if read_only.run_dir.name in ln or change in ln]
    assert len(lines) == 2 and all(f"  {expected}  " in ln for ln in lines), out
    assert " alice " not in out, "no bare user beside user@host"
    page = (evidence_root / "index.html").read_text(encoding="utf-8")
    assert page.count(f"<td>{html.escape(expected)}</td>") == 2, "both runs, one spelling, on the page"

    for run in (read_only.run_dir.name, change):
        assert record.for_run(evidence_root, run)["who"] == expected
        assert main(["evidence", "show", run, "--evidence-dir", str(evidence_root)]) == EXIT_OK
        assert f"who:       {expected}\n" in capsys.readouterr().out
    headline = json.loads((read_only.run_dir / "notebook.ipynb").read_text(encoding="utf-8"))["cells"][0]["source"]
    assert f"operator {expected}" in "".join(headline).replace("\\", "")


def test_records_written_before_keep_reading(tmp_path):
    """An older run line names the bare user; an older intent the {user, host}: each reads as written."""
    root = tmp_path / "ev"
    ledger.append(root, {"kind": "run", "run_id": "20260101T000000Z-08_show_policy-aa", "step": "08",
                         "outcome": "succeeded", "started": "2026-01-01T00:00:00Z", "operator": "root"})
    ledger.append(root, {"kind": "intent", "intent_id": "i1", "run_id": "20260101T000100Z-05-bb", "step": "05",
                         "time": "2026-01-01T00:01:00Z", "operator": {"user": "root", "host": "vm"}, "writes": []})
    rows = {r["run"]: r["who"] for r in index.rows(root)}
    assert rows == {"20260101T000000Z-08_show_policy-aa": "root", "20260101T000100Z-05-bb": "root@vm"}
    assert identity.label({"user": "bob"}) == "bob" and identity.label({}) is None
    assert identity.label("carol@jump1") == "carol@jump1"
