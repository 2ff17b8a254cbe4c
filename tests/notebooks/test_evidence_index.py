"""Issue 21 item 6: the auditor's index — `evidence list` and <evidence>/index.html: per change when, who,
connection, from → to in one line, verify result, weakened/broke, newest first; run folders named after the
connection; untrusted text escaped."""

from __future__ import annotations

from types import SimpleNamespace

from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import index, journal, ledger, record, rundir

SESSION = SimpleNamespace(target="emulator", subscription_id="sub-1", base_url="https://127.0.0.1")


def _write(conn: str, changes: list[tuple[str, str, str]], *, warnings=(), tunnel=(), status="Connected",
           step="update connection") -> str:
    """One change through the journal as the apply path records it; returns its run id."""
    with journal.run_scope(f"{step} {conn}") as scope:
        label = f"TestRG1/connections/{conn}"
        writes = [{"resource_id": f"/subscriptions/s/resourceGroups/TestRG1/providers/x/connections/{conn}",
                   "label": label, "kind": "connection", "resource_group": "TestRG1", "name": conn,
                   "action": "update", "changes": [{"resource": label, "field": f"properties.ipsecPolicies[0].{f}",
                                                    "current": a, "desired": b, "action": "update"}
                                                   for f, a, b in changes]}]
        intent = journal.intent(scope, SESSION, step=f"{step} {conn}", writes=writes, warnings=list(warnings),
                                tunnel_warnings=list(tunnel))
        journal.outcome(scope, intent, status="applied",
                        verify={label: {"status": status, "reason": "read back", "ok": status == "Connected"}})
        return str(scope.run_id)


