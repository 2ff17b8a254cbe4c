"""Signed ledger statement v2 (issue 24, `evidence verify` of 100,000 lines): the statement signs the SHA-256 of
the entry's canonical JSON (its last subject, ``ledger-entry/<seq>``) instead of carrying a copy of it, and the
line is that canonical JSON with ``"envelope"`` as its last key, so a verifier reads the signed digest from the
line's bytes. Every edit is still found; ledgers written in format v1 still verify and still report their edits."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import ledger, record, signing

SUB = "00000000-0000-0000-0000-000000000001"
RID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/connections/c1"
DIGEST_FAILS = "differs from its signed statement"


def _intent(n: int) -> dict:
    return {"kind": "intent", "intent_id": f"i{n}", "run_id": "r1", "step": f"update c{n}", "target": "emulator",
            "subscription_id": SUB, "endpoint": "https://127.0.0.1:8443", "time": "2026-12-07T00:00:00Z",
            "writes": [{"resource_id": RID, "etag": f'W/"{n}"', "label": "rg/connections/c1",
                        "body": {"properties": {"dpdTimeoutSeconds": 30 + n, "note": "caf\u00e9 \"x\""}}}],
            "warnings": ["INFO a", "INFO b"]}


def _outcome(n: int) -> dict:
    return {"kind": "outcome", "intent_id": f"i{n}", "run_id": "r1", "step": f"update c{n}", "target": "emulator",
            "subscription_id": SUB, "status": "applied", "time": "2026-12-07T00:00:01Z",
            "written": [{"resource_id": RID, "etag": f'W/"{n + 100}"', "provisioning_state": "Succeeded"}]}


@pytest.fixture
def root(tmp_path) -> Path:
    """A ledger of 3 changes (lines 1-6: intent, outcome, ...), written by ``ledger.append``."""
    root = tmp_path / "ev"
    for n in range(3):
        ledger.append(root, _intent(n))
        ledger.append(root, _outcome(n))
    return root


def _raws(root: Path) -> list[bytes]:
    return (root / ledger.LEDGER_NAME).read_bytes().splitlines()


def _write(root: Path, raws: list[bytes]) -> None:
    (root / ledger.LEDGER_NAME).write_bytes(b"".join(r + b"\n" for r in raws))


def _rechain(raws: list[bytes]) -> list[bytes]:
    """Recompute every ``prev`` after an edit (what a careful attacker does), keeping each line's layout."""
    out, prev = [], ledger.GENESIS
    for raw in raws:
        entry = json.loads(raw)
        old = f'"prev":"{entry["prev"]}"'.encode()
        assert raw.count(old) == 1
        raw = raw.replace(old, f'"prev":"{prev}"'.encode())
        out.append(raw)
        prev = ledger.sha256_bytes(raw)
    return out


def _found(root: Path, **kw) -> list[str]:
    return [str(f) for f in ledger.check(root, **kw).findings]


def _key() -> signing.PublicKey:
    return signing.load_signer().public_key


def _statement(raw: bytes) -> dict:
    return json.loads(base64.b64decode(json.loads(raw)["envelope"]["payload"]))


# ---- the format ----------------------------------------------------------------------------------------------
def test_a_v2_line_signs_the_digest_of_its_own_bytes_and_verifies(root, capsys):
    for raw in _raws(root):
        entry = json.loads(raw)
        st_ = _statement(raw)
        assert st_["predicateType"] == signing.PREDICATE_TYPE == "urn:vpnrunbook:ledger-entry:v2"
        assert set(st_["predicate"]) == {"target", "signer"}, "no copy of the entry"
        assert st_["predicate"]["target"] == signing.target_of(entry)
        visible = {k: v for k, v in entry.items() if k != "envelope"}
        body = signing.canonical(visible)
        assert raw == body[:-1] + b',"envelope":' + signing.canonical(entry["envelope"]) + b"}"
        split = signing.split_line(raw)
        assert split is not None and split.envelope == entry["envelope"]
        assert split.digest == ledger.sha256_bytes(body) == signing.entry_digest(st_)
        assert split.line_sha256 == ledger.sha256_bytes(raw), "the chain hash read in the digest's pass"
        assert signing.load_line(raw, split) == entry and list(signing.load_line(raw, split)) == list(entry)
        assert st_["subject"][-1]["name"] == f"ledger-entry/{entry['seq']}"
    assert _found(root, key=_key()) == []
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", str(signing.load_signer().pub_path),
                 "--target", "emulator", "--subscription", SUB]) == EXIT_OK


