"""The update panel's logic against a stand-in for vpnrunbook.operations (the real one is exercised in
test_update_panel_emulator.py and the browser test): plans on every change, applies exactly the shown plan,
reports a concurrent change."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any

import pytest

from vpnrunbook.policy import rules
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.ui.update import UpdatePanel

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class ConcurrentChangeError(RuntimeError):
    pass


@dataclass
class FakeOps:
    policy: Any
    etag: int = 1
    calls: list = field(default_factory=list)

    def show_policy(self, session, *, resource_group, connection_name):
        return NS(policy=self.policy)

    def plan_connection_update(self, session, *, resource_group, connection_name, policy=None, remove_policy=False,
                               **settings):
        assert not (remove_policy and policy is not None)
        self.calls.append(("plan", policy, settings))
        changes = [] if policy == self.policy else [
            NS(resource=f"{resource_group}/connections/{connection_name}", field="properties.ipsecPolicies",
               current=self.policy, desired=policy)]
        return NS(changes=changes, empty=not changes, etag=self.etag, desired=policy)

    def apply_plan(self, session, plan):
        self.calls.append(("apply", plan))
        if plan.etag != self.etag:
            raise ConcurrentChangeError("connection changed since the plan (HTTP 412)")
        self.policy = plan.desired
        self.etag += 1
        return NS(plan=plan, applied=True, warnings=[])


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
