"""A line signed by some key (verify without ``--key`` trusts the key each statement names) can hold any JSON its
signer chose: ids that are objects, writes that are not objects. Verify reports such a line and goes on; it never
crashes (a crash would hide every other finding and exit like a bug, not like evidence trouble)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, main
from vpnrunbook.evidence import ledger, signing


def _intent(**odd) -> dict:
    return {"kind": "intent", "intent_id": "i1", "run_id": "r1", "step": "update c1", "target": "emulator",
            "time": "2026-12-07T00:00:00Z", "writes": [{"resource_id": "/x/c1", "etag": 'W/"1"'}]} | odd


@pytest.mark.parametrize("odd", [{"intent_id": {"a": 1}}, {"run_id": ["r1"]}, {"kind": {"k": "intent"}},
                                 {"step": 7}, {"writes": ["/x/c1"]}, {"writes": {"a": 1}},
                                 {"kind": "outcome", "written": [3]}])
def test_a_signed_line_with_odd_types_is_reported_not_a_crash(tmp_path: Path, capsys, odd):
    root = tmp_path / "ev"
    forger = signing.Signer.generate()
    ledger.append(root, _intent(intent_id="i0"))  # an ordinary line before it
    ledger.append(root, _intent(**odd), signer=forger)
    found = [str(f) for f in ledger.check(root).findings]
    assert any("is not a readable record" in f for f in found), found
    capsys.readouterr()
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_EVIDENCE
    out = capsys.readouterr()
    assert "is not a readable record" in out.out + out.err


def test_every_evidence_command_reads_past_such_lines(tmp_path: Path, capsys):
    """list, show, reconcile and crosscheck skip an unreadable record as they skip a line that is not JSON."""
    root = tmp_path / "ev"
    forger = signing.Signer.generate()
    ledger.append(root, _intent(intent_id="i0"))
    ledger.append(root, {"kind": "outcome", "intent_id": "i0", "run_id": "r1", "step": "update c1", "status": "applied",
                         "target": "emulator", "time": "2026-12-07T00:00:01Z", "written": []})
    for odd in ({"intent_id": {"a": 1}}, {"run_id": ["r1"]}, {"writes": ["/x"]},
                {"kind": "outcome", "written": [3]}, {"kind": "run", "run_id": {"x": 1}}):
        ledger.append(root, _intent(**odd), signer=forger)
    for command in (["evidence", "list"], ["evidence", "show", "r1"], ["evidence", "reconcile"],
                    ["evidence", "crosscheck"]):
        code = main([*command, "--evidence-dir", str(root)])
        out = capsys.readouterr()
        assert not any(e in out.err for e in ("TypeError", "AttributeError", "KeyError", "Traceback")), (command, out.err)
        assert code in (0, 4, 5), (command, code, out.out, out.err)
