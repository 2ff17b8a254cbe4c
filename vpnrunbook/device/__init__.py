"""The on-premises side: device configuration (``render``), the IKEv2 compatibility check (``negotiate``),
strongSwan proposal syntax (``proposals``) and a real-strongSwan lab in network namespaces (``lab``)."""

from vpnrunbook.device.negotiate import (
    CompatibilityResult,
    UpdateImpact,
    check_compatibility,
    check_device_tags,
    predict_connection_status,
    update_impact,
)
from vpnrunbook.device.proposals import (
    ProposalError,
    StrongSwanProposals,
    device_proposals,
    strongswan_proposals,
)
from vpnrunbook.device.render import DeviceConfig, render_cisco, render_swanctl, write_swanctl_secret

__all__ = [
    "CompatibilityResult", "DeviceConfig", "UpdateImpact", "check_device_tags", "update_impact", "ProposalError", "StrongSwanProposals", "check_compatibility",
    "device_proposals", "predict_connection_status", "render_cisco", "render_swanctl", "strongswan_proposals",
    "write_swanctl_secret",
]
