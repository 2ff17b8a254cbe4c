"""JSON Schemas for emulator responses, built from the stored Azure REST specs (2026-03-01).

``networkGateway.json`` refers to ``./common.json#/definitions/Common.X`` and
``./virtualNetwork.json#/definitions/Common.X``; the stored files are partial extracts that use the
un-prefixed names (see the specs' README). ``Common.X`` is resolved as ``X`` in the extracts. Enums the
extracts lack are taken from azure-mgmt-network 33.1.0's enums (generated from the same TypeSpec, as the
README lists them); the base types (Resource, SubResource, AddressSpace) are written out from the ARM
common types. Anything else the gateway spec points at outside its own file (virtual WAN routing, NAT
mappings, identities, errors) is accepted as any object.

``virtualNetwork.extract.json`` (VirtualNetwork, Subnet, PublicIPAddress and their list results) is loaded the
same way: ``validator("VirtualNetwork", file="vnet")``. Its local refs to definitions the extract left out (NICs,
NSGs, route tables, ... — the names it lists under ``x-extract-unresolved-local-refs``) are accepted as any
object, except AddressSpace, written out below; a dangling ref the extract does not list is an error.

Every object schema that lists properties is made *closed* (``additionalProperties: false`` after
merging ``allOf`` parents), so a field the spec does not define fails validation.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS = Path("/work/shared/azure-rest-specs/network/2026-03-01")
EXAMPLES = SPECS / "examples"

RESOURCE = {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
    "location": {"type": "string"}, "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}
SUB_RESOURCE = {"type": "object", "properties": {"id": {"type": "string"}}}
ADDRESS_SPACE = {"type": "object", "properties": {"addressPrefixes": {"type": "array", "items": {"type": "string"}},
                                                  "ipamPoolPrefixAllocations": {"type": "array"}}}
SDK_ENUMS = {  # definition name → azure.mgmt.network.models enum class
    "DhGroup": "DhGroup", "PfsGroup": "PfsGroup", "ProvisioningState": "ProvisioningState",
    "VirtualNetworkGatewayConnectionType": "VirtualNetworkGatewayConnectionType",
    "VirtualNetworkGatewayConnectionProtocol": "VirtualNetworkGatewayConnectionProtocol",
    "VirtualNetworkGatewayConnectionStatus": "VirtualNetworkGatewayConnectionStatus",
    "VirtualNetworkGatewayConnectionMode": "VirtualNetworkGatewayConnectionMode",
    "ConnectionAuthenticationType": "ConnectionAuthenticationType", "VpnType": "VpnType",
    "VirtualNetworkGatewayType": "VirtualNetworkGatewayType", "VpnGatewayGeneration": "VpnGatewayGeneration",
    "VirtualNetworkGatewaySkuName": "VirtualNetworkGatewaySkuName",
    "VirtualNetworkGatewaySkuTier": "VirtualNetworkGatewaySkuTier", "IkeIntegrity": "IkeIntegrity",
    # referenced from virtualNetwork.extract.json, not in common.extract.json
    "PublicIPAddressSkuName": "PublicIPAddressSkuName", "PublicIPAddressSkuTier": "PublicIPAddressSkuTier",
    "PublicIPAddressMigrationPhase": "PublicIPAddressMigrationPhase", "DeleteOptions": "DeleteOptions",
    "PublicIpAddressDnsSettingsDomainNameLabelScope": "PublicIpAddressDnsSettingsDomainNameLabelScope",
    "SharingScope": "SharingScope", "PrivateEndpointVNetPolicies": "PrivateEndpointVNetPolicies",
    "VirtualNetworkEncryptionEnforcement": "VirtualNetworkEncryptionEnforcement",
}
FILES = ("ng", "vnet")  # the spec files whose definitions a validator can be built for
ANY_OBJECT = {"type": "object"}
SUB_RESOURCE_MODEL = {"type": "object", "properties": {  # ARM sub-resource with its read-only name/type/etag
    "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}, "etag": {"type": "string"}}}
BASE_TYPES = {"Resource": RESOURCE, "SubResource": SUB_RESOURCE, "SubResourceModel": SUB_RESOURCE_MODEL,
              "AddressSpace": ADDRESS_SPACE, "TagsObject": {"type": "object", "properties": {
                  "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}}


def _sdk_enum(name: str) -> dict[str, Any]:
    import azure.mgmt.network.models as models

    return {"type": "string", "enum": [m.value for m in getattr(models, SDK_ENUMS[name])]}


@cache
def _files() -> dict[str, dict[str, Any]]:
    return {"ng": json.loads((SPECS / "networkGateway.json").read_text()),
            "common": json.loads((SPECS / "common.extract.json").read_text()),
            "vnet": json.loads((SPECS / "virtualNetwork.extract.json").read_text())}


def _external(file: str, name: str) -> dict[str, Any] | None:
    name = name.removeprefix("Common.")
    if name in SDK_ENUMS:
        return _sdk_enum(name)
    if name in BASE_TYPES:
        return copy.deepcopy(BASE_TYPES[name])
    defs = _files()["common" if file == "./common.json" else "vnet"].get("definitions", {})
    if file in ("./common.json", "./virtualNetwork.json") and name in defs:
        return copy.deepcopy(defs[name])
    return None


def _unresolved_local(origin: str, name: str) -> dict[str, Any]:
    """A local ref the (partial) file does not define: only the names the extract itself lists as left out."""
    if name not in _files()[origin].get("x-extract-unresolved-local-refs", ()):
        raise KeyError(f"{origin}: #/definitions/{name} is neither defined nor listed as left out of the extract")
    if name in BASE_TYPES:
        return copy.deepcopy(BASE_TYPES[name])
    return dict(ANY_OBJECT)  # NIC, NSG, route table, ...: not extracted, so any object


@cache
def definitions() -> dict[str, Any]:
    """All definitions of networkGateway.json and virtualNetwork.extract.json and what they reach, keyed ``ng:X``,
    ``vnet:X`` / ``ext:file:X``, refs rewritten."""
    out: dict[str, Any] = {}

    def rewrite(node: Any, origin: str) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and isinstance(node["$ref"], str):
                ref = node["$ref"]
                file, _, pointer = ref.partition("#/definitions/")
                if file == "":
                    key = f"{origin}:{pointer}"
                    if key not in out:
                        out[key] = None
                        src = _files()[origin]["definitions"].get(pointer)
                        out[key] = rewrite(src if src is not None else _unresolved_local(origin, pointer), origin)
                    return {"$ref": f"#/definitions/{key}"}
                key = f"ext:{file.removeprefix('./').removesuffix('.json')}:{pointer}"  # no "/" (JSON pointer)
                if key not in out:
                    out[key] = None
                    found = _external(file, pointer)
                    out[key] = rewrite(found, "common" if file == "./common.json" else "vnet") if found else {}
                return {"$ref": f"#/definitions/{key}"}
            return {k: rewrite(v, origin) for k, v in node.items() if not k.startswith("x-")}
        if isinstance(node, list):
            return [rewrite(v, origin) for v in node]
        return node

    for origin in FILES:
        for name in list(_files()[origin]["definitions"]):
            rewrite({"$ref": f"#/definitions/{name}"}, origin)
    for key in list(out):
        out[key] = _close(out[key], out)
    return out


def _merged_properties(schema: dict[str, Any], defs: dict[str, Any], seen: set[str]) -> dict[str, Any]:
    props = dict(schema.get("properties") or {})
    for parent in schema.get("allOf") or []:
        ref = parent.get("$ref", "")
        key = ref.removeprefix("#/definitions/")
        if key in seen:
            continue
        target = defs.get(key) or parent
        props = {**_merged_properties(target, defs, seen | {key}), **props}
    return props


def _close(schema: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(schema, dict):
        return schema
    if schema.get("properties") is not None or schema.get("allOf"):
        merged = _merged_properties(schema, defs, set())
        if merged:
            schema = {k: v for k, v in schema.items() if k != "allOf"}
            schema["properties"] = merged
            schema.setdefault("type", "object")
            if "additionalProperties" not in schema:
                schema["additionalProperties"] = False
    return schema


def validator(definition: str, file: str = "ng") -> Any:
    """A Draft 4 validator for ``definition`` of ``file``: "ng" (networkGateway.json) or "vnet"
    (virtualNetwork.extract.json)."""
    import jsonschema

    if file not in FILES:
        raise ValueError(f"file={file!r}: allowed are {', '.join(FILES)}")
    if f"{file}:{definition}" not in definitions():
        raise KeyError(f"{definition!r} is not a definition of {file!r}")
    schema = {"$ref": f"#/definitions/{file}:{definition}", "definitions": definitions()}
    return jsonschema.Draft4Validator(schema)


# Fields newer than the stored spec revision (README "CAVEATS"): present in examples, absent from the schema.
KNOWN_SPEC_GAPS = ("enableFipsCompliance",)


def errors(definition: str, body: Any, file: str = "ng") -> list[str]:
    found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
             for e in validator(definition, file).iter_errors(body)]
    return [f for f in found if not any(gap in f for gap in KNOWN_SPEC_GAPS)]


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())
