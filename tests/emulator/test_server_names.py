"""Names over HTTPS are the names in-process: UTF-8 in the URL is read as UTF-8 (not as PEP 3333's latin-1), and
names are compared as ARM compares them, ordinal ignore-case: ``TestRG`` is ``testrg``, but ``TestKRG`` and
``Test\\u212aRG`` (Kelvin sign) are two groups (``str.lower()`` made them one)."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator.store import Store

SUB = "00000000-0000-0000-0000-000000000000"
KELVIN = "Test\u212aRG"


def _rg_url(name: str) -> str:
    return f"/subscriptions/{SUB}/resourcegroups/{quote(name, safe='')}?api-version=2025-04-01"


def _served(served, method: str, name: str, **kwargs) -> requests.Response:
    return requests.request(method, served.url + _rg_url(name), headers={"Authorization": f"Bearer {served.token}"},
                            verify=str(served.ca), timeout=10, **kwargs)


def _in_process(session, method: str, name: str, **kwargs):
    return session.resources.send_request(HttpRequest(method, _rg_url(name), **kwargs))


def _listed(session) -> set[str]:
    return {g.name for g in session.resources.resource_groups.list()}


# ---- UTF-8 names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Grüße-Test", "Тест", "東京-rg", "naïve_(1)"])
def test_a_utf8_group_name_over_https_is_the_name_in_process(served, session, name):
    r = _served(served, "PUT", name, json={"location": "eastus"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name and r.json()["id"].endswith("/resourceGroups/" + name)
    got = session.resources.resource_groups.get(name)  # the same state, read in-process
    assert got.name == name
    assert _served(served, "GET", name).json()["name"] == name
    assert name in _listed(session)


def test_a_utf8_network_resource_name_over_https(served, session):
    assert _served(served, "PUT", "RG", json={"location": "eastus"}).status_code == 201
    url = (f"{served.url}/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Network/publicIPAddresses/"
           f"{quote('ip-Ünïcode')}?api-version=2026-03-01")
    r = requests.put(url, json={"location": "eastus"}, headers={"Authorization": f"Bearer {served.token}"},
                     verify=str(served.ca), timeout=10)
    assert r.status_code == 201 and r.json()["name"] == "ip-Ünïcode", r.text
    assert session.network.public_ip_addresses.get("RG", "ip-Ünïcode").name == "ip-Ünïcode"


def test_bytes_that_are_not_utf8_are_answered_as_in_process(served, session):
    path = f"/subscriptions/{SUB}/resourcegroups/bad%FFname?api-version=2025-04-01"
    over_https = requests.put(served.url + path, json={"location": "eastus"},
                              headers={"Authorization": f"Bearer {served.token}"}, verify=str(served.ca), timeout=10)
    in_process = session.resources.send_request(HttpRequest("PUT", path, json={"location": "eastus"}))
    assert over_https.status_code == in_process.status_code == 400
    assert over_https.json()["error"]["code"] == in_process.json()["error"]["code"] == "InvalidResourceGroup"


# ---- folding as ARM does --------------------------------------------------------------------------------
def _kelvin_groups_are_two(put, get, listed) -> None:
    assert put("TestKRG").status_code == 201
    assert put(KELVIN).status_code == 201, "the Kelvin-sign name was taken for TestKRG"
    assert get("testkrg").json()["name"] == "TestKRG"  # ASCII case does not matter
    assert get("TESTKRG").json()["name"] == "TestKRG"
    assert get(KELVIN).json()["name"] == KELVIN
    assert get("Test\u212aRg".upper()).json()["name"] == KELVIN  # upper() keeps the Kelvin sign
    assert {"TestKRG", KELVIN} <= listed()
    assert put("testKRG").status_code == 200  # the same group as TestKRG: an update, not a third group


def test_kelvin_sign_names_are_another_group_over_https(served, session):
    _kelvin_groups_are_two(lambda n: _served(served, "PUT", n, json={"location": "eastus"}),
                           lambda n: _served(served, "GET", n), lambda: _listed(session))


def test_kelvin_sign_names_are_another_group_in_process(session):
    _kelvin_groups_are_two(lambda n: _in_process(session, "PUT", n, json={"location": "eastus"}),
                           lambda n: _in_process(session, "GET", n), lambda: _listed(session))
    session.resources.resource_groups.begin_delete(KELVIN).result()
    assert session.resources.resource_groups.get("TestKRG").name == "TestKRG"  # deleting one leaves the other
    with pytest.raises(ResourceNotFoundError):
        session.resources.resource_groups.get(KELVIN)


def test_child_names_fold_as_arm_does(session):
    rg = session.resources.resource_groups
    rg.create_or_update("RG", {"location": "eastus"})
    vnets = session.network.virtual_networks
    vnets.begin_create_or_update("RG", "VNet", {"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "SubK", "properties": {"addressPrefix": "10.1.1.0/24"}},
                    {"name": "Sub\u212a", "properties": {"addressPrefix": "10.1.2.0/24"}}]}}).result()
    assert {s.name for s in vnets.get("rg", "vnet").subnets} == {"SubK", "Sub\u212a"}  # two subnets, not a clash
    assert session.network.subnets.get("RG", "VNet", "subk").address_prefix == "10.1.1.0/24"
    assert session.network.subnets.get("RG", "VNet", "Sub\u212a").address_prefix == "10.1.2.0/24"


def test_fold_is_ordinal_ignore_case():
    assert fold("TestRG") == fold("testrg") == fold("TESTRG") == "testrg"  # ASCII: lower case, as keys always were
    assert fold("TestKRG") != fold(KELVIN)
    assert fold("Grüße") == fold("GRÜßE") != fold("GRÜSSE")  # simple mappings: ß is not SS
    assert fold("\u0131") != fold("I") and fold("\u017f") != fold("S")  # dotless i, long s: themselves
    assert fold("\u00b5") == fold("\u039c")  # micro sign and capital mu: one (simple uppercase)
    assert fold("\u1f80") == fold("\u1f88")  # iota subscript: the single-character mapping
    assert fold("\U00010428") == fold("\U00010400")  # Deseret: folded outside the BMP
    assert fold("\U0001e922") == fold("\U0001e900")  # Adlam
    for text in ("TestKRG", KELVIN, "Grüße", "\u1f80", "ǅ"):
        assert fold(fold(text)) == fold(text)


def test_keys_stored_by_lower_are_folded_again_when_the_store_opens(tmp_path):
    """A state file written when keys were ``str.lower()``: a group with a non-ASCII name is still found."""
    path = tmp_path / "old.sqlite3"
    store = Store(path)
    rid = f"/subscriptions/{SUB}/resourceGroups/GRÜN"
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO resources (key, id, sub, rg, type, name, location, body, etag, seq, created_at) "
                   "VALUES (?, ?, ?, ?, 'microsoft.resources/resourcegroups', 'GRÜN', 'eastus', '{}', 'e', 1, 0)",
                   (rid.lower(), rid, SUB, "grün"))
        db.execute("INSERT INTO secrets (resource_key, shared_key) VALUES (?, 'k')", (rid.lower() + "#radius",))
    again = Store(path)
    try:
        with again.read() as db:
            rec = again.get(db, rid.lower(), 1.0)
            assert rec is not None and rec.name == "GRÜN" and rec.key == fold(rid) and rec.rg == fold("GRÜN")
            assert again.get_secret(db, rid + "#radius") == "k"
            assert again.list(db, 1.0, sub=SUB, type="Microsoft.Resources/resourceGroups")[0].name == "GRÜN"
    finally:
        again.close()
