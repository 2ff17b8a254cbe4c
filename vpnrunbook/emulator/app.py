"""The emulator's WSGI application: authentication, fault injection, routing, api-version checks, ARM errors.

The same callable serves the in-process transport (``transport.py``) and ``vpnrunbook emulator serve``.
"""

from __future__ import annotations

import hmac
import logging
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from vpnrunbook.emulator import activity_log, control, errors, limits, routes
from vpnrunbook.emulator.models import SUPPORTED_API_VERSIONS, Ctx, Response, serialized
from vpnrunbook.emulator.store import Store

log = logging.getLogger(__name__)
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
           413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class EmulatorApp:
    """A WSGI callable emulating the ARM endpoints the runbooks use.

    ``token``: when set, every request must carry ``Authorization: Bearer <token>`` (the HTTPS server sets
    it; in-process there is no network to protect, so any bearer token is accepted).
    """

    def __init__(self, store: Store | None = None, *, token: str | None = None, base_url: str | None = None,
                 own_hosts: Iterable[str] = ()) -> None:
        self.store = store or Store()
        self.token = token
        # Served: operation and login URLs point at the configured address; a Host header is used only when it
        # is one of the server's own names (those its certificate covers), never reflected as sent.
        self.base_url = base_url
        self.own_hosts = frozenset(h.lower() for h in own_hosts)

    # ---- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = _wsgi_text(environ.get("PATH_INFO", "")) or "/"
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        base_url = self._base_url(environ)
        try:
            body = self._read_body(environ, path, headers)
        except errors.ArmError as exc:  # refused before the body is read: no token, too large, bad length
            resp = Response(exc.status, exc.body(), exc.headers)
        else:
            resp = self.handle(method, path, _wsgi_text(environ.get("QUERY_STRING", "")), headers, body, base_url)
        payload = serialized(resp.body)
        out_headers = {"x-ms-request-id": str(uuid.uuid4()), **resp.headers}
        if resp.body is not None:
            out_headers["Content-Type"] = "application/json; charset=utf-8"
        out_headers["Content-Length"] = str(len(payload))
        start_response(f"{resp.status} {REASONS.get(resp.status, 'Unknown')}", list(out_headers.items()))
        return [payload] if method != "HEAD" else [b""]

    def _base_url(self, environ: dict[str, Any]) -> str:
        scheme = environ.get("wsgi.url_scheme", "https")
        host = str(environ.get("HTTP_HOST") or "").strip().lower()
        if host and host in self.own_hosts:
            return f"{scheme}://{host}"
        if self.base_url is None:  # a WSGI app without a configured address: the address it was reached on
            return f"{scheme}://{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '443')}"
        return self.base_url

    def _read_body(self, environ: dict[str, Any], path: str, headers: dict[str, str]) -> bytes:
        """The body, read only once the request is authenticated and its declared length is allowed."""
        declared = environ.get("vpnrunbook.content_lengths")  # every Content-Length header (the served app)
        length = limits.content_length(declared if declared is not None else [environ.get("CONTENT_LENGTH")])
        found = routes.match(routes.normalize(path))
        public = found is not None and found[0].public
        if not public:
            self._authenticate(headers)
        limits.check_size(length, limits.LOGIN_BODY_LIMIT if public else limits.BODY_LIMIT)
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) < length:  # the client went away before sending what it declared: nothing to answer
            raise errors.DropConnection()
        return body

    # ---- one request -----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes,
               base_url: str) -> Response:
        """Answer one request; raises :class:`errors.DropConnection` when a fault says to cut the line.
        A write's Activity Log events are stored once it is answered (``activity_log.py``)."""
        started = self.store.now()
        resp = self._answer(method, path, query_string, headers, body, base_url)
        activity_log.record(self, method, routes.normalize(path), query_string, headers, resp, started, base_url)
        return resp

    def _answer(self, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes,
                base_url: str) -> Response:
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        path = routes.normalize(path)
        try:
            found = routes.match(path)
            if found is None or not found[0].public:  # login endpoints are served without a token
                self._authenticate(headers)
            if path.startswith(control.PREFIX):
                return control.handle(self, method, path, query, body)
            kind = found[0].kind if found else "arm"
            stat_kind = "write" if kind == "arm" and method in WRITE_METHODS else ("poll" if kind == "poll" else "read")
            self._count(method, stat_kind)
            control.maybe_fault(self, method, path)
            if found is None:
                raise errors.RouteNotFound(f"The emulator has no endpoint for {method} {path}.")
            route, params = found
            if "rg" in params:
                errors.check_resource_group_name(params["rg"])
            handler = route.methods.get(method)
            if handler is None:
                raise errors.MethodNotAllowed(f"{method} is not supported on {path}; allowed: "
                                              f"{', '.join(sorted(route.methods))}.")
            if route.provider is not None:
                self._check_api_version(route.provider, query.get("api-version"), path)
            with self.store.write() as db:
                now = self.store.now()
                if method in WRITE_METHODS:
                    self.store.purge(db, now)
                ctx = Ctx(app=self, store=self.store, db=db, now=now, method=method, path=path, query=query,
                          headers=headers, raw_body=body, base_url=base_url, params=params)
                return handler(ctx)
        except errors.ArmError as exc:
            return Response(exc.status, exc.body(), exc.headers)
        except errors.DropConnection:
            raise
        except RecursionError:  # input nested too deeply for a handler: the client's fault, not a crash
            err = errors.InvalidRequestContent("The request nests values too deeply to be processed.")
            return Response(err.status, err.body())
        except Exception as exc:  # a bug in the emulator: answer like ARM, keep the trace on stderr
            traceback.print_exc(file=sys.stderr)
            err = errors.InternalServerError(f"The emulator failed: {type(exc).__name__}.")
            return Response(err.status, err.body())

    def _authenticate(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        if self.token is None:
            return
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise errors.AuthenticationFailed(
                "Authentication failed. The 'Authorization' header is missing or does not carry the emulator's "
                "bearer token (see VPNRUNBOOK_EMULATOR_TOKEN / the state dir's emulator.token).",
                headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                                             'error="invalid_token"'})

    @staticmethod
    def _check_api_version(provider: str, version: str | None, path: str) -> None:
        supported = SUPPORTED_API_VERSIONS[provider]
        if not version:
            raise errors.MissingApiVersionParameter(
                f"The api-version query parameter (?api-version=) is required for all requests. Supported "
                f"api-versions for {provider}: {', '.join(supported)}.")
        if version not in supported and not _looks_like_api_version(version):
            raise errors.invalid_api_version(version, supported)
        if version not in supported:
            from vpnrunbook.emulator.handlers.subscriptions import LOCATIONS

            raise errors.no_registered_provider(provider, version, path, supported, LOCATIONS)

    def _count(self, method: str, kind: str) -> None:
        with self.store.write() as db:
            self.store.count(db, method, kind)


def _wsgi_text(value: str) -> str:
    """A PEP 3333 environ string (the request's bytes as latin-1) as the UTF-8 text the client sent, invalid
    bytes replaced as ``urllib.parse.unquote`` does in-process: ``Grüße`` over HTTPS is the name it is in-process."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # already text (a server that decoded UTF-8 itself)
        return value
    return raw.decode("utf-8", "replace")


def _looks_like_api_version(version: str) -> bool:
    """``YYYY-MM-DD`` with an optional ``-preview``-style suffix: well formed, even if not served."""
    import re

    return re.fullmatch(r"\d{4}-\d{2}-\d{2}(-[A-Za-z0-9.]+)?", version) is not None


def create_app(db_path: str | None = None, *, token: str | None = None) -> EmulatorApp:
    return EmulatorApp(Store(db_path), token=token)
