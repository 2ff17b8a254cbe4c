"""``vpnrunbook emulator serve``: the emulator app over HTTPS on loopback, with a bearer token, on cheroot.

A self-signed certificate (EC P-256, SAN localhost + 127.0.0.1) is generated with ``cryptography`` into
the state dir (``emulator-ca.pem`` / ``emulator-key.pem``, key mode 0600), with a random token in
``emulator.token`` (0600). Clients trust the certificate through ``VPNRUNBOOK_EMULATOR_CA``.

The HTTP server is cheroot's (CherryPy's WSGI server): HTTP/1.1 with keep-alive, a fixed pool of worker threads,
idle keep-alive connections waiting in one selector thread (not in a worker). What cheroot does not give by itself
is added here as thin subclasses, each for one guarantee the attacker tests check:

* the TLS handshake runs in a worker, after the client's first bytes arrived (cheroot does it in its accept loop,
  where one silent client would stall every other), bounded by :attr:`Limits.handshake_timeout`;
* request line + headers must arrive within :attr:`Limits.header_timeout` and the body within
  :attr:`Limits.body_timeout` however the client trickles its bytes (a per-read socket timeout alone restarts with
  every byte); a client past its deadline is dropped without an answer;
* request line over 64 KiB → 414, headers over 64 KiB or 100 lines → 431, malformed → 400, each with the ARM error
  envelope and no traceback; every ``Content-Length`` header is handed to the app, which refuses a malformed or
  conflicting one (400) and checks the token before reading any body (401), then the size (413);
* ``Expect: 100-continue`` is answered only when the app reads the body (never for a refused request);
  ``Transfer-Encoding`` bodies are refused (411: every client of ARM sends ``Content-Length``);
* a body the app refused without reading is drained for a moment after the answer (up to
  :attr:`Limits.linger_bytes`), so the client still reading its upload sees the answer instead of a reset;
* a new connection that stays silent is closed after :attr:`Limits.handshake_timeout`, a kept-alive one after
  :attr:`Limits.idle_timeout`; beyond :attr:`Limits.max_idle` open connections a new one is closed at once;
* a request target's repeated leading slashes are collapsed (``//metadata/endpoints``), as wsgiref's path was;
* :class:`errors.DropConnection` (fault injection) closes the connection without any response.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import makefile, wsgi
from cheroot import server as cheroot_server
from cheroot.ssl import Adapter
from cheroot.workers import threadpool

from vpnrunbook.emulator import errors
from vpnrunbook.emulator import limits as body_limits
from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.private_files import FILE_MODE, private_dir, private_umask, tighten
from vpnrunbook.emulator.store import Store, state_dir

CERT_NAME, KEY_NAME, TOKEN_NAME, URL_NAME = "emulator-ca.pem", "emulator-key.pem", "emulator.token", "emulator.url"
HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to complete its TLS handshake
log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Limits:
    """How long and how many: every bound of a connection to ``emulator serve``, in seconds, counts or bytes."""

    handshake_timeout: float = HANDSHAKE_TIMEOUT  # a new connection: first bytes, then TLS handshake done
    header_timeout: float = 10.0  # request line and headers received, from the first byte of the request
    body_timeout: float = 60.0  # headers → the whole body received (16 MiB at 280 KiB/s)
    # a kept-alive connection without a request is closed after this: longer than the 10 s Retry-After an LRO
    # poller sleeps (at 10 s the client's next poll met a connection closing under it, and retried)
    idle_timeout: float = 60.0
    max_connections: int = 32  # requests served at once (worker threads)
    max_idle: int = 4096  # open connections waiting for a request; beyond it new ones are closed, answers close
    max_request_line: int = 64 * 1024  # bytes; longer: 414
    max_header_bytes: int = 64 * 1024  # all header lines together; more: 431
    max_headers: int = 100  # header lines; more: 431
    linger: float = 1.0  # after refusing an unread body: how long to drain it
    linger_bytes: int = 4 * 1024 * 1024


# ---- the socket layer: TLS in the worker, deadlines on every read ---------------------------------------
class _DeadlineIO(socket.SocketIO):
    """A socket's raw reader that never waits past :attr:`deadline` in total (each read's timeout is what is left)."""

    deadline: float | None = None

    def __init__(self, sock: socket.socket, mode: str, idle: float) -> None:
        super().__init__(sock, mode)
        self.idle = idle

    def readinto(self, b: Any) -> int | None:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            self._sock.settimeout(min(self.idle, left))
        return super().readinto(b)


class _Reader(makefile.StreamReader):
    def __init__(self, sock: socket.socket, idle: float, bufsize: int) -> None:
        makefile.io.BufferedReader.__init__(self, _DeadlineIO(sock, "rb", idle), bufsize)
        self.bytes_read = 0
        self.sock = sock

    def set_deadline(self, seconds: float) -> None:
        self.raw.deadline = time.monotonic() + seconds

    def has_data(self) -> bool:  # bytes TLS already decrypted count too (select() would not see them)
        pending = getattr(self.sock, "pending", None)
        return super().has_data() or bool(pending and pending())


class _TLSAdapter(Adapter):
    """Wraps accepted sockets in TLS without the handshake (done later, in a worker: see :class:`_Connection`)."""

    def __init__(self, context: ssl.SSLContext, limits: Limits) -> None:
        self.context, self.limits = context, limits
        self.certificate = self.private_key = self.certificate_chain = self.ciphers = None
        self.private_key_password = None

    def bind(self, sock: socket.socket) -> socket.socket:
        return sock

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        return (self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False),
                {"wsgi.url_scheme": "https", "HTTPS": "on"})

    def get_environ(self) -> dict[str, str]:
        return {"wsgi.url_scheme": "https", "HTTPS": "on"}

    def makefile(self, sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
        if "r" in mode:
            return _Reader(sock, self.limits.idle_timeout, bufsize if bufsize > 0 else 65536)
        return makefile.StreamWriter(sock, mode, bufsize if bufsize > 0 else 65536)


# ---- one request ----------------------------------------------------------------------------------------
class _TooManyHeaders(cheroot_errors.MaxSizeExceeded):
    pass


class _Headers(dict):
    """The request's headers as cheroot reads them, also keeping every ``Content-Length`` line as sent and
    holding back ``Expect`` (so cheroot does not answer ``100 Continue`` before the app decided)."""

    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines, self.lines = max_lines, 0
        self.content_lengths: list[bytes] = []
        self.expect_continue = False

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.lines += 1
        if self.lines > self.max_lines:
            raise _TooManyHeaders()
        if key == b"Content-Length":
            self.content_lengths.append(value)
        if key == b"Expect":
            self.expect_continue = value.strip().lower() == b"100-continue"
            return
        super().__setitem__(key, value)


class _HeaderReader(cheroot_server.HeaderReader):
    def __call__(self, rfile: Any, hdict: Any = None) -> Any:
        hdict = super().__call__(rfile, hdict)
        if hdict.content_lengths:  # cheroot reads one value with int(): give it the one the app will accept
            try:
                length = body_limits.content_length(v.decode("latin-1") for v in hdict.content_lengths)
            except errors.ArmError:
                length, hdict.bad_length = 0, True  # the app answers 400; the body's end is unknown: close
            dict.__setitem__(hdict, b"Content-Length", str(length).encode())
        return hdict


class _Body(cheroot_server.KnownLengthRFile):
    """``wsgi.input``: sends ``100 Continue`` before the first read when the client asked for it."""

    def __init__(self, req: _Request, length: int) -> None:
        super().__init__(req.conn.rfile, length)
        self.req, self.read_any = req, False

    def read(self, size: int | None = None) -> bytes:
        self._start()
        data = super().read(size)
        self.req.conn.socket.settimeout(self.req.server.limits.idle_timeout)  # for the answer: not what was left
        return data

    def readline(self, size: int | None = None) -> bytes:
        self._start()
        return super().readline(size)

    def _start(self) -> None:
        if not self.read_any:
            self.read_any = True
            if self.req.inheaders.expect_continue and self.remaining and not self.req.sent_headers:
                self.req.conn.wfile.write(f"{self.req.server.protocol} 100 Continue\r\n\r\n".encode())


class _RequestLine:
    """The request line with a target's leading slashes collapsed (``//metadata/endpoints``, as the Azure CLI
    asks for a cloud registered with a trailing slash): cheroot would read ``//x`` as an authority and refuse it."""

    _SLASHES = re.compile(rb"^([A-Za-z]+ )/{2,}")

    def __init__(self, rfile: Any) -> None:
        self.rfile = rfile

    def readline(self, size: int | None = None) -> bytes:
        return self._SLASHES.sub(rb"\1/", self.rfile.readline(size))


