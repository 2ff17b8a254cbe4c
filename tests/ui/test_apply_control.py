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
    """Issue 15.3/15.4: interactively the warning stands above Apply (issue 21.3: with the confirmation under it)."""
    calls = []
    control = apply_control(risky_planned(), lambda: calls.append(1) or NS(summary=lambda: "ok"), interactive=True)
    children = list(control.widget.children)
    assert children.index(control.warning) < children.index(control.confirm.widget) < children.index(control.button)
    assert "would break the tunnel" in control.warning.value and "WEAKER than now" in control.warning.value
    assert not control.button.disabled
    assert apply_control(planned(), lambda: None, interactive=True).warning.value == ""


# ---- issue 21.3: the Apply control guards the tunnel as the CLI does --------------------------------------------
def risky_planned(*, breaks: bool = True, weakens: bool = True) -> NS:
    from vpnrunbook.operations.plan import TunnelImpact
    from vpnrunbook.policy.strength import Finding

    impacts = [TunnelImpact("TestRG1/connections/VNet1toSite6", "TestRG1/localNetworkGateways/Site6", "compatible",
                            "IKE_SA refused (NO_PROPOSAL_CHOSEN)", True, "the device offers no matching proposal")]
    plan = NS(empty=False, step="update connection VNet1toSite6", impacts=impacts if breaks else [],
              breaks_tunnel=breaks, tunnel_warnings=lambda: [i.text for i in impacts] if breaks else [],
              warnings=[Finding("warning", "ike_integrity", "SHA1", "WEAKER than now: SHA384 (strong) → SHA1 (weak)",
                                "weak")] if weakens else [])
    return NS(plan=plan, summary=lambda: "planned")


def applied_result(plan: NS, status: str, *, path: str = "/evidence/run-1") -> NS:
    return NS(plan=plan, summary=lambda: "1 change applied", details={
        "connection_status": {"TestRG1/connections/VNet1toSite6": {"status": status, "reason": "device says no",
                                                                   "device": "TestRG1/localNetworkGateways/Site6"}},
        "evidence": {"run_id": path.rsplit("/", 1)[-1], "path": path}})


def test_a_breaking_change_is_refused_without_the_confirmation_and_nothing_is_written():
    calls = []
    planned = risky_planned()
    control = apply_control(planned, lambda **kw: calls.append(kw) or applied_result(planned.plan, "NotConnected"),
                            interactive=True)
    assert control.confirm.required and "breaks the tunnel to Site6" in control.confirm.checkbox.description
    assert "weakens ike_integrity" in control.confirm.checkbox.description
    control.button.click()
    assert calls == [] and not control.applied
    assert type(control.error).__name__ == "ConfirmationRequiredError"
    box = control.outcome.value
    assert "vpnrunbook-error-box" in box and "nothing was written" in box and "What to do" in box
    assert "Traceback" not in box
    assert not control.button.disabled  # the operator may tick and try again


def test_after_the_confirmation_it_applies_once_records_the_acceptance_and_shows_the_status_in_red():
    calls = []
    planned = risky_planned()
    control = apply_control(planned, lambda **kw: calls.append(kw) or applied_result(planned.plan, "NotConnected"),
                            interactive=True)
    control.confirm.checkbox.value = True
    control.button.click()
    assert len(calls) == 1 and calls[0]["refuse_breaking"] is False  # as --allow-breaking, and only then
    assert "I accept that this change breaks the tunnel to Site6" in calls[0]["accepted"]
    box = control.outcome.value
    assert "vpnrunbook-message-error" in box and "vpnrunbook-message-ok" not in box  # never just a green Applied
    assert control.button.disabled and control.confirm.checkbox.disabled  # done: nothing more to accept
    assert "The tunnel to Site6 (VNet1toSite6) is now NotConnected" in box
    assert "Evidence of this change: /evidence/run-1" in box


