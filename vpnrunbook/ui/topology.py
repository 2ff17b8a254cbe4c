"""A topology picture of resource groups, drawn as a self-contained SVG string (no network, no JavaScript):
VNets with address spaces, VPN gateways with SKU, local network gateways with prefixes, and connections with
type, status and policy summary.

``collect_topology(session, resource_groups)`` reads it through the SDK into plain dicts;
``render_topology_svg(data)`` draws any such dict (tests build them by hand); ``topology_svg`` does both and
``show_topology`` displays it (an ``image/svg+xml`` output, so it also appears in nbconvert HTML evidence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from html import escape
from typing import Any

from vpnrunbook.policy.model import IpsecIkePolicy

COL_WIDTH = 300
BOX_WIDTH = 250
COL_GAP = 110
COLUMNS_PER_ROW = 3  # resource groups side by side before the next row starts (fits a notebook output)
ROW_GAP = 40
MARGIN = 20
LINE = 15
FONT = "font-family:Segoe UI,DejaVu Sans,Arial,sans-serif;font-size:12px"
STATUS_COLOURS = {"connected": "#1e7e34", "connecting": "#b26a00", "notconnected": "#b3261e", "unknown": "#80868b"}
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


# ---- data --------------------------------------------------------------------------------------
def _name_from_id(resource_id: str | None, kind: str) -> str | None:
    if not resource_id:
        return None
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if kind.lower() in lowered:
        i = lowered.index(kind.lower())
        if i + 1 < len(parts):
            return parts[i + 1]
    return None


def _sub_id(obj: Any, *attrs: str) -> str | None:
    for attr in attrs:
        obj = getattr(obj, attr, None) if obj is not None else None
    return obj if isinstance(obj, str) else None


def _text(value: Any) -> Any:
    """SDK enums (``VirtualNetworkGatewaySkuName.VPN_GW1``) as their REST value (``VpnGw1``)."""
    return value.value if isinstance(value, Enum) else value


def policy_summary(policies: Sequence[Any] | None) -> str:
    if not policies:
        return "Azure default policy"
    try:
        return IpsecIkePolicy.from_sdk(policies[0]).summary()
    except Exception:  # noqa: BLE001 - draw what the service returned
        return "custom policy (unreadable)"


def collect_topology(session: Any, resource_groups: Iterable[str]) -> dict[str, Any]:
    """Read VNets, VPN gateways, local network gateways and connections of each resource group (GET/list only)."""
    from azure.core.exceptions import ResourceNotFoundError

    groups = []
    for rg in resource_groups:
        try:
            groups.append(_collect_group(session.network, rg))
        except ResourceNotFoundError:
            groups.append({"name": rg, "missing": True, "vnets": [], "gateways": [], "local_gateways": [],
                           "connections": []})
    return {"resource_groups": groups}


def _collect_group(net: Any, rg: str) -> dict[str, Any]:
    vnets = [{"id": v.id, "name": v.name, "location": v.location,
              "address_space": list(getattr(v.address_space, "address_prefixes", None) or [])}
             for v in net.virtual_networks.list(rg)]
    gateways = []
    for g in net.virtual_network_gateways.list(rg):
        ipconf = (g.ip_configurations or [None])[0]
        subnet_id = _sub_id(ipconf, "subnet", "id")
        pip_id = _sub_id(ipconf, "public_ip_address", "id")
        public_ip = None
        if pip_id:
            try:
                pip_rg = _name_from_id(pip_id, "resourceGroups") or rg
                public_ip = net.public_ip_addresses.get(pip_rg, _name_from_id(pip_id, "publicIPAddresses")).ip_address
            except Exception:  # noqa: BLE001 - the picture still draws without it
                public_ip = None
        gateways.append({"id": g.id, "name": g.name, "vnet_id": subnet_id.split("/subnets/")[0] if subnet_id else None,
                         "sku": _text(getattr(g.sku, "name", None)), "vpn_type": _text(g.vpn_type),
                         "generation": _text(g.vpn_gateway_generation),
                         "provisioning_state": _text(g.provisioning_state),
                         "public_ip": public_ip})
    local = [{"id": lg.id, "name": lg.name, "gateway_ip_address": lg.gateway_ip_address,
              "address_prefixes": list(getattr(lg.local_network_address_space, "address_prefixes", None) or [])}
             for lg in net.local_network_gateways.list(rg)]
    connections = []
    for c in net.virtual_network_gateway_connections.list(rg):
        full = net.virtual_network_gateway_connections.get(rg, c.name)
        connections.append({
            "id": full.id, "name": full.name, "type": _text(full.connection_type),
            "status": _text(full.connection_status), "protocol": _text(full.connection_protocol), "gateway_id": _sub_id(full, "virtual_network_gateway1", "id"),
            "peer_id": _sub_id(full, "virtual_network_gateway2", "id") or _sub_id(full, "local_network_gateway2", "id"),
            "policy": policy_summary(full.ipsec_policies),
        })
    return {"name": rg, "vnets": vnets, "gateways": gateways, "local_gateways": local,
            "connections": connections}


# ---- drawing -----------------------------------------------------------------------------------
def _key(resource_id: str | None) -> str:
    return (resource_id or "").lower()


class _Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, x: float, y: float, text: str, *, weight: str = "normal", colour: str = "#202124",
             anchor: str = "start", size: int | None = None) -> None:
        style = FONT + (f";font-size:{size}px" if size else "")
        self.parts.append(f'<text x="{x:.0f}" y="{y:.0f}" fill="{colour}" font-weight="{weight}" '
                          f'text-anchor="{anchor}" style="{style}">{escape(text)}</text>')

    def box(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str, dashed: bool = False,
            radius: int = 6) -> None:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self.parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="{radius}" '
                          f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>')


def _fit(text: str, width: float, size: int = 12) -> str:
    limit = max(int(width / (size * 0.58)), 4)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_topology_svg(data: Mapping[str, Any], *, title: str | None = None) -> str:
    """Draw ``{"resource_groups": [{"name", "vnets", "gateways", "local_gateways", "connections"}]}`` as SVG."""
    groups = list(data.get("resource_groups", []))
    c = _Canvas()
    anchors: dict[str, tuple[float, float, float, int]] = {}  # id -> (x_left, x_right, y_mid, column)
    column_heights = []
    top = MARGIN + (28 if title else 0)
    row_top, row_heights = top, []  # at most COLUMNS_PER_ROW groups side by side, then a new row (no clipping)
    for index, group in enumerate(groups):
        col = index % COLUMNS_PER_ROW
        if index and col == 0:
            row_top += max(row_heights) + ROW_GAP
            row_heights = []
        top_of_group = row_top
        x = MARGIN + col * (COL_WIDTH + COL_GAP)
        rg = group.get("name", "?")
        y = top_of_group + (48 if group.get("missing") else 30)
        c_start = len(c.parts)
        gateways_by_vnet: dict[str, list[Mapping[str, Any]]] = {}
        for g in group.get("gateways", []):
            gateways_by_vnet.setdefault(_key(g.get("vnet_id")), []).append(g)
        placed: set[str] = set()
        for v in group.get("vnets", []):
            lines = [f"address space: {p}" for p in v.get("address_space", [])] or ["address space: (none)"]
            h = 24 + LINE * len(lines) + 6
            c.parts.append(f'<g class="vnet" data-name="{escape(v.get("name", ""))}">')
            c.box(x + 15, y, BOX_WIDTH, h, fill="#e8f0fe", stroke="#1a73e8")
            c.text(x + 25, y + 17, _fit(f"VNet {v.get('name', '?')}", BOX_WIDTH - 20), weight="bold", colour="#174ea6")
            for i, line in enumerate(lines):
                c.text(x + 25, y + 34 + i * LINE, _fit(line, BOX_WIDTH - 20))
            c.parts.append("</g>")
            y += h + 8
            for g in gateways_by_vnet.get(_key(v.get("id")), []):
                y = _draw_gateway(c, g, x, y, anchors, col)
                placed.add(_key(g.get("id")))
            y += 6
        for g in group.get("gateways", []):  # gateways whose VNet is elsewhere or unknown
            if _key(g.get("id")) not in placed:
                y = _draw_gateway(c, g, x, y, anchors, col)
        for lg in group.get("local_gateways", []):
            prefixes = lg.get("address_prefixes", [])
            lines = [f"peer IP: {lg.get('gateway_ip_address') or '?'}"] + [f"prefix: {p}" for p in prefixes]
            h = 24 + LINE * len(lines) + 6
            c.parts.append(f'<g class="local-gateway" data-name="{escape(lg.get("name", ""))}">')
            c.box(x + 15, y, BOX_WIDTH, h, fill="#f1f3f4", stroke="#5f6368", dashed=True)
            c.text(x + 25, y + 17, _fit(f"Local network gateway {lg.get('name', '?')}", BOX_WIDTH - 20),
                   weight="bold", colour="#3c4043")
            for i, line in enumerate(lines):
                c.text(x + 25, y + 34 + i * LINE, _fit(line, BOX_WIDTH - 20))
            c.parts.append("</g>")
            anchors[_key(lg.get("id") or f"{rg}/{lg.get('name')}")] = (x + 15, x + 15 + BOX_WIDTH, y + h / 2, col)
            y += h + 10
        # the resource group frame goes behind its content
        frame = _Canvas()
        frame.parts.append(f'<g class="resource-group" data-name="{escape(rg)}">')
        frame.box(x, top_of_group, COL_WIDTH - 20, max(y - top_of_group, 40), fill="#ffffff", stroke="#9aa0a6", radius=10)
        frame.text(x + 12, top_of_group + 19, _fit(f"Resource group {rg}", COL_WIDTH - 40), weight="bold", size=13)
        if group.get("missing"):
            frame.text(x + 12, top_of_group + 38, "(not found)", colour="#b3261e")
        frame.parts.append("</g>")
        c.parts[c_start:c_start] = frame.parts
        row_heights.append(y - top_of_group + 10)
        column_heights.append(row_top - top + y - top_of_group + 10)

    # connections
    legend: list[tuple[str, str, str]] = []
    seen_pairs: dict[tuple[str, str], int] = {}
    conns = [(g.get("name"), conn) for g in groups for conn in g.get("connections", [])]
    for n, (_rg, conn) in enumerate(conns):
        mark = CIRCLED[n] if n < len(CIRCLED) else f"({n + 1})"
        status = str(conn.get("status") or "Unknown")
        colour = STATUS_COLOURS.get(status.lower(), STATUS_COLOURS["unknown"])
        a = anchors.get(_key(conn.get("gateway_id")))
        b = anchors.get(_key(conn.get("peer_id")))
        kind = conn.get("type") or "?"
        protocol = f" {conn['protocol']}" if conn.get("protocol") else ""
        legend.append((mark, f"{conn.get('name', '?')} — {kind}{protocol} — {status}", conn.get("policy") or
                       "Azure default policy"))
        c.parts.append(f'<g class="connection" data-name="{escape(conn.get("name", ""))}" '
                       f'data-status="{escape(status)}">')
        if a and b:
            pair = tuple(sorted((_key(conn.get("gateway_id")), _key(conn.get("peer_id")))))
            bend = seen_pairs.get(pair, 0)  # a V2V pair has two connections: bend the second one further out
            seen_pairs[pair] = bend + 1  # type: ignore[index]
            path, mx, my = _curve(a, b, bend)
            dash = "" if status.lower() == "connected" else ' stroke-dasharray="7 4"'
            c.parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>')
            c.parts.append(f'<circle cx="{mx:.0f}" cy="{my:.0f}" r="10" fill="#fff" stroke="{colour}" stroke-width="2"/>')
            c.text(mx, my + 4, str(n + 1), weight="bold", colour=colour, anchor="middle", size=11)
        c.parts.append("</g>")

    height = top + (max(column_heights) if column_heights else 40) + 10
    undrawn = [i for i, (_rg, conn) in enumerate(conns)
               if not (anchors.get(_key(conn.get("gateway_id"))) and anchors.get(_key(conn.get("peer_id"))))]
    for i in undrawn:  # the legend says which connections have no line in the picture, and why
        mark, line1, line2 = legend[i]
        legend[i] = (mark, line1, f"{line2} (not drawn: its other end is outside this picture)")
    legend_top = height + 6
    if legend:
        c.text(MARGIN, legend_top + 12, "Connections", weight="bold", size=13)
    for i, (mark, line1, line2) in enumerate(legend):
        y = legend_top + 32 + i * 36
        status_colour = STATUS_COLOURS.get(line1.rsplit("— ", 1)[-1].lower(), STATUS_COLOURS["unknown"])
        c.text(MARGIN, y, f"{mark} {line1}", weight="bold", colour=status_colour)
        c.text(MARGIN + 18, y + 15, line2, colour="#3c4043")
    height = legend_top + 32 + len(legend) * 36 if legend else height + 10
    width = MARGIN * 2 + max(min(len(groups), COLUMNS_PER_ROW), 1) * (COL_WIDTH + COL_GAP) - COL_GAP + 40
    widest_legend = max((max(len(a) + 3, len(b) + 3) for _m, a, b in legend), default=0) * 7 + MARGIN * 2
    width = max(width, widest_legend)
    head = ""
    if title:
        head = (f'<text x="{MARGIN}" y="{MARGIN + 14}" font-weight="bold" style="{FONT};font-size:15px">'
                f"{escape(title)}</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="vpnrunbook-topology" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
            f'<rect width="100%" height="100%" fill="#fafafa"/>{head}{"".join(c.parts)}</svg>')


def _draw_gateway(c: _Canvas, g: Mapping[str, Any], x: float, y: float,
                  anchors: dict[str, tuple[float, float, float, int]], col: int) -> float:
    lines = [f"SKU {g.get('sku') or '?'} · {g.get('vpn_type') or '?'}"]
    if g.get("generation") and g.get("generation") != "None":
        lines.append(str(g["generation"]))
    if g.get("public_ip"):
        lines.append(f"public IP: {g['public_ip']}")
    if g.get("provisioning_state") and g.get("provisioning_state") != "Succeeded":
        lines.append(f"state: {g['provisioning_state']}")
    h = 24 + LINE * len(lines) + 6
    gx = x + 45
    c.parts.append(f'<g class="gateway" data-name="{escape(g.get("name", ""))}">')
    c.parts.append(f'<line x1="{x + 35:.0f}" y1="{y - 8:.0f}" x2="{x + 35:.0f}" y2="{y + h / 2:.0f}" stroke="#1a73e8"/>'
                   f'<line x1="{x + 35:.0f}" y1="{y + h / 2:.0f}" x2="{gx:.0f}" y2="{y + h / 2:.0f}" stroke="#1a73e8"/>')
    c.box(gx, y, BOX_WIDTH - 30, h, fill="#fef7e0", stroke="#e37400")
    c.text(gx + 10, y + 17, _fit(f"VPN gateway {g.get('name', '?')}", BOX_WIDTH - 50), weight="bold", colour="#b06000")
    for i, line in enumerate(lines):
        c.text(gx + 10, y + 34 + i * LINE, _fit(line, BOX_WIDTH - 50))
    c.parts.append("</g>")
    anchors[_key(g.get("id") or g.get("name"))] = (gx, gx + BOX_WIDTH - 30, y + h / 2, col)
    return y + h + 8


def _curve(a: tuple[float, float, float, int], b: tuple[float, float, float, int], bend: int) -> tuple[str, float, float]:
    """A cubic curve between two boxes: right edge to left edge across columns, a bulge to the right within one.
    Returns the path and the point for the number marker (moved along the curve for a second connection)."""
    ax_l, ax_r, ay, acol = a
    bx_l, bx_r, by, bcol = b
    if acol == bcol:
        x1, x2 = ax_r, bx_r
        out = 45 + 25 * bend + abs(by - ay) * 0.05
        c1, c2 = x1 + out, x2 + out
    else:
        x1, x2 = (ax_r, bx_l) if acol < bcol else (ax_l, bx_r)
        span = (x2 - x1) / 2
        c1, c2 = x1 + span, x2 - span
        shift = (0, 14, -14)[bend % 3]
        ay, by = ay + shift, by + shift
    t = 0.5 - 0.18 * (bend % 3)
    u = 1 - t
    mx = u ** 3 * x1 + 3 * u * u * t * c1 + 3 * u * t * t * c2 + t ** 3 * x2
    my = u ** 3 * ay + 3 * u * u * t * ay + 3 * u * t * t * by + t ** 3 * by
    return f"M {x1:.0f} {ay:.0f} C {c1:.0f} {ay:.0f}, {c2:.0f} {by:.0f}, {x2:.0f} {by:.0f}", mx, my


def topology_svg(session: Any, resource_groups: Iterable[str] | str, *, title: str | None = None) -> str:
    """Read the resource group(s) through the SDK and draw them."""
    groups = [resource_groups] if isinstance(resource_groups, str) else list(resource_groups)
    return render_topology_svg(collect_topology(session, groups), title=title)


def show_topology(source: Any, resource_groups: Iterable[str] | str | None = None, *, title: str | None = None) -> str:
    """Display the picture (``image/svg+xml``, kept by nbconvert HTML). ``source`` is a session (with
    ``resource_groups``) or an already collected dict. Returns the SVG text."""
    if isinstance(source, Mapping):
        svg = render_topology_svg(source, title=title)
    else:
        if resource_groups is None:
            raise ValueError("show_topology(session, resource_groups): resource_groups is required with a session")
        svg = topology_svg(source, resource_groups, title=title)
    from IPython.display import SVG, display

    display(SVG(data=svg))
    return svg
