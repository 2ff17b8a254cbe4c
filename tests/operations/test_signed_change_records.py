"""The apply path's change records are signed for their target: a change made through the Python API verifies
with the key as emulator evidence, and never as Azure evidence (issue 14 point 4 with points 1 and 3)."""

from __future__ import annotations

import json

from tests.operations.conftest import LOC, RG1
from vpnrunbook import operations as ops
from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import ledger, signing


def test_intent_and_outcome_are_signed_for_the_target_of_the_change(session, tmp_path, monkeypatch, capsys):
    root = tmp_path / "evidence"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    ops.ensure_resource_group(session, name=RG1, location=LOC, apply=True)
    lines = [json.loads(x) for x in (root / ledger.LEDGER_NAME).read_text().splitlines()]
    kinds = [e.get("kind") for e in lines]
    assert "intent" in kinds and "outcome" in kinds
    for e in lines:
        assert signing.target_of(e)["name"] == "emulator", e.get("kind")
    pub = str(signing.load_signer().pub_path)
    args = ["evidence", "verify", "--evidence-dir", str(root), "--key", pub]
    assert main([*args, "--target", "emulator"]) == EXIT_OK, capsys.readouterr()
    capsys.readouterr()
    assert main([*args, "--target", "azure"]) == EXIT_EVIDENCE
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert out.count("not evidence of a change on azure") == len(lines)
