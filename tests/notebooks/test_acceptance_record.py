"""The operator's acceptance of a breaking or weakening change is a field of the intent of its own — ``accepted``:
per warning accepted its text, who (``identity.label``), when and their words — signed with the intent, written
by the apply path whatever the door (``apply_plan(accepted=)``, ``operations.accepting``, an Apply control whose
callable does not pass it on, a break let through by ``refuse_breaking=False``), and read back by
``record.applied`` into the change record, ``evidence show``, the HTML record and the index. An older intent that
recorded it as ``ACCEPTED …`` warning lines still shows the acceptance."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.browser.seed_state import create_seed_connection, create_site6
from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import identity, index, journal, ledger, record, signing
from vpnrunbook.policy.presets import PRESETS

pytestmark = pytest.mark.slow
RG, CONN = "TestRG1", "VNet1toSite6"
WORDS = "I accept that this change breaks the tunnel to Site6 until the other end is reconfigured"


@pytest.fixture
def breaking(monkeypatch, tmp_path):
    """The seed connection, Site6's device speaking only the seed policy, and a plan (strong-modern) that breaks
    its tunnel; the evidence in the test's folder."""
    from vpnrunbook import operations as ops

    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "acceptanceKey123")
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.0005")
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", "alice")
    session = create_seed_connection(PRESETS["seed-s2s"].policy)
    create_site6(session, device=True)
    root = tmp_path / "evidence"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))

    def plan() -> object:
        p = ops.update_connection(session, resource_group=RG, connection_name=CONN,
                                  policy=PRESETS["strong-modern"].policy, apply=False).plan
        assert p.breaks_tunnel
        return p
    return SimpleNamespace(session=session, root=root, plan=plan)


def _intent(root, run_id=None):
    (intent,) = [e for _, _, e in ledger.read(root) if e and e.get("kind") == "intent"
                 and (run_id is None or e["run_id"] == run_id)]
    return intent


def _assert_shown(root, intent, *, statement):
    """The field, signed; the change record, `evidence show`, the HTML record and the index all show it."""
    (accepted,) = intent["accepted"]
    assert accepted == {"warning": intent["tunnel_warnings"][0], "risk": "breaks_tunnel", "by": identity.label(),
                        "at": intent["time"], "statement": statement}
    opened, problems = signing.open_line(intent)
    signed = {k: v for k, v in intent.items() if k != ledger.ENVELOPE}  # "accepted" among them
    assert problems == [] and signing.entry_digest(opened.statement) == ledger.sha256_bytes(
        signing.canonical(signed)), "signed with the intent"
    rec = record.for_run(root, intent["run_id"])
    assert rec["accepted"] == [accepted] and rec["change"]["breaks"]
    assert not any(w.startswith("ACCEPTED") for w in rec["warnings"])
    text = record.to_text(rec)
    assert f"accepted by {identity.label()} at {intent['time']}" in text
    assert "Accepted (by the operator, before the write)" in record.to_html(rec)
    (row,) = [r for r in index.rows(root) if r["run"] == intent["run_id"]]
    assert row["flags"].endswith(f"BROKE A TUNNEL (accepted by {identity.label()})")
    return rec


def test_a_breaking_change_accepted_through_the_api_carries_the_field(breaking, capsys):
    from vpnrunbook import operations as ops

    result = ops.apply_plan(breaking.session, breaking.plan(), accepted=WORDS)
    intent = _intent(breaking.root, result.details["evidence"]["run_id"])
    _assert_shown(breaking.root, intent, statement=WORDS)
    assert main(["evidence", "show", intent["run_id"], "--evidence-dir", str(breaking.root)]) == EXIT_OK
    assert "accepted by alice@" in capsys.readouterr().out
    assert main(["evidence", "list", "--evidence-dir", str(breaking.root), "--wide"]) == EXIT_OK
    assert "BROKE A TUNNEL (accepted by alice@" in capsys.readouterr().out
    assert "accepted by alice@" in (breaking.root / "index.html").read_text(encoding="utf-8")


def test_accepting_around_any_operation_carries_the_field(breaking):
    from vpnrunbook import operations as ops

    with ops.accepting(WORDS):
        ops.update_connection(breaking.session, resource_group=RG, connection_name=CONN,
                              policy=PRESETS["strong-modern"].policy, apply=True)
    _assert_shown(breaking.root, _intent(breaking.root), statement=WORDS)
    with pytest.raises(ValueError, match="statement"), ops.accepting(" "):
        pass


