"""Small display helpers that keep the runbook notebooks thin: plan tables, before/after, policies side by side."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy


def project_path(path: str | Path) -> Path:
    """A relative project path (``parameters/policies/x.yaml``) found from the kernel's folder or any parent —
    JupyterLab starts kernels in ``notebooks/``, the runner in the project root."""
    p = Path(path)
    if p.is_absolute():
        return p
    here = Path.cwd()
    first = p.parts[0] if p.parts else ""
    for folder in (here, *here.parents):
        if (folder / p).exists() or (first and (folder / first).is_dir()):
            return folder / p
    return here / p


def target_line(session: Any, *, apply: bool | None) -> str:
    """The target and what this run may change. ``apply=None``: a read-only step (07, 08)."""
    from vpnrunbook.ui.env import is_interactive

    if apply is None:
        mode = "READ ONLY: this step never changes anything"
    elif is_interactive():
        mode = "PLAN FIRST: nothing changes until you click Apply under the plan"
    else:
        mode = "APPLY: changes will be made" if apply else "PLAN ONLY: nothing will be changed (apply=False)"
    return f"target {session.target} · subscription {session.subscription_id} · {mode}"


def plan_table(*items: Any) -> Any:
    """One table for the plans of several results/plans (``.plan`` or a Plan); one row per planned change."""
    import pandas as pd

    frames = []
    notes: list[str] = []
    for item in items:
        plan = getattr(item, "plan", item)
        frame = plan.to_frame()
        if frame.empty:
            frame = pd.DataFrame([{"resource": ", ".join(_short(r) for r in plan.resources) or plan.step,
                                   "field": "", "current": "", "desired": "", "action": "no change"}])
        frames.append(frame)
        notes += list(getattr(plan, "notes", []))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for n in notes:
        print("note:", n)
    return table


def _short(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else resource_id


def states_table(result: Any) -> Any:
    """Before/after provisioning state of every resource a result touched."""
    import pandas as pd

    rows = []
    for rid in result.resources or list(result.after):
        b, a = result.before.get(rid), result.after.get(rid)
        rows.append({"resource": _short(rid),
                     "before": "(absent)" if b is None else _state(b),
                     "after": "(absent)" if a is None else _state(a)})
    return pd.DataFrame(rows)


def _state(snapshot: Mapping[str, Any]) -> str:
    props = snapshot.get("properties") or {}
    return str(props.get("provisioningState") or "exists")


def policies_side_by_side(columns: Mapping[str, IpsecIkePolicy | None | str]) -> Any:
    """Policies as columns (rows = the eight fields); None = Azure's default proposals, a str = a note."""
    import pandas as pd

    data: dict[str, list[Any]] = {}
    for name, pol in columns.items():
        if isinstance(pol, IpsecIkePolicy):
            data[name] = [getattr(pol, s.name) for s in rules.FIELDS]
        else:
            data[name] = ["(Azure default proposals)" if pol is None else pol] * len(rules.FIELDS)
    frame = pd.DataFrame(data, index=[s.label for s in rules.FIELDS])
    if len(columns) == 2:
        a, b = list(columns)
        frame["changed"] = ["◀" if x != y else "" for x, y in zip(frame[a], frame[b], strict=True)]
    return frame


def connection_settings(views: Mapping[str, Any]) -> Any:
    """DPD timeout, traffic selectors and status of connection views (``show_policy`` results) side by side."""
    import pandas as pd

    rows = {}
    for name, v in views.items():
        if v is None:
            rows[name] = {"exists": False}
            continue
        rows[name] = {"exists": True, "custom policy": not v.uses_default,
                      "DPD timeout (s)": v.dpd_timeout_seconds,
                      "policy-based traffic selectors": v.use_policy_based_traffic_selectors,
                      "connection status": v.connection_status}
    return pd.DataFrame(rows)


def try_show_policy(ops: Any, session: Any, *, resource_group: str, connection_name: str) -> Any:
    """``show_policy`` or None when the connection does not exist (yet)."""
    try:
        return ops.show_policy(session, resource_group=resource_group, connection_name=connection_name)
    except ops.PrecheckError:
        return None


def warnings_table(findings: Iterable[Any]) -> Any:
    import pandas as pd

    rows = [f.as_dict() if hasattr(f, "as_dict") else {"finding": str(f)} for f in findings]
    return pd.DataFrame(rows)


def headless() -> bool:
    return os.environ.get("VPNRUNBOOK_HEADLESS") == "1" or bool(os.environ.get("VPNRUNBOOK_RUN_DIR"))


def _rg_name(resource_id: str) -> tuple[str, str]:
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    return parts[lower.index("resourcegroups") + 1], parts[-1]


