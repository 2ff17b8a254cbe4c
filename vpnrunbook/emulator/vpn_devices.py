"""The VPN devices Azure offers a configuration script for (``supportedvpndevices``), and how each is answered.

Source: Azure's own answer to ``POST …/virtualNetworkGateways/{name}/supportedvpndevices`` (api-version
2019-09-01), recorded against real Azure in Azure/azure-powershell
``src/Network/Network.Test/SessionRecords/Commands.Network.Test.ScenarioTests.VirtualNetworkGatewayConnectionTests/
TestVirtualNetworkGatewayVpnDeviceConfigurationScripts.json`` (commit 0d68fc3d…, 2019-10-15). The list is served
as Azure sent it: an XML document ``<RpVpnDeviceList version="1.0">`` of Vendor / DeviceFamily / FirmwareVersion.

The families the device renderer knows (Cisco IOS IKEv2) get its configuration; every other listed device gets the
parameter sheet Azure's templates open with (sections [1]-[10]: names, addresses, prefixes, phase 1/2, BGP), as
Azure's "Generic Samples / Device Parameters" entry does — a script in every case, as Azure answers. The shared key
is a placeholder: the emulator never writes it into a script (Azure's scripts carry it in clear).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

SOURCE = ("Azure/azure-powershell src/Network/Network.Test/SessionRecords/Commands.Network.Test.ScenarioTests."
          "VirtualNetworkGatewayConnectionTests/TestVirtualNetworkGatewayVpnDeviceConfigurationScripts.json")

# (vendor, family, firmware versions) in Azure's order.
DEVICES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Cisco", "Cisco-ISR(IOS)", ("Cisco-ISR-15.x--IKEv2+BGP",)),
    ("Cisco", "IOS (ISR, ASR)", ("15.x (IKEv2)",)),
    ("Cisco", "ASA (Adaptive Security Appliance)", (
        "Cisco_ASA_[9.8+_ONLY]_Active-Active_HA-Mode_RouteBased:(IKEv2+VTI+BGP)",
        "Cisco_ASA_[9.8+_ONLY]_RouteBased(IKEv2+VTI+BGP)",
        "Cisco_ASA_[Between_9.6(4)--9.7.x_ONLY]_RouteBased(IKEv2-NoBGP)",
        "Cisco_ASA_[BELOW_9.6(4)_ONLY]_IKEv2_{MUST:CustomAzure-IPSec-Policies_w/Narrow_TrafficSelectors}")),
    ("Juniper", "Juniper_SRX", ("Juniper_SRX_JunOS-12.x_RouteBased", "Juniper_SRX_JunOS-12.x_RouteBased-and-BGP_Support")),
    ("Juniper", "Juniper_SSG", ("Juniper_SSG_ScreenOS-6.2.x-RouteBased",)),
    ("Juniper", "Juniper_J-Series", ("Juniper_J-Series_JunOS12.x-RouteBased",)),
    ("Juniper", "Juniper_MX", ("Juniper_MX_JunOS-12.x+_RouteBased-and-BGP_Support", "Juniper_MX_JunOS-12.x+_RouteBased_noBGP")),
    ("Juniper", "Juniper_ISG", ("Juniper_ISG_ScreenOS-6.3.x--RouteBased",)),
    ("Ubiquiti", "EdgeRouter", ("Ubiquiti_EdgeOS_1.10.x-RouteBased_BGP", "Ubiquiti_EdgeOS_1.10.x-RouteBased_VTI")),
    ("Generic Samples", "Device Parameters", ("1.0",)),
    ("Allied Telesis", "AR-Series VPN Routers", ("AR-Series 5.4.7+",)),
)
# Families the device renderer writes a full configuration for (vpnrunbook.device.render.render_cisco: IOS, IKEv2).
CISCO_IOS_FAMILIES = frozenset({"Cisco-ISR(IOS)", "IOS (ISR, ASR)"})


@dataclass(frozen=True)
class Device:
    vendor: str
    family: str
    firmware: str

    @property
    def renderer(self) -> str:
        """``cisco`` for the families the renderer knows, ``parameters`` (Azure's parameter sheet) otherwise."""
        return "cisco" if self.family in CISCO_IOS_FAMILIES else "parameters"


def supported_xml() -> str:
    """The list as Azure answers it (one XML document, ``RpVpnDeviceList``)."""
    out = ['<?xml version="1.0" encoding="utf-8"?><RpVpnDeviceList version="1.0">']
    vendor_open = None
    for vendor, family, firmwares in DEVICES:
        if vendor != vendor_open:
            if vendor_open is not None:
                out.append("</Vendor>")
            out.append(f"<Vendor name={quoteattr(vendor)}>")
            vendor_open = vendor
        out.append(f"<DeviceFamily name={quoteattr(family)}>")
        out += [f"<FirmwareVersion name={quoteattr(f)} />" for f in firmwares]
        out.append("</DeviceFamily>")
    out.append("</Vendor></RpVpnDeviceList>")
    return "".join(out)


def _same(a: str, b: str) -> bool:
    """Names compare case-insensitively and ignoring white space: the Azure CLI's documented example spells the
    firmware "Cisco-ISR-15.x-- IKEv2+BGP" where Azure lists "Cisco-ISR-15.x--IKEv2+BGP"."""
    return "".join(a.split()).lower() == "".join(b.split()).lower()


class UnknownDevice(ValueError):
    def __init__(self, code: str, field: str, value: str, allowed: list[str]) -> None:
        self.code, self.field, self.value, self.allowed = code, field, value, allowed
        super().__init__(f"{field} '{value}' is not a supported VPN device; allowed: {', '.join(allowed)} "
                         "(see supportedvpndevices)")


def find(vendor: str, family: str, firmware: str) -> Device:
    """The listed device these names mean, or :class:`UnknownDevice` naming the first field that matches none."""
    vendors = list(dict.fromkeys(v for v, _f, _fw in DEVICES))
    match_v = [d for d in DEVICES if _same(d[0], vendor)]
    if not match_v:
        raise UnknownDevice("InvalidVpnDeviceVendor", "vendor", vendor, vendors)
    match_f = [d for d in match_v if _same(d[1], family)]
    if not match_f:
        raise UnknownDevice("InvalidVpnDeviceFamily", "deviceFamily", family, [d[1] for d in match_v])
    v, f, firmwares = match_f[0]
    for fw in firmwares:
        if _same(fw, firmware):
            return Device(v, f, fw)
    raise UnknownDevice("InvalidVpnDeviceFirmwareVersion", "firmwareVersion", firmware, list(firmwares))
