"""Generic resource lists with ARM's $filter, $top and nextLink (issue 26 item 1), as the SDK and az call them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed

NET = "Microsoft.Network"


@pytest.fixture
def two_groups(session):
    """RLA holds a network, a public IP (tagged env=prod) and a tagged local gateway; RLB holds one network."""
    n = session.network
    seed.network(session, "RLA", "VNetA", "eastus", ["10.1.0.0/16"], {"A": "10.1.0.0/24"})
    n.public_ip_addresses.begin_create_or_update("RLA", "pipA", {
        "location": "eastus", "sku": {"name": "Standard"}, "tags": {"env": "prod"},
        "properties": {"publicIPAllocationMethod": "Static"}}).result()
    n.local_network_gateways.begin_create_or_update("RLA", "SiteA", {
        "location": "westus", "tags": {"env": "dev", "Owner": "ops"},
        "properties": {"gatewayIpAddress": "131.107.72.22",
                       "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}).result()
    seed.network(session, "RLB", "VNetB", "eastus", ["10.2.0.0/16"], {"B": "10.2.0.0/24"})


def names(items) -> list[str]:
    return sorted(r.name for r in items)


def test_list_by_resource_group_is_served_and_scoped(session, two_groups):
    assert names(session.resources.resources.list_by_resource_group("RLA")) == ["SiteA", "VNetA", "pipA"]
    assert names(session.resources.resources.list_by_resource_group("RLB")) == ["VNetB"]


def test_list_by_a_missing_group_is_resource_group_not_found(session, two_groups):
    with pytest.raises(HttpResponseError) as info:
        list(session.resources.resources.list_by_resource_group("Nope"))
    assert info.value.error.code == "ResourceGroupNotFound"


def test_filter_resource_group_as_the_azure_cli_sends_it(session, two_groups):
    """`az resource list -g RLA` lists the subscription with `resourceGroup eq 'RLA'`."""
    assert names(session.resources.resources.list(filter="resourceGroup eq 'rla'")) == ["SiteA", "VNetA", "pipA"]


def test_filter_resource_type_name_and_location(session, two_groups):
    r = session.resources.resources
    assert names(r.list(filter=f"resourceType eq '{NET}/virtualNetworks'")) == ["VNetA", "VNetB"]
    assert names(r.list(filter=f"resourceGroup eq 'RLA' and resourceType eq '{NET}/virtualNetworks'")) == ["VNetA"]
    assert names(r.list(filter="name eq 'vneta'")) == ["VNetA"]
    assert names(r.list(filter="substringof('Net', name)")) == ["VNetA", "VNetB"]
    assert names(r.list(filter="location eq 'westus'")) == ["SiteA"]
    assert names(r.list_by_resource_group("RLA", filter=f"resourceType eq '{NET}/publicIPAddresses'")) == ["pipA"]


def test_filter_tags_as_the_azure_cli_sends_them(session, two_groups):
    """`--tag env=prod` → `tagname eq 'env' and tagvalue eq 'prod'`; `--tag env` → tag present; `--tag ow*`."""
    r = session.resources.resources
    assert names(r.list(filter="tagname eq 'env' and tagvalue eq 'prod'")) == ["pipA"]
    assert names(r.list(filter="tagName eq 'env'")) == ["SiteA", "pipA"]
    assert names(r.list(filter="startswith(tagname, 'ow')")) == ["SiteA"]
    assert names(r.list(filter="tagName eq 'env' and tagValue eq 'PROD'")) == []  # tag values keep their case
    tagged = next(iter(r.list(filter="tagName eq 'env' and tagValue eq 'prod'")))
    assert tagged.tags == {"env": "prod"} and tagged.sku.name == "Standard"


def test_top_pages_with_next_link_keeping_the_filter(session, two_groups):
    pages = session.resources.resources.list(filter=f"resourceType eq '{NET}/virtualNetworks'", top=1).by_page()
    first = list(next(pages))
    assert [x.name for x in first] == ["VNetA"]
    assert [x.name for x in next(pages)] == ["VNetB"]  # the nextLink carried the filter on
    with pytest.raises(StopIteration):
        next(pages)


@pytest.mark.parametrize("bad", ["kind eq 'x'", "name ne 'x'", "tagValue eq 'prod'", "name eq 'x' or name eq 'y'"])
def test_a_filter_outside_the_grammar_is_refused_naming_it(session, two_groups, bad):
    with pytest.raises(HttpResponseError) as info:
        list(session.resources.resources.list(filter=bad))
    assert info.value.status_code == 400 and info.value.error.code == "InvalidFilterInQueryString"
    assert bad.split()[0].split("(")[0] in info.value.error.message