_ERROR_CODES = {400: "BadRequest", 405: "MethodNotAllowed", 411: "LengthRequired", 414: "RequestUriTooLong",
                431: "RequestHeaderFieldsTooLarge", 500: "InternalServerError", 501: "NotImplemented",
                503: "ServiceUnavailable", 505: "HttpVersionNotSupported"}


class _Request(cheroot_server.HTTPRequest):
    header_reader = _HeaderReader()
    server: EmulatorServer

    def __init__(self, server_: Any, conn: Any, **kwargs: Any) -> None:
        super().__init__(server_, conn, **kwargs)
        self.inheaders = _Headers(server_.limits.max_headers)

    def parse_request(self) -> None:
        """cheroot's, with separate limits for the request line (414) and the headers (431), in a deadline."""
        limits = self.server.limits
        self.conn.rfile.set_deadline(limits.header_timeout)
        self.rfile = _RequestLine(cheroot_server.SizeCheckWrapper(self.conn.rfile, limits.max_request_line))
        try:
            if not self.read_request_line():
                return
            self.rfile = cheroot_server.SizeCheckWrapper(self.conn.rfile, limits.max_header_bytes)
            try:
                if not self.read_request_headers():
                    return
            except cheroot_errors.MaxSizeExceeded:
                self.simple_response("431 Request Header Fields Too Large",
                                     f"The request's headers exceed {limits.max_header_bytes // 1024} KiB or "
                                     f"{limits.max_headers} lines; allowed: at most that.")
                return
        except cheroot_errors.MaxSizeExceeded:
            self.simple_response("414 URI Too Long", f"The request line exceeds {limits.max_request_line // 1024} "
                                                     "KiB; allowed: at most that.")
            return
        self.conn.rfile.set_deadline(limits.body_timeout)
        self.ready = True

    def read_request_headers(self) -> bool:
        if not super().read_request_headers():
            return False
        if getattr(self.inheaders, "bad_length", False):
            self.close_connection = True
        if b"Transfer-Encoding" in self.inheaders:
            self.simple_response("411 Length Required", "The request body must be sent with a Content-Length "
                                                        "header; allowed: Content-Length, not Transfer-Encoding.")
            return False
        return True

    def respond(self) -> None:
        self.rfile = body = _Body(self, int(self.inheaders.get(b"Content-Length", 0)))
        self.conn.socket.settimeout(self.server.limits.idle_timeout)  # writing the answer: a read set it lower
        try:
            self.server.gateway(self).respond()
        except errors.DropConnection:
            self.close_connection = self.conn.drop = True
            return
        self.ready and self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")
        if body.remaining and not body.read_any:  # answered without reading the body (401, 413, 400)
            self.conn.unread = body.remaining

    def send_headers(self) -> None:
        remaining, read_any = getattr(self.rfile, "remaining", 0), getattr(self.rfile, "read_any", True)
        if remaining > self.server.limits.linger_bytes or (remaining and not read_any
                                                           and self.inheaders.expect_continue):
            self.close_connection = True  # not worth reading (or never asked for) before answering: close after
        super().send_headers()

    def simple_response(self, status: Any, msg: str = "") -> None:
        """cheroot's own answers (malformed requests, limits) in the ARM error envelope, closing the connection."""
        text = str(status)
        number = int(text[:3])
        err = errors.ArmError(msg or text[4:], code=_ERROR_CODES.get(number, "BadRequest"), status=number)
        payload = json.dumps(err.body()).encode()
        head = (f"{self.server.protocol} {text}\r\nContent-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode("latin-1")
        self.close_connection = True
        self.conn.unread = self.server.limits.linger_bytes  # let a client still sending see the answer
        with contextlib.suppress(OSError):
            self.conn.wfile.write(head + payload)


class _Gateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env["vpnrunbook.content_lengths"] = [v.decode("latin-1") for v in self.req.inheaders.content_lengths]
        return env


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request
    server: EmulatorServer
    handshaken = False
    waited = False  # new connections first wait in the selector for their first bytes
    drop = False  # cut without an answer (fault injection)
    unread = 0  # bytes of a refused request still on their way: drained before closing

    def communicate(self) -> bool:
        with self.server.counting():
            if not self.handshaken:
                try:
                    self.socket.settimeout(self.server.limits.handshake_timeout)
                    self.socket.do_handshake()
                except (ssl.SSLError, OSError):  # silent, slow, not TLS, or gone: nothing to answer
                    return False
                self.handshaken = True
            return super().communicate()

    def _conditional_error(self, req: Any, response: str) -> None:
        if response.startswith("408"):  # a client past its deadline is dropped without an answer
            return
        super()._conditional_error(req, response)

    def close(self) -> None:
        if self.unread and not self.drop:
            self._drain(self.unread)
        self.unread = 0
        for step in (self.rfile.close, lambda: socket.socket.shutdown(self.socket, socket.SHUT_RDWR),
                     self.socket.close):
            with contextlib.suppress(OSError, ValueError):
                step()

    def _drain(self, declared: int) -> None:
        """Read and drop what the client still sends, for a moment (closing on unread data resets the
        connection, and the client may never read the answer)."""
        limits = self.server.limits
        left, deadline = min(declared, limits.linger_bytes), time.monotonic() + limits.linger
        with contextlib.suppress(OSError, ValueError):
            self.wfile.flush()
            socket.socket.shutdown(self.socket, socket.SHUT_WR)  # the answer is whole: a client reading sees EOF
            while left > 0 and (wait := deadline - time.monotonic()) > 0:
                self.socket.settimeout(wait)
                chunk = self.socket.recv(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)


# ---- the server -----------------------------------------------------------------------------------------
class _Pool(threadpool.ThreadPool):
    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)
        worker.name, worker.daemon = f"vpnrunbook-emulator-{len(self._threads)}", True  # never hold up exit
        worker.start()
        return worker


