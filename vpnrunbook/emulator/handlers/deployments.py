"""Microsoft.Resources/deployments: incremental template deployments of the network resources.

``PUT …/providers/Microsoft.Resources/deployments/{name}`` evaluates the template (parameters, variables,
``dependsOn`` order, the functions of :mod:`vpnrunbook.emulator.template`), PUTs each resource through the
emulator's own handlers (same validation, same operations), and answers a long-running operation that ends
when the slowest resource does. A resource that fails makes the deployment fail with Azure's envelope
(``DeploymentFailed`` with one detail per failed resource); ``GET …/deployments/{name}/operations`` lists
one operation per resource. ``securestring``/``secureObject`` parameter values are never stored.
"""

from __future__ import annotations

import json
from typing import Any

from vpnrunbook.azure.names import fold
from vpnrunbook.emulator import errors, lro, routes
from vpnrunbook.emulator.handlers.common import require_rg
from vpnrunbook.emulator.models import Ctx, Response, new_guid
from vpnrunbook.emulator.store import Record
from vpnrunbook.emulator.template import Evaluator, invalid

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


def put(ctx: Ctx) -> Response:
    rg = require_rg(ctx)
    props = ctx.json().get("properties")
    if not isinstance(props, dict) or not isinstance(props.get("template"), dict):
        raise errors.ArmError("The request content was invalid: 'properties.template' is required (templateLink "
                              "is not served by the emulator).", code="InvalidRequestContent")
    template = props["template"]
    mode = str(props.get("mode", "Incremental"))
    if mode.lower() != "incremental":
        raise errors.ArmError(f"Deployment mode '{mode}' is not served by the emulator; allowed: Incremental.",
                              code="InvalidDeploymentMode")
    declared = template.get("parameters") or {}
    values = _parameters(template, props.get("parameters") or {})
    ev = Evaluator(sub=ctx.sub, rg=ctx.rg, location=rg.location or "", parameters=values,
                   variables=template.get("variables") or {})
    resources = template.get("resources") or []
    if not isinstance(resources, list):
        raise invalid("'resources' must be an array")
    resources = [ev.value({k: v for k, v in r.items() if k != "properties"}) | {"properties": r.get("properties")}
                 for r in resources]
    ids = [_resource_path(ev, r) for r in resources]
    ops: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    done = ctx.now
    for i in _order(resources, ids):
        res = resources[i]
        body = {k: v for k, v in res.items() if k not in ("type", "name", "apiVersion", "dependsOn", "condition",
                                                            "copy", "comments")}
        body = ev.value(body)
        op = {"operationId": new_guid().replace("-", "").upper()[:16], "resourceId": ids[i], "type": res["type"],
              "name": res["name"], "start": ctx.now}
        try:
            answer = _put_resource(ctx, ids[i], str(res.get("apiVersion", "")), body)
        except errors.ArmError as exc:
            answer = Response(exc.status, exc.body())
        op["statusCode"] = answer.status
        if answer.status >= 400:
            op["error"] = (answer.body or {}).get("error")
            failures.append({"code": (op["error"] or {}).get("code", "ResourceDeploymentFailure"),
                             "message": (op["error"] or {}).get("message", ""), "target": ids[i]})
            op["done"] = ctx.now
        else:
            target = ctx.get(ids[i])
            op["done"] = (target.op_done if target and target.op_done else ctx.now)
            op_row = ctx.store.get_operation(ctx.db, target.op_id) if target and target.op_id else None
            if op_row and op_row["status"] == "Failed":
                op["error"] = op_row["error"]
                failures.append({"code": (op_row["error"] or {}).get("code", "ResourceDeploymentFailure"),
                                 "message": (op_row["error"] or {}).get("message", ""), "target": ids[i]})
        done = max(done, op["done"])
        ops.append(op)
        if failures:
            break  # Azure stops the resources that depend on a failed one; the emulator stops the rest
    public_params = {k: {"type": (declared.get(k) or {}).get("type", "String")} |
                     ({} if str((declared.get(k) or {}).get("type", "")).lower() in SECURE_TYPES else {"value": v})
                     for k, v in values.items()}
    stored = {"mode": "Incremental", "parameters": public_params, "outputs_template": template.get("outputs") or {},
              "operations": ops, "correlationId": new_guid(),
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


def delete(ctx: Ctx) -> Response:
    rec = ctx.get(_key(ctx))
    if rec is None:
        return Response(204)
    ctx.db.execute("DELETE FROM resources WHERE key = ?", (rec.key,))
    return Response(200)
