"""Issue 22.4: reconcile must not launder. A folder planted in evidence/ (a backdated name, arbitrary HTML, no
manifest) is quarantined and reported by ``vpnrunbook evidence reconcile``, never hashed into a signed manifest;
a cut-off run of the project is closed with only the files the project writes."""

from __future__ import annotations

import json
import os

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import journal, ledger, rundir

PAGE = "<html><body><h1>Change approved and verified</h1><script>alert(1)</script></body></html>"


@pytest.fixture
def root(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    assert main(["run", "06", "-P", "connection_name=-bad-"]) == EXIT_USAGE   # one real (refused) run
    capsys.readouterr()
    return root


def _ledger_text(root) -> str:
    return (root / ledger.LEDGER_NAME).read_text(encoding="utf-8")


def test_a_planted_folder_is_quarantined_not_signed(root, capsys):
    planted = root / "20240101T090000Z-05_update_policy-0badc0de"
    planted.mkdir()
    (planted / "notebook.html").write_text(PAGE, encoding="utf-8")
    (planted / "approval.html").write_text(PAGE, encoding="utf-8")
    before = _ledger_text(root)

    assert main(["evidence", "verify"]) == EXIT_EVIDENCE
    assert "reconcile" in capsys.readouterr().err

    assert main(["evidence", "reconcile"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"quarantined: {planted.name}" in out and "not signed" in out
    assert not planted.exists()
    (moved,) = (root / ".quarantine").iterdir()
    assert (moved / "notebook.html").read_text(encoding="utf-8") == PAGE     # kept for a person to inspect
    assert _ledger_text(root) == before                                     # nothing appended, nothing signed
    assert planted.name not in _ledger_text(root)

    assert main(["evidence", "verify"]) == EXIT_OK
    assert "quarantined" in capsys.readouterr().err                         # and said so


def test_a_forged_unsigned_intent_does_not_make_a_planted_folder_a_run(root, capsys):
    planted = root / "20240101T090000Z-04_connect-0badc0de"
    planted.mkdir()
    (planted / "notebook.html").write_text(PAGE, encoding="utf-8")
    lines = _ledger_text(root).splitlines()
    last = json.loads(lines[-1])
    forged = {"kind": journal.INTENT, "seq": len(lines) + 1, "prev": ledger.sha256_bytes(lines[-1].encode()),
              "run_id": planted.name, "step": "04_connect", "intent_id": "f" * 32, "writes": [],
              "time": last.get("started")}
    with open(root / ledger.LEDGER_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(forged) + "\n")
    main(["evidence", "reconcile"])
    out = capsys.readouterr().out
    assert f"quarantined: {planted.name}" in out
    assert not any(e.get("run_id") == planted.name and (e.get("kind") or "run") == "run"
                   for _, _, e in ledger.read(root) if e)


def test_a_cut_off_project_run_is_closed_without_unknown_files(root, capsys):
    run_dir = rundir.new_run_dir(root, "06_remove_policy", rundir.utcnow())
    fd = journal.lock_run(root, run_dir.name)        # the runner's work folder, left by a killed run
    os.close(fd)
    (run_dir / "notebook.html").write_text(PAGE, encoding="utf-8")   # no change record: the project wrote nothing
    (run_dir / "extra.html").write_text(PAGE, encoding="utf-8")
    assert main(["evidence", "reconcile"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"run {run_dir.name}: closed" in out
    assert "extra.html" in out and "quarantined" in out
    manifest = rundir.load_manifest(root, run_dir.name)
    assert manifest["files_found"] == {} and set(manifest["files"]) <= {"manifest.json"}
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json"]
    assert main(["evidence", "verify"]) == EXIT_OK