def test_the_guard_passes_the_acceptance_even_to_a_callable_that_does_not_take_it(breaking):
    """An Apply control (as 02's: a lambda calling apply_plan without ``accepted``): the ticked acceptance still
    reaches the intent's field."""
    from vpnrunbook import operations as ops
    from vpnrunbook.ui.apply import apply_control

    planned = breaking.plan()
    control = apply_control(planned, lambda: ops.apply_plan(breaking.session, planned), interactive=True)
    assert control.confirm.required and control.confirm.text.startswith(WORDS[:50])
    control.click()
    assert control.result is None and not [e for _, _, e in ledger.read(breaking.root) if e], "not ticked: no write"
    control.confirm.checkbox.value = True
    control.click()
    assert control.result is not None, control.outcome.value
    _assert_shown(breaking.root, _intent(breaking.root), statement=control.confirm.text)


def test_a_break_let_through_by_refuse_breaking_false_is_recorded(breaking):
    from vpnrunbook import operations as ops

    ops.apply_plan(breaking.session, breaking.plan(), refuse_breaking=False)
    intent = _intent(breaking.root)
    _assert_shown(breaking.root, intent, statement="let through by the caller's refuse_breaking=False (no words "
                                                   "given)")


def test_a_break_let_through_by_the_runners_allow_breaking_is_recorded(breaking):
    """``vpnrunbook run 05 --apply --allow-breaking``: the runner's kernel applies; the intent says how."""
    from pathlib import Path

    from vpnrunbook.runbook.runner import run_step

    params = Path(__file__).resolve().parents[2] / "parameters" / "seed" / "05_update_vnet1_to_site6.yaml"
    refused = run_step("05_update_policy", params_file=params, apply=True, evidence_dir=breaking.root)
    assert refused.exit_code == 2 and not [e for _, _, e in ledger.read(breaking.root) if e and e.get("kind") ==
                                           "intent"], "without --allow-breaking: refused, no intent"
    result = run_step("05_update_policy", params_file=params, apply=True, allow_breaking=True,
                      evidence_dir=breaking.root)
    assert result.ok, result.outcome
    intent = _intent(breaking.root)
    _assert_shown(breaking.root, intent, statement="let through by --allow-breaking (vpnrunbook run)")
    (row,) = index.rows(breaking.root)[:1]
    assert row["flags"] == f"WEAKENED, BROKE A TUNNEL (accepted by {identity.label()})", "the break was accepted"
    page = (breaking.root / intent["run_id"] / "notebook.html").read_text(encoding="utf-8")
    top = page[:page.index("</section>")]
    assert "Accepted (by the operator, before the write)" in top and f"accepted by {identity.label()}" in top


def test_an_older_record_with_accepted_lines_still_shows_the_acceptance(tmp_path, monkeypatch):
    """An intent written before the field: its acceptance in ``ACCEPTED …`` warning lines."""
    root = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
    session = SimpleNamespace(target="emulator", subscription_id="sub-1", base_url="https://127.0.0.1")
    label = f"{RG}/connections/{CONN}"
    with journal.run_scope("update connection VNet1toSite6") as scope:
        intent = journal.intent(scope, session, step="update connection VNet1toSite6", writes=[{
            "resource_id": f"/subscriptions/s/resourceGroups/{RG}/providers/x/connections/{CONN}", "label": label,
            "kind": "connection", "resource_group": RG, "name": CONN, "action": "update",
            "changes": [{"resource": label, "field": "properties.ipsecPolicies[0].dhGroup", "current": "DHGroup14",
                         "desired": "ECP384", "action": "update"}]}],
            warnings=["ACCEPTED: applied although it breaks 1 tunnel(s) (refuse_breaking=False: --allow-breaking, "
                      "or confirmed at the Apply control)", f"ACCEPTED by the operator: {WORDS}"],
            tunnel_warnings=["the tunnel to Site6 breaks: NO_PROPOSAL_CHOSEN"])
        journal.outcome(scope, intent, status="applied", verify={label: {"status": "NotConnected", "ok": False}})
    assert "accepted" not in intent
    rec = record.for_run(root, str(scope.run_id))
    who = identity.label()
    assert [(a["warning"], a["by"], a["at"]) for a in rec["accepted"]] == [
        ("applied although it breaks 1 tunnel(s) (refuse_breaking=False: --allow-breaking, or confirmed at the "
         "Apply control)", who, intent["time"]), (WORDS, who, intent["time"])]
    assert rec["warnings"] == ["the tunnel to Site6 breaks: NO_PROPOSAL_CHOSEN"], "ACCEPTED lines are not warnings"
    assert f"{WORDS} — accepted by {who}" in record.to_text(rec)
    (row,) = index.rows(root)
    assert row["flags"] == f"BROKE A TUNNEL (accepted by {who})"
