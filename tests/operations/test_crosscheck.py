"""``vpnrunbook evidence crosscheck`` against the emulator's Activity Log, as an attacker and an auditor would try it
(issue 23): the tool's own changes crosscheck clean; a change made with the SDK session, or over HTTPS with the
token, is reported out-of-band with its caller; a ledger cut back (that still verifies with a copied public key)
is reported as rollback; a forged ``applied`` outcome is reported as never seen by Azure."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.operations.conftest import RG1, build_site6, build_vnet1, s2s
from vpnrunbook import operations as ops
from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import crosscheck, journal, ledger, signing

CONN = "VNet1toSite6"
WEAK = {"saLifeTimeSeconds": 3600, "saDataSizeKilobytes": 102400000, "ipsecEncryption": "DES",
        "ipsecIntegrity": "MD5", "ikeEncryption": "DES", "ikeIntegrity": "MD5", "dhGroup": "DHGroup1",
        "pfsGroup": "None"}


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("VPN_SEED_KEY", "Seed0Key0For0Crosscheck")


def _root() -> Path:
    return Path(os.environ["VPNRUNBOOK_EVIDENCE_DIR"])


def _crosscheck(capsys, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["evidence", "crosscheck", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _kinds(report: dict, kind: str) -> list[dict]:
    return [f for f in report["findings"] if f["kind"] == kind]


def _ready(session) -> None:
    build_vnet1(session).result(timeout=60)
    build_site6(session)
    s2s(session)


def test_the_tools_own_changes_crosscheck_clean_and_carry_their_request_ids(session, capsys):
    _ready(session)
    code, report = _crosscheck(capsys)
    assert code == crosscheck.EXIT_CONSISTENT, report
    assert report["findings"] == [] and report["confirmed"] >= 6 and len(report["queries"]) == 1
    lines = [e for _, _, e in ledger.read(_root()) if e and journal.kind_of(e) in (journal.INTENT, journal.OUTCOME)]
    intent = next(e for e in lines if e["kind"] == "intent" and e["writes"][0]["name"] == CONN)
    outcome = next(e for e in lines if e["kind"] == "outcome" and e["intent_id"] == intent["intent_id"])
    assert intent["correlation_id"] == str(uuid.UUID(hex=intent["intent_id"]))
    crid = intent["writes"][0]["client_request_id"]
    assert journal.is_tool_request_id(crid) and outcome["correlation_id"] == intent["correlation_id"]
    assert outcome["written"][0]["client_request_id"] == crid
    # what Azure saw carries them: the Activity Log's events of that write
    from vpnrunbook.azure.monitor import monitor_client

    events = list(monitor_client(session).activity_logs.list(
        filter=f"eventTimestamp ge '2020-01-01' and correlationId eq '{intent['correlation_id']}'"))
    assert {e.http_request.client_request_id for e in events} == {crid}
    assert {e.status.value for e in events} >= {"Started", "Accepted"}


def test_a_change_through_the_sdk_session_is_out_of_band_with_its_caller(session, capsys):
    _ready(session)
    n = session.network.virtual_network_gateway_connections
    body = n.get(RG1, CONN).as_dict()  # the REST body, as a script would PUT it
    body["properties"]["ipsecPolicies"] = [WEAK]
    n.begin_create_or_update(RG1, CONN, body).result()
    assert n.get(RG1, CONN).as_dict()["properties"]["ipsecPolicies"][0]["dhGroup"] == "DHGroup1"
    assert main(["evidence", "verify"]) == EXIT_OK  # the ledger alone sees nothing wrong
    code, report = _crosscheck(capsys)
    assert code == crosscheck.EXIT_OUT_OF_BAND
    [oob] = _kinds(report, crosscheck.OUT_OF_BAND)
    assert oob["resource_id"].endswith(f"/connections/{CONN}")
    assert oob["operation"] == "Microsoft.Network/connections/write"
    assert oob["caller"].startswith("token-") and oob["time"]
    [drift] = _kinds(report, crosscheck.DRIFT)
    assert drift["resource_id"].endswith(f"/connections/{CONN}") and drift["caller"] == oob["caller"]
    # and as text, for the auditor
    capsys.readouterr()
    assert main(["evidence", "crosscheck"]) == crosscheck.EXIT_OUT_OF_BAND
    out = capsys.readouterr().out
    assert "OUT-OF-BAND" in out and oob["caller"] in out and "1 out-of-band, 1 drift" in out


def test_a_change_over_https_with_the_token_is_out_of_band_with_its_caller(served, monkeypatch, capsys):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_URL", served.url)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TOKEN", served.token)
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_CA", str(served.ca))
    from vpnrunbook.azure.connect import connect

    session = connect(target="emulator", polling_interval=0.01)
    _ready(session)
    assert _crosscheck(capsys)[0] == crosscheck.EXIT_CONSISTENT
    conn = (f"{served.url}/subscriptions/{session.subscription_id}/resourceGroups/{RG1}/providers/"
            f"Microsoft.Network/connections/{CONN}")
    tls = ssl.create_default_context(cafile=str(served.ca))
    # as with curl: the shared key reset, straight over HTTPS with the token
    req = urllib.request.Request(f"{conn}/sharedkey/reset?api-version=2025-09-01", method="POST",
                                 data=json.dumps({"keyLength": 32}).encode(),
                                 headers={"Authorization": f"Bearer {served.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=tls, timeout=10) as answer:
        assert answer.status == 202
    code, report = _crosscheck(capsys)
    assert code == crosscheck.EXIT_OUT_OF_BAND
    [oob] = _kinds(report, crosscheck.OUT_OF_BAND)
    assert oob["operation"] == "Microsoft.Network/connections/sharedKey/reset/action"
    assert oob["caller"].startswith("token-") and served.token not in json.dumps(report)
    assert [d["resource_id"].split("/")[-1] for d in _kinds(report, crosscheck.DRIFT)] == [CONN]


def test_a_ledger_cut_back_verifies_with_a_copied_key_but_crosscheck_reports_the_rollback(session, capsys, tmp_path):
    _ready(session)
    removal = ops.remove_policy(session, resource_group=RG1, connection_name=CONN, apply=True)
    run_id = removal.details["evidence"]["run_id"]
    # the attacker hides the removal: the ledger lines of that run and its folder go
    path = _root() / ledger.LEDGER_NAME
    kept = [line for line in path.read_bytes().splitlines(keepends=True) if run_id.encode() not in line]
    path.write_bytes(b"".join(kept))
    shutil.rmtree(_root() / run_id)
    copied = tmp_path / "operator.pub"
    shutil.copy(signing.load_signer().pub_path, copied)
    capsys.readouterr()
    # on the signer's host the key's anchor sees the cut (exit 4); an auditor elsewhere, with a copy of the public
    # key and no anchor, accepts an unanchored check — and that passes: only the target can tell
    assert main(["evidence", "verify", "--key", str(copied)]) == 4
    auditor = tmp_path / "auditor-host"
    auditor.mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(signing.DIR_ENV, str(auditor))
        mp.delenv(signing.KEY_ENV, raising=False)
        assert main(["evidence", "verify", "--key", str(copied), "--accept-unanchored"]) == EXIT_OK
    code, report = _crosscheck(capsys)
    assert code == crosscheck.EXIT_CONTRADICTED
    [rollback] = _kinds(report, crosscheck.ROLLBACK)
    assert rollback["resource_id"].endswith(f"/connections/{CONN}")
    assert journal.is_tool_request_id(rollback["client_request_id"])
    assert _kinds(report, crosscheck.DRIFT)  # and the live connection is not what the ledger last holds


def test_a_forged_applied_outcome_is_reported_as_never_seen(session, capsys):
    _ready(session)
    signer = signing.load_signer()
    real = next(e for _, _, e in ledger.read(_root()) if e and e.get("kind") == "intent"
                and e["writes"][0]["name"] == CONN)
    live = session.network.virtual_network_gateway_connections.get(RG1, CONN)
    forged_id = uuid.uuid4().hex
    intent = {k: v for k, v in real.items() if k not in ("seq", "prev", "envelope", "manifest_sha256")}
    intent.update(intent_id=forged_id, time=journal.now_iso(), run_id="20261206T230000Z-forged",
                  correlation_id=str(uuid.UUID(hex=forged_id)))
    ledger.append(_root(), intent, signer=signer)
    ledger.append(_root(), {"kind": "outcome", "intent_id": forged_id, "run_id": intent["run_id"],
                            "step": intent["step"], "time": journal.now_iso(), "status": "applied",
                            "target": "emulator", "subscription_id": session.subscription_id,
                            "written": [{"resource_id": live.id, "label": CONN, "etag": live.etag}]}, signer=signer)
    code, report = _crosscheck(capsys)
    assert code == crosscheck.EXIT_CONTRADICTED
    [never] = _kinds(report, crosscheck.NEVER_SEEN)
    assert never["resource_id"] == live.id and never["run_id"] == "20261206T230000Z-forged"
    assert not _kinds(report, crosscheck.OUT_OF_BAND) and not _kinds(report, crosscheck.DRIFT)


def _change_out_of_band(session) -> None:
    n = session.network.virtual_network_gateway_connections
    body = n.get(RG1, CONN).as_dict()  # the REST body, as a script would PUT it
    body["properties"]["ipsecPolicies"] = [WEAK]
    n.begin_create_or_update(RG1, CONN, body).result()


def _last_reconcile() -> dict:
    return [e for _, _, e in ledger.read(_root()) if e and e.get("kind") == "reconcile"][-1]


def test_reconcile_closes_an_ambiguous_intent_from_the_activity_log(session, monkeypatch, capsys):
    _ready(session)
    real = journal.outcome

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "outcome", disk_full)  # the write lands, its outcome cannot be recorded
    with pytest.raises(journal.OutcomeNotRecordedError):
        ops.update_connection(session, resource_group=RG1, connection_name=CONN, policy="seed-update", apply=True)
    monkeypatch.setattr(journal, "outcome", real)
    _change_out_of_band(session)  # then another writer: the live read alone cannot say whether ours landed
    capsys.readouterr()
    assert main(["evidence", "reconcile"]) == EXIT_OK
    entry = _last_reconcile()
    conn_id = next(r["resource_id"] for r in entry["resources"])
    assert entry["live_conclusion"] == "changed_otherwise"
    assert entry["activity_log"] == {conn_id: "Succeeded"} and entry["conclusion"] == "applied"
    assert "applied" in capsys.readouterr().out


def test_reconcile_says_not_applied_when_azure_never_saw_the_request(session, monkeypatch):
    _ready(session)
    from vpnrunbook.operations import apply

    def killed(*args, **kwargs):
        raise ConnectionResetError("the process lost its network before the PUT left")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    real_start, real_outcome = apply.start_write, journal.outcome
    monkeypatch.setattr(apply, "start_write", killed)
    monkeypatch.setattr(journal, "outcome", disk_full)
    with pytest.raises(ConnectionResetError):
        ops.update_connection(session, resource_group=RG1, connection_name=CONN, policy="seed-update", apply=True)
    monkeypatch.setattr(apply, "start_write", real_start)
    monkeypatch.setattr(journal, "outcome", real_outcome)
    _change_out_of_band(session)
    assert main(["evidence", "reconcile"]) == EXIT_OK
    entry = _last_reconcile()
    assert entry["live_conclusion"] == "changed_otherwise" and entry["conclusion"] == "not_applied"
    assert set(entry["activity_log"].values()) == {"absent"}


def test_against_azure_without_credentials_it_concludes_nothing_and_says_why(session, monkeypatch, capsys):
    _ready(session)  # emulator records: not evidence of a change on azure, never read against it
    capsys.readouterr()
    assert main(["evidence", "crosscheck", "--target", "azure"]) == crosscheck.EXIT_CONSISTENT
    assert "0 change(s)" in capsys.readouterr().out
    real = next(e for _, _, e in ledger.read(_root()) if e and e.get("kind") == "intent")
    sub = "11111111-1111-1111-1111-111111111111"
    ledger.append(_root(), {**{k: v for k, v in real.items() if k not in ("seq", "prev", "envelope")},
                            "intent_id": uuid.uuid4().hex, "target": "azure", "subscription_id": sub,
                            "writes": [{**real["writes"][0], "resource_id": real["writes"][0]["resource_id"].replace(
                                session.subscription_id, sub)}]})
    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
                "MSI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no az / azd / pwsh to log in with
    capsys.readouterr()
    assert main(["evidence", "crosscheck", "--target", "azure"]) == crosscheck.EXIT_UNREADABLE
    err = capsys.readouterr().err
    assert f"Activity Log of subscription {sub} could not be read" in err and "credentials" in err


def test_a_callers_name_from_the_log_is_printed_escaped(session, capsys):
    _ready(session)
    import base64

    from azure.mgmt.network import NetworkManagementClient

    from vpnrunbook.azure.connect import StaticTokenCredential

    claims = base64.urlsafe_b64encode(json.dumps({"upn": "eve\x1b[2J@contoso.example"}).encode()).decode().rstrip("=")
    net = NetworkManagementClient(StaticTokenCredential(f"e30.{claims}.c2ln"), session.subscription_id,
                                  base_url=session.base_url, transport=session.transport, polling_interval=0)
    body = net.virtual_network_gateway_connections.get(RG1, CONN).as_dict()
    body["properties"]["ipsecPolicies"] = [WEAK]
    net.virtual_network_gateway_connections.begin_create_or_update(RG1, CONN, body).result()
    capsys.readouterr()
    assert main(["evidence", "crosscheck"]) == crosscheck.EXIT_OUT_OF_BAND
    out = capsys.readouterr().out
    assert "\x1b" not in out and "eve\\x1b[2J@contoso.example" in out