def test_a_v2_line_is_smaller_than_its_v1_form(root):
    raw = _raws(root)[0]
    entry = json.loads(raw)
    assert len(raw) < len(_v1_line({k: v for k, v in entry.items() if k != "envelope"}, signing.load_signer())) * 0.7


def test_the_change_record_shows_v2_lines_valid_and_an_edited_one_invalid(root):
    lines = record.run_lines(root, "r1")
    assert [ln["signature"] for ln in lines] == ["valid"] * 6
    raws = _raws(root)
    raws[1] = raws[1].replace(b'"status":"applied"', b'"status":"failed"')
    _write(root, raws)
    lines = record.run_lines(root, "r1")
    assert lines[1]["signature"].startswith("INVALID: the line differs from its signed statement")
    assert [ln["signature"] for ln in lines[2:]] == ["valid"] * 4


# ---- edits -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", sorted(set(_intent(0)) | {"seq", "prev"}))
def test_editing_any_field_of_a_line_is_reported(root, field):
    raws = _raws(root)
    entry = json.loads(raws[2])
    envelope = entry.pop("envelope")
    entry[field] = "edited" if field != "seq" else 99
    raws[2] = signing.join_line(signing.canonical(entry), envelope)  # laid out as written, envelope kept
    _write(root, raws)
    found = _found(root, key=_key())
    assert any(f.startswith(f"ledger line 3: {DIGEST_FAILS}") and "edited after it was signed" in f for f in found)


def test_the_fields_the_statement_signs_besides_the_digest_are_named(root):
    raws = _raws(root)
    raws[0] = raws[0].replace(b'"subscription_id":"' + SUB.encode(), b'"subscription_id":"other')
    raws[1] = raws[1].replace(b'W/\\"100\\"', b'W/\\"999\\"')
    raws[2] = raws[2].replace(b'"step":"update c1"', b'"step":"update c9"')
    _write(root, _rechain(raws))
    found = _found(root)
    assert f"ledger line 1: {DIGEST_FAILS} in subscription_id (its content no longer matches the signed digest): " \
           "edited after it was signed" in found
    assert any(f.startswith(f"ledger line 2: {DIGEST_FAILS} in written (") for f in found)
    assert f"ledger line 3: {DIGEST_FAILS}: its content no longer matches the signed digest (edited after it was " \
           "signed)" in found


def test_an_edited_payload_does_not_verify(root):
    raws = _raws(root)
    entry = json.loads(raws[3])
    st_ = _statement(raws[3])
    st_["predicate"]["target"]["name"] = "azure"
    forged = base64.b64encode(signing.canonical(st_)).decode()
    raws[3] = raws[3].replace(entry["envelope"]["payload"].encode(), forged.encode())
    _write(root, _rechain(raws))
    found = _found(root)
    assert any(f.startswith("ledger line 4: signature by SHA256:") and "does not verify" in f for f in found)


def test_swapped_envelopes_are_reported(root):
    raws = _raws(root)
    a, b = (json.loads(raws[i]) for i in (2, 4))
    raws[2] = signing.join_line(signing.canonical({k: v for k, v in a.items() if k != "envelope"}), b["envelope"])
    raws[4] = signing.join_line(signing.canonical({k: v for k, v in b.items() if k != "envelope"}), a["envelope"])
    _write(root, _rechain(raws))
    found = _found(root, key=_key())
    for n in (3, 5):
        assert any(f.startswith(f"ledger line {n}: {DIGEST_FAILS} in ") and "seq" in f and "writes" in f
                   for f in found), found


def test_reordered_keys_keep_the_signature_and_break_the_chain(root):
    """A line re-serialized with its keys in another order is the same signed content (the parsed entry's
    canonical JSON still hashes to the digest), but its bytes changed: the next line's prev no longer matches,
    and for the last line the signer's anchor (the head it signed) no longer does."""
    original = _raws(root)

    def reordered(raw: bytes) -> bytes:
        out = json.dumps(dict(reversed(list(json.loads(raw).items()))), separators=(",", ":")).encode()
        assert signing.split_line(out) is None and out != raw
        return out

    _write(root, original[:2] + [reordered(original[2])] + original[3:])
    found = _found(root)
    assert not any(f.startswith("ledger line 3:") for f in found), found
    assert any(f.startswith("ledger line 4: previous-hash mismatch") for f in found), found
    _write(root, original[:-1] + [reordered(original[-1])])
    found = _found(root, key=_key())
    assert not any(f.startswith("ledger line 6:") and "signed statement" in f for f in found), found
    assert any("ledger line 6: differs from the head this key last signed here" in f for f in found), found


