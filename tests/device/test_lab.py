"""The prediction matrix against two real strongSwan daemons in network namespaces.

Outside CI without root/strongSwan these tests skip with the reason; in CI (VPNRUNBOOK_CI=1) a skip fails.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import in_ci
from vpnrunbook.device import lab
from vpnrunbook.device.negotiate import CHILD_SA_REFUSED, COMPATIBLE, FAILS_AT_REKEY, IKE_SA_REFUSED
from vpnrunbook.device.render import render_swanctl, write_swanctl_secret
from vpnrunbook.policy import rules
from vpnrunbook.policy.presets import get_preset


def require_lab() -> None:
    ok, why = lab.lab_available()
    if not ok:
        if in_ci():
            pytest.fail(f"the strongSwan lab must run in CI but cannot: {why}")
        pytest.skip(f"strongSwan lab unavailable: {why}")


@pytest.fixture(scope="module")
def matrix() -> lab.MatrixResult:
    require_lab()
    result = lab.run_matrix(lab.default_matrix(), parallel=4)
    print("\n" + result.text)
    return result


@pytest.mark.device
def test_every_prediction_equals_what_strongswan_did(matrix):
    assert len(matrix.results) >= 24
    assert matrix.all_match, "\n".join(f"{r.case.name}: {r.differences}" for r in matrix.mismatches)


@pytest.mark.device
def test_the_matrix_covers_every_kind_of_outcome(matrix):
    outcomes = {r.predicted.outcome for r in matrix.results}
    assert outcomes == {COMPATIBLE, FAILS_AT_REKEY, CHILD_SA_REFUSED, IKE_SA_REFUSED}
    observed = matrix.results
    # every DH group Azure and strongSwan share was negotiated for real, for IKE and as PFS at rekey
    groups = {rules.DH_GROUP_INFO[g].rfc_group: g for g in rules.DH_GROUPS if g != "None"}
    ike_groups = {r.observed.ike_algorithms.split("/")[-1] for r in observed if r.observed.ike_established}
    rekey_groups = {r.observed.rekey_algorithms.split("/")[-1] for r in observed if r.observed.rekey_established}
    for name in ("MODP_768", "MODP_1024", "MODP_2048", "MODP_2048_256", "ECP_256", "ECP_384"):
        assert name in ike_groups and name in rekey_groups, name
    assert len(groups) == 6
    # PFS on one side only: the CHILD_SA came up, the forced rekey was refused
    one_sided = [r for r in observed if r.case.name.startswith("pfs-") and r.predicted.outcome == FAILS_AT_REKEY]
    assert len(one_sided) >= 3
    assert all(r.observed.child_established and r.observed.rekey_established is False for r in one_sided)
    # GCM for IKE and ESP, Azure's default proposals, both initiators, traffic through the tunnel
    assert any(r.observed.ike_algorithms and r.observed.ike_algorithms.startswith("AES_GCM_16") for r in observed)
    assert any(r.observed.child_algorithms == "ESP:AES_GCM_16-256" for r in observed)
    assert sum(r.case.azure_policy is None for r in observed) >= 5
    assert {r.case.initiator for r in observed} == {"device", "azure"}
    # with a custom policy both sides forced a rekey; an INVALID_KE_PAYLOAD round trip was seen for real
    assert all(set(r.observed.rekeys) == {"device", "azure"} for r in observed
               if r.case.azure_policy is not None and r.observed.child_established)
    assert any(r.observed.invalid_ke for r in observed)
    pinged = [r for r in observed if r.case.ping]
    assert pinged and all(r.observed.ping_ok for r in pinged)


@pytest.mark.device
def test_a_wrong_prediction_would_be_caught(matrix):
    """The comparison is not vacuous: swap in the prediction of another case and it reports differences."""
    by_outcome = {}
    for r in matrix.results:
        by_outcome.setdefault(r.predicted.outcome, r)
    compatible, refused = by_outcome[COMPATIBLE], by_outcome[IKE_SA_REFUSED]
    assert lab.CaseResult(compatible.case, refused.predicted, compatible.observed).differences
    assert lab.CaseResult(refused.case, compatible.predicted, refused.observed).differences
    rekey = by_outcome[FAILS_AT_REKEY]
    assert lab.CaseResult(rekey.case, compatible.predicted, rekey.observed).differences


@pytest.mark.device
def test_namespaces_are_removed(matrix):
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"vpnrb-{__import__('os').getpid()}-" not in listed


@pytest.mark.device
def test_rendered_policy_based_config_loads_in_strongswan(tmp_path, monkeypatch):
    """Every prefix pair becomes a child strongSwan accepts; the key arrives through the include only."""
    require_lab()
    monkeypatch.setenv("VPN_LAB_PSK", "Lab0Key0For0Loading0Only0x")
    onprem, vnet = ["10.61.0.0/16", "10.62.0.0/16"], ["10.11.0.0/16", "10.12.0.0/16", "10.13.0.0/24"]
    cfg = render_swanctl(get_preset("seed-s2s"), remote_address="192.0.2.2", local_address="192.0.2.1",
                         local_prefixes=onprem, remote_prefixes=vnet, shared_key_ref="env:VPN_LAB_PSK",
                         use_policy_based_traffic_selectors=True, start_action="none")
    with lab.lab_pairs(1, tmp_path) as pairs:
        folder = tmp_path / "load"
        (folder / "secrets.d").mkdir(parents=True)
        (folder / "swanctl.conf").write_text(cfg.text)
        write_swanctl_secret("env:VPN_LAB_PSK", folder / cfg.secrets_file, ids=["192.0.2.2"])
        daemon = lab.Daemon(pairs[0].ns["azure"], folder)
        daemon.write_conf()
        daemon.start()
        try:
            out = daemon.swanctl("--load-all", "--noprompt", "--file", str(folder / "swanctl.conf")).stdout
            conns = daemon.swanctl("--list-conns").stdout
        finally:
            daemon.stop()
    assert "loaded ike secret 'ike-azure'" in out
    assert sum(1 for line in conns.splitlines() if "TUNNEL" in line) == 6
    for lo in onprem:
        for re_ in vnet:
            assert f"local:  {lo}" in conns and f"remote: {re_}" in conns


def test_raw_list_sas_parsing():
    raw = ("list-sa event {lab {uniqueid=1 version=2 state=ESTABLISHED encr-alg=AES_CBC encr-keysize=256 "
           "integ-alg=HMAC_SHA2_384_192 prf-alg=PRF_HMAC_SHA2_384 dh-group=MODP_2048_256 child-sas {lab-net-2 "
           "{name=lab-net uniqueid=2 state=INSTALLED encr-alg=AES_GCM_16 encr-keysize=128 dh-group=ECP_384 "
           "local-ts=[192.0.2.64/28 10.0.0.0/8] remote-ts=[192.0.2.80/28]}}}}\nlist-sas reply {}\n")
    sas = lab.parse_raw(raw)
    assert lab.raw_algorithms(sas["lab"]) == "AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_2048_256"
    child = sas["lab"]["child-sas"]["lab-net-2"]
    assert lab.raw_algorithms(child) == "AES_GCM_16-128/ECP_384"
    assert child["local-ts"] == ["192.0.2.64/28", "10.0.0.0/8"]
    assert lab._installed(sas["lab"], exclude={"2"}) is None and lab._installed(sas["lab"])["uniqueid"] == "2"


def test_matrix_definition_meets_the_brief():
    cases = lab.default_matrix()
    assert len(cases) >= 24 and len({c.name for c in cases}) == len(cases)
    assert {c.azure_policy.dh_group for c in cases if c.name.startswith("dh-")} == \
        {g for g in rules.DH_GROUPS if g not in ("None", "DHGroup2048")}


def test_without_root_the_lab_skips_with_a_reason_and_ci_turns_that_into_a_failure(monkeypatch):
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000)
    ok, why = lab.lab_available()
    assert not ok and "root" in why
    monkeypatch.delenv("VPNRUNBOOK_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        require_lab()
    monkeypatch.setenv("VPNRUNBOOK_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        require_lab()
    with pytest.raises(lab.LabError, match="needs root"), lab.lab_pairs(1):
        pass
