"""Issue 21.3 in a real browser: the JupyterLab Apply controls guard the tunnel as the CLI does.

* 05's update panel: a change that breaks the tunnel to Site6 (its device speaks only the seed policy) is refused
  until the operator ticks what they accept; then a double click applies it once, the outcome is red naming the
  resulting status, its link names the run that applied, and the verify cell says "after the change".
* 06's Apply control: a double click on a weakening removal (after the tick) applies once — no 412, no traceback.
* 04's Apply control: the picker edited after Run All makes the plan stale — Apply refuses it and writes nothing;
  planning again from the picker (Run Selected Cell and All Below) and Apply create exactly what the picker shows.

Every wait is for a state (an element, a text, an idle kernel), never a fixed sleep. Screenshots go to
test-artifacts/browser/<test>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.jlab import JupyterLab, Notebook, block_outside_traffic, launch_browser
from tests.browser.notebooks import prepare_workspace
from vpnrunbook.policy.presets import PRESETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SEED_KEY = "browserGuardKey123"
LONG = 120_000  # ms: the machine is shared; each wait ends as soon as its state is reached


@pytest.fixture
def lab(tmp_path, browser_available, monkeypatch):
    """A scratch project, its own emulator state and evidence folder, JupyterLab on it and a browser — per test,
    so each test starts from the state it seeds."""
    from playwright.sync_api import sync_playwright

    root, home, state = tmp_path / "project", tmp_path / "home", tmp_path / "state"
    for folder in (root, home, state):
        folder.mkdir()
    prepare_workspace(root)
    env = {"VPNRUNBOOK_STATE_DIR": str(state), "VPNRUNBOOK_DB": str(state / "emulator.sqlite3"),
           "VPNRUNBOOK_EVIDENCE_DIR": str(state / "evidence"), "VPNRUNBOOK_TARGET": "emulator",
           "VPNRUNBOOK_SEED_KEY": SEED_KEY}
    monkeypatch.delenv("VPNRUNBOOK_EMULATOR_URL", raising=False)
    for key, value in env.items():  # this process seeds (and reads) the same SQLite state the kernels use
        monkeypatch.setenv(key, value)
    with JupyterLab(root, home=home, env=env, log_path=tmp_path / "jupyterlab.log") as server, \
            sync_playwright() as pw:
        context = launch_browser(pw, home / "chromium-profile")
        blocked: list[str] = []
        block_outside_traffic(context, blocked)
        try:
            yield {"server": server, "context": context, "root": root, "evidence": state / "evidence"}
        finally:
            context.close()
    assert not blocked, f"requests to outside hosts were attempted (and aborted): {blocked}"


def session() -> Any:
    from vpnrunbook.azure.connect import connect

    return connect("emulator")


def intents(evidence: Path) -> list[dict[str, Any]]:
    ledger = evidence / "ledger.jsonl"
    if not ledger.exists():
        return []
    entries = [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [e for e in entries if e.get("kind") == "intent"]


def open_and_run_all(lab: dict[str, Any], nb: Notebook, step: str, ready: str) -> None:
    name = next((lab["root"] / "notebooks").glob(f"{step}_*.ipynb")).name
    nb.open(lab["server"].url(f"notebooks/{name}"), timeout=120)
    nb.run_all()  # (retries the menu until a cell has started)
    nb.wait_idle(timeout=300)
    nb.shot(f"{step}-run-all")
    assert not tracebacks(nb), tracebacks(nb)
    nb.panel(ready).first.wait_for(timeout=LONG)


def tracebacks(nb: Notebook) -> list[str]:
    texts = nb.panel(".jp-OutputArea-output").all_inner_texts()
    return [t[:1500] for t in texts if "Traceback" in t or "ConcurrentChangeError" in t or "Error:" in t]


def cell_with(nb: Notebook, text: str) -> Any:
    return nb.panel(f".jp-CodeCell:has(.jp-InputArea:has-text({json.dumps(text)}))").first


def run_cell(nb: Notebook, text: str) -> Any:
    """Run one cell (selected by its prompt, then Shift+Enter in command mode); returns the cell."""
    cell = cell_with(nb, text)
    cell.locator(".jp-InputPrompt").first.click()
    nb.page.keyboard.press("Escape")
    nb.page.keyboard.press("Shift+Enter")
    nb.wait_idle(timeout=300)
    return cell


def test_panel_confirmation_then_a_double_click_applies_once_and_shows_red(lab, artifacts):
    from playwright.sync_api import expect

    from tests.browser.seed_state import connection_policy, create_seed_connection, create_site6

    s = create_seed_connection(PRESETS["seed-s2s"].policy)
    create_site6(s, device=True)  # the device now speaks only the seed policy
    seeded = len(intents(lab["evidence"]))  # (the seeding's own records)
    page = lab["context"].new_page()
    nb = Notebook(page, artifacts)
    open_and_run_all(lab, nb, "05", ".vpnrunbook-update-panel")

    nb.panel(".vpnrunbook-update-panel .vpnrunbook-preset select").first.select_option(label="strong-modern")
    confirm = nb.panel(".vpnrunbook-update-panel .vpnrunbook-confirm").first
    expect(confirm).to_be_visible(timeout=LONG)
    expect(confirm).to_contain_text("I accept that this change breaks the tunnel to Site6")
    apply = nb.panel(".vpnrunbook-update-panel button.vpnrunbook-apply").first
    expect(apply).to_be_enabled(timeout=LONG)
    nb.shot("01-breaking-change-asks-for-confirmation", ".vpnrunbook-confirm")

    apply.click()  # without the tick: refused, nothing written
    refusal = nb.panel(".vpnrunbook-update-panel .vpnrunbook-apply-outcome .vpnrunbook-error-box").first
    expect(refusal).to_contain_text("needs your confirmation", timeout=LONG)
    nb.shot("02-refused-without-confirmation", ".vpnrunbook-apply-outcome")
    assert connection_policy(s) == PRESETS["seed-s2s"].policy
    assert len(intents(lab["evidence"])) == seeded

    confirm.locator("input[type=checkbox]").check()
    expect(apply).to_be_enabled(timeout=LONG)
    apply.dblclick()
    outcome = nb.panel(".vpnrunbook-update-panel .vpnrunbook-apply-outcome .vpnrunbook-message-error").first
    expect(outcome).to_contain_text("The tunnel to Site6 (VNet1toSite6) is now NotConnected", timeout=LONG)
    nb.wait_idle(timeout=300)  # the second click has been handled too
    nb.shot("03-applied-once-status-red", ".vpnrunbook-apply-outcome")
    assert connection_policy(s) == PRESETS["strong-modern"].policy
    (intent,) = intents(lab["evidence"])[seeded:]  # one apply, not two
    (accepted,) = intent.get("accepted") or [None]  # the acceptance: a field of its own, signed with the intent
    assert accepted and accepted["statement"].startswith("I accept that this change breaks the tunnel to Site6"), intent
    assert accepted["warning"] in intent["tunnel_warnings"] and accepted["by"] and accepted["at"] == intent["time"]
    text = nb.panel(".vpnrunbook-update-panel .vpnrunbook-apply-outcome").first.inner_text()
    assert f"Evidence of this change: {lab['evidence'] / intent['run_id']}" in text, text  # the run that applied
    assert "Nothing to apply" not in text
    assert not tracebacks(nb), tracebacks(nb)

    verify = run_cell(nb, "show.try_verify")  # re-run after the apply: not a "plan-only run"
    expect(verify.locator(".jp-OutputArea")).to_contain_text("Connection status after the change", timeout=LONG)
    expect(verify.locator(".jp-OutputArea")).to_contain_text("NotConnected")
    assert "plan-only run" not in verify.locator(".jp-OutputArea").inner_text()
    nb.shot("04-verify-after-the-change", ".jp-CodeCell:has(.jp-InputArea:has-text('show.try_verify'))")
    page.close()

    # 06: the Apply control, a double click after the tick: one apply, no 412 / ConcurrentChangeError
    page = lab["context"].new_page()
    nb = Notebook(page, artifacts)
    open_and_run_all(lab, nb, "06", ".vpnrunbook-apply-control")
    confirm = nb.panel(".vpnrunbook-apply-control .vpnrunbook-confirm").first
    expect(confirm).to_contain_text("I accept that this change", timeout=LONG)
    confirm.locator("input[type=checkbox]").check()
    apply = nb.panel(".vpnrunbook-apply-control button.vpnrunbook-apply").first
    apply.dblclick()
    outcome = nb.panel(".vpnrunbook-apply-control .vpnrunbook-apply-outcome .vpnrunbook-message").first
    expect(outcome).to_contain_text("Applied", timeout=LONG)
    nb.wait_idle(timeout=300)
    nb.shot("05-removal-double-click-applied-once", ".vpnrunbook-apply-outcome")
    assert connection_policy(s) is None
    first, second = intents(lab["evidence"])[seeded:]
    assert first["run_id"] != second["run_id"]
    text = outcome.inner_text()
    assert f"Evidence of this change: {lab['evidence'] / second['run_id']}" in text, text
    expect(apply).to_be_disabled()
    assert not tracebacks(nb), tracebacks(nb)
    page.close()


def test_a_picker_edit_after_run_all_makes_the_plan_stale(lab, artifacts):
    from playwright.sync_api import expect

    from tests.browser.seed_state import connection_exists, connection_policy, create_site6

    s = session()
    create_site6(s)  # the gateway and Site6, no connection yet: 04 plans to create it
    seeded = len(intents(lab["evidence"]))
    page = lab["context"].new_page()
    nb = Notebook(page, artifacts)
    open_and_run_all(lab, nb, "04", ".vpnrunbook-apply-control")
    apply = nb.panel(".vpnrunbook-apply-control button.vpnrunbook-apply").first
    expect(apply).to_be_enabled(timeout=LONG)

    # after Run All the operator changes the picker (a preset, then PFS): the plan above is no longer what it shows
    nb.panel(".vpnrunbook-policy-picker .vpnrunbook-preset select").first.select_option(label="seed-s2s")
    nb.select("pfs_group", "PFS14")
    control_outcome = nb.panel(".vpnrunbook-apply-control .vpnrunbook-apply-outcome").first
    expect(control_outcome).to_contain_text("The plan above is stale", timeout=LONG)
    apply.click()
    expect(control_outcome.locator(".vpnrunbook-error-box")).to_contain_text("stale", timeout=LONG)
    nb.wait_idle(timeout=300)
    nb.shot("01-stale-plan-refused", ".vpnrunbook-apply-control")
    assert not connection_exists(s) and len(intents(lab["evidence"])) == seeded  # nothing written

    # plan again from the picker (the cells below it), then Apply: exactly what the picker shows is created
    cell_with(nb, "policy = picker.policy").locator(".jp-InputPrompt").first.click()
    nb.page.keyboard.press("Escape")
    page.locator("li.lm-MenuBar-item:has-text('Run')").first.click()
    page.locator("li.lm-Menu-item[data-command='notebook:run-all-below']").first.click()
    nb.wait_idle(timeout=300)
    control_outcome = nb.panel(".vpnrunbook-apply-control .vpnrunbook-apply-outcome").first
    expect(control_outcome).to_contain_text("Review the plan above", timeout=LONG)
    expect(cell_with(nb, "planned = connection(False)").locator(".jp-OutputArea")).to_contain_text("PFS14")  # planned
    apply = nb.panel(".vpnrunbook-apply-control button.vpnrunbook-apply").first
    apply.click()
    expect(control_outcome).to_contain_text("Applied", timeout=LONG)
    nb.wait_idle(timeout=300)
    nb.shot("02-replanned-and-applied", ".vpnrunbook-apply-control")
    expected = PRESETS["seed-s2s"].policy.as_python_dict() | {"pfs_group": "PFS14"}
    assert connection_policy(s).as_python_dict() == expected
    assert not tracebacks(nb), tracebacks(nb)
    page.close()
