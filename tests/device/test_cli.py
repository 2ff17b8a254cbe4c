"""``vpnrunbook device render|check|write-secret``."""

from __future__ import annotations

import json

from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

KEY = "Cli0Key0Never0Printed0abcdef12"


def test_check_exit_codes_and_json(capsys):
    assert main(["device", "check", "--preset", "seed-s2s", "--ike", "aes256-sha384-modp2048s256",
                 "--esp", "aes256-sha256"]) == EXIT_OK
    assert "compatible" in capsys.readouterr().out
    assert main(["device", "check", "--preset", "seed-s2s", "--ike", "aes256-sha384-modp2048s256",
                 "--esp", "aes256-sha256-ecp384", "--json"]) == EXIT_FAILED
    record = json.loads(capsys.readouterr().out)
    assert record["outcome"] == "fails_at_rekey"
    assert main(["device", "check", "--default", "--ike", "aes256-sha1-nope", "--esp", "aes256-sha1"]) == EXIT_USAGE
    assert "nope" in capsys.readouterr().err


def test_render_prints_config_without_the_key(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CLI_PSK", KEY)
    args = ["device", "render", "--preset", "seed-s2s", "--azure-address", "52.1.2.3", "--local-prefix",
            "10.61.0.0/16", "--azure-prefix", "10.11.0.0/16", "--shared-key-ref", "env:CLI_PSK"]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "proposals = aes256-sha384-modp2048s256" in out and KEY not in out
    assert main([*args, "--format", "cisco"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "group 24" in out and KEY not in out
    secret = tmp_path / "azure.conf"
    assert main(["device", "write-secret", "--shared-key-ref", "env:CLI_PSK", "--out", str(secret)]) == EXIT_OK
    assert KEY not in capsys.readouterr().out and KEY.encode().hex() in secret.read_text()
    assert main([*args[:-1], KEY]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert KEY not in err and "reference" in err
