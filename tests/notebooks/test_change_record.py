"""An auditor reads a change in a minute (issue 14, point 6): each run's HTML opens with its change record (who,
when, target, outcome, plan as field: current → desired, warnings, verify, ledger, signer), the auditor's HTML
hides code inputs but keeps every output, and `vpnrunbook evidence show RUN` prints the same record."""

from __future__ import annotations

import json
import re

from vpnrunbook.cli import EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import ledger, record, rundir, signing
from vpnrunbook.evidence.scrub import Scrubber
from vpnrunbook.runbook.runner import execute

PLAN_RECORD = {
    "name": "update connection C1", "step": "update connection C1", "applied": True, "changed": True,
    "plan": {"changes": [
        {"resource": "RG/connections/C1", "field": "ipsecPolicies[0].ikeIntegrity", "current": "SHA384",
         "desired": "SHA1", "action": "update"},
        {"resource": "RG/connections/C1", "field": "dpdTimeoutSeconds", "current": 45, "desired": 30,
         "action": "update"}],
        "warnings": [{"severity": "warning", "field": "ike_integrity", "value": "SHA1", "strength": "weak",
                      "message": "SHA-1 collisions are practical"},
                     {"severity": "info", "field": "x", "value": 1, "message": "just advice"}],
        "tunnel_warnings": ["WARNING — RG/connections/C1: this update would break the tunnel to RG/lng/Site6"],
        "notes": []},
    "warnings": [],
}
VERIFY_RECORD = {"name": "verify", "step": "verify RG/connections/C1", "connection": "RG/connections/C1",
                 "status": "NotConnected", "ok": False, "reason": "IKE_SA refused (NO_PROPOSAL_CHOSEN)",
                 "warning": None}


def _synthetic_run(root, html="<html><body class='jp-Notebook'><p>output text</p></body></html>"):
    started = rundir.utcnow()
    rec = rundir.RunEvidence(root=root, run_dir=rundir.new_run_dir(root, "05_update_policy", started),
                               step="05_update_policy", started=started,
                               manifest={"outcome": "succeeded", "apply": True, "target": "azure",
                                         "subscription_id": "sub-42", "title": "Update a policy",
                                         "operator": {"user": "alice", "host": "jump1"}})
    rec.write(notebook_text="{}", html=html, records=[PLAN_RECORD, VERIFY_RECORD], scrubber=Scrubber([]),
              ended=rundir.utcnow())
    return rec.run_dir


def _record_text(html: str) -> str:
    section = html[html.index(f'<section id="{record.SECTION_ID}"'):html.index("</section>")]
    section = re.sub(r"<style>.*?</style>", "", section, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)).replace("&#x27;", "'").replace("&gt;", ">")


def test_html_opens_with_the_change_record(tmp_path):
    root = tmp_path / "ev"
    d = _synthetic_run(root)
    html = (d / "notebook.html").read_text()
    body = html[html.index("<body"):]
    first = re.sub(r"^<body[^>]*>\s*", "", body)
    assert first.startswith(f'<section id="{record.SECTION_ID}"'), "the record comes before any cell"
    text = _record_text(html)
    m = json.loads((d / "manifest.json").read_text())
    for want in ("alice@jump1", m["started"], m["ended"], "azure, subscription sub-42", "succeeded",
                 "ipsecPolicies[0].ikeIntegrity", "SHA384 → SHA1", "dpdTimeoutSeconds", "45 → 30",
                 "WARNING ike_integrity=SHA1 [weak]: SHA-1 collisions are practical",
                 "would break the tunnel to RG/lng/Site6",
                 "RG/connections/C1: NotConnected — NOT OK — IKE_SA refused (NO_PROPOSAL_CHOSEN)",
                 "ledger head when this record was written: (empty ledger)",
                 signing.load_signer().fingerprint):
        assert want in text, want
    assert "just advice" not in text, "info findings are not warnings"
    assert rundir.verify(root) == [], "the record is part of the hashed HTML"


def test_record_names_the_head_before_the_runs_own_line(tmp_path):
    root = tmp_path / "ev"
    _synthetic_run(root)
    before = ledger.head(root)
    d = _synthetic_run(root)
    assert f"ledger head when this record was written: {before}" in _record_text((d / "notebook.html").read_text())


def test_evidence_show_prints_the_same_record_with_the_runs_ledger_line(tmp_path, capsys):
    root = tmp_path / "ev"
    d = _synthetic_run(root)
    assert main(["evidence", "show", d.name[-8:], "--evidence-dir", str(root)]) == EXIT_OK
    out = capsys.readouterr().out
    (line,) = [json.loads(x) for x in (root / ledger.LEDGER_NAME).read_text().splitlines()]
    sha = ledger.sha256_bytes((root / ledger.LEDGER_NAME).read_bytes().strip())
    for want in (f"CHANGE RECORD  {d.name}", "who:       alice@jump1", "target:    azure, subscription sub-42",
                 "update RG/connections/C1 ipsecPolicies[0].ikeIntegrity: SHA384 → SHA1",
                 "WARNING ike_integrity=SHA1 [weak]", "NotConnected — NOT OK",
                 f"line {line['seq']} (run) sha256 {sha}", "manifest.json hash matches",
                 f"signature valid by {signing.load_signer().fingerprint}"):
        assert want in out, want
    html_text = _record_text((d / "notebook.html").read_text())
    for shared in ("alice@jump1", "SHA384 → SHA1", "IKE_SA refused (NO_PROPOSAL_CHOSEN)"):
        assert shared in html_text and shared in out
    assert main(["evidence", "show", "nope", "--evidence-dir", str(root)]) == EXIT_USAGE
    assert "no run 'nope'" in capsys.readouterr().err


