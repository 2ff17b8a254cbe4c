"""Fleet audit: every connection of the chosen subscriptions / resource groups in one table.

Reads only with list endpoints — azure-mgmt-network 33.1.0 lists connections and gateways per resource group
(``virtual_network_gateway_connections.list(rg)``, ``virtual_network_gateways.list(rg)``; there is no
subscription-wide list for either), and resource groups per subscription (``resource_groups.list()``).
Resource groups are read concurrently by a bounded thread pool; a gateway that lives outside the audited
groups is read once (GET) and cached. Throttling (429 + Retry-After) is retried by the SDK's retry policy,
bounded by :data:`RETRY_TOTAL`.

Columns (:data:`COLUMNS`): subscription, resource_group, connection, type, status, provisioning_state,
gateway, gateway_sku, peer, protocol, policy ("custom" or "default"), the eight policy fields ("default"
when Azure's default proposals apply), strength (weakest algorithm: deprecated/weak/acceptable/strong, or
"default"), dpd_timeout_seconds, traffic_selectors ("policy-based" / "route-based"),
traffic_selector_policies (count), findings (lint text, ``; ``-separated), warnings (count), id.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from vpnrunbook.azure.names import (
    InvalidNameError,
    check_resource_group,
    fold,
    resource_group_problem,
    resource_name_problem,
)
from vpnrunbook.azure.names import segment as segment_of
from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.strength import (
    Finding,
    default_proposal_findings,
    lint,
    overall_strength,
)

RETRY_TOTAL = 6           # per request: the SDK retries 429/5xx (honouring Retry-After) at most this often
RETRY_BACKOFF_MAX = 30    # seconds; a longer Retry-After is still honoured by the SDK
DEFAULT_WORKERS = 8
DEFAULT = "default"
POLICY_FIELDS = tuple(spec.name for spec in rules.FIELDS)
COLUMNS = ("subscription", "resource_group", "connection", "type", "status", "provisioning_state", "gateway",
           "gateway_sku", "peer", "protocol", "policy", *POLICY_FIELDS, "strength", "dpd_timeout_seconds",
           "traffic_selectors", "traffic_selector_policies", "findings", "warnings", "id")
STRENGTH_ORDER = ("deprecated", "weak", "acceptable", "strong", DEFAULT)
GATEWAY_COLUMNS = ("gateway", "sku", "generation", "vpn_type", "active_active", "provisioning_state")
# the compact view for notebooks: one short line per connection; the findings go to findings_table()
COMPACT_COLUMNS = ("resource_group", "connection", "type", "status", "gateway_sku", "peer", "policy", "strength",
                   "dpd_timeout_seconds", "traffic_selectors", "findings")
COMPACT_LABELS = {"resource_group": "resource group", "gateway_sku": "sku", "policy": "policy (IKE · IPsec)",
                  "dpd_timeout_seconds": "DPD (s)", "traffic_selectors": "selectors"}


def retry_options() -> dict[str, Any]:
    """Per-request azure-core options: retries on (429/5xx, Retry-After honoured) and bounded."""
    return {"retry_total": RETRY_TOTAL, "retry_status": RETRY_TOTAL, "retry_backoff_max": RETRY_BACKOFF_MAX}


def _dig(data: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _as_dict(item: Any) -> dict[str, Any]:
    return item.as_dict() if hasattr(item, "as_dict") else dict(item)


def _id_parts(rid: str | None) -> tuple[str, str, str]:
    """(subscription, resource group, name) of an ARM id; empty strings when absent."""
    parts = (rid or "").strip("/").split("/")
    if len(parts) >= 4 and parts[0].lower() == "subscriptions" and parts[2].lower() == "resourcegroups":
        return parts[1], parts[3], parts[-1] if len(parts) > 4 else ""
    return "", "", ""


_DEFAULT_FINDINGS: list[Finding] | None = None


def _findings_text(findings: Iterable[Finding]) -> str:
    return "; ".join(str(f) for f in findings)


@functools.lru_cache(maxsize=1024)
def _rated(wire_items: tuple[tuple[str, Any], ...]) -> tuple[dict[str, Any], str, list[Finding]]:
    """Policy values, strength label and lint findings of one policy (a fleet has few distinct policies)."""
    policy = IpsecIkePolicy.from_mapping(dict(wire_items), validate=False)
    values = policy.as_python_dict()
    return {k: values[k] for k in POLICY_FIELDS}, overall_strength(policy).label, lint(policy)


def gateway_row(gateway: dict[str, Any]) -> dict[str, Any]:
    """A VPN gateway's REST dict as plain values (:data:`GATEWAY_COLUMNS`): strings as Azure sends them,
    never SDK enum reprs."""
    props = gateway.get("properties") or {}
    return {"gateway": gateway.get("name"), "sku": _dig(props, "sku", "name"),
            "generation": props.get("vpnGatewayGeneration"), "vpn_type": props.get("vpnType"),
            "active_active": props.get("activeActive"), "provisioning_state": props.get("provisioningState")}


def list_resource_group(session: Any, rg: str, segment: str) -> list[dict[str, Any]]:
    """A resource group's ``segment`` list (``connections``, ``virtualNetworkGateways``) as REST JSON;
    empty when the group does not exist (yet)."""
    try:
        return _list_pages(session, rg, segment)
    except ResourceNotFoundError:
        return []


def gateways_frame(session: Any, resource_groups: Sequence[str]) -> Any:
    """Every VPN gateway of ``resource_groups``: resource_group + :data:`GATEWAY_COLUMNS`, one list request per
    group."""
    import pandas as pd

    rows = [{"resource_group": rg, **gateway_row(g)} for rg in resource_groups
            for g in list_resource_group(session, rg, "virtualNetworkGateways")]
    return pd.DataFrame(rows, columns=["resource_group", *GATEWAY_COLUMNS])


def connection_row(conn: dict[str, Any], gateway: dict[str, Any] | None, *, subscription: str) -> dict[str, Any]:
    """One audit row from a connection's REST dict and its gateway's (None when it could not be read)."""
    global _DEFAULT_FINDINGS
    props = conn.get("properties") or {}
    _sub, rg, _name = _id_parts(conn.get("id"))
    gw_id = _dig(props, "virtualNetworkGateway1", "id")
    ctype = props.get("connectionType")
    peer_id = _dig(props, "virtualNetworkGateway2", "id") if ctype == "Vnet2Vnet" \
        else _dig(props, "localNetworkGateway2", "id")
    peer_sub, peer_rg, peer_name = _id_parts(peer_id)
    peer = f"{peer_rg}/{peer_name}" if peer_rg and fold(peer_rg) != fold(rg) else peer_name
    policies = props.get("ipsecPolicies") or []
    row: dict[str, Any] = {
        "subscription": subscription, "resource_group": rg, "connection": conn.get("name"), "type": ctype,
        "status": props.get("connectionStatus"), "provisioning_state": props.get("provisioningState"),
        "gateway": _id_parts(gw_id)[2], "gateway_sku": gateway_row(gateway)["sku"] if gateway else None,
        "peer": peer, "protocol": props.get("connectionProtocol"),
    }
    if policies:
        values, strength, findings = _rated(tuple(sorted(policies[0].items())))
        row["policy"] = "custom" if len(policies) == 1 else f"custom ({len(policies)} policies)"
        row.update(values)
        row["strength"] = strength
    else:
        if _DEFAULT_FINDINGS is None:
            _DEFAULT_FINDINGS = default_proposal_findings()
        findings = list(_DEFAULT_FINDINGS)
        row["policy"] = DEFAULT
        row.update({k: DEFAULT for k in POLICY_FIELDS})
        row["strength"] = DEFAULT
    pbts = bool(props.get("usePolicyBasedTrafficSelectors"))
    row.update({
        "dpd_timeout_seconds": props.get("dpdTimeoutSeconds"),
        "traffic_selectors": "policy-based" if pbts else "route-based",
        "traffic_selector_policies": len(props.get("trafficSelectorPolicies") or []),
        "findings": _findings_text(findings),
        "warnings": sum(1 for f in findings if f.severity in ("warning", "error")),
        "id": conn.get("id"),
    })
    return row


@dataclass
class FleetAudit:
    """The audit's result: ``frame`` (one row per connection, :data:`COLUMNS`), ``errors`` (what could not be
    read: (scope, message)), timing and request counts."""

    frame: Any
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    resource_groups: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    requests: int | None = None

    def strength_counts(self) -> dict[str, int]:
        from vpnrunbook.fleet.report import strength_counts

        return strength_counts(self.frame)

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in self.strength_counts().items() if v)
        text = (f"{len(self.frame)} connections in {len(self.resource_groups)} resource groups "
                f"({len(self.subscriptions)} subscription(s)) read in {self.seconds:.2f} s")
        if self.requests is not None:
            text += f" with {self.requests} requests"
        text += f"; by policy strength: {counts or 'none'}"
        if self.errors:
            text += f"; {len(self.errors)} scope(s) could not be read"
        return text

    def to_csv(self, path: str | Path) -> Path:
        from vpnrunbook.fleet.report import write_csv

        return write_csv(self.frame, path)

    def to_html(self, path: str | Path, *, title: str = "VPN connection fleet audit") -> Path:
        from vpnrunbook.fleet.report import write_html

        return write_html(self, path, title=title)

    def compact(self) -> Any:
        """One short row per connection (:data:`COMPACT_COLUMNS`, headed by :data:`COMPACT_LABELS`): the policy
        as one line (``enc/integ/DH · enc/integ/PFS``, or "default") and the number of findings instead of
        their text — the text is in :meth:`findings_table`."""
        frame = self.frame
        out = frame.reindex(columns=list(COMPACT_COLUMNS)).copy()
        out["policy"] = [policy_line(rec) for rec in frame.to_dict(orient="records")]
        out["findings"] = [len(split_findings(t)) for t in frame["findings"]]
        return out.rename(columns=COMPACT_LABELS)

    def findings_table(self, *, max_names: int = 4) -> Any:
        """One row per distinct finding: the finding and the connections that have it (count and the first
        ``max_names`` names) — a fleet shares few findings, so this stays short."""
        import pandas as pd

        where: dict[str, list[str]] = {}
        for rec in self.frame.to_dict(orient="records"):
            for finding in split_findings(rec["findings"]):
                where.setdefault(finding, []).append(f"{rec['resource_group']}/{rec['connection']}")
        rows = []
        for finding, names in where.items():
            more = f" and {len(names) - max_names} more" if len(names) > max_names else ""
            rows.append({"finding": finding, "connections": len(names), "where": ", ".join(names[:max_names]) + more})
        return pd.DataFrame(rows, columns=["finding", "connections", "where"])

    def chart_svg(self) -> str:
        from vpnrunbook.fleet.report import strength_chart_svg

        return strength_chart_svg(self.strength_counts())

    def _repr_html_(self) -> str:
        from vpnrunbook.fleet.report import html_fragment

        return html_fragment(self)

    def to_record(self) -> dict[str, Any]:
        return {"step": "fleet audit", "summary": self.summary(), "connections": len(self.frame),
                "resource_groups": list(self.resource_groups), "subscriptions": list(self.subscriptions),
                "by_strength": self.strength_counts(), "errors": [list(e) for e in self.errors],
                "seconds": round(self.seconds, 3), "requests": self.requests}


_FINDING_START = re.compile(r"; (?=(?:ERROR|WARNING|INFO) [A-Za-z_]+=)")


def split_findings(text: Any) -> list[str]:
    """The findings cell (``; ``-joined :class:`Finding` texts) back into one text per finding."""
    if not isinstance(text, str) or not text:
        return []
    return _FINDING_START.split(text)


def policy_line(row: dict[str, Any]) -> str:
    """An audit row's policy on one line: ``IKE enc/integ/DH · IPsec enc/integ/PFS`` (without the words IKE and
    IPsec) or "default"."""
    if row.get("policy") == DEFAULT:
        return DEFAULT
    ike = "/".join(str(row.get(k)) for k in ("ike_encryption", "ike_integrity", "dh_group"))
    ipsec = "/".join(str(row.get(k)) for k in ("ipsec_encryption", "ipsec_integrity", "pfs_group"))
    extra = "" if str(row.get("policy")) == "custom" else f" ({row.get('policy')})"
    return f"{ike} · {ipsec}{extra}"


def _session_for(session: Any, subscription: str) -> Any:
    """A session for another subscription with the same target, credential and transport."""
    if subscription == session.subscription_id:
        return session
    import dataclasses
    import importlib

    connect_mod = importlib.import_module("vpnrunbook.azure.connect")

    if session.transport is not None:
        network, resources = connect_mod._clients(session.credential, subscription, session.base_url,
                                                  session.polling_interval, transport=session.transport)
        return dataclasses.replace(session, network=network, resources=resources, subscription_id=subscription)
    return connect_mod.connect(session.target, subscription_id=subscription,
                               polling_interval=session.polling_interval,
                               emulator_url=session.base_url if session.target == "emulator" else None)


def _request_count(sessions: Sequence[Any]) -> int | None:
    transports = {id(s.transport): s.transport for s in sessions if getattr(s, "transport", None) is not None}
    if not transports:
        return None
    return sum(len(t.requests) for t in transports.values())


def _list_pages(session: Any, rg: str, segment: str) -> list[dict[str, Any]]:
    """One resource group's list endpoint, page by page (``nextLink``), as REST JSON through the network
    client's own pipeline (authentication, the retry policy) — the same request ``ops.list(rg)`` sends,
    without building an SDK model per item (which costs more than the request for large lists)."""
    from azure.core.rest import HttpRequest

    from vpnrunbook import NETWORK_API_VERSION

    check_resource_group(rg)  # Azure's rule: no '/', '?', '#', '%', '.'/'..' that would reshape the URL
    first = (f"/subscriptions/{segment_of(str(session.subscription_id))}/resourceGroups/{segment_of(rg)}"
             f"/providers/Microsoft.Network/{segment}")
    url: str | None = f"{first}?api-version={NETWORK_API_VERSION}"
    items: list[dict[str, Any]] = []
    while url:
        # streamed, then read and parsed once here (not also by the pipeline's ContentDecodePolicy)
        response = session.network.send_request(HttpRequest("GET", url), stream=True, **retry_options())
        data = response.read()
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        page = json.loads(data) if data else {}
        items += page.get("value") or []
        url = _next_link(session, page.get("nextLink"), first)
    return items


def _next_link(session: Any, link: Any, first: str) -> str | None:
    """Follow a ``nextLink`` only to the next page of the same list on the same endpoint (the client's pipeline
    would send its bearer token wherever the link points)."""
    if not link:
        return None
    parsed = urlsplit(str(link))
    base = urlsplit(str(getattr(session, "base_url", "") or ""))
    same_host = not parsed.netloc or (parsed.scheme, parsed.netloc.lower()) == (base.scheme, base.netloc.lower())
    if not same_host or unquote(parsed.path).rstrip("/").lower() != unquote(first).lower():
        raise HttpResponseError(message=f"the list of {first} answered a nextLink to another place "
                                        f"({parsed.scheme}://{parsed.netloc}{parsed.path[:80]}); not followed")
    return str(link)


def _list_rg(session: Any, rg: str, raw: bool = True) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    check_resource_group(rg)
    if raw:
        conns = _list_pages(session, rg, "connections")
        gws = _list_pages(session, rg, "virtualNetworkGateways") if conns else []
    else:
        opts = retry_options()
        conns = [_as_dict(c) for c in session.network.virtual_network_gateway_connections.list(rg, **opts)]
        gws = [_as_dict(x) for x in session.network.virtual_network_gateways.list(rg, **opts)] if conns else []
    return conns, {fold(str(g["id"])): g for g in gws}


def _get_gateway(session: Any, gw_id: str) -> dict[str, Any] | None:
    _sub, rg, name = _id_parts(gw_id)
    if resource_group_problem(rg) or resource_name_problem(name):  # an id that would point elsewhere: unread
        return None
    try:
        return _as_dict(session.network.virtual_network_gateways.get(rg, name, **retry_options()))
    except ResourceNotFoundError:
        return None


def audit_fleet(session: Any, *, resource_groups: Sequence[str] | None = None,
                subscriptions: Sequence[str] | None = None, max_workers: int = DEFAULT_WORKERS,
                sdk_models: bool = False) -> FleetAudit:
    """Audit every connection in ``resource_groups`` (default: every group of each subscription) of
    ``subscriptions`` (default: the session's). ``max_workers`` bounds the concurrent resource-group reads.
    ``sdk_models=True`` reads through ``ops.list(rg)`` (SDK models, slower for large fleets) instead of the
    same list endpoints as JSON."""
    import pandas as pd

    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or not 1 <= max_workers <= 64:
        raise ValueError(f"max_workers={max_workers!r} is not allowed; allowed: an integer from 1 to 64")
    if isinstance(resource_groups, str):
        resource_groups = [resource_groups]
    for rg in resource_groups or []:
        check_resource_group(rg)  # refused before any request (InvalidNameError is a ValueError)
    if isinstance(subscriptions, str):
        subscriptions = [subscriptions]
    started = time.perf_counter()
    subs = list(subscriptions or [session.subscription_id])
    sessions = {s: _session_for(session, s) for s in subs}
    before = _request_count(list(sessions.values()))
    errors: list[tuple[str, str]] = []
    scopes: list[tuple[str, str]] = []
    for sub, sess in sessions.items():
        if resource_groups is not None:
            scopes += [(sub, rg) for rg in resource_groups]
            continue
        try:
            scopes += [(sub, g.name) for g in sess.resources.resource_groups.list(**retry_options())]
        except HttpResponseError as exc:
            errors.append((f"subscription {sub}", _message(exc)))

    def work(scope: tuple[str, str]) -> tuple[tuple[str, str], Any]:
        sub, rg = scope
        try:
            return scope, _list_rg(sessions[sub], rg, raw=not sdk_models)
        except InvalidNameError as exc:  # a name listed by the server that would reshape the URL: not requested
            return scope, str(exc)
        except ResourceNotFoundError:
            return scope, f"resource group {rg} was not found"
        except HttpResponseError as exc:
            return scope, _message(exc)

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fleet-audit") as pool:
        results = list(pool.map(work, scopes))
        listed: list[tuple[str, dict[str, Any]]] = []
        gateways: dict[str, dict[str, Any] | None] = {}
        for (sub, rg), outcome in results:
            if isinstance(outcome, str):
                errors.append((f"{sub}/{rg}", outcome))
                continue
            conns, gws = outcome
            gateways.update(gws)
            listed += [(sub, c) for c in conns]
        missing = sorted({fold(str(_dig(c, "properties", "virtualNetworkGateway1", "id"))) for _s, c in listed
                          if _dig(c, "properties", "virtualNetworkGateway1", "id")} - set(gateways))
        by_sub = {m: _id_parts(m)[0] for m in missing}
        for gw_id, found in zip(missing, pool.map(
                lambda g: _get_gateway(sessions.get(by_sub[g]) or session, g), missing), strict=True):
            gateways[gw_id] = found
    rows = [connection_row(c, gateways.get(fold(str(_dig(c, "properties", "virtualNetworkGateway1", "id")))),
                           subscription=sub) for sub, c in listed]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.sort_values(["subscription", "resource_group", "connection"], kind="stable").reset_index(drop=True)
    after = _request_count(list(sessions.values()))
    return FleetAudit(frame, errors, time.perf_counter() - started, sorted({rg for _s, rg in scopes}), subs,
                      None if before is None or after is None else after - before)


def audit_one_by_one(session: Any, connections: Iterable[tuple[str, str]]) -> Any:
    """The naive way, for comparison: GET each connection and then its gateway, one request at a time.
    ``connections``: (resource group, connection name) pairs. Returns the same table as :func:`audit_fleet`."""
    import pandas as pd

    rows = []
    net = session.network
    for rg, name in connections:
        conn = _as_dict(net.virtual_network_gateway_connections.get(rg, name))
        gw = _get_gateway(session, str(_dig(conn, "properties", "virtualNetworkGateway1", "id")))
        rows.append(connection_row(conn, gw, subscription=session.subscription_id))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(["subscription", "resource_group", "connection"], kind="stable").reset_index(drop=True)


def _message(exc: HttpResponseError) -> str:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or exc.status_code
    text = getattr(err, "message", None) or str(exc).splitlines()[0]
    return f"{code}: {text}"


__all__ = ["COLUMNS", "COMPACT_COLUMNS", "COMPACT_LABELS", "DEFAULT", "GATEWAY_COLUMNS", "FleetAudit", "audit_fleet",
           "audit_one_by_one", "connection_row", "default_proposal_findings", "gateway_row", "gateways_frame",
           "list_resource_group", "policy_line", "retry_options", "split_findings"]
