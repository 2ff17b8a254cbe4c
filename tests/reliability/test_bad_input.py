"""Bad input through `vpnrunbook run` / the runner: refused with field, value and what is allowed; the emulator's
SQLite store byte-for-byte unchanged; a refused run's evidence written, marked refused, exit code EXIT_USAGE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.conftest import KEY_ENV, PLANTED_KEY, files_containing, store_dump
from vpnrunbook.cli import EXIT_USAGE, main
from vpnrunbook.evidence import rundir
from vpnrunbook.runbook.runner import run_step

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "parameters" / "seed"
POLICY = {"ike_encryption": "AES256", "ike_integrity": "SHA384", "dh_group": "DHGroup24",
          "ipsec_encryption": "AES256", "ipsec_integrity": "SHA256", "pfs_group": "None",
          "sa_life_time_seconds": 14400, "sa_data_size_kilobytes": 102400000}
ENUM_FIELDS = ("ike_encryption", "ike_integrity", "dh_group", "ipsec_encryption", "ipsec_integrity", "pfs_group")
S2S = {"resource_group": "TestRG1", "location": "EastUS", "connection_name": "VNet1toSite6", "connection_type": "IPsec",
       "gateway_name": "VNet1GW", "local_gateway_name": "Site6", "shared_key_ref": f"env:{KEY_ENV}"}


def _pol(**changes: Any) -> dict[str, Any]:
    return {**POLICY, **changes}


# (id, step, parameter file contents, field named, value named, text in "allowed")
CASES: list[tuple[str, str, dict[str, Any], str, Any, str]] = []
for f in ENUM_FIELDS:
    CASES.append((f"{f}-unknown", "04", {**S2S, "policy": _pol(**{f: "Bogus9"})}, f"policy.{f}", "Bogus9", "one of "))
    CASES.append((f"{f}-type", "05", {"policy": _pol(**{f: 24})}, f"policy.{f}", 24, "one of "))
for f, low, allowed in (("sa_life_time_seconds", 299, "300 to 172799"),
                        ("sa_data_size_kilobytes", 1023, "1024 to 2147483647")):
    CASES.append((f"{f}-range-low", "04", {**S2S, "policy": _pol(**{f: low})}, f"policy.{f}", low, allowed))
    CASES.append((f"{f}-range-high", "05", {"policy": _pol(**{f: 2**31})}, f"policy.{f}", 2**31, allowed))
    CASES.append((f"{f}-type", "04", {**S2S, "policy": _pol(**{f: "long"})}, f"policy.{f}", "long", allowed))
CASES += [
    ("policy-unknown-field", "04", {**S2S, "policy": _pol(ike_lifetime=3600)}, "policy.ike_lifetime", 3600,
     "ike_encryption"),
    ("policy-unknown-preset", "05", {"policy": "extra-strong"}, "policy", "extra-strong", "a preset"),
    ("create-policy-field", "03", {"fields": {"dh_group": "DHGroup99"}}, "fields.dh_group", "DHGroup99", "DHGroup14"),
    ("gcm-mismatch", "04", {**S2S, "policy": _pol(ipsec_encryption="GCMAES256", ipsec_integrity="SHA256")},
     "policy.ipsec_integrity", "SHA256", "GCMAES256"),
    ("gcm-ike-integrity", "05", {"policy": _pol(ike_encryption="GCMAES256", ike_integrity="GCMAES256")},
     "policy.ike_integrity", "GCMAES256", "SHA384"),
    ("dpd-range", "05", {"dpd_timeout_seconds": 3601}, "dpd_timeout_seconds", 3601, "9 to 3600"),
    ("dpd-type", "04", {**S2S, "dpd_timeout_seconds": "45s"}, "dpd_timeout_seconds", "45s", "an integer"),
    ("protocol", "04", {**S2S, "connection_protocol": "IKEv3"}, "connection_protocol", "IKEv3", "IKEv2"),
    ("gateway-sku", "01", {"gateway_sku": "VpnGw9"}, "gateway_sku", "VpnGw9", "VpnGw1"),
    ("vpn-type", "01", {"vpn_type": "Routed"}, "vpn_type", "Routed", "RouteBased"),
    ("policybased-needs-basic", "01", {"vpn_type": "PolicyBased"}, "vpn_type", "PolicyBased", "RouteBased"),
    ("gateway-subnet-misnamed", "01", {"subnets": {"FrontEnd": "10.1.0.0/24", "GwSubnet": "10.1.255.0/27"},
                                       "gateway_subnet": "GwSubnet"}, "gateway_subnet", "GwSubnet", "GatewaySubnet"),
    ("gateway-subnet-too-small", "01", {"subnets": {"GatewaySubnet": "10.1.255.0/30"}},
     "subnets[GatewaySubnet].address_prefix", "10.1.255.0/30", "/29 or larger"),
    # 01's address_space defaults to null (the existing VNet's, issue 15.2): given here, the check runs before a kernel
    ("subnet-outside-space", "01", {"address_space": ["10.1.0.0/16"],
                                    "subnets": {"GatewaySubnet": "10.1.255.0/27", "Far": "10.9.0.0/24"}},
     "subnets[Far].address_prefix", "10.9.0.0/24", "within 10.1.0.0/16"),
    ("subnets-overlap", "01", {"address_space": ["10.1.0.0/16"],
                               "subnets": {"GatewaySubnet": "10.1.255.0/27", "A": "10.1.0.0/24",
                                           "B": "10.1.0.128/25"}},
     "subnets[B].address_prefix", "10.1.0.128/25", "overlaps no other subnet"),
    ("prefix-host-bits", "02", {"address_prefixes": ["10.61.0.1/16"]}, "address_prefixes[0]", "10.61.0.1/16",
     "host bits zero"),
    ("public-ip-invalid", "02", {"gateway_ip_address": "300.1.2.3"}, "gateway_ip_address", "300.1.2.3",
     "public IPv4"),
    ("public-ip-private", "02", {"gateway_ip_address": "10.0.0.1"}, "gateway_ip_address", "10.0.0.1", "public IPv4"),
    ("unknown-key", "04", {**S2S, "polcy": "seed-s2s"}, "polcy", "seed-s2s", "policy"),
    ("wrong-type-list", "01", {"address_space": "10.1.0.0/16"}, "address_space", "10.1.0.0/16", "a list of strings"),
    ("runner-owned-apply", "06", {"apply": True}, "apply", True, "--apply"),
    ("policy-wrong-type", "04", {**S2S, "policy": 42}, "policy", 42, "a preset name"),
    ("policy-float", "04", {**S2S, "policy": _pol(sa_life_time_seconds=1.5)}, "policy.sa_life_time_seconds", 1.5,
     "an integer"),
    ("policy-bool", "05", {"policy": _pol(sa_data_size_kilobytes=True)}, "policy.sa_data_size_kilobytes", True,
     "an integer"),
    ("policy-field-missing", "05", {"policy": {k: v for k, v in POLICY.items() if k != "pfs_group"}},
     "policy.pfs_group", None, "PFS24"),
    ("subnets-wrong-type", "01", {"subnets": ["GatewaySubnet"]}, "subnets", ["GatewaySubnet"], "a mapping"),
    ("address-space-invalid", "01", {"address_space": ["10.1.0.0/33"]}, "address_space[0]", "10.1.0.0/33",
     "a CIDR prefix"),
    ("generation", "01", {"generation": "Generation3"}, "generation", "Generation3", "Generation2"),
    ("connection-type", "04", {**S2S, "connection_type": "ExpressRoute"}, "connection_type", "ExpressRoute",
     "Vnet2Vnet"),
    ("bool-wrong-type", "04", {**S2S, "use_policy_based_traffic_selectors": "yes"},
     "use_policy_based_traffic_selectors", "yes", "true or false"),
    ("prefixes-empty", "02", {"address_prefixes": []}, "address_prefixes", [], "10.1.0.0/16"),
    ("resource-name", "06", {"connection_name": "bad name!"}, "connection_name", "bad name!", "1-80 characters"),
    ("shared-key-invalid-ref", "04", {**S2S, "shared_key_ref": "vault:prod/key"}, "shared_key_ref", "<redacted>",
     "env:NAME, file:PATH or generate"),
]


def _assert_refused(r: Any, seeded: dict[str, Path], before: bytes, field: str, value: Any, allowed: str) -> None:
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert store_dump(seeded["db"]) == before, "a refused run changed the emulator's store"
    problems = r.manifest["error"]["problems"]
    hit = [p for p in problems if p["field"] == field]
    assert hit, f"no problem names {field}: {problems}"
    assert hit[0]["value"] == value and allowed in hit[0]["allowed"], hit[0]
    assert field in r.error and allowed in r.error and f"{field}: " in r.error
    (run,) = rundir.list_runs(seeded["evidence"])
    assert run["run_id"] == r.run_id and run["outcome"] == "refused"
    m = rundir.load_manifest(seeded["evidence"], r.run_id)
    assert m["outcome"] == "refused" and m["exit_code"] == EXIT_USAGE
    assert sorted(p.name for p in r.run_dir.iterdir()) == ["manifest.json", "notebook.html", "notebook.ipynb"]
    assert rundir.verify(seeded["evidence"]) == []


@pytest.mark.parametrize(("step", "data", "field", "value", "allowed"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_parameter_file_is_refused_and_recorded(seeded, tmp_path, step, data, field, value, allowed):
    before = store_dump(seeded["db"])
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(data))
    r = run_step(step, params_file=pfile, apply=True)
    _assert_refused(r, seeded, before, field, value, allowed)


def test_literal_key_is_refused_and_never_recorded(seeded, tmp_path):
    before = store_dump(seeded["db"])
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump({**S2S, "shared_key_ref": PLANTED_KEY}))
    r = run_step("04", params_file=pfile, apply=True)
    _assert_refused(r, seeded, before, "shared_key_ref", "<redacted>", "never the key itself")
    assert files_containing(seeded["evidence"], PLANTED_KEY) == []


@pytest.mark.parametrize(("text", "expect"), [
    ("resource_group: TestRG1\npolicy: {ike_encryption: AES256\n", "is not valid YAML at line 3"),
    ("- just\n- a list\n", "holds a list, not a mapping"),
    ("resource_group: [unclosed\n", "is not valid YAML at line 2"),
])
def test_malformed_yaml_through_the_cli(seeded, tmp_path, capsys, text, expect):
    before = store_dump(seeded["db"])
    pfile = tmp_path / "bad.yaml"
    pfile.write_text(text)
    code = main(["run", "05", "-p", str(pfile), "--apply"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert str(pfile) in err and expect in err and "a YAML mapping of parameter names to values" in err
    assert store_dump(seeded["db"]) == before
    (run,) = rundir.list_runs(seeded["evidence"])
    assert run["outcome"] == "refused"
    assert rundir.load_manifest(seeded["evidence"], run["run_id"])["error"]["problems"][0]["code"] == "InvalidYaml"


@pytest.mark.parametrize(("content", "expect"), [
    (b"connection_name: \xff\xfeVNet\n", "is not UTF-8 text"),
    (b"connection_name: &a [*a]\n", "refers to itself"),
    (b"policy: &p {ike_encryption: AES256, again: *p}\n", "refers to itself"),
])
def test_undecodable_or_self_referencing_file_through_the_cli(seeded, tmp_path, capsys, content, expect):
    pfile = tmp_path / "odd.yaml"
    pfile.write_bytes(content)
    before = store_dump(seeded["db"])
    code = main(["run", "05", "-p", str(pfile), "--apply"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert str(pfile) in err and expect in err
    assert store_dump(seeded["db"]) == before
    (run,) = rundir.list_runs(seeded["evidence"])
    assert run["outcome"] == "refused"
    assert rundir.verify(seeded["evidence"]) == []


@pytest.mark.parametrize(("content", "expect"), [
    (b"ike_encryption: \xffAES\n", "is not UTF-8 text"),
    (b"ike_encryption: &a [*a]\n", "refers to itself"),
])
def test_undecodable_or_self_referencing_policy_file(seeded, tmp_path, capsys, content, expect):
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(content)
    pfile = tmp_path / "params.yaml"
    pfile.write_text(f"policy: {policy}\n")
    code = main(["run", "05", "-p", str(pfile), "--apply"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert str(policy) in err and expect in err
    (run,) = rundir.list_runs(seeded["evidence"])
    assert run["outcome"] == "refused"


def test_unusable_evidence_folder_stops_the_run_before_it_starts(seeded, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    before = store_dump(seeded["db"])
    code = main(["run", "05", "-p", str(SEED / "05_update_vnet1_to_site6.yaml"), "--apply",
                 "--evidence-dir", str(blocker)])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and f"evidence folder {blocker} cannot be used" in err and "writable folder" in err
    assert store_dump(seeded["db"]) == before, "nothing ran"


def test_missing_parameter_file_through_the_cli(seeded, tmp_path, capsys):
    code = main(["run", "04", "-p", str(tmp_path / "nope.yaml")])
    assert code == EXIT_USAGE and "nope.yaml" in capsys.readouterr().err
    (run,) = rundir.list_runs(seeded["evidence"])
    assert run["outcome"] == "refused"


# ---- refusals that need the target's state: the notebook's pre-checks, inside a kernel -------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("rg", "gateway", "expect"), [
    ("BasicRG", "BasicGW", "Basic gateway SKU does not support custom IPsec/IKE policies"),
    # a PolicyBased gateway is always Basic in Azure: the refusal names the SKU and allows a RouteBased gateway
    ("PbRG", "PbGW", "does not support custom IPsec/IKE policies"),
])
def test_custom_policy_on_basic_or_policy_based_gateway(seeded, tmp_path, rg, gateway, expect):
    before = store_dump(seeded["db"])
    r = run_step("04", parameters={**S2S, "resource_group": rg, "gateway_name": gateway, "connection_name": "C",
                                   "policy": "seed-s2s"}, apply=True)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert r.manifest["error"]["type"] == "PrecheckError"
    assert expect in r.error and gateway in r.error and "gateway_name" in r.error
    assert "allowed: a RouteBased gateway of SKU VpnGw1AZ or higher, or policy: null" in r.error
    assert store_dump(seeded["db"]) == before
    assert [e["outcome"] for e in rundir.list_runs(seeded["evidence"])] == ["refused"]
    assert rundir.verify(seeded["evidence"]) == []


@pytest.mark.slow
def test_site_prefixes_overlapping_the_vnet(seeded):
    """OverlapSite announces 10.1.128.0/17, inside TestVNet1's 10.1.0.0/16: the connection is refused."""
    before = store_dump(seeded["db"])
    r = run_step("04", parameters={**S2S, "connection_name": "C", "local_gateway_name": "OverlapSite"}, apply=True)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert "10.1.128.0/17" in r.error and "10.1.0.0/16" in r.error and "overlap" in r.error.lower()
    assert store_dump(seeded["db"]) == before
    assert rundir.list_runs(seeded["evidence"])[0]["outcome"] == "refused"


@pytest.mark.slow
@pytest.mark.parametrize(("ref", "named"), [("env:RELIABILITY_UNSET_KEY", "RELIABILITY_UNSET_KEY"),
                                            ("file:/nonexistent/vpn.key", "/nonexistent/vpn.key")])
def test_shared_key_reference_that_resolves_to_nothing(seeded, monkeypatch, ref, named):
    monkeypatch.delenv("RELIABILITY_UNSET_KEY", raising=False)
    before = store_dump(seeded["db"])
    r = run_step("04", parameters={**S2S, "connection_name": "NewConn", "shared_key_ref": ref}, apply=True)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE), r.error
    assert r.manifest["error"]["type"] in ("SecretReferenceError", "PrecheckError", "ParameterError")
    assert "shared_key_ref" in r.error and named in r.error
    assert store_dump(seeded["db"]) == before
    assert rundir.list_runs(seeded["evidence"])[0]["outcome"] == "refused"
