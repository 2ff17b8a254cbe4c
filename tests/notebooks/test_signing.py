"""Signed ledger (issue 14, point 4): every line an in-toto Statement v1 in a DSSE envelope, Ed25519, with a key
outside the evidence folder. Forged history re-signed with another key, a deleted ledger, an unsigned line and an
emulator record offered as Azure evidence all fail `vpnrunbook evidence verify --key`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import ledger, rundir, signing
from vpnrunbook.evidence.scrub import Scrubber


def _fake_run(root: Path, step: str = "s", outcome: str = "succeeded", target: str = "emulator") -> Path:
    started = rundir.utcnow()
    rec = rundir.RunEvidence(root=root, run_dir=rundir.new_run_dir(root, step, started), step=step,
                               started=started, manifest={"outcome": outcome, "operator": {"user": "t"},
                                                          "target": target, "subscription_id": "sub-1"})
    rec.write(notebook_text="{}", html="<p>out</p>", records=[{"name": "r"}], scrubber=Scrubber([]),
              ended=rundir.utcnow())
    return rec.run_dir


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "ev"
    dirs = [_fake_run(root, step=f"s{i}", outcome="failed" if i == 1 else "succeeded") for i in range(3)]
    pub = signing.load_signer().pub_path
    return root, dirs, pub


def _verify(root: Path, *extra: str) -> int:
    return main(["evidence", "verify", "--evidence-dir", str(root), *extra])


def _lines(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / ledger.LEDGER_NAME).read_text().splitlines()]


def test_pae_is_dsse_v1():
    """The DSSE spec's test vector (protocol.md)."""
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_each_line_is_a_signed_in_toto_statement_in_a_dsse_envelope(runs):
    """Read with nothing but `cryptography`: a generic DSSE verifier accepts the lines."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    root, dirs, pub = runs
    public = load_pem_public_key(pub.read_bytes())
    raws = (root / ledger.LEDGER_NAME).read_bytes().splitlines()
    for line, raw, d in zip(_lines(root), raws, dirs, strict=True):
        env = line["envelope"]
        assert env["payloadType"] == "application/vnd.in-toto+json"
        payload = base64.b64decode(env["payload"])
        (sig,) = env["signatures"]
        t = env["payloadType"].encode()
        public.verify(base64.b64decode(sig["sig"]), b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload))
        st = json.loads(payload)
        assert st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"]
        assert {"name": f"{d.name}/manifest.json", "digest": {"sha256": line["manifest_sha256"]}} in st["subject"]
        assert st["predicateType"] == "urn:vpnrunbook:ledger-entry:v2" and "entry" not in st["predicate"]
        entry = {k: v for k, v in line.items() if k != "envelope"}
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(canonical).hexdigest()
        assert st["subject"][-1] == {"name": f"ledger-entry/{line['seq']}", "digest": {"sha256": digest}}
        assert {"seq", "prev"} <= set(entry), "the chain itself is signed (by the entry's digest)"
        # the line is the entry's canonical JSON with the envelope as its last key: the digest comes from its bytes
        assert raw.startswith(canonical[:-1] + b',"envelope":{') and raw.endswith(b"}")
        assert hashlib.sha256(raw[:raw.rfind(b',"envelope":{')] + b"}").hexdigest() == digest
        assert st["predicate"]["target"] == {"name": "emulator", "subscription": "sub-1"}
        assert sig["keyid"] == signing.load_signer().keyid


def test_key_is_created_once_0600_outside_the_evidence(runs, capsys):
    root, _, pub = runs
    key_path, pub_path = signing.key_paths()
    assert pub == pub_path and key_path.parent == Path(os.environ["VPNRUNBOOK_SIGNING_DIR"])
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert not key_path.resolve().is_relative_to(root.resolve())
    assert main(["evidence", "key"]) == EXIT_OK
    out = capsys.readouterr().out
    assert str(pub) in out and signing.load_signer().fingerprint in out and "existing" in out
    key_path.chmod(0o644)
    signing._signers.clear()
    with pytest.raises(signing.SigningError, match="readable by others"):
        signing.load_signer()


def test_a_key_inside_the_evidence_folder_is_refused(tmp_path, monkeypatch, capsys):
    root = tmp_path / "ev"
    monkeypatch.setenv(signing.DIR_ENV, str(root / "keys"))
    assert main(["run", "06", "-P", "connection_name=X!", "--evidence-dir", str(root)]) == EXIT_USAGE
    assert "lies inside the evidence folder" in capsys.readouterr().err
    assert not (root / ledger.LEDGER_NAME).exists()


def test_verify_with_the_key_passes_and_names_the_signer(runs, capsys):
    root, _, pub = runs
    fp = signing.load_signer().fingerprint
    assert _verify(root, "--key", str(pub)) == EXIT_OK
    assert f"every line signed by the key given ({fp})" in capsys.readouterr().out
    assert _verify(root, "--key", fp) == EXIT_OK, "a fingerprint works as --key too"
    capsys.readouterr()
    assert _verify(root) == EXIT_OK
    assert f"signed by {fp} (3 line(s); this host's key)" in capsys.readouterr().out


def _forge(root: Path, victim: str, forger: signing.Signer) -> None:
    """What an attacker who can write evidence/ does: edit a run, recompute its hashes, rebuild and re-sign the
    whole chain with a key of their own."""
    old = _lines(root)
    run = root / victim
    m = json.loads((run / "manifest.json").read_text())
    m["outcome"] = "succeeded"
    (run / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    (root / ledger.LEDGER_NAME).unlink()
    for line in old:
        entry = {k: v for k, v in line.items() if k not in ("seq", "prev", "envelope")}
        if entry["run_id"] == victim:
            entry["outcome"] = "succeeded"
            entry["manifest_sha256"] = ledger.sha256_file(run / "manifest.json")
        ledger.append(root, entry, signer=forger)


def test_history_edited_and_resigned_with_another_key_fails_with_the_key(runs, capsys):
    root, dirs, pub = runs
    _forge(root, dirs[1].name, signing.Signer.generate())
    assert _verify(root) == EXIT_OK, "self-consistent: without --key only the signer's name shows the forgery"
    out = capsys.readouterr().out
    assert signing.load_signer().fingerprint not in out and "pass --key" in out
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    err = capsys.readouterr().err
    for n in (1, 2, 3):
        assert f"ledger line {n}: signed by SHA256:" in err and "not by the key given" in err
    assert "differs from the head this key last signed here" in err, "the anchor beside the key"


def test_edited_line_fails_even_with_a_recomputed_chain(runs, capsys):
    """Edit a line and recompute every prev: the chain is consistent, the signature is not."""
    root, dirs, pub = runs
    lines = (root / ledger.LEDGER_NAME).read_text().splitlines()
    entries = [json.loads(x) for x in lines]
    entries[1]["outcome"] = "succeeded"
    prev, out = ledger.GENESIS, []
    for e in entries:
        e["prev"] = prev
        raw = ledger._dumps(e)
        out.append(raw)
        prev = ledger.sha256_bytes(raw.encode())
    (root / ledger.LEDGER_NAME).write_text("\n".join(out) + "\n")
    found = [str(f) for f in ledger.verify(root)[1]]
    edited = "differs from its signed statement: its content no longer matches the signed digest"
    assert "ledger line 1: " + edited not in " ".join(found), "re-serialized, unedited: still its signed content"
    assert f"ledger line 2: {edited} (edited after it was signed)" in found
    assert f"ledger line 3: {edited} (edited after it was signed)" in found
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE


def test_deleted_ledger_fails_with_the_key(runs, capsys):
    root, dirs, pub = runs
    (root / ledger.LEDGER_NAME).unlink()
    for d in dirs:
        shutil.rmtree(d)
    assert _verify(root) == EXIT_OK, "nothing left to check without a key"
    capsys.readouterr()
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    err = capsys.readouterr().err
    assert "ledger: is absent" in err and "nothing signed to verify" in err
    assert "has 0 line(s), but the head this key last signed here" in err


def test_a_new_run_after_the_ledger_was_deleted_records_the_loss(runs, capsys):
    root, dirs, pub = runs
    (root / ledger.LEDGER_NAME).unlink()
    for d in dirs:
        shutil.rmtree(d)
    _fake_run(root, step="after")
    (line,) = _lines(root)
    assert line["ledger_gap"]["lost_head"].startswith("3:")
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    assert "ledger line 1: records that the ledger had lost the head 3:" in capsys.readouterr().err


def test_cut_tail_is_caught_by_the_anchor_and_by_head(runs, capsys):
    root, dirs, pub = runs
    kept = ledger.head(root)
    path = root / ledger.LEDGER_NAME
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    shutil.rmtree(dirs[2])
    assert _verify(root) == EXIT_OK
    assert _verify(root, "--head", kept) == EXIT_EVIDENCE
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    assert "has 2 line(s), but the head this key last signed here" in capsys.readouterr().err


def test_unsigned_line_fails(runs, capsys):
    root, _, pub = runs
    path = root / ledger.LEDGER_NAME
    raw = path.read_bytes().splitlines()
    extra = {"run_id": "x", "step": "s", "outcome": "succeeded", "seq": 4, "prev": ledger.sha256_bytes(raw[-1])}
    path.write_bytes(path.read_bytes() + ledger._dumps(extra).encode() + b"\n")
    assert any("ledger line 4: is not signed" in str(f) for f in ledger.verify(root)[1])
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    assert "ledger line 4: is not signed" in capsys.readouterr().err


def test_another_keys_records_fail_with_the_key(runs, capsys):
    root, _, pub = runs
    ledger.append(root, {"run_id": "intruder", "target": "azure"}, signer=signing.Signer.generate())
    assert _verify(root, "--key", str(pub)) == EXIT_EVIDENCE
    assert "ledger line 4: signed by SHA256:" in capsys.readouterr().err


def test_emulator_records_are_refused_as_azure_evidence(tmp_path, capsys):
    root = tmp_path / "ev"
    _fake_run(root, target="emulator")
    pub = str(signing.load_signer().pub_path)
    assert _verify(root, "--key", pub, "--target", "emulator") == EXIT_OK
    assert _verify(root, "--key", pub, "--target", "azure") == EXIT_EVIDENCE
    assert "ledger line 1: is signed for target 'emulator', not 'azure'" in capsys.readouterr().err
    path = root / ledger.LEDGER_NAME
    path.write_text(path.read_text().replace('"target":"emulator"', '"target":"azure"'))
    assert _verify(root, "--key", pub, "--target", "azure") == EXIT_EVIDENCE
    err = capsys.readouterr().err
    assert "differs from its signed statement in target" in err and "signed for target 'emulator'" in err


def test_bad_key_argument_is_refused(runs, tmp_path, capsys):
    root, _, _ = runs
    (tmp_path / "not-a-key").write_text("hello")
    assert _verify(root, "--key", str(tmp_path / "not-a-key")) == EXIT_USAGE
    assert "is not an Ed25519 public key" in capsys.readouterr().err
    assert _verify(root, "--key", str(tmp_path / "absent.pub")) == EXIT_USAGE


def test_every_run_prints_the_signers_fingerprint(tmp_path, capsys):
    root = tmp_path / "ev"
    assert main(["run", "06", "-P", "connection_name=X!", "--evidence-dir", str(root)]) == EXIT_USAGE
    out = capsys.readouterr().out
    signer = signing.load_signer()
    assert f"signed by: {signer.fingerprint} (public key {signer.pub_path};" in out
    assert _verify(root, "--key", str(signer.pub_path)) == EXIT_OK


def test_change_records_name_their_resources_and_endpoint_in_the_statement(tmp_path):
    """An intent-style record (the apply path's change journal): each written resource is a subject with the
    digest of what will be written, and the endpoint is part of the signed target."""
    root = tmp_path / "ev"
    write = {"resource_id": "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Network/connections/C1",
             "etag": 'W/"1"', "body": {"properties": {"dpdTimeoutSeconds": 30}}}
    line = ledger.append(root, {"kind": "intent", "run_id": "r1", "target": "emulator", "subscription_id": "s",
                                "endpoint": "https://127.0.0.1:8443", "writes": [write]})
    st = json.loads(base64.b64decode(line["envelope"]["payload"]))
    digest = ledger.sha256_bytes(json.dumps(write, sort_keys=True, separators=(",", ":")).encode())
    assert {"name": write["resource_id"], "digest": {"sha256": digest}} in st["subject"]
    assert st["predicate"]["target"] == {"name": "emulator", "subscription": "s", "endpoint": "https://127.0.0.1:8443"}


def test_the_key_is_loaded_once_per_process(tmp_path, monkeypatch):
    calls = []
    real = signing._load_or_create
    monkeypatch.setattr(signing, "_load_or_create", lambda *a, **k: calls.append(a) or real(*a, **k))
    root = tmp_path / "ev"
    for i in range(5):
        ledger.append(root, {"run_id": f"r{i}", "target": "emulator"})
    assert signing.load_signer() is signing.load_signer()
    assert len(calls) <= 1, "loaded at most once (none when an earlier test of this process loaded it)"
