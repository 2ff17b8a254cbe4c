"""Login endpoints a stock Azure client (the Azure CLI through MSAL) asks for, served without a token.

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (and the v1 form): the token endpoint points
  back here.
* ``GET /common/discovery/instance`` (and ``/{tenant}/discovery/instance``): MSAL's instance discovery.
* ``POST /{tenant}/oauth2/v2.0/token`` (and ``/oauth2/token``): client credentials, refresh token.
* ``GET /msi/token`` / ``GET /metadata/identity/oauth2/token``: managed identity.

Every token handed out is the emulator's bearer token: whoever can reach the login endpoints on loopback
is who the emulator trusts (the token file is 0600 for the same reason). Client secrets are not checked
and never stored or logged.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.models import Ctx, Response

EMULATOR_TENANT = "00000000-0000-0000-0000-000000000001"
TOKEN_LIFETIME = 3600


def _tenant(ctx: Ctx) -> str:
    return ctx.params.get("tenant") or EMULATOR_TENANT


def openid_configuration(ctx: Ctx) -> Response:
    tenant, base = _tenant(ctx), ctx.base_url
    v2 = "/v2.0" if ctx.path.lower().find("/v2.0/") >= 0 else ""
    token_path = "/oauth2/v2.0/token" if v2 else "/oauth2/token"
    auth_path = "/oauth2/v2.0/authorize" if v2 else "/oauth2/authorize"
    return Response(200, {
        "issuer": f"{base}/{tenant}{v2}",
        "authorization_endpoint": f"{base}/{tenant}{auth_path}",
        "token_endpoint": f"{base}/{tenant}{token_path}",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": None,
        "cloud_instance_name": "vpnrunbook-emulator",
    })


def instance_discovery(ctx: Ctx) -> Response:
    host = ctx.base_url.split("://", 1)[-1]
    tenant = ctx.params.get("tenant") or "common"
    return Response(200, {
        "tenant_discovery_endpoint": f"{ctx.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


def _token_body(ctx: Ctx, scope: str | None) -> dict[str, Any]:
    token = ctx.app.token or "emulator"
    now = int(time.time())
    body: dict[str, Any] = {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME,
                            "access_token": token, "expires_on": str(now + TOKEN_LIFETIME),
                            "not_before": str(now)}
    if scope:
        body["scope"] = scope
    return body


def token(ctx: Ctx) -> Response:
    """The OAuth2 token endpoint: client_credentials (service principal) and refresh_token grants."""
    form = dict(parse_qsl(ctx.raw_body.decode("utf-8", "replace"), keep_blank_values=True))
    grant = form.get("grant_type")
    if grant not in ("client_credentials", "refresh_token"):
        return Response(400, {"error": "unsupported_grant_type",
                              "error_description": f"grant_type {grant!r} is not supported by the emulator; allowed: "
                                                   "client_credentials (az login --service-principal) or "
                                                   "refresh_token.", "error_codes": [70003]})
    if not form.get("client_id"):
        return Response(400, {"error": "invalid_request", "error_codes": [900144],
                              "error_description": "The request body must contain the parameter 'client_id'."})
    body = _token_body(ctx, form.get("scope"))
    if form.get("resource"):
        body["resource"] = form["resource"]
    return Response(200, body)


def managed_identity_token(ctx: Ctx) -> Response:
    """``GET /msi/token?resource=…`` (App Service style) and IMDS ``/metadata/identity/oauth2/token``."""
    resource = ctx.query.get("resource")
    if not resource:
        raise errors.BadRequest("The 'resource' query parameter is required for a managed identity token.")
    body = _token_body(ctx, None)
    body["resource"] = resource
    return Response(200, body)


def cloud_metadata(ctx: Ctx) -> Response:
    """``GET /metadata/endpoints``: what ``az cloud register --endpoint-resource-manager URL`` reads."""
    base = ctx.base_url
    return Response(200, {
        "name": "vpnrunbook-emulator",
        "portal": base,
        "resourceManager": base + "/",
        "authentication": {"loginEndpoint": base, "audiences": [base + "/"], "tenant": EMULATOR_TENANT,
                           "identityProvider": "AAD"},
        "graphAudience": base + "/",
        "graph": base + "/",
        "microsoftGraphResourceId": base + "/",
        "suffixes": {"storage": "emulator.invalid", "keyVaultDns": "vault.emulator.invalid",
                     "acrLoginServer": "azurecr.emulator.invalid", "sqlServerHostname": "database.emulator.invalid"},
    })
