"""Issue 22.5: keys. A ``.pub`` planted beside a key that is then generated is refused unless it matches; a key
folder others can write is refused naming the path and the fix; ``verify --key`` given a copy of the public key or
a fingerprint says the anchor check is skipped and exits 5 unless ``--accept-unanchored``."""

from __future__ import annotations

import os
import shutil

import pytest

from vpnrunbook.cli import EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import signing

EXIT_UNANCHORED = 5


def _fresh(monkeypatch, folder) -> None:
    monkeypatch.setenv(signing.DIR_ENV, str(folder))
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    signing._signers.clear()


def _foreign_pub() -> bytes:
    return signing._public_pem(signing.Signer.generate())


def test_a_planted_pub_beside_a_key_generated_later_is_refused(tmp_path, monkeypatch, capsys):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    (keys / signing.PUB_FILE).write_bytes(_foreign_pub())   # planted before the first run
    _fresh(monkeypatch, keys)
    assert main(["evidence", "key"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(keys / signing.PUB_FILE) in err and "does not match" in err and "fix: remove" in err
    (keys / signing.PUB_FILE).unlink()                        # the fix the message names
    signing._signers.clear()
    assert main(["evidence", "key"]) == EXIT_OK
    assert signing._raw_public((keys / signing.PUB_FILE).read_bytes()) == signing.load_signer().raw_public


def test_a_pub_swapped_after_the_key_was_made_is_refused_before_a_run(tmp_path, monkeypatch, capsys):
    keys = tmp_path / "keys"
    _fresh(monkeypatch, keys)
    signing.load_signer()
    (keys / signing.PUB_FILE).unlink()
    (keys / signing.PUB_FILE).write_bytes(_foreign_pub())
    signing._signers.clear()
    assert main(["run", "06", "--evidence-dir", str(tmp_path / "ev")]) == EXIT_USAGE
    assert "does not match the signing key" in capsys.readouterr().err
    assert not (tmp_path / "ev" / "ledger.jsonl").exists()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_key_folder_others_can_write_is_refused(tmp_path, monkeypatch, capsys, mode):
    keys = tmp_path / "keys"
    keys.mkdir()
    os.chmod(keys, mode)
    _fresh(monkeypatch, keys)
    assert main(["evidence", "key"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(keys) in err and "can be written by other users" in err and f"chmod 700 {keys}" in err
    assert not (keys / signing.KEY_FILE).exists()             # refused before a key is made in it


@pytest.fixture
def signed_ledger(tmp_path, monkeypatch, capsys):
    """A ledger signed on 'host A'; returns (evidence root, A's key folder)."""
    host_a = tmp_path / "host-a"
    _fresh(monkeypatch, host_a)
    root = tmp_path / "ev"
    assert main(["run", "06", "-P", "connection_name=-bad-", "--evidence-dir", str(root)]) == EXIT_USAGE
    capsys.readouterr()
    return root, host_a


def test_verify_with_the_signers_key_file_checks_the_anchor(signed_ledger, capsys):
    root, host_a = signed_ledger
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", str(host_a / signing.PUB_FILE)]) == 0
    out = capsys.readouterr()
    assert "still in the ledger" in out.out and "anchor check skipped" not in out.err


def test_verify_with_a_copy_of_the_public_key_or_a_fingerprint_says_unanchored(signed_ledger, tmp_path,
                                                                             monkeypatch, capsys):
    root, host_a = signed_ledger
    copy = tmp_path / "auditor" / "copy.pub"
    copy.parent.mkdir()
    shutil.copy(host_a / signing.PUB_FILE, copy)
    fingerprint = signing.load_signer().fingerprint
    _fresh(monkeypatch, tmp_path / "auditor-keys")            # the auditor's machine: not the signer's folder
    for key in (str(copy), fingerprint):
        code = main(["evidence", "verify", "--evidence-dir", str(root), "--key", key])
        err = capsys.readouterr().err
        assert code == EXIT_UNANCHORED, err
        assert "anchor check skipped" in err and "--accept-unanchored" in err
        assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", key,
                     "--accept-unanchored"]) == EXIT_OK
        assert "anchor check skipped" in capsys.readouterr().err   # still said, only accepted
