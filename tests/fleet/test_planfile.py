"""Rollout plan files: CSV/YAML forms, and every problem reported at once with row, field, value, allowed."""

from __future__ import annotations

import pytest

from vpnrunbook.fleet.planfile import UNSET, RolloutPlanError, items_for, load_plan
from vpnrunbook.policy import presets


def test_csv_plan_with_presets_default_yaml_file_and_fields(tmp_path):
    (tmp_path / "pol.yaml").write_text(presets.get_preset("seed-update").to_yaml(name="pol"), encoding="utf-8")
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "resource_group,connection,policy,ikeEncryption,ikeIntegrity,dhGroup,ipsecEncryption,ipsecIntegrity,"
        "pfsGroup,saLifeTimeSeconds,saDataSizeKilobytes,dpd_timeout_seconds,use_policy_based_traffic_selectors\n"
        "rg1,a,strong-modern,,,,,,,,,,\n"
        "rg1,b,default,,,,,,,,,30,\n"
        "rg2,c,pol.yaml,,,,,,,,,,true\n"
        "rg2,d,,AES256,SHA256,DHGroup14,AES256,SHA256,PFS2048,3600,102400000,,\n", encoding="utf-8")
    items = load_plan(plan)
    assert [(i.resource_group, i.connection) for i in items] == [("rg1", "a"), ("rg1", "b"), ("rg2", "c"),
                                                                ("rg2", "d")]
    assert items[0].policy == presets.get_preset("strong-modern")
    assert items[1].policy is None and items[1].dpd_timeout_seconds == 30
    assert items[2].policy == presets.get_preset("seed-update") and items[2].use_policy_based_traffic_selectors
    assert items[3].policy.dh_group == "DHGroup14" and items[3].policy.sa_life_time_seconds == 3600


def test_yaml_plan_with_common_policy(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("policy: strong-modern\nconnections:\n  - rg1/a\n  - {resource_group: rg1, connection: b, "
                    "policy: default}\n", encoding="utf-8")
    a, b = load_plan(plan)
    assert a.policy == presets.get_preset("strong-modern") and b.policy is None


def test_every_problem_at_once_with_row_field_value_and_allowed(tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text("resource_group,connection,policy,dhGroup,dpd_timeout_seconds,colour\n"
                    "rg1,a,strong-modrn,,,\n"
                    ",b,default,,,\n"
                    "rg1,c,,DHGroup99,5000,\n"
                    "rg1,d,default,,,blue\n", encoding="utf-8")
    with pytest.raises(RolloutPlanError) as err:
        load_plan(plan)
    text = str(err.value)
    assert "row 2: policy: 'strong-modrn' is not a preset" in text and "strong-modern" in text
    assert "row 3: resource_group: '' is missing" in text or "row 3: resource_group: None is missing" in text
    assert "row 4: dh_group" in text or "row 4: dhGroup" in text
    assert "DHGroup99" in text
    assert "row 4: dpd_timeout_seconds" in text and "3600" in text
    assert "row 5: colour: 'blue' is not a plan column" in text
    assert len(err.value.problems) >= 5


def test_same_connection_twice_with_different_settings_is_refused(tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text("resource_group,connection,policy\nrg1,a,strong-modern\nrg1,a,strong-modern\nRG1,A,default\n",
                    encoding="utf-8")
    with pytest.raises(RolloutPlanError) as err:
        load_plan(plan)
    assert len(err.value.problems) == 1   # the identical repeat is fine, the conflicting one is not
    assert "row 4: connection: RG1/A is also in row 2 with different settings" in str(err.value)


def test_unknown_file_type_and_unreadable_file(tmp_path):
    with pytest.raises(RolloutPlanError, match=r"'plan.txt' has an unknown file type; allowed: .csv, .yaml or .yml"):
        (tmp_path / "plan.txt").write_text("x", encoding="utf-8")
        load_plan(tmp_path / "plan.txt")
    with pytest.raises(RolloutPlanError, match="cannot be read"):
        load_plan(tmp_path / "missing.csv")


def test_targets_without_any_change_are_refused():
    with pytest.raises(RolloutPlanError, match="nothing to change"):
        items_for(["rg/a"], UNSET)


@pytest.mark.parametrize("text", [
    "- !!binary aGVsbG8=\n",                                   # a non-core tag
    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",           # alias expansion ("billion laughs")
    "- !!bool foo\n",                                          # a core tag on the wrong value
])
def test_hostile_yaml_plan_is_refused_naming_the_plan(tmp_path, text):
    from vpnrunbook.fleet.planfile import RolloutPlanError, load_plan

    f = tmp_path / "plan.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(RolloutPlanError) as info:
        load_plan(f)
    assert info.value.problems and all(p.field.startswith("plan") for p in info.value.problems)