@pytest.mark.parametrize("how", ["same key twice before the envelope", "key after the envelope",
                                 "two envelopes", "escaped envelope key before", "escaped envelope key after"])
def test_duplicated_keys_are_reported(root, how):
    raws = _raws(root)
    raw = raws[1]
    i = raw.rfind(b',"envelope":{')
    envelope = raw[i + len(b',"envelope":'):-1]
    other = json.loads(raws[3])["envelope"]
    fake = signing.canonical(other)
    if how == "same key twice before the envelope":   # a first-wins reader sees "failed"
        raw = b'{"status":"failed",' + raw[1:]
    elif how == "key after the envelope":             # json.loads keeps the later value
        raw = raw[:-1] + b',"status":"failed"}'
    elif how == "two envelopes":
        raw = raw[:i] + b',"envelope":' + fake + b',"envelope":' + envelope + b"}"
    elif how == "escaped envelope key before":
        raw = raw[:i] + b',"\\u0065nvelope":' + fake + b',"envelope":' + envelope + b"}"
    else:
        raw = raw[:i] + b',"envelope":' + envelope + b',"\\u0065nvelope":' + fake + b"}"
    raws[1] = raw
    _write(root, _rechain(raws))
    found = [f for f in _found(root) if f.startswith("ledger line 2:")]
    assert any(DIGEST_FAILS in f for f in found), found


@pytest.mark.parametrize("tail", [b' {"status":"failed"}', b"x", b',"status":"failed"}', b',"note":"added"}'])
def test_text_appended_after_the_envelope_is_reported(root, tail):
    raws = _raws(root)
    raws[1] = raws[1] + tail if not tail.startswith(b",") else raws[1][:-1] + tail
    _write(root, raws)
    found = [f for f in _found(root) if f.startswith("ledger line 2:")]
    assert found and all(DIGEST_FAILS in f or "is not a JSON object" in f for f in found), found


def test_a_statement_signed_for_another_target_than_its_line_names_is_reported(root):
    """The signer's own key, a statement that does not describe its line (v1 checked it through the copy)."""
    signer = signing.load_signer()
    raws = _raws(root)
    entry = {k: v for k, v in json.loads(raws[-1]).items() if k != "envelope"}
    body = signing.canonical(entry)
    st_ = signer.statement(entry, digest=ledger.sha256_bytes(body))
    st_["predicate"]["target"] = {"name": "azure", "subscription": SUB}
    raws[-1] = signing.join_line(body, signer.sign_statement(st_))
    _write(root, raws)
    found = _found(root, key=_key(), target="azure")
    assert any(f.startswith(f"ledger line 6: {DIGEST_FAILS} in target: signed for ") for f in found), found
    assert sum(f.startswith("ledger line ") and "is signed for target 'emulator', not 'azure'" in f
               for f in found) == 5
    assert any(f.startswith("ledger line 1: is signed for subscription") for f in _found(root, subscription="s9"))


@pytest.mark.parametrize("predicate", [["not", "a", "dict"], {"target": "azure"}, {}])
def test_an_odd_statement_signed_by_the_key_is_reported_not_a_crash(root, predicate):
    signer = signing.load_signer()
    raws = _raws(root)
    entry = {k: v for k, v in json.loads(raws[-1]).items() if k != "envelope"}
    body = signing.canonical(entry)
    st_ = signer.statement(entry, digest=ledger.sha256_bytes(body))
    st_["predicate"] = predicate
    raws[-1] = signing.join_line(body, signer.sign_statement(st_))
    _write(root, raws)
    found = _found(root, key=_key(), target="emulator", subscription=SUB)
    assert any(f.startswith(f"ledger line 6: {DIGEST_FAILS} in target") for f in found), found
    assert any(f.startswith("ledger line 6: is signed for target None, not 'emulator'") for f in found), found
    raws[-1] = raws[-1].replace(b'"status":"applied"', b'"status":"failed"')
    _write(root, raws)
    found = _found(root, key=_key())
    assert any(f.startswith(f"ledger line 6: {DIGEST_FAILS} in target (its content no longer matches the signed "
                            "digest)") for f in found), found


