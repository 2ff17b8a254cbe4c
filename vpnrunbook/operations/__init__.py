"""Operations: every workflow step as an idempotent plan/apply over azure-mgmt-network.

Each step reads the current state, builds a :class:`Plan` (resource, field, current, desired), runs
the pre-checks, and writes only with ``apply=True`` — with If-Match on the ETags read for the plan.
Nothing to change means no write. Results carry before/after snapshots without the shared key.
"""

from vpnrunbook.operations.apply import accepting, apply_plan
from vpnrunbook.operations.connection import (
    UNCHANGED,
    PolicyView,
    default_proposals_table,
    ensure_connection,
    find_peer_connection,
    plan_connection_update,
    remove_policy,
    show_policy,
    traffic_selector_pairs,
    update_connection,
)
from vpnrunbook.operations.errors import ConcurrentChangeError, PrecheckError, ProvisioningFailedError
from vpnrunbook.operations.gateway import GatewayPoller, begin_create_vpn_gateway
from vpnrunbook.operations.local_gateway import ensure_local_network_gateway
from vpnrunbook.operations.network import ensure_public_ip, ensure_resource_group, ensure_virtual_network
from vpnrunbook.operations.plan import Change, OperationResult, Plan, TunnelImpact, scrub, snapshot
from vpnrunbook.operations.verify import ConnectionStatusView, verify_connection

__all__ = [
    "UNCHANGED", "Change", "ConcurrentChangeError", "ConnectionStatusView", "TunnelImpact", "GatewayPoller", "OperationResult", "Plan", "PolicyView",
    "PrecheckError", "ProvisioningFailedError", "accepting", "apply_plan", "begin_create_vpn_gateway", "default_proposals_table",
    "ensure_connection", "ensure_local_network_gateway", "ensure_public_ip", "ensure_resource_group",
    "ensure_virtual_network", "find_peer_connection", "plan_connection_update", "remove_policy", "scrub",
    "show_policy", "snapshot", "traffic_selector_pairs", "update_connection", "verify_connection",
]
