"""Property: for every generated policy, the package's validation, the runbook parameter check and the emulator's
acceptance (through the azure-mgmt-network SDK) agree — and a refused PUT leaves the store byte for byte as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network.models import IpsecPolicy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.emulator import seed
from tests.reliability.conftest import store_dump
from vpnrunbook.azure.connect import connect
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.rules import PolicyValidationError
from vpnrunbook.runbook.params import check_mapping

# Python field name → SDK keyword (the same names) and the REST name the emulator reports in error targets
REST = {"ike_encryption": "ikeEncryption", "ike_integrity": "ikeIntegrity", "dh_group": "dhGroup",
        "ipsec_encryption": "ipsecEncryption", "ipsec_integrity": "ipsecIntegrity", "pfs_group": "pfsGroup",
        "sa_life_time_seconds": "saLifeTimeSeconds", "sa_data_size_kilobytes": "saDataSizeKilobytes"}
JUNK = ["Bogus", "aes256", "sha256", "", "GCMAES512", "ECP521", "PFS48", "DHGroup99"]
ALL_ENUM_VALUES = sorted(set(rules.IKE_ENCRYPTION + rules.IKE_INTEGRITY + rules.IKE_INTEGRITY_REFUSED + rules.DH_GROUPS
                             + rules.IPSEC_ENCRYPTION + rules.IPSEC_INTEGRITY + rules.PFS_GROUPS))


def _enum(allowed: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Any value: one allowed, another field's value or junk."""
    return st.one_of(st.sampled_from(allowed), st.sampled_from(ALL_ENUM_VALUES), st.sampled_from(JUNK))


def _int(rng: rules.IntRange) -> st.SearchStrategy[int]:
    edges = [rng.minimum - 1, rng.minimum, rng.maximum, rng.maximum + 1, *rng.also, -1]
    return st.one_of(st.sampled_from(edges), st.integers(rng.minimum, rng.maximum), st.integers(-10, 2**32))


ENUMS = {"ike_encryption": rules.IKE_ENCRYPTION, "ike_integrity": rules.IKE_INTEGRITY + rules.IKE_INTEGRITY_REFUSED,
         "dh_group": rules.DH_GROUPS, "ipsec_encryption": rules.IPSEC_ENCRYPTION,
         "ipsec_integrity": rules.IPSEC_INTEGRITY, "pfs_group": rules.PFS_GROUPS}
RANGES = {"sa_life_time_seconds": rules.SA_LIFETIME_SECONDS, "sa_data_size_kilobytes": rules.SA_DATA_SIZE_KILOBYTES}
ANY_VALUE = {**{f: _enum(a) for f, a in ENUMS.items()}, **{f: _int(r) for f, r in RANGES.items()}}
# mostly-plausible policies: every field from its allowed set (GCM pairing and IKE integrity still vary) ...
PLAUSIBLE = st.fixed_dictionaries({**{f: st.sampled_from(a) for f, a in ENUMS.items()},
                                   **{f: st.integers(r.minimum, r.maximum) for f, r in RANGES.items()}})
# ... then 0-3 fields replaced by any value at all
POLICIES = st.builds(lambda base, over: {**base, **over}, PLAUSIBLE,
                     st.dictionaries(st.sampled_from(sorted(ANY_VALUE)), st.just(None), max_size=3).flatmap(
                         lambda keys: st.fixed_dictionaries({k: ANY_VALUE[k] for k in keys})))


@pytest.fixture(scope="module")
def s2s_session(tmp_path_factory):
    state = tmp_path_factory.mktemp("prop-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VPNRUNBOOK_STATE_DIR", str(state))
        mp.setenv("VPNRUNBOOK_DB", str(state / "emulator.sqlite3"))
        mp.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
        s = connect(target="emulator", polling_interval=0)
        s.transport.fast_sleep = True
        seed.build_topology(s)
        yield s, Path(state / "emulator.sqlite3")
        s.transport.app.store.close()