def test_list_and_page_show_each_change_newest_first(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", "alice")
    first = _write("VNet1toSite6", [("dhGroup", "DHGroup24", "DHGroup14")])
    second = _write("VNet1toSite7", [("ikeIntegrity", "SHA384", "SHA1")],
                    warnings=["WARNING ike_integrity=SHA1 [weak]: SHA1 is deprecated"],
                    tunnel=["the tunnel to Site7 breaks: the device offers only SHA384"], status="NotConnected")
    assert "VNet1toSite6" in first and "VNet1toSite7" in second, "run folders name the connection"

    rows = index.rows(root)
    assert [r["run"] for r in rows] == [second, first], "newest first"
    new, old = rows
    assert old["connection"] == "VNet1toSite6" and old["change"] == "dhGroup DHGroup24 → DHGroup14"
    assert old["verify"] == "VNet1toSite6: Connected" and old["flags"] == "no" and old["who"].startswith("alice@")
    assert new["flags"] == "WEAKENED, BROKE A TUNNEL" and new["verify"] == "VNet1toSite7: NotConnected"

    assert main(["evidence", "list", "--evidence-dir", str(root)]) == EXIT_OK
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["when", "who", "connection", "change"]
    assert "VNet1toSite7" in lines[1] and "NotConnected" in lines[1] and "WEAKENED, BROKE A TUNNEL" in lines[1]
    assert "dhGroup DHGroup24 → DHGroup14" in lines[2]
    page = (root / "index.html").read_text(encoding="utf-8")
    assert page.index("VNet1toSite7") < page.index("VNet1toSite6") and "DHGroup24 → DHGroup14" in page
    assert "<script" not in page.lower() and "http" not in page.replace(str(root), "")


def test_the_index_is_rewritten_after_a_change_and_is_not_evidence(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    run_id = _write("VNet1toSite6", [("dhGroup", "DHGroup24", "DHGroup14")])  # an API change: close_run rewrites it
    assert run_id in (root / "index.html").read_text(encoding="utf-8")
    (root / "index.html").write_text("edited")
    assert rundir.verify(root) == [], "index.html is derived from the ledger, not hashed (stated rule)"
    index.write(root)
    assert run_id in (root / "index.html").read_text(encoding="utf-8")


def test_untrusted_text_is_escaped_in_page_and_terminal(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", "eve\x1b[31m<script>alert(1)</script>")
    _write("VNet1toSite6", [("dhGroup", "<img src=x onerror=alert(1)>", "DHGroup14\x1b[2J")])
    page = (root / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page and "&lt;img src=x" in page
    assert main(["evidence", "list", "--evidence-dir", str(root), "--wide"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out


def test_a_plan_only_run_is_listed_as_no_change(tmp_path):
    root = tmp_path / "ev"
    ledger.append(root, {"kind": "run", "run_id": "20260101T000000Z-05_update_policy-VNet1toSite6-ab", "step": "05",
                         "outcome": "succeeded", "started": "2026-01-01T00:00:00Z", "operator": "bob"})
    (row,) = index.rows(root)
    assert row["change"] == "plan only (nothing changed)" and row["who"] == "bob"
    assert record.applied([]) is None


def test_run_folder_names_show_the_connection():
    assert rundir.run_name("05_update_policy", ["VNet1toSite6"]) == "05_update_policy-VNet1toSite6"
    assert rundir.run_name("update-connection-VNet1toSite6", ["VNet1toSite6"]) == "update-connection-VNet1toSite6"
    assert rundir.run_name("04_connect", ["a/b c", "d"]) == "04_connect-a-b-c-d"


def test_the_record_of_a_breaking_change_shows_the_break_and_notconnected(tmp_path, monkeypatch):
    """What the widgets show after an apply (record.for_evidence): the tunnel warning and the status read back."""
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    run_id = _write("VNet1toSite7", [("ikeIntegrity", "SHA384", "SHA1")],
                    tunnel=["the tunnel to Site7 breaks: the device offers only SHA384"], status="NotConnected")
    rec = record.for_evidence({"run_id": run_id, "path": str(root / run_id)})
    text = record.to_text(rec)
    assert "the tunnel to Site7 breaks" in text and "TestRG1/connections/VNet1toSite7: NotConnected — NOT OK" in text
    assert "ikeIntegrity: SHA384 → SHA1" in text and "applied:   applied" in text
    assert rec["change"]["breaks"] and rec["status"] == "applied"
    page = (root / run_id / "notebook.html")
    assert not page.exists()  # an API run has no notebook; its manifest carries the record
    manifest = rundir.load_manifest(root, run_id)
    assert manifest["change_record"]["verify"][0]["status"] == "NotConnected"


# ---- the index kept up after each run reads only the new ledger lines (issue 24: O(1) per change) ------------
def _page_runs(root) -> list[str]:
    """The runs index.html shows after the last refresh, newest first (each once, in the page's order)."""
    page = (root / "index.html").read_text(encoding="utf-8")
    runs = [r["run"] for r in index._newest_rows(root, index.PAGE_RUNS)]
    assert [page.index(f">{r}<") for r in runs] == sorted(page.index(f">{r}<") for r in runs)
    return runs


def test_the_index_after_each_change_matches_a_full_rebuild_and_reads_only_new_lines(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    runs = [_write(f"VNet1toSite{n}", [("dhGroup", "DHGroup24", "DHGroup14")]) for n in range(6)]
    assert [r["run"] for r in index.rows(root)] == _page_runs(root) == runs[::-1]
    full = {r["run"]: r for r in index.rows(root)}
    kept = {r["run"]: r for r in index._newest_rows(root, index.PAGE_RUNS)}
    assert kept == full, "the rows kept after each change are those a full reading of the ledger gives"

    parsed = []
    real = ledger._record
    monkeypatch.setattr(ledger, "_record", lambda raw: parsed.append(raw) or real(raw))
    before = sum(1 for _ in ledger.read(root))
    parsed.clear()
    runs.append(_write("VNet1toSite9", [("ikeIntegrity", "SHA384", "SHA256")]))
    during = len(parsed)  # the change's own readers (its record: the lines naming its run) and the index refresh
    lines = sum(1 for _ in ledger.read(root)) - before
    assert 0 < during <= 2 * lines, f"the change parsed {during} ledger lines for its {lines}: the index re-read " \
                                    f"the {before} lines before it"
    assert _page_runs(root)[0] == runs[-1] and len(_page_runs(root)) == 7


def test_a_cut_back_ledger_rebuilds_the_index_and_a_later_reconcile_updates_its_run(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    runs = [_write(f"VNet1toSite{n}", [("dhGroup", "DHGroup24", "DHGroup14")]) for n in range(3)]
    raws = (root / ledger.LEDGER_NAME).read_bytes().splitlines(keepends=True)
    (root / ledger.LEDGER_NAME).write_bytes(b"".join(raws[: len(raws) // 2]))  # rolled back behind the mark
    index.refresh(root)
    assert {r["run"] for r in index._newest_rows(root, 10)} == {r["run"] for r in index.rows(root)}
    assert runs[-1] not in {r["run"] for r in index._newest_rows(root, 10)}, "the cut-off run is not shown"

    # a record added later to a run the index already holds is read again
    ledger.append(root, {"kind": "reconcile", "run_id": runs[0], "intent_id": "x", "step": "reconcile",
                         "status": "not_applied", "time": "2026-12-07T03:00:00Z"})
    index.refresh(root)
    row = next(r for r in index._newest_rows(root, 10) if r["run"] == runs[0])
    assert row == next(r for r in index.rows(root) if r["run"] == runs[0])


def test_a_change_reads_back_its_records_from_where_its_run_began_not_the_whole_ledger(tmp_path, monkeypatch):
    """The change record of a run (its HTML top, manifest, index row) is read from the ledger head before the run's
    first line (``since``): reading the whole ledger per change grew with the history."""
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    for n in range(4):
        _write(f"VNet1toSite{n}", [("dhGroup", "DHGroup24", "DHGroup14")])
    whole = []
    real = ledger._numbered
    monkeypatch.setattr(ledger, "_numbered", lambda r: whole.append(r) or real(r))
    run = _write("VNet1toSite9", [("ikeIntegrity", "SHA384", "SHA256")])
    assert whole == [], "a change read the whole ledger to build its record"
    monkeypatch.setattr(ledger, "_numbered", real)
    (row,) = [r for r in index.rows(root) if r["run"] == run]
    assert row["change"] == "ikeIntegrity SHA384 → SHA256"


def test_reading_a_run_since_a_head_gives_what_a_whole_reading_gives(tmp_path, monkeypatch):
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_LEDGER_SEAL_BYTES", "4096")  # sealed segments too
    heads = []
    for n in range(40):
        heads.append(ledger.head(root) if (root / ledger.LEDGER_NAME).exists() else None)
        ledger.append(root, {"kind": "intent", "run_id": f"r{n % 3}", "intent_id": f"i{n}", "step": "s",
                             "time": "2026-12-07T00:00:00Z", "writes": []})
    assert list((root / "ledger.sealed").iterdir()), "the history spans sealed segments"
    for since in (heads[5], heads[25], heads[-1]):
        seq = int(since.split(":")[0])
        whole = [raw for _, raw, e in ledger.read_naming(root, "r1") if e and e["seq"] > seq]
        assert [raw for _, raw, _ in ledger.read_naming(root, "r1", since=since)] == whole
    # a ledger cut back behind the head is read whole (never fewer records)
    (root / ledger.LEDGER_NAME).write_bytes(b"")
    gone = f"{int(heads[-1].split(':')[0])}:{'0' * 64}"
    assert [raw for _, raw, _ in ledger.read_naming(root, "r1", since=gone)] == \
        [raw for _, raw, _ in ledger.read_naming(root, "r1")]
