"""Issue 22.2: secret references resolve only from the places the operator allows (an env-name prefix and a
secrets folder); ``env:WORKER_SECRET`` or ``file:/etc/machine-id`` through any door is refused naming the rule,
and the value behind it never becomes a shared key nor reaches the evidence."""

from __future__ import annotations

import json
import os

import pytest

from vpnrunbook.azure import secrets
from vpnrunbook.azure.secrets import SecretReferenceError, check_reference, resolve_shared_key
from vpnrunbook.cli import EXIT_USAGE, main
from vpnrunbook.evidence import rundir

WORKER_SECRET = "WorkerOnlySecret0123456789abcdefXY"


@pytest.fixture(autouse=True)
def _worker_env(monkeypatch):
    monkeypatch.setenv("WORKER_SECRET", WORKER_SECRET)
    monkeypatch.delenv(secrets.ENV_PREFIX_ENV, raising=False)
    monkeypatch.delenv(secrets.SECRETS_DIR_ENV, raising=False)


@pytest.mark.parametrize("ref", ["env:WORKER_SECRET", "file:/etc/machine-id", "file:/etc/passwd",
                                 "env:VPNRUNBOOK_SIGNING_KEY", "env:VPNRUNBOOK_EMULATOR_TOKEN", "env:PATH"])
def test_references_outside_the_allowed_places_are_refused_naming_the_rule(ref):
    for call in (check_reference, resolve_shared_key):
        with pytest.raises(SecretReferenceError) as info:
            call(ref)
        text = str(info.value)
        assert ref in text and "allowed:" in text and secrets.ENV_PREFIX_ENV in text and secrets.SECRETS_DIR_ENV in text
        assert WORKER_SECRET not in text


def test_the_demo_key_and_the_secrets_folder_are_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("VPNRUNBOOK_SEED_KEY", "SeedKey0123456789abcdefghijklmnop")
    assert resolve_shared_key("env:VPNRUNBOOK_SEED_KEY") == "SeedKey0123456789abcdefghijklmnop"
    ref = secrets.generate_shared_key("conn1")                 # the state folder's secrets/
    assert resolve_shared_key(ref)
    outside = tmp_path / "vault" / "k.key"
    outside.parent.mkdir()
    outside.write_text("VaultKey0123456789abcdefghijklmn\n")
    with pytest.raises(SecretReferenceError):
        resolve_shared_key(f"file:{outside}")
    monkeypatch.setenv(secrets.SECRETS_DIR_ENV, str(outside.parent))   # the operator adds a folder
    assert resolve_shared_key(f"file:{outside}") == "VaultKey0123456789abcdefghijklmn"


def test_a_symlink_in_the_secrets_folder_is_resolved_first():
    folder = secrets.secrets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "looks-fine.key"
    link.symlink_to("/etc/machine-id")
    with pytest.raises(SecretReferenceError, match="outside the folders"):
        resolve_shared_key(f"file:{link}")


def test_the_env_prefix_is_the_operators(monkeypatch):
    monkeypatch.setenv(secrets.ENV_PREFIX_ENV, "ACME_VPN_")
    monkeypatch.setenv("ACME_VPN_KEY", "AcmeKey0123456789abcdefghijklmno")
    assert resolve_shared_key("env:ACME_VPN_KEY") == "AcmeKey0123456789abcdefghijklmno"
    with pytest.raises(SecretReferenceError, match="ACME_VPN_"):
        resolve_shared_key("env:WORKER_SECRET")


@pytest.mark.parametrize("ref", ["env:WORKER_SECRET", "file:/etc/machine-id"])
def test_through_vpnrunbook_run_a_refused_run_without_the_value(tmp_path, capsys, ref):
    root = tmp_path / "ev"
    code = main(["run", "04", "-P", f"shared_key_ref={ref}", "--evidence-dir", str(root)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "shared_key_ref" in err and ref in err and "allowed" in err
    (run,) = rundir.list_runs(root)
    manifest = rundir.load_manifest(root, run["run_id"])
    assert run["outcome"] == "refused"
    assert "SecretPlaceNotAllowed" in json.dumps(manifest["error"]["problems"])
    for path in root.rglob("*"):
        if path.is_file():
            assert WORKER_SECRET.encode() not in path.read_bytes()


def test_through_a_scheduler_job(tmp_path, monkeypatch):
    from vpnrunbook.runbook.scheduled import ScheduledRunError, run_scheduled

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    with pytest.raises(ScheduledRunError) as info:
        run_scheduled(step="04", overrides={"shared_key_ref": "env:WORKER_SECRET"})
    assert info.value.result["exit_code"] == 2 and "shared_key_ref" in info.value.result["error"]
    assert os.environ["WORKER_SECRET"] not in json.dumps(info.value.result)
