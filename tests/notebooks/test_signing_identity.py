"""Issue 21 item 5: one signing identity per operator — the demo signs with the key `vpnrunbook run` uses, the
command the demo prints for verifying still passes after a later run, a keyring is verified as a whole, the demo
does not exit 0 with problems, and a deliberate deletion (`make clean-state`) is declared, not a lost history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import ledger, signing

LATER_RUN = ("from pathlib import Path; import sys; from vpnrunbook.evidence import ledger; "
             "[ledger.append(Path(sys.argv[1]), {'kind': k, 'run_id': 'later', 'intent_id': 'L', 'status': 'applied'})"
             " for k in ('intent', 'outcome')]")


def _change(root: Path, run_id: str, signer: signing.Signer | None = None) -> None:
    """A change's two ledger lines (intent, outcome), as any door's apply writes them (no run folder needed)."""
    for kind in ("intent", "outcome"):
        ledger.append(root, {"kind": kind, "run_id": run_id, "intent_id": run_id, "status": "applied"}, signer=signer)


@pytest.fixture
def operator_home(tmp_path, monkeypatch):
    """An operator whose shell sets no signing variable: the key is the default one under the config folder."""
    monkeypatch.delenv("VPNRUNBOOK_SIGNING_DIR", raising=False)
    monkeypatch.delenv("VPNRUNBOOK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_the_demo_signs_with_the_operators_key(operator_home):
    from vpnrunbook.runbook.demo import demo_signer

    signer = demo_signer()
    assert signer.key_path == operator_home / "config" / "vpnrunbook" / "signing" / "ed25519.key"
    assert signer.key_path == signing.key_paths()[0], "the key `vpnrunbook run` loads"
    assert "VPNRUNBOOK_SIGNING_DIR" not in os.environ, "the demo does not choose another key for what follows"


def test_the_demos_verify_command_passes_after_a_later_cli_run(operator_home, capsys):
    from vpnrunbook.runbook.demo import run_demo

    root = operator_home / "evidence"
    _change(root, "demo-run", signing.load_signer())
    assert run_demo(evidence_dir=root, runs=(), out=sys.stdout) == EXIT_OK
    printed = capsys.readouterr().out
    command = next(line for line in printed.splitlines() if line.startswith("verify: ")).split("  → ")[0][8:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPNRUNBOOK_SIGNING")}
    subprocess.run([sys.executable, "-c", LATER_RUN, str(root)], env=env, check=True)  # a later `vpnrunbook run`
    args = command.split()[1:]
    assert args[:2] == ["evidence", "verify"] and "--key" in args
    assert main(args) == EXIT_OK, capsys.readouterr().err
    assert "2 change(s)" in capsys.readouterr().out


def test_the_demo_does_not_exit_0_when_its_evidence_has_problems(operator_home, capsys):
    from vpnrunbook.runbook.demo import run_demo

    root = operator_home / "evidence"
    _change(root, "forged", signing.Signer.generate())
    assert run_demo(evidence_dir=root, runs=(), out=sys.stdout) == EXIT_EVIDENCE
    assert "2 PROBLEM(S)" in capsys.readouterr().out, "one per line the forged key signed"


def test_an_older_demo_key_is_verified_with_the_operators_as_one_keyring(operator_home, capsys):
    """Evidence begun when the demo kept its own key in the state folder: the demo verifies with both keys."""
    from vpnrunbook.runbook.demo import run_demo

    root = operator_home / "evidence"
    old_dir = operator_home / "state" / "signing"
    os.environ["VPNRUNBOOK_SIGNING_DIR"] = str(old_dir)
    try:
        old = signing.load_signer()
    finally:
        del os.environ["VPNRUNBOOK_SIGNING_DIR"]
    _change(root, "old-demo", old)
    _change(root, "new-cli", signing.load_signer())
    assert run_demo(evidence_dir=root, runs=(), out=sys.stdout) == EXIT_OK
    assert f"--key {old_dir / 'ed25519.pub'}" in capsys.readouterr().out
    mine = str(signing.key_paths()[1])
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", mine]) == EXIT_EVIDENCE
    assert "nor by" not in capsys.readouterr().err
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", mine,
                 "--key", str(old_dir / "ed25519.pub")]) == EXIT_OK
    assert "one of the 2 keys given" in capsys.readouterr().out
    stranger = signing.Signer.generate()
    _change(root, "stranger", stranger)
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", mine,
                 "--key", str(old_dir / "ed25519.pub")]) == EXIT_EVIDENCE
    assert "nor by any of the 2 keys given" in capsys.readouterr().err


def test_discarding_the_demo_evidence_is_declared_not_a_lost_history(operator_home, capsys):
    root = operator_home / "evidence"
    signer = signing.load_signer()
    _change(root, "first")
    assert main(["evidence", "discard", "--evidence-dir", str(root)]) == EXIT_USAGE, "needs --yes"
    assert main(["evidence", "discard", "--evidence-dir", str(root), "--yes"]) == EXIT_OK
    assert not root.exists()
    _change(root, "second")
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", str(signer.pub_path)]) == EXIT_OK
    # deleting by hand is still caught
    import shutil

    shutil.rmtree(root)
    _change(root, "third")
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", str(signer.pub_path)]) == EXIT_EVIDENCE


def test_discard_refuses_a_folder_that_is_not_evidence(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["evidence", "discard", "--evidence-dir", str(tmp_path), "--yes"]) == EXIT_USAGE
    assert (tmp_path / "keep.txt").exists()


def test_make_clean_state_discards(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    block = text[text.index("clean-state:"):]
    assert "evidence discard --evidence-dir evidence --yes" in block.split("\n\n")[0]
