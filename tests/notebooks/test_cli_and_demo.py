"""CLI wiring of `vpnrunbook run` / `demo` that needs no kernel, and the demo's shared-key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vpnrunbook.cli import EXIT_USAGE, main
from vpnrunbook.runbook import evidence
from vpnrunbook.runbook.demo import SEED_KEY_ENV, ensure_seed_key


def test_demo_key_is_generated_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.delenv(SEED_KEY_ENV, raising=False)
    source = ensure_seed_key()
    key = os.environ[SEED_KEY_ENV]
    path = Path(os.environ["VPNRUNBOOK_STATE_DIR"]) / "secrets" / "seed-demo.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key not in source and source.startswith("file:")
    monkeypatch.delenv(SEED_KEY_ENV)
    ensure_seed_key()
    assert os.environ[SEED_KEY_ENV] == key, "re-runs reuse the same key"
    assert len(key) >= 32 and key.isalnum()


def test_unknown_step_and_bad_timeouts(capsys, tmp_path):
    assert main(["run", "99_nothing"]) == EXIT_USAGE
    assert "unknown step '99_nothing'; steps: 01_create_vnet_gateway" in capsys.readouterr().err
    try:
        main(["run", "06", "--timeout", "0"])
    except SystemExit as exc:
        assert "--timeout must be a positive number of seconds" in str(exc)
    else:
        raise AssertionError("a zero timeout is refused")


def test_missing_parameter_file_is_refused_with_evidence(tmp_path, capsys):
    root = tmp_path / "ev"
    code = main(["run", "06", "-p", str(tmp_path / "nope.yaml"), "--evidence-dir", str(root)])
    assert code == EXIT_USAGE
    assert "cannot be read" in capsys.readouterr().err
    (run,) = evidence.list_runs(root)
    assert run["outcome"] == "refused" and evidence.verify(root) == []


def test_demo_refuses_azure_target(monkeypatch, capsys):
    monkeypatch.setenv("VPNRUNBOOK_TARGET", "azure")
    assert main(["demo"]) == EXIT_USAGE
    assert "emulator only" in capsys.readouterr().err


def test_describe_lists_every_parameter(capsys):
    from vpnrunbook.runbook.steps import get_step

    assert main(["run", "connect", "--describe"]) == 0
    out = capsys.readouterr().out
    for p in get_step("04").params:
        assert f"  {p.name}: {p.type}" in out
