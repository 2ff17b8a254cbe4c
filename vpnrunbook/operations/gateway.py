"""VPN gateway creation: ``begin_create_vpn_gateway`` returns a poller and resumes instead of duplicating.

Creating a gateway takes 45 minutes or more on Azure. If the gateway already exists, or is still
being created (a re-run after a timed-out or killed kernel), the step attaches to it and waits for
that one — it never sends a second create.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.exceptions import HttpResponseError

from vpnrunbook.operations import arm
from vpnrunbook.operations.errors import ProvisioningFailedError
from vpnrunbook.operations.network import _location_guard, _rg_exists
from vpnrunbook.operations.plan import (
    FAILED_STATES,
    Change,
    OperationResult,
    Plan,
    Write,
    diff_fields,
    dig,
    failed_retry,
    snapshot,
)
from vpnrunbook.operations.prechecks import Prechecks, require_text
from vpnrunbook.policy import rules

IN_PROGRESS = ("Updating", "Creating", "Provisioning", "Accepted", "Running")
TERMINAL_FAILED = FAILED_STATES


class GatewayPoller:
    """Waits for a gateway: the create this step started, or one already in progress (``attached``).

    ``status()`` is the provisioning state, ``done()`` says whether waiting is over, ``result(timeout)``
    waits and returns the :class:`OperationResult` (raises ``TimeoutError`` if still provisioning).
    """

    def __init__(self, session: Any, plan: Plan, *, resource_group: str, name: str, lro: Any = None,
                 attached: bool = False, applied: bool = False, progress: bool = True) -> None:
        self.session = session
        self.plan = plan
        self.resource_group = resource_group
        self.name = name
        self.attached = attached
        self.applied = applied
        self.progress = progress
        self._lro = lro
        self._result: OperationResult | None = None
        self._state: str | None = None
        self.intent: dict[str, Any] | None = None  # the change journal's intent of the write this poller started

    @property
    def plan_retries_failed(self) -> bool:
        """The plan re-submits a gateway whose deployment had ended Failed/Canceled."""
        return any(c.field == "provisioningState" for c in self.plan.changes)

    @property
    def started(self) -> bool:
        """True when this call sent the create/update request (False when it attached or only planned)."""
        return self._lro is not None

    def _read(self) -> dict[str, Any] | None:
        return arm.read_kind(self.session, "virtual_network_gateway", self.resource_group, self.name)

    def status(self) -> str:
        if not self.applied and not self.attached:
            return "NotStarted" if not self.plan.empty else "Succeeded"
        if self._lro is not None and not self._lro.done():
            return "InProgress"
        current = self._read()
        self._state = "NotFound" if current is None else dig(current, "properties", "provisioningState", default="")
        return self._state

    def done(self) -> bool:
        if not self.applied and not self.attached:
            return True
        if self._lro is not None:
            return bool(self._lro.done())
        return self.status() not in IN_PROGRESS

    def _interval(self) -> float:
        interval = getattr(self.session, "polling_interval", None)
        return 5.0 if interval is None else max(float(interval), 0.05)

    def expected_seconds(self) -> float:
        """How long the gateway operation typically takes: Azure's documented duration (about 45 min to create,
        20 to update), scaled on the emulator by its time factor (what it actually simulates)."""
        from vpnrunbook.emulator.lro import simulated_seconds

        creating = any(v is None for v in self.plan.before.values()) or not self.plan.before
        seconds = simulated_seconds("Microsoft.Network/virtualNetworkGateways", "create" if creating else "update")
        if getattr(self.session, "target", "") == "emulator":
            try:
                from vpnrunbook.emulator.control import EmulatorControl

                seconds *= EmulatorControl(self.session).time_factor()
            except Exception:  # noqa: BLE001 - an older emulator without the control API: Azure's duration
                pass
        return max(seconds, 0.1)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: until done). Returns whether it is done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if self.progress:
            from vpnrunbook.ui.progress import progress  # tqdm widget for an operator, text lines headless

            expected = self.expected_seconds()
            # a real bar: percentage, elapsed and expected remaining time against the typical duration
            bar = progress(round(expected, 1), f"gateway {self.name}", unit="s",
                           bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, about {remaining} left{postfix}")
        started = time.monotonic()
        shown = 0.0
        try:
            while not self.done():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                step = self._interval() if left is None else min(self._interval(), left)
                if self._lro is not None:
                    try:
                        self._lro.wait(timeout=step)
                    except HttpResponseError:  # the operation ended Failed: result() reports it
                        break
                else:
                    time.sleep(step)
                if bar is not None:  # redrawn at the bar's mininterval (2 s headless), not on every poll
                    bar.set_postfix_str(self._state or "InProgress", refresh=False)
                    target = round(min(time.monotonic() - started, (bar.total or 0) * 0.99), 1)  # never 100 % early
                    bar.update(max(round(target - shown, 1), 0))
                    shown = max(shown, target)
            return True
        finally:
            if bar is not None:
                finished = self.done()
                if finished:
                    bar.update(max(round((bar.total or 0) - shown, 1), 0))
                bar.set_postfix_str("done" if finished else "still provisioning")
                bar.close()

    def result(self, timeout: float | None = None) -> OperationResult:
        if self._result is not None:
            return self._result
        label = arm.label(self.resource_group, "virtual_network_gateway", self.name)
        if not self.wait(timeout):
            raise TimeoutError(
                f"{self.plan.step}: {label} is still provisioning after waiting {timeout} s (provisioningState "
                f"{self._state or 'Updating'}); Azure keeps building it (a VPN gateway takes about 45 minutes) and "
                "nothing is lost. What to do: re-run step 01 (01_create_vnet_gateway) with the same parameters to attach to "
                "it again (no second create is sent), or call .result() with a longer timeout.")
        code = message = None
        failed: HttpResponseError | None = None
        if self._lro is not None:
            try:
                self._lro.result()
            except HttpResponseError as exc:  # the operation ended Failed: said in plain words below
                if dig(self._read(), "properties", "provisioningState", default="") not in TERMINAL_FAILED:
                    raise
                failed = exc
                code, message = arm.error_code_message(exc)
        after = self._read()
        state = dig(after, "properties", "provisioningState", default="")
        rid = self.plan.resources[0]
        if (self.applied or self.attached) and state in TERMINAL_FAILED:
            error = ProvisioningFailedError(
                label, state, code=code, error_message=message, step=self.plan.step,
                retry="re-run step 01 (01_create_vnet_gateway) with the same parameters")
            self._journal(snapshot(after), error)
            raise error from failed
        result = OperationResult(self.plan.step, self.plan, self.applied, dict(self.plan.before),
                                 {rid: snapshot(after)} if (self.applied or self.attached) else dict(self.plan.before),
                                 list(self.plan.warnings), list(self.plan.resources),
                                 {"attached": self.attached, "started": self.started,
                                  "provisioning_state": state or None,
                                  "retried_failed_deployment": self.plan_retries_failed})
        unplanned = self._journal(snapshot(after), None)
        if unplanned:
            result.details["unplanned_changes"] = unplanned
        self._result = result
        return result

    def _journal(self, after: dict[str, Any] | None, error: BaseException | None) -> list[dict[str, Any]]:
        if self.intent is None or not self.started:
            return []
        from vpnrunbook.operations.apply import finish_long_write

        return finish_long_write(self.intent, self.plan, after, error=error)

    def __repr__(self) -> str:
        how = "attached to a running creation" if self.attached else "started" if self.started else "planned"
        return f"<GatewayPoller {self.resource_group}/{self.name} {how}>"


def _gateway_body(location: str, sku: str, vpn_type: str, generation: str | None, subnet: str,
                  public_ip: str, ip_configuration_name: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "gatewayType": "Vpn", "vpnType": vpn_type, "sku": {"name": sku, "tier": sku},
        "enableBgp": False, "activeActive": False,
        "ipConfigurations": [{"name": ip_configuration_name, "properties": {
            "privateIPAllocationMethod": "Dynamic", "subnet": {"id": subnet}, "publicIPAddress": {"id": public_ip}}}],
    }
    if generation is not None:
        props["vpnGatewayGeneration"] = generation
    return {"location": location, "properties": props}


def begin_create_vpn_gateway(session: Any, *, resource_group: str, name: str, location: str, vnet_name: str,
                             public_ip_name: str, sku: str, generation: str | None = None,
                             vpn_type: str = "RouteBased", ip_configuration_name: str = "default",
                             apply: bool = False, progress: bool = True) -> GatewayPoller:
    """Plan (and with ``apply=True`` start) a VPN gateway in ``vnet_name``'s GatewaySubnet with ``public_ip_name``,
    its IP configuration named ``ip_configuration_name`` (the document's ``gw1ipconf1``).

    Returns at once with a :class:`GatewayPoller`; ``.result()`` waits. An existing gateway being
    created is attached to; one that exists with a different SKU is resized (planned as a change);
    a different VPN type or generation is refused (Azure cannot change it in place).
    """
    step = f"VPN gateway {name}"
    checks = Prechecks(step, apply)
    for f, v in (("resource_group", resource_group), ("name", name), ("location", location),
                 ("vnet_name", vnet_name), ("public_ip_name", public_ip_name),
                 ("ip_configuration_name", ip_configuration_name)):
        require_text(checks, f, v)
    checks.add(rules.check_gateway(sku=sku, vpn_type=vpn_type, generation=generation))
    checks.raise_if_any()
    rid = arm.resource_id(session, resource_group, "virtual_network_gateway", name)
    label = arm.label(resource_group, "virtual_network_gateway", name)
    target = getattr(session, "target", "")
    current = arm.read_kind(session, "virtual_network_gateway", resource_group, name)
    state = dig(current, "properties", "provisioningState", default="")
    plan = Plan(step, etags={rid: (current or {}).get("etag")}, before={rid: snapshot(current)}, resources=[rid],
                target=target)

    if current is not None and state in IN_PROGRESS:
        plan.notes.append(f"{label} is being provisioned (provisioningState {state}); attaching to it instead of "
                          "creating another")
        return GatewayPoller(session, plan, resource_group=resource_group, name=name, attached=True,
                             progress=progress)
    if current is not None and state == "Deleting":
        checks.error("name", name, f"{label} is being deleted", "wait until the deletion ends, then re-run",
                     "GatewayDeleting")

    # references: VNet with GatewaySubnet, Standard public IP not used by another gateway
    _rg_exists(session, checks, resource_group)
    _location_guard(checks, label, current, location)
    vnet = arm.read_kind(session, "virtual_network", resource_group, vnet_name)
    subnet_ref = arm.subnet_id(session, resource_group, vnet_name, rules.GATEWAY_SUBNET_NAME)
    if vnet is None:
        checks.missing("vnet_name", vnet_name, f"virtual network {resource_group}/{vnet_name}",
                       "step 01, 01_create_vnet_gateway, creates it: parameter vnet_name")
    else:
        gw_subnet = [s for s in dig(vnet, "properties", "subnets", default=[])
                     if s.get("name") == rules.GATEWAY_SUBNET_NAME]
        if not gw_subnet:
            checks.error("vnet_name", vnet_name, f"virtual network {vnet_name} has no subnet named GatewaySubnet",
                         "a VNet with a /29 or larger subnet named exactly GatewaySubnet", "GatewaySubnetMissing")
        else:
            subnet_ref = gw_subnet[0].get("id") or subnet_ref
    pip = arm.read_kind(session, "public_ip", resource_group, public_ip_name)
    pip_ref = arm.resource_id(session, resource_group, "public_ip", public_ip_name)
    if pip is None:
        checks.missing("public_ip_name", public_ip_name, f"public IP {resource_group}/{public_ip_name}",
                       "step 01, 01_create_vnet_gateway, creates it: parameter public_ip_name")
    else:
        pip_ref = pip.get("id") or pip_ref
        if dig(pip, "sku", "name") == "Basic":
            checks.error("public_ip_name", public_ip_name, "is a Basic SKU public IP, refused for VPN gateways",
                         "a Standard SKU, Static public IP", "PublicIpWithBasicSkuNotAllowedOnVPNGateways")
        used_by = dig(pip, "properties", "ipConfiguration", "id")
        if used_by and rid.lower() not in str(used_by).lower():
            checks.error("public_ip_name", public_ip_name, f"is already used by {used_by}",
                         "a public IP not attached to another resource", "PublicIpInUse")
    checks.add(rules.check_sku_creatable(sku, current=dig(current, "properties", "sku", "name")))
    if current is not None:
        now_type = dig(current, "properties", "vpnType")
        now_gen = dig(current, "properties", "vpnGatewayGeneration")
        if now_type and now_type != vpn_type:
            checks.error("vpn_type", vpn_type, f"{label} exists as {now_type}; the VPN type cannot change in place",
                         f"{now_type} (or delete and recreate the gateway, about an hour)", "VpnTypeImmutable")
        if generation is not None and now_gen and now_gen not in (generation, "None"):
            checks.error("generation", generation, f"{label} exists as {now_gen}", f"{now_gen}", "GenerationImmutable")
        now_names = [c.get("name") for c in dig(current, "properties", "ipConfigurations", default=[]) or []]
        if now_names and ip_configuration_name not in now_names:
            checks.notes.append(f"{label} has IP configuration {', '.join(map(str, now_names))}, not "
                                f"{ip_configuration_name}: kept (this step never rewrites a gateway's IP configurations)")
    checks.raise_if_any()
    plan.notes += checks.notes

    body = _gateway_body(location, sku, vpn_type, generation, subnet_ref, pip_ref, ip_configuration_name)
    if current is None:
        desired = {"location": location, "gatewayType": "Vpn", "vpnType": vpn_type, "sku.name": sku,
                   "vpnGatewayGeneration": generation, "ipConfigurations[0].name": ip_configuration_name,
                   "ipConfigurations[0].subnet": subnet_ref,
                   "ipConfigurations[0].publicIPAddress": pip_ref}
        plan.changes += diff_fields(label, None, {k: v for k, v in desired.items() if v is not None})
        plan.writes.append(Write("virtual_network_gateway", resource_group, name, rid, label, body, None, False))
    else:
        retry = failed_retry(label, current, "gateway")
        if retry is not None:
            plan.changes.append(retry[0])
            plan.notes.append(retry[1] + " — up to about 45 minutes")
        if dig(current, "properties", "sku", "name") != sku:
            plan.changes.append(Change(label, "sku.name", dig(current, "properties", "sku", "name"), sku, "update"))
        if plan.changes:
            upd = arm.writable(current)
            upd.setdefault("properties", {})["sku"] = {"name": sku, "tier": sku}
            plan.writes.append(Write("virtual_network_gateway", resource_group, name, rid, label, upd,
                                     current.get("etag"), True))
    if not apply or plan.empty:
        arm.log.info("%s", plan.summary() + ("" if plan.empty or apply else " (apply=False: nothing written)"))
        return GatewayPoller(session, plan, resource_group=resource_group, name=name, applied=apply,
                             progress=progress)
    from vpnrunbook.operations.apply import start_long_write

    lro, intent = start_long_write(session, plan)  # ETag check, intent record, PUT, "accepted" outcome
    poller = GatewayPoller(session, plan, resource_group=resource_group, name=name, lro=lro, applied=True,
                           progress=progress)
    poller.intent = intent
    return poller