class EmulatorServer(wsgi.Server):
    """cheroot's WSGI server bound at construction (the port is known), with the subclasses above."""

    ConnectionClass = _Connection

    def __init__(self, address: tuple[str, int], app: Any, context: ssl.SSLContext,
                 limits_: Limits | None = None) -> None:
        self.limits = limits = limits_ or Limits()
        super().__init__(address, app, numthreads=limits.max_connections, max=limits.max_connections,
                         server_name="vpnrunbook-emulator", request_queue_size=1024, timeout=limits.idle_timeout,
                         shutdown_timeout=1)
        self.requests = _Pool(self, min=limits.max_connections, max=limits.max_connections)
        self.gateway = _Gateway
        self.ssl_adapter = _TLSAdapter(context, limits)
        self.keep_alive_conn_limit = limits.max_idle
        self.max_request_body_size = 0  # the app caps bodies, after the token: 401 before 413
        self.active = self.peak_active = 0
        self._active_lock = threading.Lock()
        self.prepare()

    @property
    def server_address(self) -> tuple[str, int]:
        return self.bind_addr[:2]

    @contextlib.contextmanager
    def counting(self) -> Any:
        with self._active_lock:
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        try:
            yield
        finally:
            with self._active_lock:
                self.active -= 1

    def process_conn(self, conn: _Connection) -> None:
        """A new connection waits for its first bytes in the selector (a silent client holds no worker and is
        closed after ``handshake_timeout``; beyond ``max_idle`` open connections, a new one is closed at once); then it
        goes to the workers' queue."""
        if not conn.waited:
            conn.waited = True
            if self.can_add_keepalive_connection:
                self.put_conn(conn)  # (in the selector's thread, as its expiry is:) silent ones go sooner
                conn.last_used -= max(0.0, self.limits.idle_timeout - self.limits.handshake_timeout)
            else:
                conn.close()
            return
        super().process_conn(conn)

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """Clients' misbehaviour is debug noise; only the server's own failures are logged with their trace."""
        if level >= logging.ERROR:
            log.error("%s", msg, exc_info=traceback)
        else:
            log.debug("%s", msg)

    # the names of the socketserver API the callers use
    def get_app(self) -> Any:
        return self.wsgi_app

    def set_app(self, app: Any) -> None:
        self.wsgi_app = app

    def serve_forever(self) -> None:
        self.serve()

    def shutdown(self) -> None:
        self.stop()

    def server_close(self) -> None:
        self.stop()


