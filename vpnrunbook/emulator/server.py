"""``vpnrunbook emulator serve``: the emulator app over HTTPS on loopback, with a bearer token.

A self-signed certificate (EC P-256, SAN localhost + 127.0.0.1) is generated with ``cryptography`` into
the state dir (``emulator-ca.pem`` / ``emulator-key.pem``, key mode 0600), with a random token in
``emulator.token`` (0600). Clients trust the certificate through ``VPNRUNBOOK_EMULATOR_CA``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.private_files import FILE_MODE, private_dir, private_umask, tighten
from vpnrunbook.emulator.store import Store, state_dir

CERT_NAME, KEY_NAME, TOKEN_NAME, URL_NAME = "emulator-ca.pem", "emulator-key.pem", "emulator.token", "emulator.url"
HANDSHAKE_TIMEOUT = 30.0  # seconds a client may take to complete its TLS handshake


def _write_private(path: Path, data: bytes) -> None:
    with private_umask():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def ensure_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Create (once) a self-signed certificate for localhost/127.0.0.1 (and ``host``) in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_dir(directory)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists():
        tighten(key_path, FILE_MODE)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpnrunbook emulator")])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        if host not in ("127.0.0.1", "localhost"):
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def ensure_token(directory: Path) -> str:
    path = directory / TOKEN_NAME
    if path.exists():
        tighten(path, FILE_MODE)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    private_dir(directory)
    _write_private(path, token.encode())
    return token


class _DroppingHandler(ServerHandler):
    """Turns :class:`errors.DropConnection` into a connection closed without any response."""

    def run(self, application: Any) -> None:
        with contextlib.suppress(errors.DropConnection):
            super().run(application)

    def handle_error(self) -> None:
        import sys

        if isinstance(sys.exc_info()[1], errors.DropConnection):
            return
        super().handle_error()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle(self) -> None:  # a copy of WSGIRequestHandler.handle using _DroppingHandler
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _DroppingHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                   multithread=True)
        handler.request_handler = self  # type: ignore[attr-defined]
        dropped = False

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            nonlocal dropped
            try:
                return self.server.get_app()(environ, start_response)  # type: ignore[attr-defined]
            except errors.DropConnection:
                dropped = True
                raise

        handler.run(app)
        if dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: a burst of clients waits to be accepted instead of SYN retries

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, not in accept() on the serving thread
        # (where one client that never completes it would stall every other one).
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(HANDSHAKE_TIMEOUT)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


@dataclass
class RunningServer:
    url: str
    token: str
    ca: Path
    httpd: ThreadingWSGIServer
    thread: threading.Thread | None = None

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_server(*, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None,
                db_path: str | None = None) -> RunningServer:
    """Bind the HTTPS server (not yet serving). Loopback only unless ``host`` says otherwise."""
    directory = private_dir(directory or state_dir())
    cert, key = ensure_certificate(directory, host)
    token = ensure_token(directory)
    app = EmulatorApp(Store(db_path), token=token)
    httpd = ThreadingWSGIServer((host, port), _QuietHandler)
    httpd.set_app(app)
    httpd.base_environ["HTTPS"] = "on"  # wsgi.url_scheme https: operation URLs point back here
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    url = f"https://{host}:{httpd.server_address[1]}"
    (directory / URL_NAME).write_text(url + "\n", encoding="utf-8")
    return RunningServer(url, token, cert, httpd)


def start_in_thread(**kwargs: Any) -> RunningServer:
    server = make_server(**kwargs)
    server.thread = threading.Thread(target=server.httpd.serve_forever, name="vpnrunbook-emulator", daemon=True)
    server.thread.start()
    return server
