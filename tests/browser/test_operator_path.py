"""The documented operator path in a real browser: `vpnrunbook demo` on a fresh project, then `vpnrunbook lab`
(no environment of the test's own: no VPNRUNBOOK_* variable, the lab's settings and the seed key come from
`vpnrunbook lab`), notebooks 01 → 08 each with Run All, every change through its Apply control. No output may
hold a traceback or an error box; every Apply must add a record to evidence/ledger.jsonl (the interactive
evidence run of the operations' apply path). Screenshots go to test-artifacts/browser/<test>/."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.jlab import Notebook, block_outside_traffic, free_port, launch_browser
from tests.browser.notebooks import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STEPS = ["01", "02", "03", "04", "05", "06", "07", "08"]


def operator_env(home: Path, root: Path) -> dict[str, str]:
    """The shell of an operator: a fresh HOME/Jupyter profile and only where the state lives (a fresh folder:
    VPNRUNBOOK_STATE_DIR and VPNRUNBOOK_EVIDENCE_DIR); no key, no target, nothing else of the test's own."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VPNRUNBOOK_", "JUPYTER"))}
    env.update(HOME=str(home), PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""),
               VPNRUNBOOK_STATE_DIR=str(root / ".vpnrunbook"), VPNRUNBOOK_EVIDENCE_DIR=str(root / "evidence"))
    return env


@pytest.fixture(scope="module")
def operator_lab(tmp_path_factory, browser_available):
    import shutil

    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("project")
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(REPO / "parameters", root / "parameters")
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = operator_env(home, root)
    vpnrunbook = str(Path(sys.executable).parent / "vpnrunbook")
    demo = subprocess.run([vpnrunbook, "demo"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    port, token = free_port(), secrets.token_hex(16)
    log_path = Path(tmp_path_factory.mktemp("logs")) / "lab.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([vpnrunbook, "lab", "--port", str(port), "--", f"--IdentityProvider.token={token}",
                             "--LabApp.extension_manager=readonly"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"vpnrunbook lab exited; see {log_path}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"vpnrunbook lab did not answer; see {log_path}"
                time.sleep(0.5)
        with sync_playwright() as pw:
            context = launch_browser(pw, home / "chromium-profile")
            blocked: list[str] = []
            block_outside_traffic(context, blocked)
            try:
                yield {"root": root, "context": context, "blocked": blocked,
                       "url": lambda p: f"http://127.0.0.1:{port}/lab/tree/{p}?reset&token={token}"}
            finally:
                context.close()
        assert not blocked, blocked
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def ledger_lines(root: Path) -> int:
    ledger = root / "evidence" / "ledger.jsonl"
    return len(ledger.read_text(encoding="utf-8").splitlines()) if ledger.exists() else 0


def notebook_for(root: Path, step: str) -> str:
    return next((root / "notebooks").glob(f"{step}_*.ipynb")).relative_to(root).as_posix()


def no_tracebacks(nb: Notebook) -> list[str]:
    texts = nb.panel(".jp-OutputArea-output").all_inner_texts()
    return [t[:500] for t in texts if "Traceback" in t or "Error:" in t] + \
        [t[:500] for t in nb.panel(".vpnrunbook-error-box").all_inner_texts()]


def test_documented_operator_path_01_to_08(operator_lab, artifacts):
    from playwright.sync_api import expect

    root = operator_lab["root"]
    page = operator_lab["context"].new_page()
    nb = Notebook(page, artifacts)
    applied: list[str] = []
    for step in STEPS:
        nb.open(operator_lab["url"](notebook_for(root, step)), timeout=120)
        nb.run_all()
        nb.wait_idle(timeout=600)
        assert not no_tracebacks(nb), (step, no_tracebacks(nb))
        nb.shot(f"{step}-1-run-all")
        if step == "05":  # choose another policy in the update panel: a change to apply
            preset = nb.panel(".vpnrunbook-update-panel .vpnrunbook-preset select").first
            for choice in ("strong-modern", "seed-update", "seed-s2s"):
                preset.select_option(label=choice)
                time.sleep(1)
                if nb.panel("button.vpnrunbook-apply").first.is_enabled():
                    break
        buttons = nb.panel("button.vpnrunbook-apply")
        if buttons.count() and buttons.first.is_enabled():
            before = ledger_lines(root)
            confirm = nb.panel(".vpnrunbook-confirm input[type=checkbox]")
            if confirm.count() and confirm.first.is_visible():  # a weakening/breaking change: the operator accepts it
                confirm.first.check()
            buttons.first.click()
            outcome = nb.panel(".vpnrunbook-apply-outcome .vpnrunbook-message").first  # red/amber after a risky one
            expect(outcome).to_contain_text("Applied", timeout=600_000)
            nb.wait_idle(timeout=600)
            nb.shot(f"{step}-2-applied", ".vpnrunbook-apply-outcome")
            assert not no_tracebacks(nb), (step, no_tracebacks(nb))
            # the evidence of an interactive apply (made by the operations' apply path)
            assert ledger_lines(root) > before, f"{step}: the Apply left no record in evidence/ledger.jsonl"
            applied.append(step)
        assert page.locator(".jp-Notification-Toast:has-text('news')").count() == 0  # no "Jupyter news" pop-up
    assert "05" in applied, applied  # at least the update panel's change was applied through its control
    page.close()
