"""Put the seed S2S connection (TestRG1: TestVNet1, VNet1GW, Site6, VNet1toSite6) into the emulator state named
by VPNRUNBOOK_DB, in-process, with the operations layer — as the create/connect notebooks would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vpnrunbook.policy.model import IpsecIkePolicy

SEED = Path(__file__).resolve().parents[2] / "parameters" / "seed"


def _params(name: str) -> dict[str, Any]:
    return yaml.safe_load((SEED / name).read_text(encoding="utf-8"))


def vnet1_prerequisites(session: Any) -> dict[str, Any]:
    """TestRG1, TestVNet1 (with GatewaySubnet) and VNet1GW's public IP, as the seed's 01 parameters say."""
    from vpnrunbook import operations as ops

    gw = _params("01_vnet1_gateway.yaml")
    rg, loc = gw["resource_group"], gw["location"]
    ops.ensure_resource_group(session, name=rg, location=loc, apply=True)
    ops.ensure_virtual_network(session, resource_group=rg, name=gw["vnet_name"], location=loc,
                               address_space=gw["address_space"], subnets=gw["subnets"], apply=True)
    ops.ensure_public_ip(session, resource_group=rg, name=gw["public_ip_name"], location=loc, apply=True)
    return gw


def create_vnet1_gateway(session: Any, *, progress: bool = False) -> dict[str, Any]:
    """The prerequisites, then VNet1GW, waited for; returns the seed's 01 parameters."""
    from vpnrunbook import operations as ops

    gw = vnet1_prerequisites(session)
    ops.begin_create_vpn_gateway(session, resource_group=gw["resource_group"], name=gw["gateway_name"],
                                 location=gw["location"], vnet_name=gw["vnet_name"],
                                 public_ip_name=gw["public_ip_name"], sku=gw["gateway_sku"], apply=True,
                                 progress=progress).result(timeout=120)
    return gw


def create_seed_connection(policy: IpsecIkePolicy) -> Any:
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    session = connect("emulator")
    gw = create_vnet1_gateway(session)
    site = _params("02_site6.yaml")
    conn = _params("04_vnet1_to_site6.yaml")
    rg, loc = gw["resource_group"], gw["location"]
    ops.ensure_local_network_gateway(session, resource_group=rg, name=site["local_gateway_name"], location=loc,
                                     gateway_ip_address=site["gateway_ip_address"],
                                     address_prefixes=site["address_prefixes"], apply=True)
    ops.ensure_connection(session, resource_group=rg, name=conn["connection_name"], location=loc,
                          connection_type=conn["connection_type"], gateway_name=conn["gateway_name"],
                          local_gateway_name=conn["local_gateway_name"], shared_key_ref=conn["shared_key_ref"],
                          policy=policy, apply=True)
    return session


def connection_policy(session: Any) -> IpsecIkePolicy | None:
    conn = _params("04_vnet1_to_site6.yaml")
    c = session.network.virtual_network_gateway_connections.get(conn["resource_group"], conn["connection_name"])
    return IpsecIkePolicy.from_sdk(c.ipsec_policies[0]) if c.ipsec_policies else None


def create_site6(session: Any, *, device: bool = False) -> dict[str, Any]:
    """VNet1GW (with its prerequisites) and Site6; ``device``: Site6's tags describe an on-premises device that
    speaks only the seed S2S policy (aes256-sha384-modp2048s256 / aes256-sha256), so other policies break the
    tunnel. Returns the seed's 04 parameters."""
    from vpnrunbook import operations as ops

    gw = create_vnet1_gateway(session)
    site = _params("02_site6.yaml")
    tags = {"device_ike": "aes256-sha384-modp2048s256", "device_esp": "aes256-sha256"} if device else {}
    ops.ensure_local_network_gateway(session, resource_group=gw["resource_group"], name=site["local_gateway_name"],
                                     location=gw["location"], gateway_ip_address=site["gateway_ip_address"],
                                     address_prefixes=site["address_prefixes"], apply=True, **tags)
    return _params("04_vnet1_to_site6.yaml")


def connection_exists(session: Any) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    conn = _params("04_vnet1_to_site6.yaml")
    try:
        session.network.virtual_network_gateway_connections.get(conn["resource_group"], conn["connection_name"])
    except ResourceNotFoundError:
        return False
    return True
