"""vpnrunbook audit / rollout: files written, plan-only by default, exit codes, clear errors."""

from __future__ import annotations

from tests.fleet.conftest import arm_writes, connection_policy
from vpnrunbook.cli import main
from vpnrunbook.policy import presets


def test_audit_command_writes_csv_and_html(session, fleet, tmp_path, capsys):
    code = main(["audit", "--csv", str(tmp_path / "a.csv"), "--html", str(tmp_path / "a.html"), "--rows", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{fleet.connections} connections in {len(fleet.resource_groups)} resource groups" in out
    assert (tmp_path / "a.csv").read_text(encoding="utf-8").count("\n") == fleet.connections + 1
    assert "<svg" in (tmp_path / "a.html").read_text(encoding="utf-8")


def test_audit_command_reports_a_missing_group_with_exit_1(session, fleet, capsys):
    assert main(["audit", "-g", "nope-rg"]) == 1
    assert "nope-rg" in capsys.readouterr().err


def test_rollout_command_plans_by_default_and_applies_when_asked(session, fleet, tmp_path, capsys):
    before = len(arm_writes(session))
    args = ["rollout", "--policy", "strong-modern", "--strength", "weak,default", "-g", fleet.resource_groups[0],
            "--evidence-dir", str(tmp_path / "ev")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "plan only" in out and "planned" in out
    assert len(arm_writes(session)) == before
    state = tmp_path / "state.json"
    assert main([*args, "--apply", "--state", str(state), "--csv", str(tmp_path / "out.csv")]) == 0
    out = capsys.readouterr().out
    assert "applied" in out and state.exists() and (tmp_path / "out.csv").exists()
    frame_rows = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[1:]
    for line in frame_rows:
        rg, name = line.split(",")[:2]
        assert connection_policy(session, rg, name) == presets.get_preset("strong-modern").as_wire_dict()


def test_rollout_command_bad_input_exits_2_naming_the_problem(session, fleet, tmp_path, capsys):
    assert main(["rollout", "--policy", "strongest", "-c", "rg/x"]) == 2
    err = capsys.readouterr().err
    assert "'strongest' is not a preset" in err and "strong-modern" in err
    plan = tmp_path / "plan.csv"
    plan.write_text("resource_group,connection,policy\nrg,a,default\nrg,b,DES\n", encoding="utf-8")
    assert main(["rollout", "--plan", str(plan)]) == 2
    assert "row 3: policy: 'DES' is not a preset" in capsys.readouterr().err
    assert main(["rollout", "-c", "x"]) == 2
