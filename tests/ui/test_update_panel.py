"""The update panel's logic against a stand-in for vpnrunbook.operations (the real one is exercised in
test_update_panel_emulator.py and the browser test): plans on every change, applies exactly the shown plan,
reports a concurrent change."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any

import pytest

from vpnrunbook.operations.plan import TunnelImpact
from vpnrunbook.policy import rules
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.policy.strength import Finding
from vpnrunbook.ui.update import UpdatePanel

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class ConcurrentChangeError(RuntimeError):
    pass


@dataclass
class FakeOps:
    policy: Any
    etag: int = 1
    calls: list = field(default_factory=list)
    accepted: list = field(default_factory=list)
    gate: Any = None
    breaking: bool = False

    def show_policy(self, session, *, resource_group, connection_name):
        return NS(policy=self.policy)

    def plan_connection_update(self, session, *, resource_group, connection_name, policy=None, remove_policy=False,
                               **settings):
        assert not (remove_policy and policy is not None)
        self.calls.append(("plan", policy, settings))
        changes = [] if policy == self.policy else [
            NS(resource=f"{resource_group}/connections/{connection_name}", field="properties.ipsecPolicies",
               current=self.policy, desired=policy)]
        breaks = bool(changes) and self.breaking and policy is not None  # the device (of this stand-in) refuses it
        impacts = [TunnelImpact(f"{resource_group}/connections/{connection_name}",
                                f"{resource_group}/localNetworkGateways/Site6", "compatible", "NO_PROPOSAL_CHOSEN",
                                True, "the device offers no SHA1")] if breaks else []
        warnings = [Finding("warning", "ike_integrity", "SHA1", "WEAKER than now: SHA384 (strong) → SHA1 (weak)",
                            "weak")] if breaks else []
        return NS(changes=changes, empty=not changes, etag=self.etag, desired=policy, impacts=impacts,
                  breaks_tunnel=breaks, warnings=warnings, tunnel_warnings=lambda: [i.text for i in impacts],
                  step=f"update connection {connection_name}")

    def apply_plan(self, session, plan, *, refuse_breaking=False, accepted=None):
        self.calls.append(("apply", plan))
        self.accepted.append(accepted)
        if plan.etag != self.etag:
            raise ConcurrentChangeError("connection changed since the plan (HTTP 412)")
        if self.gate is not None:  # a slow apply: the test releases it
            self.gate()
        self.policy = plan.desired
        self.etag += 1
        status = "NotConnected" if plan.breaks_tunnel else "Connected"
        return NS(plan=plan, applied=True, warnings=[], details={
            "connection_status": {plan.changes[0].resource: {"status": status, "reason": "device check"}},
            "evidence": {"run_id": f"run-{self.etag}", "path": f"/evidence/run-{self.etag}"}})


@pytest.fixture
def ops():
    return FakeOps(PRESETS["seed-s2s"].policy)


def panel(ops, **kw) -> UpdatePanel:
    return UpdatePanel(object(), resource_group="TestRG1", connection_name="VNet1toSite6", operations=ops,
                       interactive=True, **kw)


def test_starts_from_current_policy_with_nothing_to_apply(ops):
    p = panel(ops)
    assert p.picker.policy == ops.policy
    assert p.plan is not None and p.plan.empty
    assert p.apply_button.disabled
    assert "vpnrunbook-diff" not in p.compare.value


def test_choosing_a_policy_highlights_differences_and_plans(ops):
    p = panel(ops)
    p.picker.set(preset="seed-update")
    diff_rows = [f for f in rules.FIELDS if f'vpnrunbook-diff vpnrunbook-row-{f.name}"' in p.compare.value]
    expected = PRESETS["seed-update"].policy.differences(ops.policy)
    assert [f.name for f in diff_rows] == expected
    assert not p.apply_button.disabled
    assert "1 change" in p.plan_box.value


def test_apply_performs_exactly_the_shown_plan(ops):
    p = panel(ops)
    p.picker.set(preset="seed-update")
    shown = p.plan
    p.apply_button.click()
    assert ("apply", shown) in ops.calls
    assert ops.policy == PRESETS["seed-update"].policy
    assert p.current == ops.policy
    assert "Applied" in p.outcome.value and ops.policy.summary() in p.outcome.value
    assert p.plan.empty and p.apply_button.disabled  # replanned: nothing left to do


def test_invalid_choice_blocks_planning_and_apply(ops):
    p = panel(ops)
    p.picker.set(ipsec_encryption="AES256", ipsec_integrity="GCMAES256")
    assert p.plan is None and p.apply_button.disabled
    assert "does not pair" in p.plan_box.value
    with pytest.raises(rules.PolicyValidationError, match="NoPlan|errors"):
        p.apply()
    assert not [c for c in ops.calls if c[0] == "apply"]


def test_concurrent_change_is_reported_and_the_plan_refreshed(ops):
    p = panel(ops)
    p.picker.set(preset="seed-update")
    ops.etag += 1  # someone else changed the connection after the plan
    p.apply_button.click()
    assert ops.policy == PRESETS["seed-s2s"].policy  # nothing written
    assert "changed by someone else" in p.outcome.value and "Apply again" in p.outcome.value
    assert "Re-run the step" not in p.outcome.value  # one instruction, not two contradicting ones
    assert p.plan.etag == ops.etag and not p.apply_button.disabled
    p.apply_button.click()
    assert ops.policy == PRESETS["seed-update"].policy


def test_headless_panel_is_static(ops, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_HEADLESS", "1")
    p = UpdatePanel(object(), resource_group="TestRG1", connection_name="VNet1toSite6", operations=ops,
                    initial="seed-update")
    bundle = p._repr_mimebundle_()
    assert WIDGET_MIME not in bundle and "vpnrunbook-compare" in bundle["text/html"]
    assert not [c for c in ops.calls if c[0] == "apply"]


def test_connection_without_custom_policy_compares_with_defaults():
    ops = FakeOps(None)
    p = panel(ops, initial="strong-modern")
    assert "(Azure default)" in p.compare.value
    assert p.compare.value.count("vpnrunbook-diff") == len(rules.FIELDS)


def test_azure_default_proposals_plans_removing_the_policy(ops):
    p = panel(ops)
    p.picker.set(ipsec_encryption="AES256", ipsec_integrity="GCMAES256")  # errors in the picker no longer matter
    p.use_defaults.value = True
    assert p.picker.widget.layout.display == "none"
    assert p.plan is not None and p.plan.desired is None and not p.apply_button.disabled
    assert "(Azure default)" in p.compare.value
    p.apply_button.click()
    assert ops.policy is None and "Azure's default proposals" in p.outcome.value
    p.use_defaults.value = False
    assert p.plan is None  # back to the (still invalid) picker: nothing to apply


def test_a_new_choice_clears_the_previous_outcome(ops):
    p = panel(ops)
    p.picker.set(preset="seed-update")
    p.apply_button.click()
    assert "Applied" in p.outcome.value
    p.picker.set(preset="strong-modern")  # re-plan: the old green "Applied" no longer describes the plan shown
    assert p.outcome.value == "" and p.result is None
    assert not p.apply_button.disabled


def test_dpd_and_selectors_are_planned_with_the_policy(ops):
    p = panel(ops, dpd_timeout_seconds=60, use_policy_based_traffic_selectors=True)
    p.picker.set(preset="seed-update")
    plans = [c for c in ops.calls if c[0] == "plan"]
    assert plans and all(c[2] == {"dpd_timeout_seconds": 60, "use_policy_based_traffic_selectors": True}
                         for c in plans)
    assert panel(ops).settings == {}  # None: unchanged, not planned


# ---- issue 21.3: the update panel guards the tunnel as the CLI does ----------------------------------------------
def test_a_breaking_update_needs_the_confirmation_and_then_shows_the_status_in_red(ops):
    ops.breaking = True
    p = panel(ops)
    p.picker.set(preset="seed-update")  # SHA1: weaker, and the device (in this stand-in) refuses it
    children = list(p.widget.children)
    assert children.index(p.warning) < children.index(p.confirm.widget) < children.index(p.apply_button)
    assert p.confirm.required and "breaks the tunnel to Site6" in p.confirm.checkbox.description
    p.apply_button.click()
    assert not [c for c in ops.calls if c[0] == "apply"] and ops.policy == PRESETS["seed-s2s"].policy
    assert "vpnrunbook-error-box" in p.outcome.value and "nothing was written" in p.outcome.value
    assert "Traceback" not in p.outcome.value
    with pytest.raises(rules.PolicyValidationError, match="confirmation"):
        p.apply()  # the programmatic door refuses too
    p.confirm.checkbox.value = True
    p.apply_button.click()
    assert ops.policy == PRESETS["seed-update"].policy
    assert ops.accepted[-1].startswith("I accept that this change breaks the tunnel to Site6")
    assert "vpnrunbook-message-error" in p.outcome.value and "vpnrunbook-message-ok" not in p.outcome.value
    assert "The tunnel to Site6 (VNet1toSite6) is now NotConnected" in p.outcome.value
    assert "Evidence of this change: /evidence/run-2" in p.outcome.value


def test_a_new_plan_asks_again(ops):
    ops.breaking = True
    p = panel(ops)
    p.picker.set(preset="seed-update")
    p.confirm.checkbox.value = True
    p.picker.set(sa_life_time_seconds=3600)  # another plan: an acceptance never carries over
    assert p.confirm.required and not p.confirm.accepted
    ops.breaking = False
    p.picker.set(preset="strong-modern")  # not breaking: nothing to confirm
    assert not p.confirm.required and p.confirm.checkbox.layout.display == "none"


def test_the_second_click_of_a_double_click_keeps_the_outcome_and_its_evidence_link(ops):
    """05: the second click said "Nothing to apply" and the link to the evidence disappeared."""
    p = panel(ops)
    p.picker.set(preset="strong-modern")
    p.apply_button.click()
    shown = p.outcome.value
    assert "Applied" in shown and "/evidence/run-2" in shown
    p.apply_button.click()  # queued second click: the plan is now empty
    assert p.outcome.value == shown and len([c for c in ops.calls if c[0] == "apply"]) == 1
    assert p.evidence["path"] == "/evidence/run-2" and p.applied


def test_a_click_while_an_apply_is_in_flight_starts_nothing(ops):
    import threading

    started, release = threading.Event(), threading.Event()
    ops.gate = lambda: (started.set(), release.wait(30))
    p = panel(ops)
    p.picker.set(preset="strong-modern")
    first = threading.Thread(target=p.apply_button.click)
    first.start()
    assert started.wait(30)
    assert p.in_flight and p.apply_button.disabled
    second = threading.Thread(target=p.apply_button.click)
    second.start()
    second.join(30)
    release.set()
    first.join(30)
    assert len([c for c in ops.calls if c[0] == "apply"]) == 1 and p.applies == 1
    assert "Applied" in p.outcome.value and "/evidence/run-2" in p.outcome.value


def test_an_unexpected_error_is_one_box(ops):
    def broken(*a, **kw):
        raise KeyError("properties")

    ops.apply_plan = broken
    p = panel(ops)
    p.picker.set(preset="strong-modern")
    p.apply_button.click()
    assert "vpnrunbook-error-box" in p.outcome.value and "KeyError" in p.outcome.value
    assert "What to do" in p.outcome.value and "Traceback" not in p.outcome.value