def device_config(session: Any, *, resource_group: str, connection_name: str, policy: IpsecIkePolicy | None,
                  shared_key_ref: str = "env:VPNRUNBOOK_SHARED_KEY",
                  use_policy_based_traffic_selectors: bool | None = None) -> Any:
    """The on-premises device's ``swanctl.conf`` for an S2S connection (``vpnrunbook.device.render_swanctl``),
    built from what Azure reports: the gateway's public IP, the VNet's space, the local gateway's prefixes.
    Returns None when ``vpnrunbook.device`` is not installed or the connection is not Site-to-Site. The
    configuration holds only the key's reference. ``use_policy_based_traffic_selectors`` None: the connection's."""
    try:
        from vpnrunbook.device import ProposalError, render_swanctl
    except ImportError:
        return None
    net = session.network
    conn = net.virtual_network_gateway_connections.get(resource_group, connection_name)
    if conn.connection_type != "IPsec" or conn.local_network_gateway2 is None:
        return None
    gw = net.virtual_network_gateways.get(*_rg_name(conn.virtual_network_gateway1.id))
    lng = net.local_network_gateways.get(*_rg_name(conn.local_network_gateway2.id))
    ipconf = gw.ip_configurations[0]
    pip = net.public_ip_addresses.get(*_rg_name(ipconf.public_ip_address.id))
    vnet_id = ipconf.subnet.id.split("/subnets/")[0]
    vnet = net.virtual_networks.get(*_rg_name(vnet_id))
    pbts = conn.use_policy_based_traffic_selectors if use_policy_based_traffic_selectors is None \
        else use_policy_based_traffic_selectors
    try:
        return render_swanctl(policy, remote_address=pip.ip_address, local_address=lng.gateway_ip_address,
                              local_prefixes=list(lng.local_network_address_space.address_prefixes),
                              remote_prefixes=list(vnet.address_space.address_prefixes),
                              shared_key_ref=shared_key_ref, use_policy_based_traffic_selectors=bool(pbts),
                              name=connection_name)
    except ProposalError as exc:  # e.g. DH group None: valid for Azure, no IKEv2 device can be configured for it
        print(f"no device configuration: {exc}")
        return None


# ---- tunnel impact and the verify step (issue 7) -----------------------------------------------------
def tunnel_warnings(planned: Any, *, refuse_breaking: bool = False, apply: bool = False) -> list[str]:
    """Print the plan's "WARNING — ..." lines (a change that would break a tunnel) and what happens to them."""
    plan = getattr(planned, "plan", planned)
    warnings = list(plan.tunnel_warnings())
    for w in warnings:
        print(w)
    if warnings:
        if refuse_breaking:
            print("WOULD BE REFUSED — " + ("this change is refused (UpdateBreaksTunnel): nothing is written"
                                           if apply else "an apply refuses this change (exit 2, nothing written)")
                  + "; to make it anyway and reconfigure the other end: `--allow-breaking` (refuse_breaking=True)")
        else:
            print("refuse_breaking=False: " + (
                "the change is applied anyway (--allow-breaking); reconfigure the other end in the same change window"
                if apply else "Apply would make this change anyway; reconfigure the other end in the same change "
                              "window"))
    return warnings


def impact_table(planned: Any) -> Any:
    """The compatibility verdict before and after the planned change, one row per tunnel checked (None: none)."""
    import pandas as pd

    plan = getattr(planned, "plan", planned)
    impacts = list(getattr(plan, "impacts", []) or [])
    if not impacts:
        return None
    rows = [{"connection": i.resource, "other end": i.peer, "now": i.before, "after the change": i.after,
             "breaks": "WARNING" if i.breaks else "", "why": i.reason} for i in impacts]
    return pd.DataFrame(rows)


def try_verify(ops: Any, session: Any, *, resource_group: str, connection_name: str) -> Any:
    """``ops.verify_connection`` (status with the reason), or None when the connection does not exist (yet)."""
    try:
        return ops.verify_connection(session, resource_group=resource_group, connection_name=connection_name)
    except ops.PrecheckError:
        return None


def verify_section(status: Any, *, applied: bool) -> None:
    """Show the verify step: status + reason (+ the Vnet2Vnet peer) and the device check per exchange."""
    from IPython.display import Markdown, display

    from vpnrunbook.runbook.mdtext import text as md  # values read from Azure (status, device tags) stay text

    when = "after the change" if applied else "now (plan-only run: nothing was changed)"
    display(Markdown(f"**Connection status {when}:** {md(status.status)}" + (" ✔" if status.ok else " ✘")))
    print(status.text)
    display(status.to_frame())
    if status.device_check is not None:
        display(Markdown(f"**Device check** ({md(status.device)}): {md(status.device_check.verdict)}"))
        display(status.device_check.to_frame())


# The create-policy step knows no addresses: its device configuration uses documentation addresses (RFC 5737)
# and the seed site's prefixes, marked as examples; 04 connect renders the real one.
EXAMPLE_AZURE_GATEWAY_IP = "203.0.113.10"
EXAMPLE_DEVICE_IP = "198.51.100.20"
EXAMPLE_ONPREM_PREFIXES = ("10.61.0.0/16", "10.62.0.0/16")
EXAMPLE_VNET_PREFIXES = ("10.1.0.0/16",)
EXAMPLE_KEY_REF = "env:VPNRUNBOOK_SHARED_KEY"


