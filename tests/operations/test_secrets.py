"""Shared-key references: env:/file:/generate resolve inside the process; the key never shows in errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vpnrunbook.azure import secrets
from vpnrunbook.azure.secrets import (
    SecretReferenceError,
    check_reference,
    describe_ref,
    generate_shared_key,
    materialize_reference,
    resolve_shared_key,
)
from vpnrunbook.policy import rules

KEY = "Planted0Key0ForSecretsTests0xyz"


def test_env_reference_resolves(monkeypatch):
    monkeypatch.setenv("VPN_KEY_T1", KEY)
    assert resolve_shared_key("env:VPN_KEY_T1") == KEY


def test_env_reference_unset_names_the_variable_only(monkeypatch):
    monkeypatch.delenv("VPN_KEY_MISSING", raising=False)
    with pytest.raises(SecretReferenceError, match="VPN_KEY_MISSING is not set"):
        resolve_shared_key("env:VPN_KEY_MISSING")


def test_file_reference_strips_newline(tmp_path):
    f = tmp_path / "k"
    f.write_text(KEY + "\n")
    assert resolve_shared_key(f"file:{f}") == KEY


def test_file_reference_missing_names_path(tmp_path):
    with pytest.raises(SecretReferenceError, match="does not exist"):
        resolve_shared_key(f"file:{tmp_path / 'nope'}")


def test_literal_key_is_refused_without_echo():
    with pytest.raises(SecretReferenceError) as info:
        check_reference(KEY)
    assert KEY not in str(info.value)
    assert "env:NAME" in str(info.value)


def test_key_breaking_azure_charset_is_refused_without_echo(monkeypatch):
    bad = "has space-and~tilde"
    monkeypatch.setenv("VPN_KEY_BAD", bad)
    with pytest.raises(SecretReferenceError) as info:
        resolve_shared_key("env:VPN_KEY_BAD")
    assert bad not in str(info.value)
    assert "space" in str(info.value)


def test_generate_writes_0600_file_in_state_dir_and_is_reused():
    ref = generate_shared_key("TestRG1.VNet1toSite6")
    assert ref.startswith("file:")
    path = Path(ref[len("file:"):])
    assert path.parent == (secrets.secrets_dir()).resolve()
    assert Path(os.environ["VPNRUNBOOK_STATE_DIR"]).resolve() in path.parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = resolve_shared_key(ref)
    assert len(key) == secrets.GENERATED_LENGTH
    assert not rules.check_shared_key(key)
    assert set(key) <= set(secrets.GENERATED_ALPHABET)
    # idempotent: a re-run keeps the same key
    assert generate_shared_key("TestRG1.VNet1toSite6") == ref
    assert resolve_shared_key(ref) == key
    # overwrite rotates it
    generate_shared_key("TestRG1.VNet1toSite6", overwrite=True)
    assert resolve_shared_key(ref) != key


def test_generated_keys_are_random():
    a = resolve_shared_key(generate_shared_key("a"))
    b = resolve_shared_key(generate_shared_key("b"))
    assert a != b


def test_generate_refuses_bad_names():
    with pytest.raises(SecretReferenceError, match="not allowed"):
        generate_shared_key("../escape")


def test_generate_cannot_be_resolved_directly_but_materializes():
    with pytest.raises(SecretReferenceError, match="generate_shared_key"):
        resolve_shared_key("generate")
    ref = materialize_reference("generate", name="conn")
    assert ref.startswith("file:") and resolve_shared_key(ref)
    assert materialize_reference("env:X", name="conn") == "env:X"


def test_describe_ref_never_holds_the_key(monkeypatch, tmp_path):
    monkeypatch.setenv("VPN_KEY_D", KEY)
    assert describe_ref("env:VPN_KEY_D") == "env:VPN_KEY_D (set)"
    f = tmp_path / "k"
    f.write_text(KEY)
    f.chmod(0o644)
    text = describe_ref(f"file:{f}")
    assert KEY not in text and "readable by others" in text
    assert KEY not in describe_ref(KEY)


def test_relative_file_reference_means_the_same_file_from_the_project_and_from_notebooks(tmp_path, monkeypatch):
    """JupyterLab runs kernels in notebooks/, the CLI in the project: a relative file: path is the project's."""
    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    (project / "parameters").mkdir()
    (project / "keys").mkdir()
    (project / "keys" / "site6.key").write_text(KEY + "\n", encoding="utf-8")
    for cwd in (project, project / "notebooks", project / "parameters"):
        monkeypatch.chdir(cwd)
        assert resolve_shared_key("file:keys/site6.key") == KEY, cwd
    monkeypatch.chdir(tmp_path)  # outside any project: relative to the current folder
    with pytest.raises(SecretReferenceError):
        resolve_shared_key("file:keys/site6.key")
