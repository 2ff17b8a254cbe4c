"""Real browser, real JupyterLab: an operator picks a policy in the create-policy notebook (an invalid
combination is refused with its message, a valid one is saved to parameters/policies/), then applies a policy
change in the update notebook and the emulator state — read by this process from the same SQLite file the
kernel used in-process — shows the new policy. Screenshots go to test-artifacts/browser/<test>/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.jlab import JupyterLab, Notebook, block_outside_traffic, launch_browser
from tests.browser.notebooks import prepare_workspace
from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file
from vpnrunbook.policy.presets import PRESETS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser_available):
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("project")
    home = tmp_path_factory.mktemp("home")
    state = tmp_path_factory.mktemp("state")
    notebooks = prepare_workspace(root)
    env = {"VPNRUNBOOK_STATE_DIR": str(state), "VPNRUNBOOK_DB": str(state / "emulator.sqlite3"),
           "VPNRUNBOOK_TARGET": "emulator"}
    env.pop("VPNRUNBOOK_EMULATOR_URL", None)
    log = Path(tmp_path_factory.mktemp("logs")) / "jupyterlab.log"
    with JupyterLab(root, home=home, env=env, log_path=log) as server, sync_playwright() as pw:
        context = launch_browser(pw, home / "chromium-profile")
        blocked: list[str] = []
        block_outside_traffic(context, blocked)
        try:
            yield {"server": server, "context": context, "root": root, "notebooks": notebooks, "env": env,
                   "blocked": blocked, "log": log}
        finally:
            context.close()
    assert not blocked, f"requests to outside hosts were attempted (and aborted): {blocked}"


def test_create_policy_notebook(lab, artifacts):
    from playwright.sync_api import expect

    page = lab["context"].new_page()
    nb = Notebook(page, artifacts)
    nb.open(lab["server"].url(lab["notebooks"]["create"].as_posix()))
    assert nb.panel(".vpnrunbook-policy-picker").count() == 0  # nothing rendered before the run (no stale state)
    nb.run_all()
    nb.panel(".vpnrunbook-policy-picker").first.wait_for(timeout=60_000)
    nb.wait_idle()
    assert not nb.errors(), nb.errors()
    nb.shot("01-picker-rendered", ".vpnrunbook-policy-picker")
    initial = load_policy_file(lab["root"] / "parameters" / "policies" / "seed-s2s.yaml")
    for field, value in initial.as_python_dict().items():  # starts from the notebook's parameters
        if isinstance(value, str):
            assert nb.value(field) == value, field

    # an invalid combination: non-GCM encryption with a GCM integrity
    nb.select("ipsec_encryption", "AES256")
    nb.select("ipsec_integrity", "GCMAES256")
    error = nb.panel(".vpnrunbook-findings .vpnrunbook-error").first
    expect(error).to_contain_text("does not pair", timeout=15_000)
    expect(nb.panel("button.vpnrunbook-save").first).to_be_disabled()
    nb.shot("02-invalid-combination-refused", ".vpnrunbook-findings")

    # a valid policy: GCM encryption sets the matching integrity by itself
    nb.select("ipsec_encryption", "GCMAES128")
    expect(nb.panel(".vpnrunbook-field-ipsec_integrity select").first).to_have_value("GCMAES128", timeout=15_000)
    nb.select("pfs_group", "ECP256")
    nb.select("dh_group", "ECP384")
    nb.panel(".vpnrunbook-findings .vpnrunbook-error").first.wait_for(state="detached", timeout=15_000)
    expect(nb.panel(".vpnrunbook-proposals").first).to_contain_text("ike: aes256-sha384-ecp384", timeout=15_000)
    expect(nb.panel(".vpnrunbook-proposals").first).to_contain_text("esp: aes128gcm16-ecp256", timeout=15_000)
    name = nb.panel(".vpnrunbook-save-name input").first
    name.fill("browser-policy")
    name.press("Enter")
    save = nb.panel("button.vpnrunbook-save").first
    expect(save).to_be_enabled(timeout=15_000)
    save.click()
    message = nb.panel(".vpnrunbook-save-message .vpnrunbook-message-ok").first
    message.wait_for(timeout=15_000)
    assert "browser-policy.yaml" in message.inner_text()
    nb.shot("03-valid-policy-saved", ".vpnrunbook-save-message")

    saved = load_policy_file(lab["root"] / "parameters" / "policies" / "browser-policy.yaml")
    assert saved == IpsecIkePolicy(**{**initial.as_python_dict(), "dh_group": "ECP384",
                                      "ipsec_encryption": "GCMAES128", "ipsec_integrity": "GCMAES128",
                                      "pfs_group": "ECP256"})
    page.close()


def test_update_notebook_apply(lab, artifacts, monkeypatch):
    from playwright.sync_api import expect

    for key, value in lab["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "browserTestKey123")  # the seed connection's key reference (env:)
    seed = PRESETS["seed-s2s"].policy
    target = load_policy_file(lab["root"] / "parameters" / "policies" / "seed-update.yaml")
    from tests.browser.seed_state import connection_policy, create_seed_connection

    session = create_seed_connection(seed)
    assert connection_policy(session) == seed

    page = lab["context"].new_page()
    nb = Notebook(page, artifacts)
    nb.open(lab["server"].url(lab["notebooks"]["update"].as_posix()))
    nb.run_all()
    nb.panel(".vpnrunbook-update-panel").first.wait_for(timeout=60_000)
    nb.wait_idle()
    assert not nb.errors(), nb.errors()
    # 05's policy defaults to null (unchanged, issue 15.2): the panel starts from the current policy; choose the update
    nb.panel(".vpnrunbook-update-panel .vpnrunbook-preset select").first.select_option(label="seed-update")
    diff_rows = nb.panel(".vpnrunbook-compare tr.vpnrunbook-diff")
    expect(diff_rows).to_have_count(len(target.differences(seed)), timeout=15_000)
    apply = nb.panel("button.vpnrunbook-apply").first
    expect(apply).to_be_enabled(timeout=15_000)
    nb.shot("01-update-planned", ".vpnrunbook-compare")
    # seed-update weakens the IKE integrity (SHA384 → SHA1): Apply asks the operator to accept it (issue 21.3)
    confirm = nb.panel(".vpnrunbook-update-panel .vpnrunbook-confirm").first
    expect(confirm).to_contain_text("I accept that this change weakens", timeout=15_000)
    confirm.locator("input[type=checkbox]").check()
    apply.click()
    outcome = nb.panel(".vpnrunbook-apply-outcome .vpnrunbook-message").first
    expect(outcome).to_contain_text("Applied", timeout=60_000)
    nb.shot("02-update-applied", ".vpnrunbook-apply-outcome")

    assert connection_policy(session) == target  # the kernel's in-process emulator wrote the shared SQLite state
    assert os.path.exists(lab["env"]["VPNRUNBOOK_DB"])
    page.close()
