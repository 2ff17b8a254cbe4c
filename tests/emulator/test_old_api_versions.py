"""api-versions clients still pin (templates at 2020-11-01, 2019-x) are served from 2018-01-01; a refusal lists the
served versions as ARM's NoRegisteredProviderFound does (issue 26 item 4)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from vpnrunbook.emulator.models import NETWORK_STABLE_API_VERSIONS, RESOURCES_STABLE_API_VERSIONS


@pytest.mark.parametrize("version", ["2018-01-01", "2019-02-01", "2019-12-01", "2020-11-01"])
def test_released_network_versions_since_2018_are_served(session, topology, version):
    vnet = session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version=version)
    assert vnet.name == "TestVNet1"
    conn = session.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6", api_version=version)
    assert conn.ipsec_policies[0].dh_group == "DHGroup24"


@pytest.mark.parametrize("version", ["2019-10-01", "2020-06-01", "2021-04-01"])
def test_resources_versions_templates_pin_are_served(session, topology, version):
    assert session.resources.resource_groups.get("TestRG1", api_version=version).name == "TestRG1"


def test_the_lists_start_in_2018_and_are_released_stable_versions():
    assert NETWORK_STABLE_API_VERSIONS[0] == "2018-01-01" and "2020-11-01" in NETWORK_STABLE_API_VERSIONS
    assert "2018-03-01" not in NETWORK_STABLE_API_VERSIONS  # registered with ARM, never released as a spec
    assert RESOURCES_STABLE_API_VERSIONS[0] == "2018-02-01" and "2019-10-01" in RESOURCES_STABLE_API_VERSIONS
    assert list(NETWORK_STABLE_API_VERSIONS) == sorted(NETWORK_STABLE_API_VERSIONS)


@pytest.mark.parametrize("version", ["2017-10-01", "2024-05-01-preview", "2099-01-01"])
def test_refusal_lists_the_versions_as_arm_does(session, topology, version):
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version=version)
    err = info.value.error
    assert info.value.status_code == 400 and err.code == "NoRegisteredProviderFound"
    # ARM: "… for type 'virtualNetworks'. The supported api-versions are '2014-12-01-preview, …, 2020-03-01'.
    # The supported locations are '…'." (Azure/azure-sdk-for-js#9297) — oldest first, ", "-joined.
    assert f"API version '{version}' for type 'virtualNetworks'" in err.message
    listed = err.message.split("The supported api-versions are '")[1].split("'")[0].split(", ")
    assert listed == list(NETWORK_STABLE_API_VERSIONS)
    assert "The supported locations are '" in err.message


def test_malformed_version_lists_newest_first_without_spaces(session, topology):
    with pytest.raises(HttpResponseError) as info:
        session.network.virtual_networks.get("TestRG1", "TestVNet1", api_version="latest")
    err = info.value.error
    assert err.code == "InvalidApiVersionParameter"
    assert f"'{','.join(reversed(NETWORK_STABLE_API_VERSIONS))}'" in err.message
