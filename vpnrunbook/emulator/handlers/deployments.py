"""Microsoft.Resources/deployments: incremental template deployments of the network resources.

``PUT …/providers/Microsoft.Resources/deployments/{name}`` evaluates the template (parameters, variables,
``dependsOn`` order, the functions of :mod:`vpnrunbook.emulator.template`), PUTs each resource through the
emulator's own handlers (same validation, same operations), and answers a long-running operation that ends
when the slowest resource does. A resource that fails makes the deployment fail with Azure's envelope
(``DeploymentFailed`` with one detail per failed resource); ``GET …/deployments/{name}/operations`` lists
one operation per resource. ``securestring``/``secureObject`` parameter values are never stored.

``POST …/validate`` and ``POST …/whatIf`` run the same PUTs inside a SQLite savepoint that is rolled back: the
preflight answer (400 ``InvalidTemplateDeployment`` naming each failing resource) and ARM's WhatIf shape (Create /
Modify with the property delta / NoChange, the group's other resources as Ignore) come from the handlers' own
validation and rendering, and nothing is kept. ``GET …/deployments`` lists the group's deployments; a deployment
and its operations (``…/operations/{id}``) can be read and deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro, routes
from vpnrunbook.emulator.handlers.common import require_rg
from vpnrunbook.emulator.models import Ctx, Response, new_guid
from vpnrunbook.emulator.store import Record
from vpnrunbook.emulator.template import Evaluator, invalid, jsonc_to_json

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
SECURE_TYPES = ("securestring", "secureobject")
FAILED_MESSAGE = ("At least one resource deployment operation failed. Please list deployment operations for "
                  "details. Please see https://aka.ms/arm-deployment-operations for usage details.")


def _key(ctx: Ctx) -> str:
    return fold(_id(ctx))


def _id(ctx: Ctx) -> str:
    return f"/subscriptions/{ctx.sub}/resourceGroups/{ctx.rg}/providers/{DEPLOYMENT_TYPE}/{ctx.params['name']}"


def _parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    declared = template.get("parameters") or {}
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
            out[name] = value.get("value") if isinstance(value, dict) else value
        elif isinstance(spec, dict) and "defaultValue" in spec:
            out[name] = spec["defaultValue"]
        else:
            raise invalid(f"The value for the template parameter '{name}' is not provided")
    for name in given:
        if name not in declared:
            raise invalid(f"The template parameters '{name}' are not valid; they are not present in the template")
    return out


def _order(resources: list[dict[str, Any]], ids: list[str]) -> list[int]:
    """Indices of ``resources`` in ``dependsOn`` order (a dependency is a name, a type/name or an id)."""
    done: list[int] = []
    visiting: set[int] = set()

    def find(dep: str) -> int | None:
        dep_l = fold(dep)
        for i, (res, rid) in enumerate(zip(resources, ids, strict=True)):
            name = fold(str(res.get("name", "")))
            if dep_l in (fold(rid), name, f"{fold(str(res.get('type', '')))}/{name}") or fold(rid).endswith(
                    "/" + dep_l):
                return i
        return None

    def visit(i: int) -> None:
        if i in done:
            return
        if i in visiting:
            raise invalid(f"Circular dependency detected on resource '{resources[i].get('name')}'")
        visiting.add(i)
        for dep in resources[i].get("dependsOn") or []:
            j = find(str(dep))
            if j is not None:
                visit(j)
        visiting.discard(i)
        done.append(i)

    for i in range(len(resources)):
        visit(i)
    return done


def _resource_path(ev: Evaluator, res: dict[str, Any]) -> str:
    type_, name = str(res.get("type", "")), str(res.get("name", ""))
    if "/" not in type_:
        raise invalid(f"The resource type '{type_}' is invalid")
    return ev.resource_id(type_, *name.split("/"))


def _put_resource(ctx: Ctx, path: str, api_version: str, body: dict[str, Any]) -> Response:
    found = routes.match(path)
    if found is None or "PUT" not in found[0].methods:
        raise errors.RouteNotFound(f"The emulator cannot deploy {path}.")
    route, params = found
    if route.provider is not None:
        ctx.app._check_api_version(route.provider, api_version, path)  # noqa: SLF001 - same rules as a direct PUT
    sub = Ctx(app=ctx.app, store=ctx.store, db=ctx.db, now=ctx.now, method="PUT", path=path,
              query={"api-version": api_version}, headers={}, raw_body=json.dumps(body).encode(),
              base_url=ctx.base_url, params=params)
    return route.methods["PUT"](sub)


@dataclass
class Plan:
    """A deployment request evaluated: the template, its parameter values and the resources in dependsOn order."""

    template: dict[str, Any]
    values: dict[str, Any]
    resources: list[dict[str, Any]]  # in deployment order, each with its evaluated body and id
    rg_location: str


def _plan(ctx: Ctx) -> Plan:
    """Evaluate the request of a PUT, validate or what-if; an invalid template raises ``InvalidTemplate``."""
    rg = require_rg(ctx)
    props = _request(ctx).get("properties")
    if not isinstance(props, dict) or not isinstance(props.get("template"), dict):
        raise errors.ArmError("The request content was invalid: 'properties.template' is required (templateLink "
                              "is not served by the emulator).", code="InvalidRequestContent")
    template = props["template"]
    mode = str(props.get("mode", "Incremental"))
    if mode.lower() != "incremental":
        raise errors.ArmError(f"Deployment mode '{mode}' is not served by the emulator; allowed: Incremental.",
                              code="InvalidDeploymentMode")
    values = _parameters(template, props.get("parameters") or {})
    ev = Evaluator(sub=ctx.sub, rg=ctx.rg, location=rg.location or "", parameters=values,
                   variables=template.get("variables") or {})
    resources = template.get("resources") or []
    if not isinstance(resources, list):
        raise invalid("'resources' must be an array")
    resources = [ev.value({k: v for k, v in r.items() if k != "properties"}) | {"properties": r.get("properties")}
                 for r in resources]
    ids = [_resource_path(ev, r) for r in resources]
    ordered = []
    for i in _order(resources, ids):
        res = resources[i]
        body = {k: v for k, v in res.items() if k not in ("type", "name", "apiVersion", "dependsOn", "condition",
                                                            "copy", "comments")}
        ordered.append({"id": ids[i], "type": res["type"], "name": res["name"],
                        "apiVersion": str(res.get("apiVersion", "")), "body": ev.value(body)})
    return Plan(template, values, ordered, rg.location or "")


def _request(ctx: Ctx) -> dict[str, Any]:
    """The deployment body: JSON, or the JSONC the Azure CLI sends (see :func:`template.jsonc_to_json`)."""
    try:
        return ctx.json()
    except errors.InvalidRequestFormat:
        from vpnrunbook.emulator.limits import loads

        data = loads(jsonc_to_json(ctx.raw_body.decode("utf-8", errors="replace")))
        if not isinstance(data, dict):
            raise
        return data


def _public_parameters(plan: Plan) -> dict[str, Any]:
    declared = plan.template.get("parameters") or {}
    return {k: {"type": (declared.get(k) or {}).get("type", "String")} |
            ({} if str((declared.get(k) or {}).get("type", "")).lower() in SECURE_TYPES else {"value": v})
            for k, v in plan.values.items()}


def put(ctx: Ctx) -> Response:
    plan = _plan(ctx)
    ops: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    done = ctx.now
    for res in plan.resources:
        op = {"operationId": new_guid().replace("-", "").upper()[:16], "resourceId": res["id"], "type": res["type"],
              "name": res["name"], "start": ctx.now}
        try:
            answer = _put_resource(ctx, res["id"], res["apiVersion"], res["body"])
        except errors.ArmError as exc:
            answer = Response(exc.status, exc.body())
        op["statusCode"] = answer.status
        if answer.status >= 400:
            op["error"] = (answer.body or {}).get("error")
            failures.append({"code": (op["error"] or {}).get("code", "ResourceDeploymentFailure"),
                             "message": (op["error"] or {}).get("message", ""), "target": res["id"]})
            op["done"] = ctx.now
        else:
            target = ctx.get(res["id"])
            op["done"] = (target.op_done if target and target.op_done else ctx.now)
            op_row = ctx.store.get_operation(ctx.db, target.op_id) if target and target.op_id else None
            if op_row and op_row["status"] == "Failed":
                op["error"] = op_row["error"]
                failures.append({"code": (op_row["error"] or {}).get("code", "ResourceDeploymentFailure"),
                                 "message": (op_row["error"] or {}).get("message", ""), "target": res["id"]})
        done = max(done, op["done"])
        ops.append(op)
        if failures:
            break  # Azure stops the resources that depend on a failed one; the emulator stops the rest
    stored = {"mode": "Incremental", "parameters": _public_parameters(plan),
              "outputs_template": plan.template.get("outputs") or {}, "operations": ops, "correlationId": new_guid(),
              "error": {"code": "DeploymentFailed", "message": FAILED_MESSAGE, "details": failures} if failures
              else None}
    existing = ctx.get(_key(ctx))
    rec = existing or Record(key=_key(ctx), id=_id(ctx), sub=fold(ctx.sub), rg=fold(ctx.rg),
                             type=fold(DEPLOYMENT_TYPE), name=ctx.params["name"], location=None, body={},
                             etag=new_guid(), created_at=ctx.now)
    rec.body = stored
    factor = ctx.factor
    seconds = (done - ctx.now) / factor if factor > 0 else 0.0
    op_id = lro.start(ctx, rec, "create", seconds=seconds, error=stored["error"])
    ctx.store.save(ctx.db, rec)
    return Response(200 if existing else 201, _render(ctx, rec), lro.async_headers(ctx, rec, op_id))


# ---- validate and what-if: each resource is PUT through its handler inside a savepoint, then rolled back ----
def _dry_run(ctx: Ctx, plan: Plan) -> list[tuple[dict[str, Any], dict[str, Any] | None, Response]]:
    """(resource, its body before, the handler's answer) per resource; nothing is kept."""
    out = []
    ctx.db.execute("SAVEPOINT deployment_dry_run")
    try:
        for res in plan.resources:
            before = _current(ctx, res["id"])
            try:
                answer = _put_resource(ctx, res["id"], res["apiVersion"], res["body"])
            except errors.ArmError as exc:
                answer = Response(exc.status, exc.body())
            out.append((res, before, answer))
            if answer.status >= 400:
                break
            placed = ctx.get(res["id"])
            if placed is not None and placed.op_done and placed.op_done > ctx.now:
                placed.op_done = ctx.now  # dependants see it provisioned (the savepoint is rolled back anyway)
                ctx.store.save(ctx.db, placed)
    finally:
        ctx.db.execute("ROLLBACK TO deployment_dry_run")
        ctx.db.execute("RELEASE deployment_dry_run")
    return out


def _current(ctx: Ctx, rid: str) -> dict[str, Any] | None:
    found = routes.match(rid)
    if found is None or "GET" not in found[0].methods or ctx.get(rid) is None:
        return None
    route, params = found
    sub = Ctx(app=ctx.app, store=ctx.store, db=ctx.db, now=ctx.now, method="GET", path=rid, query={}, headers={},
              raw_body=b"", base_url=ctx.base_url, params=params)
    answer = route.methods["GET"](sub)
    return answer.body if answer.status == 200 else None


def _failed(ctx: Ctx, results: list[tuple[dict[str, Any], dict[str, Any] | None, Response]]) -> dict[str, Any] | None:
    bad = [(res, answer) for res, _before, answer in results if answer.status >= 400]
    if not bad:
        return None
    details = [{"code": ((a.body or {}).get("error") or {}).get("code", "InvalidResource"),
                "message": ((a.body or {}).get("error") or {}).get("message", ""), "target": r["id"]} for r, a in bad]
    return {"code": "InvalidTemplateDeployment",
            "message": f"The template deployment '{ctx.params['name']}' is not valid according to the validation "
                       f"procedure. The tracking id is '{new_guid()}'. See inner errors for details.",
            "details": details}


def validate(ctx: Ctx) -> Response:
    """POST …/deployments/{name}/validate: the template evaluated and every resource checked by its handler (400
    ``InvalidTemplateDeployment`` naming each failure, as ARM's preflight), nothing created."""
    plan = _plan(ctx)
    results = _dry_run(ctx, plan)
    error = _failed(ctx, results)
    if error is not None:
        return Response(400, {"error": error})
    props = {"templateHash": str(abs(hash(json.dumps(plan.template, sort_keys=True))) % 10**19),
             "parameters": _public_parameters(plan), "mode": "Incremental", "provisioningState": "Succeeded",
             "timestamp": lro.iso(ctx.now), "duration": "PT0S", "correlationId": new_guid(), "dependencies": [],
             "providers": _providers(plan), "validatedResources": [{"id": r["id"]} for r in plan.resources]}
    return Response(200, {"id": _id(ctx), "name": ctx.params["name"], "type": DEPLOYMENT_TYPE, "properties": props})


def _providers(plan: Plan) -> list[dict[str, Any]]:
    by_ns: dict[str, list[str]] = {}
    for r in plan.resources:
        ns, _, rtype = r["type"].partition("/")
        by_ns.setdefault(ns, [])
        if rtype not in by_ns[ns]:
            by_ns[ns].append(rtype)
    return [{"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": [plan.rg_location]} for t in types]}
            for ns, types in by_ns.items()]


