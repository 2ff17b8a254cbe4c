"""The VPN device list Azure answers for its device configuration script, and the script per device (issue 26 item 3).

Source of the list: Azure's recorded answer in Azure/azure-powershell's session record
TestVirtualNetworkGatewayVpnDeviceConfigurationScripts.json (see vpnrunbook/emulator/vpn_devices.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator import seed
from vpnrunbook.emulator import vpn_devices


def _script(session, vendor, family, firmware):
    return session.network.virtual_network_gateways.vpn_device_configuration_script(
        "TestRG1", "VNet1toSite6", {"vendor": vendor, "deviceFamily": family, "firmwareVersion": firmware})


def test_supported_devices_is_azures_list_in_azures_xml(session, topology):
    xml = session.network.virtual_network_gateways.supported_vpn_devices("TestRG1", "VNet1GW")
    root = ET.fromstring(xml)
    assert root.tag == "RpVpnDeviceList" and root.get("version") == "1.0"
    vendors = [v.get("name") for v in root.findall("Vendor")]
    assert vendors == ["Cisco", "Juniper", "Ubiquiti", "Generic Samples", "Allied Telesis"]
    triples = [(v.get("name"), f.get("name"), fw.get("name")) for v in root.findall("Vendor")
               for f in v.findall("DeviceFamily") for fw in f.findall("FirmwareVersion")]
    assert ("Cisco", "Cisco-ISR(IOS)", "Cisco-ISR-15.x--IKEv2+BGP") in triples
    assert ("Juniper", "Juniper_SRX", "Juniper_SRX_JunOS-12.x_RouteBased") in triples
    assert len(triples) == sum(len(fws) for _v, _f, fws in vpn_devices.DEVICES) == 17


def test_the_azure_cli_documented_example_renders_a_cisco_configuration(session, topology):
    """`az network vpn-connection show-device-config-script --vendor "Cisco" --device-family "Cisco-ISR(IOS)"
    --firmware-version "Cisco-ISR-15.x-- IKEv2+BGP"` (the space as the CLI's help writes it)."""
    script = _script(session, "Cisco", "Cisco-ISR(IOS)", "Cisco-ISR-15.x-- IKEv2+BGP")
    assert "crypto ikev2 proposal" in script and "aes-cbc-256" in script
    assert seed.S2S_KEY not in script and "${SHARED_KEY}" in script


@pytest.mark.parametrize(("vendor", "family", "firmware"), [
    ("Juniper", "Juniper_SRX", "Juniper_SRX_JunOS-12.x_RouteBased"),
    ("Generic Samples", "Device Parameters", "1.0"),
    ("allied telesis", "AR-Series VPN Routers", "AR-Series 5.4.7+"),
])
def test_a_listed_device_the_renderer_does_not_know_gets_azures_parameter_sheet(session, topology, vendor, family,
                                                                                 firmware):
    script = _script(session, vendor, family, firmware)
    assert "/Data/CONNECTION_NAME = VNet1toSite6" in script and "/Data/LNG_GATEWAYIP   = 131.107.72.22" in script
    assert "/Data/IKE_DHGROUP_1    = DHGroup24" in script and "OnPremiseSubnets/Subnet/SP_NetworkCIDR = 10.61.0.0/16" \
        in script
    assert seed.S2S_KEY not in script and "${SHARED_KEY}" in script


@pytest.mark.parametrize(("vendor", "family", "firmware", "code", "named"), [
    ("Fortinet", "FortiGate", "6.x", "InvalidVpnDeviceVendor", "Juniper"),
    ("Cisco", "Cisco-ISR", "15.x", "InvalidVpnDeviceFamily", "Cisco-ISR(IOS)"),
    ("Cisco", "Cisco-ISR(IOS)", "16.x", "InvalidVpnDeviceFirmwareVersion", "Cisco-ISR-15.x--IKEv2+BGP"),
])
def test_an_unlisted_device_is_refused_naming_what_is_listed(session, topology, vendor, family, firmware, code, named):
    with pytest.raises(HttpResponseError) as info:
        _script(session, vendor, family, firmware)
    assert info.value.status_code == 400 and info.value.error.code == code
    assert named in info.value.error.message
