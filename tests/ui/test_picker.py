"""The policy picker: allowed values only, GCM pairing, live validation/lint, presets, saving."""

from __future__ import annotations

import pytest

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.policy.strength import rate
from vpnrunbook.ui.widgets import AZURE_DEFAULTS, CUSTOM, policy_picker

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def picker(tmp_path):
    return policy_picker("seed-s2s", save_dir=tmp_path / "policies", interactive=True)


def test_dropdowns_offer_exactly_azures_allowed_values(picker):
    for spec in rules.FIELDS:
        control = picker.fields[spec.name]
        if spec.choices is not None:
            assert tuple(control.options) == spec.choices
        else:
            assert isinstance(control.value, int)
    assert "GCMAES256" not in picker.fields["ike_integrity"].options  # refused by the rules, so not offered


def test_initial_values_from_preset_file_mapping_and_policy(tmp_path):
    seed = PRESETS["seed-vnet2vnet"].policy
    assert policy_picker("seed-vnet2vnet").policy == seed
    path = tmp_path / "p.yaml"
    path.write_text(seed.to_yaml(name="p"))
    assert policy_picker(str(path)).policy == seed
    assert policy_picker(seed.as_wire_dict()).policy == seed
    assert policy_picker(seed).preset.value == "seed-vnet2vnet"
    with pytest.raises(rules.PolicyValidationError, match="neither a preset name nor a policy file"):
        policy_picker("no-such-thing")
    with pytest.raises(rules.PolicyValidationError, match="ike_encryption"):
        policy_picker({**seed.as_python_dict(), "ike_encryption": "aes256"})


def test_choosing_gcm_ipsec_encryption_sets_matching_integrity(picker):
    for enc in ("GCMAES128", "GCMAES192", "GCMAES256"):
        picker.set(ipsec_encryption=enc)
        assert picker.values["ipsec_integrity"] == rules.gcm_integrity_for(enc) == enc
        assert picker.valid
        assert any("GCM" in n for n in picker.notes)


def test_invalid_combination_is_shown_and_blocks_saving(picker):
    picker.set(ipsec_encryption="AES256", ipsec_integrity="GCMAES256")
    assert not picker.valid
    (error,) = picker.errors
    assert error.field == "ipsec_integrity" and "does not pair" in error.message
    assert "does not pair" in picker.status.value and "vpnrunbook-error" in picker.status.value
    assert picker.save_button.disabled
    with pytest.raises(rules.PolicyValidationError, match="ipsec_integrity"):
        picker.policy  # noqa: B018
    with pytest.raises(rules.PolicyValidationError):
        picker.save("x")
    assert not (picker.save_dir / "x.yaml").exists()
    picker.set(ipsec_integrity="SHA256")
    assert picker.valid and not picker.save_button.disabled


def test_out_of_range_lifetime_is_an_error_naming_the_range(picker):
    picker.set(sa_life_time_seconds=100)
    (error,) = picker.errors
    assert error.field == "sa_life_time_seconds"
    assert rules.SA_LIFETIME_SECONDS.describe() in error.message
    picker.set(sa_life_time_seconds=3600, sa_data_size_kilobytes=500)
    assert [e.field for e in picker.errors] == ["sa_data_size_kilobytes"]


def test_weak_algorithms_warn_with_the_reason(picker):
    picker.set(ike_integrity="SHA1", dh_group="DHGroup2")
    assert picker.valid  # warnings do not block
    warned = {w.field: w for w in picker.warnings}
    for field, value in (("ike_integrity", "SHA1"), ("dh_group", "DHGroup2")):
        assert warned[field].message == rate(field, value).reason
        assert rate(field, value).reason in picker.status.value
    assert not picker.save_button.disabled


def test_preset_dropdown_sets_every_field_and_follows_manual_changes(picker):
    picker.preset.value = "strong-modern"
    assert picker.policy == PRESETS["strong-modern"].policy
    assert picker.name.value == "strong-modern"
    picker.set(pfs_group="None")
    assert picker.preset.value == CUSTOM
    assert picker.name.value == "custom-policy"  # never offers a preset's file name for a changed policy
    picker.set(pfs_group="ECP384")
    assert picker.preset.value == "strong-modern"


def test_table_and_proposals_follow_the_values(picker):
    picker.set(ike_encryption="AES128")
    assert "AES128" in picker.table.value
    assert "ike: <b>aes128-sha384-modp2048s256</b>" in picker.proposals.value
    picker.set(ipsec_encryption="AES256", ipsec_integrity="GCMAES128")
    assert "fix the errors" in picker.proposals.value


def test_save_writes_a_loadable_yaml_file(picker):
    picker.set(ipsec_encryption="GCMAES256", pfs_group="ECP384")
    picker.name.value = "my-policy"
    picker.save_button.click()
    path = picker.save_dir / "my-policy.yaml"
    assert load_policy_file(path) == picker.policy
    assert "Saved" in picker.message.value and "my-policy.yaml" in picker.message.value


