"""``vpnrunbook emulator serve``: the emulator app over HTTPS on loopback, with a bearer token.

A self-signed certificate (EC P-256, SAN localhost + 127.0.0.1) is generated with ``cryptography`` into
the state dir (``emulator-ca.pem`` / ``emulator-key.pem``, key mode 0600), with a random token in
``emulator.token`` (0600). Clients trust the certificate through ``VPNRUNBOOK_EMULATOR_CA``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import ipaddress
import os
import queue
import secrets
import selectors
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from vpnrunbook.emulator import errors
from vpnrunbook.emulator import limits as body_limits
from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.private_files import FILE_MODE, private_dir, private_umask, tighten
from vpnrunbook.emulator.store import Store, state_dir

CERT_NAME, KEY_NAME, TOKEN_NAME, URL_NAME = "emulator-ca.pem", "emulator-key.pem", "emulator.token", "emulator.url"
HANDSHAKE_TIMEOUT = 10.0  # seconds a client may take to complete its TLS handshake


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


class _Deadlines:
    """One thread that cuts connections whose deadline passed (a slow client is dropped within a bound, however
    it trickles its bytes: a per-read socket timeout alone would restart with every byte)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Cut]] = []
        self._count = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, seconds: float, cut: _Cut) -> _Cut:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vpnrunbook-emulator-deadlines",
                                                daemon=True)
                self._thread.start()
            self._count += 1
            heapq.heappush(self._heap, (time.monotonic() + seconds, self._count, cut))
            self._cond.notify()
        return cut

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, cut = heapq.heappop(self._heap)
            cut.fire()