VOLATILE = frozenset({"etag", "provisioningState", "resourceGuid", "connectionStatus", "ingressBytesTransferred",
                      "egressBytesTransferred"})


def _delta(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """ARM's WhatIfPropertyChange list between two bodies (read-only, volatile fields left out)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key in VOLATILE:
                continue
            sub = f"{path}.{key}" if path else key
            if key not in before:
                out.append({"path": sub, "propertyChangeType": "Create", "after": after[key]})
            elif key not in after:
                continue  # a property the request leaves out keeps its value (ARM: NoEffect, not listed)
            else:
                out += _delta(before[key], after[key], sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and before != after:
        return [{"path": path, "propertyChangeType": "Array", "before": before, "after": after}]
    if before != after:
        return [{"path": path, "propertyChangeType": "Modify", "before": before, "after": after}]
    return []


def _strip(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    return {k: ({p: v for p, v in val.items() if p not in VOLATILE} if k == "properties" and isinstance(val, dict)
                else val) for k, val in body.items() if k not in VOLATILE}


def what_if(ctx: Ctx) -> Response:
    """POST …/deployments/{name}/whatIf: 202, then at the Location ARM's WhatIfOperationResult — one change per
    template resource (Create / Modify with its delta / NoChange) and the group's other resources as Ignore."""
    plan = _plan(ctx)
    results = _dry_run(ctx, plan)
    error = _failed(ctx, results)
    changes = []
    for res, before, answer in results:
        after = _strip(answer.body if answer.status < 400 else None)
        if before is None:
            changes.append({"resourceId": res["id"], "changeType": "Create", "after": after})
            continue
        delta = _delta(_strip(before), after)
        changes.append({"resourceId": res["id"], "changeType": "Modify" if delta else "NoChange",
                        "before": _strip(before), "after": after} | ({"delta": delta} if delta else {}))
    planned = {fold(r["id"]) for r in plan.resources}
    for (rid,) in ctx.db.execute(
            f"SELECT id FROM resources WHERE sub = ? AND rg = ? AND type NOT LIKE 'microsoft.resources/%' "
            f"AND {ctx.store._VISIBLE} ORDER BY seq", (fold(ctx.sub), fold(ctx.rg), ctx.now)):  # noqa: SLF001
        if fold(rid) not in planned:
            changes.append({"resourceId": rid, "changeType": "Ignore"})
    result: dict[str, Any] = {"status": "Failed" if error else "Succeeded", "properties": {"changes": changes}}
    if error:
        result["error"] = error
    holder = Record(key=_key(ctx), id=_id(ctx), sub=fold(ctx.sub), rg=fold(ctx.rg), type=fold(DEPLOYMENT_TYPE),
                    name=ctx.params["name"], location=None, body={}, etag="", created_at=ctx.now)
    op_id = new_guid()
    ctx.store.add_operation(ctx.db, op_id=op_id, resource_key=holder.key, kind="whatif", location=None,
                            start=ctx.now, done=ctx.now, result=result, status="Succeeded", error=None)
    return Response(202, None, {"Location": lro.location_url(ctx, holder, op_id), "Retry-After": "1"}
                    if ctx.app.token is not None else {"Location": lro.location_url(ctx, holder, op_id)})


def list_(ctx: Ctx) -> Response:
    """GET …/providers/Microsoft.Resources/deployments: the group's deployments, newest last."""
    require_rg(ctx)
    recs = ctx.store.list(ctx.db, ctx.now, sub=ctx.sub, type=DEPLOYMENT_TYPE, rg=ctx.rg)
    return Response(200, {"value": [_render(ctx, r) for r in recs]})


def _state(ctx: Ctx, rec: Record) -> str:
    if rec.op_done and ctx.now < rec.op_done:
        return "Running"
    return "Failed" if rec.body.get("error") else "Succeeded"


def _render(ctx: Ctx, rec: Record) -> dict[str, Any]:
    body = rec.body
    state = _state(ctx, rec)
    props: dict[str, Any] = {"templateHash": str(abs(hash(rec.key)) % 10**19), "parameters": body["parameters"],
                             "mode": body["mode"], "provisioningState": state,
                             "timestamp": lro.iso(rec.op_done or rec.created_at), "duration": "PT1S",
                             "correlationId": body["correlationId"], "dependencies": [], "providers": [],
                             "outputResources": [{"id": op["resourceId"]} for op in body["operations"]
                                                 if op["statusCode"] < 400]}
    if state == "Failed":
        props["error"] = body["error"]
    if state == "Succeeded" and body.get("outputs_template"):
        props["outputs"] = _outputs(ctx, rec)
    return {"id": rec.id, "name": rec.name, "type": DEPLOYMENT_TYPE, "properties": props}


def _outputs(ctx: Ctx, rec: Record) -> dict[str, Any]:
    def reference(target: str) -> Any:
        rid = target if target.startswith("/") else next(
            (op["resourceId"] for op in rec.body["operations"] if fold(op["name"]) == fold(target)), target)
        found = routes.match(rid)
        if found is None or "GET" not in found[0].methods:
            raise invalid(f"The resource '{target}' is not defined in the template")
        route, params = found
        sub = Ctx(app=ctx.app, store=ctx.store, db=ctx.db, now=ctx.now, method="GET", path=rid, query={},
                  headers={}, raw_body=b"", base_url=ctx.base_url, params=params)
        answer = route.methods["GET"](sub)
        return (answer.body or {}).get("properties", {})

    ev = Evaluator(sub=rec.sub, rg=rec.rg, location="", reference=reference,
                   parameters={k: v.get("value") for k, v in rec.body["parameters"].items()}, variables={})
    out = {}
    for name, spec in rec.body["outputs_template"].items():
        out[name] = {"type": spec.get("type", "Object"), "value": ev.value(spec.get("value"))}
    return out


def _require(ctx: Ctx) -> Record:
    rec = ctx.get(_key(ctx))
    if rec is None:
        raise errors.ArmError(f"Deployment '{ctx.params['name']}' could not be found.", code="DeploymentNotFound",
                              status=404)
    return rec


def get(ctx: Ctx) -> Response:
    return Response(200, _render(ctx, _require(ctx)))


def list_operations(ctx: Ctx) -> Response:
    rec = _require(ctx)
    value = []
    for op in rec.body["operations"]:
        running = ctx.now < op["done"]
        state = "Running" if running else ("Failed" if op.get("error") else "Succeeded")
        props: dict[str, Any] = {
            "provisioningOperation": "Create", "provisioningState": state, "timestamp": lro.iso(op["done"]),
            "duration": "PT1S", "trackingId": op["operationId"], "serviceRequestId": op["operationId"],
            "statusCode": {200: "OK", 201: "Created"}.get(op["statusCode"], "BadRequest"),
            "targetResource": {"id": op["resourceId"], "resourceType": op["type"], "resourceName": op["name"]}}
        if op.get("error"):
            props["statusMessage"] = {"status": "Failed", "error": op["error"]}
        value.append({"id": f"{rec.id}/operations/{op['operationId']}", "operationId": op["operationId"],
                      "properties": props})
    return Response(200, {"value": value})


def get_operation(ctx: Ctx) -> Response:
    """GET …/deployments/{name}/operations/{operationId}."""
    for op in list_operations(ctx).body["value"]:
        if op["operationId"].lower() == ctx.params["op"].lower():
            return Response(200, op)
    raise errors.ArmError(f"Deployment operation '{ctx.params['op']}' could not be found.",
                          code="DeploymentOperationNotFound", status=404)


def delete(ctx: Ctx) -> Response:
    rec = ctx.get(_key(ctx))
    if rec is None:
        return Response(204)
    ctx.db.execute("DELETE FROM resources WHERE key = ?", (rec.key,))
    return Response(204)  # ARM answers 202 then 204; a deployment record goes at once