def test_show_reports_an_edited_ledger_line(tmp_path, capsys):
    root = tmp_path / "ev"
    d = _synthetic_run(root)
    path = root / ledger.LEDGER_NAME
    path.write_text(path.read_text().replace('"outcome":"succeeded"', '"outcome":"failed"', 1))
    assert main(["evidence", "show", d.name, "--evidence-dir", str(root)]) == EXIT_OK
    assert "signature INVALID: the line differs from its signed statement" in capsys.readouterr().out


def test_auditor_html_hides_code_inputs_and_keeps_every_output(tiny_notebook, evidence_root, planted_key):
    r = execute(tiny_notebook, step="tiny", parameters={"x": 7})
    assert r.outcome == "succeeded", r.error
    html = (r.run_dir / "notebook.html").read_text()
    assert html[html.index("<body"):].split(">", 1)[1].lstrip().startswith(f'<section id="{record.SECTION_ID}"')
    for code in ("import os, time", "from vpnrunbook.runbook import record", "raise RuntimeError"):
        assert code not in html, f"code input {code!r} in the auditor's HTML"
    assert "the key is" in html and "done 7" in html, "outputs kept"
    nb = (r.run_dir / "notebook.ipynb").read_text()
    assert "import os, time" in nb, "the full notebook keeps the code"
    assert "outcome succeeded" in _record_text(html)


def _intent(run_id: str, intent_id: str) -> dict:
    return {"kind": "intent", "intent_id": intent_id, "run_id": run_id, "step": "update connection C1",
            "time": "2026-12-02T10:00:00.000Z", "operator": {"user": "bob", "host": "lab1"}, "target": "emulator",
            "subscription_id": "sub-0", "warnings": ["WARNING ike_integrity=SHA1 [weak]: SHA-1 collisions"],
            "tunnel_warnings": [],
            "writes": [{"resource_id": "/subscriptions/sub-0/x/connections/C1", "label": "RG/connections/C1",
                        "etag": 'W/"1"', "changes": [PLAN_RECORD["plan"]["changes"][1]]}]}


def test_show_reads_a_run_cut_off_before_its_manifest_from_its_change_records(tmp_path, capsys):
    """A run killed after its intent: no manifest, but the change record still says who changed what, where,
    and that no outcome was recorded."""
    root = tmp_path / "ev"
    run_id = "20261202T100000Z-05_update_policy-deadbeef"
    (root / run_id).mkdir(parents=True)
    ledger.append(root, _intent(run_id, "i1"))
    assert main(["evidence", "show", "deadbeef", "--evidence-dir", str(root)]) == EXIT_OK
    out = capsys.readouterr().out
    for want in ("outcome:   incomplete: no manifest.json", "who:       bob@lab1",
                 "emulator, subscription sub-0 — NOT a change on Azure",
                 "update RG/connections/C1 dpdTimeoutSeconds: 45 → 30", "WARNING ike_integrity=SHA1 [weak]",
                 "writes RG/connections/C1 → NO OUTCOME RECORDED", "line 1 (intent) sha256",
                 "signature valid by SHA256:"):
        assert want in out, want


def test_html_record_lists_the_runs_change_records(tmp_path):
    root = tmp_path / "ev"
    started = rundir.utcnow()
    run_dir = rundir.new_run_dir(root, "05_update_policy", started)
    ledger.append(root, _intent(run_dir.name, "i2"))
    ledger.append(root, {"kind": "outcome", "intent_id": "i2", "run_id": run_dir.name, "step": "update connection C1",
                         "time": "2026-12-02T10:00:01.000Z", "status": "succeeded",
                         "written": [{"resource_id": "/subscriptions/sub-0/x/connections/C1",
                                      "label": "RG/connections/C1", "etag": 'W/"2"'}]})
    rec = rundir.RunEvidence(root=root, run_dir=run_dir, step="05_update_policy", started=started,
                               manifest={"outcome": "succeeded", "target": "emulator", "operator": {"user": "bob"}})
    rec.write(notebook_text="{}", html="<body><p>x</p></body>", records=[PLAN_RECORD], scrubber=Scrubber([]),
              ended=rundir.utcnow())
    text = _record_text((run_dir / "notebook.html").read_text())
    assert "writes RG/connections/C1 → succeeded (new ETag RG/connections/C1: W/\"2\")" in text.replace("&quot;", '"')
    assert "line 1 (intent) sha256" in text and "line 2 (outcome) sha256" in text
    assert "NOT a change on Azure" in text