def test_an_accepted_weakening_that_keeps_the_tunnel_up_is_not_shown_as_plain_success():
    planned = risky_planned(breaks=False)
    control = apply_control(planned, lambda **kw: applied_result(planned.plan, "Connected"), interactive=True)
    assert control.confirm.required and "Site6" not in control.confirm.text
    control.confirm.checkbox.value = True
    control.click()
    assert "vpnrunbook-message-warning" in control.outcome.value
    assert "the tunnel to Site6 (VNet1toSite6) is now Connected" in control.outcome.value


def test_a_plain_change_that_ends_not_connected_is_red_too():
    planned_ = planned()
    control = apply_control(planned_, lambda: applied_result(planned_.plan, "NotConnected"), interactive=True)
    assert not control.confirm.required and control.confirm.checkbox.layout.display == "none"
    control.click()
    assert "vpnrunbook-message-error" in control.outcome.value and "(VNet1toSite6) is now NotConnected" in control.outcome.value


def test_the_session_form_passes_the_acceptance_to_the_apply_path(monkeypatch):
    import vpnrunbook.operations as ops

    planned = risky_planned()
    seen = []
    monkeypatch.setattr(ops, "apply_plan", lambda session, plan, **kw: seen.append((session, plan, kw))
                        or applied_result(plan, "NotConnected"))
    control = apply_control(planned, session="S", refuse_breaking=False, interactive=True)
    control.click()
    assert seen == []
    control.confirm.checkbox.value = True
    control.click()
    ((session, plan, kw),) = seen
    assert session == "S" and plan is planned.plan and kw["refuse_breaking"] is False
    assert kw["accepted"].startswith("I accept that this change breaks the tunnel to Site6")


def test_a_second_click_while_applying_starts_no_second_apply():
    """06: a double click ran two applies (one refused with 412); here the second click finds one in flight."""
    import threading

    started, release = threading.Event(), threading.Event()
    calls = []
    planned_ = planned()

    def apply():
        calls.append(1)
        started.set()
        assert release.wait(30)
        return applied_result(planned_.plan, "Connected", path="/evidence/run-A")

    control = apply_control(planned_, apply, interactive=True)
    first = threading.Thread(target=control.button.click)
    first.start()
    assert started.wait(30)
    assert control.in_flight and control.button.disabled  # disabled while the change is in flight
    seconds = [threading.Thread(target=control.button.click) for _ in range(3)]
    for t in seconds:
        t.start()
    for t in seconds:
        t.join(30)
    release.set()
    first.join(30)
    assert calls == [1] and control.applies == 1
    assert "vpnrunbook-message-ok" in control.outcome.value and "run-A" in control.outcome.value
    control.button.click()  # a later click (the queued second of a double click) keeps the applying run's link
    assert calls == [1] and control.evidence["path"] == "/evidence/run-A" and "run-A" in control.outcome.value


def test_a_picker_edited_after_the_plan_makes_apply_refuse_the_stale_plan():
    """04: after Run All the PFS picker was changed and Apply created the pair with the old policy, silently."""
    from vpnrunbook.ui.widgets import PolicyPicker

    picker = PolicyPicker("seed-s2s", interactive=True, show_save=False)
    planned_with = picker.policy  # what the plan cell used
    calls = []
    planned_ = planned()
    control = apply_control(planned_, lambda: calls.append(1) or applied_result(planned_.plan, "Connected"),
                            interactive=True, picker=picker, planned_policy=planned_with)
    picker.set(pfs_group="PFS14")
    assert "stale" in control.outcome.value and "policy" in control.outcome.value  # said at once, before a click
    control.button.click()
    assert calls == [] and type(control.error).__name__ == "StalePlanError"
    assert "vpnrunbook-error-box" in control.outcome.value and "nothing was written" in control.outcome.value
    picker.set(pfs_group="None")  # back to what the plan was made from: the plan shown is the plan applied
    control.button.click()
    assert calls == [1] and control.applied


def test_an_unexpected_error_is_one_box_not_a_traceback():
    def apply():
        raise KeyError("properties")

    control = apply_control(planned(), apply, interactive=True)
    assert control.click() is None and isinstance(control.error, KeyError)
    box = control.outcome.value
    assert "vpnrunbook-error-box" in box and "KeyError" in box and "What to do" in box and "Traceback" not in box
    assert not control.button.disabled