def test_save_refuses_bad_names_and_overwriting_a_different_policy(picker):
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(rules.PolicyValidationError, match="file name"):
            picker.save(bad)
    first = picker.save("site")
    picker.set(pfs_group="ECP256")
    with pytest.raises(FileExistsError, match="already exists"):
        picker.save("site")
    picker.name.value = "site"
    picker.save_button.click()
    assert "Not saved" in picker.message.value
    assert load_policy_file(first).pfs_group == "None"
    picker.overwrite.value = True
    picker.save_button.click()
    assert load_policy_file(first).pfs_group == "ECP256"


def test_headless_shows_static_html_and_no_widget(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_RUN_DIR", str(tmp_path))
    p = policy_picker("seed-s2s", save_dir=tmp_path)
    assert not p.interactive
    bundle = p._repr_mimebundle_()
    assert WIDGET_MIME not in bundle
    assert "vpnrunbook-policy-table" in bundle["text/html"] and "DHGroup24" in bundle["text/html"]
    assert p.policy == PRESETS["seed-s2s"].policy


def test_interactive_shows_the_widget(picker):
    assert WIDGET_MIME in picker._repr_mimebundle_()


def test_set_refuses_values_not_offered(picker):
    with pytest.raises(rules.PolicyValidationError, match="not offered"):
        picker.set(ike_integrity="GCMAES256")
    with pytest.raises(rules.PolicyValidationError, match="not a policy field"):
        picker.set(ike_cipher="AES256")
    assert picker.policy == IpsecIkePolicy(**PRESETS["seed-s2s"].policy.as_python_dict())


def test_default_save_dir_is_the_projects_policy_folder(tmp_path, monkeypatch):
    (tmp_path / "parameters" / "policies").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where a JupyterLab kernel runs
    p = policy_picker("seed-s2s", interactive=True)
    assert p.save_dir == (tmp_path / "parameters" / "policies").resolve()
    p.save("from-notebook")
    assert (tmp_path / "parameters" / "policies" / "from-notebook.yaml").is_file()


def test_relative_policy_file_is_found_from_the_notebooks_folder(tmp_path, monkeypatch):
    (tmp_path / "parameters" / "policies").mkdir(parents=True)
    (tmp_path / "parameters" / "policies" / "x.yaml").write_text(PRESETS["seed-update"].policy.to_yaml(name="x"))
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert policy_picker("parameters/policies/x.yaml").policy == PRESETS["seed-update"].policy
    with pytest.raises(rules.PolicyValidationError, match="cannot be read"):
        policy_picker("parameters/policies/missing.yaml")


def test_none_starts_at_azure_defaults_when_offered(tmp_path):
    p = policy_picker(None, save_dir=tmp_path, interactive=True, allow_defaults=True)
    assert AZURE_DEFAULTS in p.preset.options
    assert p.preset.value == AZURE_DEFAULTS and p.uses_defaults and p.policy is None and not p.errors
    assert p.save_button.disabled
    p.set(preset="seed-s2s")  # the operator chooses a custom policy
    assert not p.uses_defaults and p.policy == PRESETS["seed-s2s"].policy
    p.set(preset=AZURE_DEFAULTS)
    assert p.policy is None


def test_a_parameter_policy_is_what_the_picker_starts_from(tmp_path):
    p = policy_picker("seed-vnet2vnet", save_dir=tmp_path, interactive=True, allow_defaults=True)
    assert not p.uses_defaults and p.policy == PRESETS["seed-vnet2vnet"].policy
    assert AZURE_DEFAULTS not in policy_picker(None, interactive=True).preset.options  # only where it applies


def test_leaving_gcm_encryption_leaves_gcm_integrity_too(picker):
    picker.set(ipsec_encryption="GCMAES256")
    assert picker.fields["ipsec_integrity"].value == "GCMAES256"
    picker.set(ipsec_encryption="AES256")
    assert not rules.gcm_integrity_for(picker.fields["ipsec_integrity"].value)
    assert not picker.errors and "cannot use a GCM integrity" in picker.status.value


def test_save_message_goes_stale_when_the_file_name_changes(picker):
    picker.save_button.click()
    assert "Saved" in picker.message.value and picker.saved_path is not None
    picker.name.value = "other-name"
    assert "Saved" not in picker.message.value and "other-name.yaml" in picker.message.value
    assert picker.saved_path is None


def test_finding_sources_are_a_hover_hint_not_text(picker):
    picker.set(preset="strong-modern")
    picker.set(ike_encryption="GCMAES256")
    assert "PRF" in picker.status.value
    assert "(A14; I13)" not in picker.status.value and 'title="source: A14; I13' in picker.status.value