def _package_accepts(values: dict) -> tuple[bool, set[str]]:
    try:
        IpsecIkePolicy.from_mapping(values)
    except PolicyValidationError as exc:
        return False, {p.field for p in exc.problems}
    return True, set()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=POLICIES)
def test_package_validation_agrees_with_the_emulator(s2s_session, values):
    session, db = s2s_session
    conns = session.network.virtual_network_gateway_connections
    ok, fields = _package_accepts(values)
    # a runbook parameter file holding this policy is judged the same way, naming the same fields
    param_problems = check_mapping("05_update_policy", {"policy": values})
    assert (param_problems == []) == ok and {p.field for p in param_problems} == {f"policy.{f}" for f in fields}
    conn = conns.get("TestRG1", "VNet1toSite6")
    conn.ipsec_policies = [IpsecPolicy(**values)]
    before = store_dump(db)
    try:
        stored = conns.begin_create_or_update("TestRG1", "VNet1toSite6", conn).result()
    except HttpResponseError as exc:
        event("refused by both")
        assert not ok, f"the emulator refused a policy the package accepts: {values}: {exc.message}"
        assert exc.status_code == 400
        targets = " ".join(d.target or "" for d in (exc.error.details or [])) + " " + exc.error.message
        for f in fields:
            assert REST[f] in targets or f in targets, (f, targets)
        assert store_dump(db) == before, "a refused policy changed the store"
        return
    event("accepted by both")
    assert ok, f"the emulator accepted a policy the package refuses ({sorted(fields)}): {values}"
    (p,) = stored.ipsec_policies
    assert {k: getattr(p, k) for k in values} == values, "the stored policy differs from the one sent"


# any short text: printable ASCII (mostly allowed), the refused space/'-'/'~', control and non-ASCII characters
KEYS = st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=140),
                 st.text(min_size=0, max_size=12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEYS, dpd=st.one_of(st.none(), st.integers(-5, 4000)))
def test_shared_key_and_dpd_checks_agree_with_the_emulator(s2s_session, key, dpd):
    """Shared keys (set through the sharedkey endpoint) and DPD timeouts: the package's rules and the emulator
    agree; a refused key is never echoed by the emulator."""
    from vpnrunbook.azure.secrets import SecretReferenceError, resolve_shared_key

    session, db = s2s_session
    conns = session.network.virtual_network_gateway_connections
    key_ok = rules.check_shared_key(key) == []
    before = store_dump(db)
    try:
        conns.begin_set_shared_key("TestRG1", "VNet1toSite6", {"value": key}).result()
        accepted = True
    except HttpResponseError as exc:
        accepted = False
        if len(key) >= 8:  # shorter ones may occur in any text by chance
            assert key not in exc.response.text(), "the emulator echoed a refused key"
        assert store_dump(db) == before
    assert accepted == key_ok, (key_ok, accepted)
    # a reference to the same key is judged alike, without echoing it (an environment variable holds no NUL)
    if "\x00" not in key:
        os.environ["RELIABILITY_PROPERTY_KEY"] = key
        try:
            resolve_shared_key("env:RELIABILITY_PROPERTY_KEY")
            ref_ok = True
        except SecretReferenceError as exc:
            ref_ok = False
            if len(key) >= 8:
                assert key not in str(exc)
        finally:
            del os.environ["RELIABILITY_PROPERTY_KEY"]
        assert ref_ok == key_ok, (ref_ok, key_ok)
    if dpd is not None:
        conn = conns.get("TestRG1", "VNet1toSite6")
        conn.dpd_timeout_seconds = dpd
        try:
            conns.begin_create_or_update("TestRG1", "VNet1toSite6", conn).result()
            dpd_accepted = True
        except HttpResponseError:
            dpd_accepted = False
        assert dpd_accepted == (rules.check_dpd_timeout(dpd) == []), dpd