class _Cut:
    """A pending deadline of one connection: ``fire`` shuts the socket down unless cancelled first."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.fired, self._lock, self._cancelled = sock, False, threading.Lock(), False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True

    def fire(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self.fired = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the TCP socket: wakes a blocked read


class _BodyInput:
    """``wsgi.input``: reads at most the declared length, all of it within ``body_timeout``."""

    def __init__(self, handler: _QuietHandler, length: int) -> None:
        self.handler, self.remaining, self.read_any = handler, length, False

    def read(self, size: int = -1) -> bytes:
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if size <= 0:
            return b""
        self.read_any = True
        server: ThreadingWSGIServer = self.handler.server  # type: ignore[assignment]
        cut = server.deadlines.add(server.limits.body_timeout, _Cut(self.handler.connection))
        try:
            data = self.handler.rfile.read(size)
        except (OSError, ValueError):  # idle past idle_timeout (TimeoutError), reset, or cut: no answer
            data = b""
        finally:
            cut.cancel()
        if cut.fired or len(data) < size:
            raise errors.DropConnection()
        self.remaining -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # the WSGI input protocol; the app only calls read()
        return self.read(size)

    def __iter__(self) -> Any:
        yield self.read()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env["vpnrunbook.content_lengths"] = self.headers.get_all("Content-Length") or []
        return env

    def handle(self) -> None:  # a copy of WSGIRequestHandler.handle using _DroppingHandler, with deadlines
        server: ThreadingWSGIServer = self.server  # type: ignore[assignment]
        cut = server.deadlines.add(server.limits.header_timeout, _Cut(self.connection))
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if cut.fired:
                return
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request() or cut.fired:
                return
        finally:
            cut.cancel()
        if cut.fired:
            return
        try:
            declared = body_limits.content_length(self.headers.get_all("Content-Length") or [])
        except errors.ArmError:
            declared = 0  # the app answers 400 without reading anything
        body = _BodyInput(self, declared)
        handler = _DroppingHandler(body, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
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
        elif body.remaining and not body.read_any:  # answered without reading the body (401, 413, 400)
            self._discard_unread(body.remaining)

    def _discard_unread(self, declared: int) -> None:
        """Let a client still sending the body it was refused read the answer: stop writing, then read and
        drop what arrives for a moment (closing on unread data would reset the connection first)."""
        server: ThreadingWSGIServer = self.server  # type: ignore[assignment]
        raw = self.connection
        with contextlib.suppress(OSError, ValueError):
            self.wfile.flush()
            raw.settimeout(server.limits.linger)
            left = min(declared, server.limits.linger_bytes)
            deadline = time.monotonic() + server.limits.linger
            while left > 0 and time.monotonic() < deadline:
                chunk = raw.recv(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)


class _Arrivals:
    """Accepted connections wait here, in one selector thread, until their first bytes arrive (or the handshake
    deadline passes: closed), so idle TCP clients cost a file descriptor each, not a worker."""

    def __init__(self, server: ThreadingWSGIServer) -> None:
        self.server = server
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, Any]] = []
        self._count = 0
        self._closed = False
        threading.Thread(target=self._run, name="vpnrunbook-emulator-arrivals", daemon=True).start()

    def add(self, request: Any, client_address: Any) -> bool:
        """False when :attr:`Limits.max_idle` connections already wait (the caller retries)."""
        with self._lock:
            if self._count >= self.server.limits.max_idle:
                return False
            self._count += 1
            self._pending.append((request, client_address))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        return True

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        waiting: dict[int, tuple[Any, Any, float]] = {}
        while not self._closed:
            with self._lock:
                new, self._pending = self._pending, []
            for request, client_address in new:
                try:
                    self._selector.register(request, selectors.EVENT_READ, None)
                except (OSError, ValueError):
                    self._done(request, close=True)
                    continue
                waiting[request.fileno()] = (request, client_address,
                                            time.monotonic() + self.server.limits.handshake_timeout)
            timeout = min((d for _r, _a, d in waiting.values()), default=time.monotonic() + 1) - time.monotonic()
            for key, _ in self._selector.select(max(0.0, min(timeout, 1.0))):
                if key.fileobj is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                request, client_address, _deadline = waiting.pop(key.fd)
                self._selector.unregister(request)
                self._done(request)
                self.server.dispatch(request, client_address)
            now = time.monotonic()
            for fd, (request, _a, deadline) in list(waiting.items()):
                if deadline <= now:  # connected and silent for the whole handshake allowance
                    del waiting[fd]
                    self._selector.unregister(request)
                    self._done(request, close=True)
        for request, _a, _d in waiting.values():
            self.server.shutdown_request(request)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _done(self, request: Any, *, close: bool = False) -> None:
        with self._lock:
            self._count -= 1
        if close:
            self.server.shutdown_request(request)


@dataclass(frozen=True)
class Limits:
    """How long and how many: every bound of a connection to ``emulator serve``, in seconds or counts."""

    handshake_timeout: float = HANDSHAKE_TIMEOUT  # TCP connected → TLS handshake done
    header_timeout: float = 10.0  # TLS done → request line and headers received
    body_timeout: float = 60.0  # headers → the whole body received (16 MiB at 280 KiB/s)
    idle_timeout: float = 10.0  # no byte received or sent for this long, at any stage
    max_connections: int = 32  # connections served at once (worker threads)
    max_waiting: int = 1024  # connections with bytes to read, queued for a worker
    max_idle: int = 4096  # accepted connections waiting for their first bytes; beyond it, the backlog waits
    linger: float = 1.0  # after refusing an unread body: how long to drain it
    linger_bytes: int = 4 * 1024 * 1024


class ThreadingWSGIServer(WSGIServer):
    """A fixed pool of ``max_connections`` worker threads; more clients wait (queued, then in the backlog)."""

    request_queue_size = 1024  # listen backlog: a burst of clients waits to be accepted instead of SYN retries

    def __init__(self, address: Any, handler: Any, limits_: Limits | None = None) -> None:
        self.limits = limits_ or Limits()
        self.deadlines = _Deadlines()
        self._waiting: queue.Queue[tuple[Any, Any] | None] = queue.Queue(self.limits.max_waiting)
        self._workers: list[threading.Thread] = []
        self._arrivals: _Arrivals | None = None
        self._closing = False
        self.active = 0
        self.peak_active = 0
        self._active_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Accepted: wait for the client's first bytes off the pool (a client that connects and sends nothing
        holds no worker), then for a free worker."""
        if not self._workers:
            for i in range(self.limits.max_connections):
                worker = threading.Thread(target=self._work, name=f"vpnrunbook-emulator-{i}", daemon=True)
                worker.start()
                self._workers.append(worker)
            self._arrivals = _Arrivals(self)
        while not self._arrivals.add(request, client_address):  # full: further clients wait in the backlog
            if self._closing:
                self.shutdown_request(request)
                return
            time.sleep(0.05)

    def dispatch(self, request: Any, client_address: Any) -> None:
        """To the workers' queue (a full queue makes arrivals wait, then accepting)."""
        while True:
            try:
                self._waiting.put((request, client_address), timeout=0.2)
                return
            except queue.Full:
                if self._closing:
                    self.shutdown_request(request)
                    return

    def _work(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            request, client_address = item
            with self._active_lock:
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                with self._active_lock:
                    self.active -= 1
                self.shutdown_request(request)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in a worker, not in accept() on the serving thread (where one client
        # that never completes it would stall every other one), bounded by the handshake deadline.
        if isinstance(request, ssl.SSLSocket):
            cut = self.deadlines.add(self.limits.handshake_timeout, _Cut(request))
            try:
                request.settimeout(self.limits.handshake_timeout)
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
            finally:
                cut.cancel()
        request.settimeout(self.limits.idle_timeout)
        try:
            super().finish_request(request, client_address)
        except (TimeoutError, ssl.SSLError, ConnectionError):
            return  # a client that went idle or away: nothing to answer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (TimeoutError, ssl.SSLError, ConnectionError)):
            return
        super().handle_error(request, client_address)

    def shutdown(self) -> None:
        self._closing = True
        super().shutdown()

    def server_close(self) -> None:
        self._closing = True
        super().server_close()
        self.deadlines.close()
        if self._arrivals is not None:
            self._arrivals.close()
        for _ in self._workers:
            with contextlib.suppress(queue.Full):
                self._waiting.put_nowait(None)


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
                db_path: str | None = None, limits: Limits | None = None) -> RunningServer:
    """Bind the HTTPS server (not yet serving). Loopback only unless ``host`` says otherwise."""
    directory = private_dir(directory or state_dir())
    cert, key = ensure_certificate(directory, host)
    token = ensure_token(directory)
    app = EmulatorApp(Store(db_path), token=token)
    httpd = ThreadingWSGIServer((host, port), _QuietHandler, limits)
    httpd.set_app(app)
    httpd.base_environ["HTTPS"] = "on"  # wsgi.url_scheme https: operation URLs point back here
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    port_ = httpd.server_address[1]
    url = f"https://{host}:{port_}"
    app.base_url = url
    app.own_hosts = frozenset(f"{name}:{port_}" for name in {"127.0.0.1", "localhost", host.lower()})
    (directory / URL_NAME).write_text(url + "\n", encoding="utf-8")
    return RunningServer(url, token, cert, httpd)


def start_in_thread(**kwargs: Any) -> RunningServer:
    server = make_server(**kwargs)
    server.thread = threading.Thread(target=server.httpd.serve_forever, name="vpnrunbook-emulator", daemon=True)
    server.thread.start()
    return server
