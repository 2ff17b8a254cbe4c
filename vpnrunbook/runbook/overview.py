"""The 07 overview's tables, read with the fleet audit's list endpoints (one list request per resource group and
kind, no GET per connection) and shown as plain values (no SDK enum reprs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GATEWAY_LABELS = {"resource_group": "resource group", "gateway": "gateway", "sku": "sku",
                  "generation": "generation", "vpn_type": "vpn type", "active_active": "active-active",
                  "provisioning_state": "state"}


def connections_overview(session: Any, resource_groups: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """Every connection of ``resource_groups`` with its policy (or "Azure defaults"), DPD, traffic-selector
    setting and status: (table, {"rg/connection": PolicyView}) — the views feed the side-by-side comparison."""
    import pandas as pd

    from vpnrunbook.fleet.audit import list_resource_group
    from vpnrunbook.operations.connection import policy_view

    rows, views = [], {}
    for rg in resource_groups:
        for conn in list_resource_group(session, rg, "connections"):
            view = policy_view(conn, resource_group=rg)
            views[f"{rg}/{conn.get('name')}"] = view
            pol = view.policy
            rows.append({"resource group": rg, "connection": conn.get("name"), "type": view.connection_type,
                         "status": view.connection_status,
                         "policy": "Azure defaults" if pol is None else pol.summary(),
                         "DPD (s)": view.dpd_timeout_seconds,
                         "policy-based TS": view.use_policy_based_traffic_selectors})
    columns = ["resource group", "connection", "type", "status", "policy", "DPD (s)", "policy-based TS"]
    return pd.DataFrame(rows, columns=columns), views


def gateways_table(session: Any, resource_groups: Sequence[str]) -> Any:
    """Every VPN gateway of ``resource_groups`` (the fleet audit's gateway columns) with display labels."""
    from vpnrunbook.fleet.audit import gateways_frame

    return gateways_frame(session, resource_groups).rename(columns=GATEWAY_LABELS)


__all__ = ["connections_overview", "gateways_table"]