@dataclass
class RunningServer:
    url: str
    token: str
    ca: Path
    httpd: EmulatorServer
    thread: threading.Thread | None = None

    def stop(self) -> None:
        self.httpd.stop()


def make_server(*, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None,
                db_path: str | None = None, limits: Limits | None = None) -> RunningServer:
    """Bind the HTTPS server (not yet serving). Loopback only unless ``host`` says otherwise."""
    directory = private_dir(directory or state_dir())
    cert, key = ensure_certificate(directory, host)
    token = ensure_token(directory)
    app = EmulatorApp(Store(db_path), token=token)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    httpd = EmulatorServer((host, port), app, ctx, limits)
    port_ = httpd.server_address[1]
    url = f"https://{host}:{port_}"
    app.base_url = url
    app.own_hosts = frozenset(f"{name}:{port_}" for name in {"127.0.0.1", "localhost", host.lower()})
    (directory / URL_NAME).write_text(url + "\n", encoding="utf-8")
    return RunningServer(url, token, cert, httpd)


def start_in_thread(**kwargs: Any) -> RunningServer:
    server_ = make_server(**kwargs)
    server_.thread = threading.Thread(target=server_.httpd.serve, name="vpnrunbook-emulator", daemon=True)
    server_.thread.start()
    return server_
