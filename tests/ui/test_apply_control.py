"""The Apply control under a plan: nothing happens until it is clicked; one click applies the plan once; expected
errors (a concurrent change) are one box, not a traceback; an empty plan offers nothing to apply."""

from __future__ import annotations

from types import SimpleNamespace as NS

from vpnrunbook.operations.errors import ConcurrentChangeError
from vpnrunbook.ui.apply import apply_control


def planned(empty: bool = False) -> NS:
    return NS(plan=NS(empty=empty), summary=lambda: "planned")


def test_applies_only_on_click_and_only_once():
    calls = []
    control = apply_control(planned(), lambda: calls.append(1) or NS(summary=lambda: "1 change applied"),
                            interactive=True)
    assert calls == [] and not control.button.disabled and "Review the plan" in control.outcome.value
    control.button.click()
    control.button.click()
    assert calls == [1] and control.applied and control.button.disabled
    assert "1 change applied" in control.outcome.value


def test_concurrent_change_is_one_box_and_nothing_more_is_tried():
    def apply():
        raise ConcurrentChangeError("TestRG1/connections/VNet1toSite6", step="connect", planned_etag="W/\"1\"")

    control = apply_control(planned(), apply, interactive=True)
    control.click()
    assert isinstance(control.error, ConcurrentChangeError) and not control.applied
    assert "vpnrunbook-error-box" in control.outcome.value and "What to do" in control.outcome.value
    assert "Traceback" not in control.outcome.value


def test_an_empty_plan_has_nothing_to_apply():
    control = apply_control(planned(empty=True), lambda: 1 / 0, interactive=True)
    assert control.button.disabled and "Nothing to apply" in control.outcome.value
    assert control.click() is None


def test_a_breaking_or_weakening_plan_shows_its_warning_above_the_apply_button():
    """Issue 15.3/15.4: interactively the warning stands above Apply — shown, not blocking."""
    from vpnrunbook.policy.strength import Finding

    plan = NS(empty=False, tunnel_warnings=lambda: ["WARNING — X: this update would break the tunnel to Site6"],
              warnings=[Finding("warning", "ike_integrity", "SHA1", "WEAKER than now: SHA384 (strong) → SHA1 (weak)",
                                "weak")])
    calls = []
    control = apply_control(NS(plan=plan, summary=lambda: "planned"), lambda: calls.append(1) or NS(summary=lambda: "ok"),
                            interactive=True)
    children = list(control.widget.children)
    assert children.index(control.warning) < children.index(control.button)
    assert "would break the tunnel" in control.warning.value and "WEAKER than now" in control.warning.value
    assert not control.button.disabled
    control.click()
    assert calls == [1]
    assert apply_control(planned(), lambda: None, interactive=True).warning.value == ""
