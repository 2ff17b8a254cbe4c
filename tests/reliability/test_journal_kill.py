"""SIGKILL of `vpnrunbook run 05 --apply` (the runner and its kernel) at three moments: while the PUT is on its way
(held by an emulator delay fault), after ARM took the PUT (its operation poll held), and after the outcome record
(before the runner wrote the manifest). Each time `evidence verify` exits 4 naming what is incomplete, `evidence
reconcile` reads the connection and records what actually happened, and verify then passes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO
from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.emulator.control import EmulatorControl
from vpnrunbook.evidence import journal, ledger

pytestmark = pytest.mark.slow
SEED = REPO / "parameters" / "seed"
CONN = "connections/VNet1toSite6"


def _session():
    from vpnrunbook.azure.connect import connect

    return connect(target="emulator", polling_interval=0)


def _journal(root: Path) -> list[dict]:
    return [e for _, _, e in ledger.read(root) if e and e.get("kind") in journal.JOURNAL_KINDS]


def _until(predicate, what: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stdout.read() if proc.stdout else ''}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the runner and every process it started (the kernel runs in its own session)."""
    parent = psutil.Process(proc.pid)
    victims = [parent, *parent.children(recursive=True)]
    for p in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    psutil.wait_procs([p for p in victims if p.pid != proc.pid], timeout=30)


def _start(seeded) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vpnrunbook", "run", "05", "-p",
                             str(SEED / "05_update_vnet1_to_site6.yaml"), "--apply"],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _verify(root: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", "--evidence-dir", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _policy(session) -> tuple[str, list]:
    conn = session.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6").as_dict()
    return conn["etag"], conn.get("ipsec_policies") or []


@pytest.mark.parametrize("moment", ["during-put", "after-put", "after-outcome"])
def test_sigkill_leaves_an_incomplete_change_that_reconcile_settles(seeded, monkeypatch, capsys, moment):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    root = seeded["evidence"]
    session = _session()
    ctl = EmulatorControl(session)
    etag_before, policy_before = _policy(session)
    if moment == "during-put":
        ctl.add_delay(60, method="PUT", path_regex=f"{CONN}$", count=1)
    elif moment == "after-put":
        ctl.add_delay(60, method="GET", path_regex="/operations/", count=1)
    else:  # every read of the connection after the PUT is slow: the notebook's verify cell is still running
        ctl.add_delay(1.5, method="GET", path_regex=f"{CONN}$", count=50)
    proc = _start(seeded)
    try:
        if moment == "after-outcome":
            _until(lambda: any(e["kind"] == "outcome" for e in _journal(root)), "the outcome record", proc)
        else:
            _until(lambda: not ctl.faults(), "the delayed request", proc)  # used up: that request is waiting now
        _kill_tree(proc)
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
    ctl.clear_faults()
    entries = _journal(root)
    (intent,) = [e for e in entries if e["kind"] == "intent"]
    assert intent["writes"][0]["resource_id"].endswith("/connections/VNet1toSite6")
    assert intent["writes"][0]["etag"] == etag_before and intent["operator"]["user"]
    assert intent["target"] == "emulator" and intent["writes"][0]["changes"], "the plan, field by field"
    run_id = intent["run_id"]
    assert not (root / run_id / "manifest.json").exists(), "killed before the runner's manifest"

    code, text = _verify(root, capsys)
    assert code == EXIT_EVIDENCE, text
    assert f"run {run_id}" in text and "has no manifest" in text
    if moment == "after-outcome":
        assert "incomplete" not in text, "the outcome was recorded"
        assert [e["status"] for e in entries if e["kind"] == "outcome"] == ["applied"]
    else:
        assert "incomplete" in text and "05_update_policy" in text and "VNet1toSite6" in text, text
    applied = _policy(session)[0] != etag_before
    assert applied == (moment != "during-put"), "the kill points are what they say"
    if moment == "during-put":
        assert _policy(session) == (etag_before, policy_before), "nothing was written"

    capsys.readouterr()
    assert main(["evidence", "reconcile", "--evidence-dir", str(root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"run {run_id}: closed" in out
    reconciled = [e for e in _journal(root) if e["kind"] == "reconcile"]
    if moment == "after-outcome":
        assert reconciled == [], "nothing to reconcile: the outcome says what happened"
    else:
        (rec,) = reconciled
        assert rec["intent_id"] == intent["intent_id"] and rec["run_id"] == run_id
        assert rec["conclusion"] == ("not_applied" if moment == "during-put" else "applied"), rec
        assert rec["resources"][0]["state"] == ("unchanged" if moment == "during-put" else "as_planned")
    lines = (root / "ledger.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "intent", "history was appended to, never rewritten"
    assert not (root / journal.STAGING_DIR).exists(), "the killed run's unscrubbed work files are gone"
    code, text = _verify(root, capsys)
    assert code == EXIT_OK, text
    assert "1 change(s)" in text