def device_examples(policy: IpsecIkePolicy | None, *, name: str = "azure") -> dict[str, Any]:
    """strongSwan ``swanctl.conf`` and Cisco IOS-XE for a policy, with example addresses (see above).
    Returns ``{"swanctl": DeviceConfig, "cisco": DeviceConfig}``; the key appears only as a reference."""
    from vpnrunbook.device import render_cisco, render_swanctl

    common = dict(remote_address=EXAMPLE_AZURE_GATEWAY_IP, local_address=EXAMPLE_DEVICE_IP,
                  local_prefixes=list(EXAMPLE_ONPREM_PREFIXES), remote_prefixes=list(EXAMPLE_VNET_PREFIXES),
                  shared_key_ref=EXAMPLE_KEY_REF, name=name)
    return {"swanctl": render_swanctl(policy, **common), "cisco": render_cisco(policy, **common)}



# ---- 08 show policy: light tables (vpnrunbook.runbook.table, no pandas: the read-only step starts fast) ------
def policy_fields(view: Any) -> Any:
    """A connection's policy (a ``show_policy`` view): one row per field with the value, its strength and why —
    or, without a custom policy, Azure's default proposals (what the connection offers)."""
    from vpnrunbook.operations.connection import default_proposals_rows
    from vpnrunbook.policy.strength import rate
    from vpnrunbook.runbook.table import Table

    if view.policy is None:
        return Table.from_records(default_proposals_rows(),
                                  caption=f"{view.connection}: no custom policy — Azure's default proposals")
    rows = []
    for spec in rules.FIELDS:
        value = getattr(view.policy, spec.name)
        rating = rate(spec.name, str(value))
        rows.append({"field": spec.label, "value": value, "strength": rating.strength.label if rating else "",
                     "why": rating.reason if rating else ""})
    return Table.from_records(rows, index="field", caption=f"{view.connection}: custom IPsec/IKE policy")


def connection_facts(view: Any, status: Any = None) -> Any:
    """The settings around the policy: type, DPD timeout, traffic-selector mode, status (+ reason when known)."""
    from vpnrunbook.runbook.table import Table

    rows = [("connection", view.connection), ("type", view.connection_type),
            ("custom policy", "no — Azure's default proposals" if view.uses_default else "yes"),
            ("DPD timeout (s)", view.dpd_timeout_seconds),
            ("policy-based traffic selectors", "on" if view.use_policy_based_traffic_selectors else "off"),
            ("connection status", view.connection_status or "Unknown")]
    if status is not None:
        rows += [("provisioning state", status.provisioning_state), ("why", status.reason)]
        if status.warning:
            rows.append(("WARNING", status.warning))
    return Table(("setting", "value"), tuple(rows), index="setting")


def policy_findings(view: Any) -> list[Any]:
    """Lint findings of the connection's policy (``show_policy`` view). Without a custom policy: the weak and
    deprecated algorithms Azure's default proposals offer (the same findings the fleet audit reports)."""
    if view.policy is None:
        from vpnrunbook.policy.strength import default_proposal_findings

        return default_proposal_findings()
    return list(view.warnings)


def findings_table(view: Any) -> Any:
    """:func:`policy_findings` as a light table (one row saying so when there are none)."""
    from vpnrunbook.runbook.table import Table

    findings = policy_findings(view)
    if not findings:
        return Table(("finding",), (("none: every algorithm of the policy is rated acceptable or strong",),))
    caption = ("no custom policy: Azure's default proposals offer these — a custom policy (step 05, e.g. preset "
               "strong-modern) stops offering them" if view.policy is None else "")
    return Table.from_records([{"severity": f.severity, "field": f.field, "value": f.value, "strength": f.strength,
                                "finding": f.message, "source": f.source} for f in findings], caption=caption)


def device_proposal_table(view: Any) -> Any:
    """The strongSwan proposals the on-premises device (or a Vnet2Vnet peer's view) should configure."""
    from vpnrunbook.device.proposals import device_proposals
    from vpnrunbook.runbook.table import Table

    chosen = device_proposals(view.policy)
    return Table(("setting", "strongSwan proposals"),
                 (("proposals (IKE_SA)", chosen.ike_text), ("esp_proposals (CHILD_SA)", chosen.esp_text)),
                 index="setting", caption="what the on-premises device should configure (swanctl.conf)")


def status_tables(status: Any) -> list[Any]:
    """What the verify step adds to :func:`connection_facts`, as light tables: both directions of a Vnet2Vnet
    pair, and the device check per IKEv2 exchange when the local network gateway describes the device."""
    from vpnrunbook.runbook.table import Table

    tables = []
    if status.peer:
        tables.append(Table.from_records(status.rows(), columns=status.COLUMNS, index="connection",
                                         caption="both directions of the VNet-to-VNet pair"))
    if status.device_check is not None:
        tables.append(Table.from_records(
            [{"exchange": p.phase, "status": p.status, "algorithms": p.algorithms or "", "reason": p.reason}
             for p in status.device_check.phases], index="exchange",
            caption=f"device check ({status.device}): {status.device_check.verdict}"))
    return tables