def test_a_forged_line_signed_by_another_key_is_reported_with_the_key(root, capsys):
    forger = signing.Signer.generate()
    ledger.append(root, _intent(7), signer=forger)
    ledger.append(root, _outcome(7), signer=forger)
    assert _found(root) == [], "self-consistent without --key"
    found = _found(root, key=_key())
    assert any(f.startswith("ledger line 7: signed by SHA256:") and "not by the key given" in f for f in found)
    pub = str(signing.load_signer().pub_path)
    assert main(["evidence", "verify", "--evidence-dir", str(root), "--key", pub]) == EXIT_EVIDENCE
    assert "ledger line 8: signed by SHA256:" in capsys.readouterr().err


def test_the_identity_key_forgery_does_not_verify(root):
    """Ed25519 with the identity point as public key and the all-zero signature (R = identity, S = 0) satisfies
    the cofactorless equation for every message: OpenSSL accepts it, libsodium refuses small-order points. Such a
    line, appended without any private key, must not count as signed (not even without --key)."""
    identity = b"\x01" + b"\x00" * 31
    keyid = signing.keyid_of(identity)
    raws = _raws(root)
    entry = {**_intent(9), "seq": 7, "prev": ledger.sha256_bytes(raws[-1])}
    body = signing.canonical(entry)
    statement = signing.load_signer().statement(entry, digest=ledger.sha256_bytes(body))
    statement["predicate"]["signer"] = {"keyid": keyid, "publicKey": base64.b64encode(identity).decode()}
    envelope = {"payload": base64.b64encode(signing.canonical(statement)).decode(), "payloadType": signing.PAYLOAD_TYPE,
                "signatures": [{"keyid": keyid, "sig": base64.b64encode(identity + b"\x00" * 32).decode()}]}
    _write(root, [*raws, signing.join_line(body, envelope)])
    found = _found(root)
    assert any(f.startswith("ledger line 7: signature by SHA256:") and "does not verify" in f for f in found), found


# ---- v1 ledgers ------------------------------------------------------------------------------------------------
def _v1_line(entry: dict, signer: signing.Signer) -> bytes:
    """A line as statement v1 wrote it: a copy of the entry in the predicate, the envelope sorted in the line."""
    statement = {"_type": signing.STATEMENT_TYPE, "subject": signing.subjects(entry),
                 "predicateType": "urn:vpnrunbook:ledger-entry:v1",
                 "predicate": {"entry": entry, "target": signing.target_of(entry), "signer": signer.signer_info()}}
    line = {**entry, "envelope": signer.sign_statement(statement)}
    return json.dumps(line, sort_keys=True, separators=(",", ":")).encode()


def _v1_ledger(root: Path, entries: list[dict]) -> None:
    root.mkdir(parents=True)
    signer, raws, prev = signing.load_signer(), [], ledger.GENESIS
    for seq, e in enumerate(entries, start=1):
        raws.append(_v1_line({**e, "seq": seq, "prev": prev}, signer))
        prev = ledger.sha256_bytes(raws[-1])
    _write(root, raws)
    signer.remember_head(root, f"{len(raws)}:{prev}")


def test_a_v1_ledger_still_verifies_and_reports_its_edits(tmp_path, capsys):
    root = tmp_path / "ev"
    _v1_ledger(root, [_intent(0), _outcome(0), _intent(1), _outcome(1)])
    assert "entry" in _statement(_raws(root)[0])["predicate"]
    assert _found(root, key=_key(), target="emulator") == []
    assert [ln["signature"] for ln in record.run_lines(root, "r1")] == ["valid"] * 4
    ledger.append(root, _intent(2))  # a v2 line after the v1 ones: one ledger, both formats
    ledger.append(root, _outcome(2))
    assert _found(root, key=_key()) == []
    raws = _raws(root)
    raws[1] = raws[1].replace(b'"status":"applied"', b'"status":"failed"')
    _write(root, _rechain(raws))
    found = _found(root, key=_key())
    assert f"ledger line 2: {DIGEST_FAILS} in status: edited after it was signed" in found, found
    assert record.run_lines(root, "r1")[1]["signature"] == "INVALID: the line differs from its signed statement " \
                                                           "in status: edited after it was signed"
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_EVIDENCE


