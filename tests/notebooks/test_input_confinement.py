"""Input that points somewhere: step 03's save_dir stays inside the policy folder (never `..`, never through a
symlink, never into evidence or emulator state); resource group names follow Azure's rule (one copy, in
vpnrunbook.policy.rules); a policy file a parameter points at is never copied into the evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.notebooks.conftest import files_containing
from vpnrunbook.cli import EXIT_OK, EXIT_USAGE
from vpnrunbook.policy import rules
from vpnrunbook.runbook.runner import run_step


@pytest.fixture
def folders(tmp_path, monkeypatch):
    policies = tmp_path / "project" / "parameters" / "policies"
    policies.mkdir(parents=True)
    ev = tmp_path / "ev"
    monkeypatch.setenv("VPNRUNBOOK_POLICY_DIR", str(policies))
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(ev))
    monkeypatch.setenv("VPNRUNBOOK_STATE_DIR", str(tmp_path / "state"))
    return {"policies": policies, "ev": ev, "tmp": tmp_path}


def _save(save_dir: str) -> object:
    return run_step("03", parameters={"policy_name": "mine", "save_dir": save_dir}, apply=True)


def _escapes(f: dict) -> list[tuple[str, Path]]:
    """(save_dir as given, where the file would land) for each way out of the policy folder."""
    pol, tmp = f["policies"], f["tmp"]
    (pol / "to-evidence").symlink_to(f["ev"], target_is_directory=True)
    (tmp / "elsewhere").mkdir()
    (pol / "to-elsewhere").symlink_to(tmp / "elsewhere", target_is_directory=True)
    (pol / "linked").mkdir()
    (pol / "linked" / "mine.yaml").symlink_to(tmp / "elsewhere" / "through-file-link.yaml")
    f["ev"].mkdir(exist_ok=True)
    run_folder = f["ev"] / "20260101T000000Z-03_create_policy-deadbeef"
    run_folder.mkdir()
    return [(f"{pol}/../../escaped", tmp / "project" / "escaped" / "mine.yaml"),
            (str(tmp / "elsewhere"), tmp / "elsewhere" / "mine.yaml"),
            (str(f["ev"]), f["ev"] / "mine.yaml"),
            (str(run_folder), run_folder / "mine.yaml"),
            (str(pol / "to-evidence"), f["ev"] / "mine.yaml"),
            (str(pol / "to-elsewhere"), tmp / "elsewhere" / "mine.yaml"),
            (str(pol / "linked"), tmp / "elsewhere" / "through-file-link.yaml"),
            (str(tmp / "state"), tmp / "state" / "mine.yaml")]


def test_save_dir_outside_the_policy_folder_is_refused_and_nothing_written(folders):
    for save_dir, landing in _escapes(folders):
        r = _save(save_dir)
        assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), (save_dir, r.error)
        assert "save_dir: " in r.error, r.error
        assert not landing.exists(), f"{save_dir} wrote {landing}"
        assert sorted(p.name for p in r.run_dir.iterdir()) == ["manifest.json", "notebook.html", "notebook.ipynb"]


def test_save_dir_inside_the_policy_folder_is_written(folders):
    r = _save(str(folders["policies"] / "team-a"))
    assert r.exit_code == EXIT_OK, r.error
    assert yaml.safe_load((folders["policies"] / "team-a" / "mine.yaml").read_text())["name"] == "mine"


@pytest.mark.parametrize("name", ["..", ".", "rg.", "a" * 91, "a/b", "a?b", "a b", "", "rg#1", "a\\b", "%2e%2e"])
def test_invalid_resource_group_names_are_refused_everywhere_a_step_takes_one(folders, name):
    for step, params, field in (("06", {"resource_group": name}, "resource_group"),
                                ("07", {"resource_groups": ["TestRG1", name]}, "resource_groups[1]"),
                                ("04", {"connection_type": "Vnet2Vnet", "local_gateway_name": None,
                                        "peer_gateway_name": "VNet2GW", "peer_resource_group": name},
                                 "peer_resource_group")):
        r = run_step(step, parameters=params)
        assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), (step, name, r.error)
        codes = {p["field"]: p["code"] for p in r.manifest["error"]["problems"]}
        assert codes.get(field) == "InvalidResourceGroupName", (step, codes)
        assert "not ending in a period" in r.error


@pytest.mark.parametrize("name", ["TestRG1", "(rg)", "-rg-", "rg.v2_x", "a" * 90, "Grüße", "資源グループ", "_"])
def test_valid_azure_resource_group_names_pass_the_step_check(name):
    from vpnrunbook.runbook.params import check_mapping

    assert rules.resource_group_name_ok(name)
    assert check_mapping("06_remove_policy", {"resource_group": name}) == []
    assert check_mapping("07_overview", {"resource_groups": [name]}) == []


SECRET = "ThisIsTheOtherUsersSecretValue0123456789"


def test_a_policy_file_pointed_at_is_not_copied_into_the_evidence(folders):
    target = folders["tmp"] / "someone-elses.yaml"
    lines = {f"secret_key_{i}": f"{SECRET}{i}" for i in range(30)}
    lines["ike_encryption"] = "X" * 500 + SECRET
    target.write_text(yaml.safe_dump(lines))
    r = run_step("05", parameters={"policy": str(target)})
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE)
    assert "policy.secret_key_0" in r.error or "secret_key_0" in r.error  # named, so it can be fixed
    assert SECRET not in r.error and files_containing(folders["ev"], SECRET) == []
    assert len(r.manifest["error"]["problems"]) <= 11


def test_a_path_that_is_not_a_yaml_file_is_not_read(folders):
    target = folders["tmp"] / "credentials"
    target.write_text(f"aws_secret_access_key: {SECRET}\n")
    for step, key in (("05", "policy"), ("03", "base")):
        r = run_step(step, parameters={key: str(target)})
        assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
        assert f"{key}: " in r.error and "does not end in .yaml" in r.error
    assert files_containing(folders["ev"], SECRET) == []
    assert files_containing(folders["ev"], "aws_secret_access_key") == []


def test_the_rule_is_the_one_in_policy_rules():
    problems = rules.check_resource_group_name("resource_group", "..")
    assert [p.code for p in problems] == ["InvalidResourceGroupName"]
    assert rules.RESOURCE_GROUP_NAME_MAX == 90 and "not ending in a period" in problems[0].allowed


def test_save_dir_into_an_evidence_folder_given_by_argument_is_refused(folders):
    ev = folders["policies"] / "evidence-here"  # an evidence root inside the policy folder, given as an argument
    r = run_step("03", parameters={"policy_name": "mine", "save_dir": str(ev)}, apply=True, evidence_dir=ev)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert "save_dir: " in r.error and "evidence" in r.error
    assert not (ev / "mine.yaml").exists()