# ---- the fast path accepts nothing the parsed entry's check refuses --------------------------------------------
_SNIPPETS = [b',"envelope":{}', b'"envelope":', b"A", b"=", b"+", b"0", b',"status":"failed"', b'{"status":"x"}', b"}", b"{", b" ", b",",
             b'"\\u0065nvelope":{}', b',"a":1', b'"', b"]", b"\\"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(min_value=0), st.booleans(),
                               st.integers(min_value=0, max_value=len(_SNIPPETS) - 1), st.booleans()),
                     min_size=1, max_size=3))
def test_the_fast_path_never_accepts_what_the_parsed_entry_refuses(root, cuts):
    raw = _raws(root)[1]
    signed = signing.entry_digest(_statement(raw))
    for at, near_end, which, replace in cuts:
        at = len(raw) - at % 300 if near_end else at % (len(raw) + 1)  # the envelope and what follows it
        snippet = _SNIPPETS[which]
        raw = raw[:at] + snippet + raw[at + (len(snippet) if replace else 0):]
    split = signing.split_line(raw)
    if split is None:
        return
    assert split.line_sha256 == ledger.sha256_bytes(raw)  # the shared pass hashes the whole (edited) line
    try:  # the entry's bytes parsed alone, then the envelope split read: the value json.loads gives, or its refusal
        whole = json.loads(raw)
    except ValueError:
        with pytest.raises(ValueError):
            signing.load_line(raw, split)
    else:
        assert signing.load_line(raw, split) == whole
    for key in (None, _key()):  # the fast opener accepts only what the general one accepts, the same way
        opened = signing.open_split(split, key)
        if opened is not None:
            general = signing.open_envelope(split.envelope, key)
            assert (general.statement, general.key) == (opened.statement, opened.key)
    if split.digest != signed:
        return
    entry = json.loads(raw)   # the fast path answered: the line must parse to the signed entry and envelope
    assert ledger.sha256_bytes(signing.canonical({k: v for k, v in entry.items() if k != "envelope"})) == signed
    assert entry["envelope"] == split.envelope


def test_reading_the_entry_without_its_envelope_gives_what_json_gives_for_any_line(root):
    """``load_line`` parses only the entry's bytes when ``split_line`` read the envelope: the same value as
    ``json.loads`` of the whole line (duplicate keys, an escaped spelling of ``envelope``, spaces), and the same
    refusal for a line that is not JSON (an empty entry, a dangling comma, bytes that are not UTF-8)."""
    raw = _raws(root)[0]
    at = raw.index(b',"envelope":')
    tail = raw[at:]
    cases = [raw, b'{' + tail, b'{ ' + tail, b' {"a":1' + tail, b'{"a":1 ' + tail, b'{"a":1,' + tail,
             b'{"a":1,"a":2' + tail, b'{"\\u0065nvelope":7,"b":[1,{"c":null}]' + tail, b'{"a":"\xff"' + tail,
             b'{"a":"caf\xc3\xa9"' + tail, b'{"a":1}' + tail, b'{"a":{"b":1' + tail, b'{"a":"x\\"' + tail,
             b'{"a":"x\\\\"' + tail, b'{"a":NaN' + tail, b'{"a":1e999' + tail, b'{\x00"a":1' + tail]
    for line in cases:
        split = signing.split_line(line)
        try:
            whole = json.loads(line)
        except ValueError:
            with pytest.raises(ValueError):
                signing.load_line(line, split)
            continue
        got = signing.load_line(line, split)
        assert got == whole and list(got) == list(whole) if isinstance(whole, dict) else got == whole, line


@pytest.mark.parametrize("data", [b"{}", b"{ }", b'{"a":1}', b' {"a":1}', b'{"a":1} ', b'{"a":1}}', b'{"a":1}{}',
                                  b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\\ud800"}', b"{\x00}", b"{",
                                  b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":1e999,"b":-0.0}', b'{"a":[1,{"b":"c"}]}',
                                  b'{"a":01}', b'{"a":1,}', b"{\n}", b'{"' + b"9" * 5000 + b'":1}',
                                  b'{"a":' + b"9" * 5000 + b"}"])
def test_loads_gives_what_json_loads_gives(data):
    """The parse with less around it (signing.loads: the scanner json.loads uses) answers as json.loads does."""
    try:
        expected = json.loads(data)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            signing.loads(data)
        return
    got = signing.loads(data)
    assert got == expected and list(got) == list(expected) and json.dumps(got) == json.dumps(expected)
