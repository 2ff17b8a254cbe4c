"""``emulator serve`` speaks HTTP/1.1 as a production server does: connections are kept for further requests,
oversized or malformed requests get their status (414, 431, 400, 411) in the ARM error envelope without a
traceback anywhere, ``Expect: 100-continue`` is answered only when the body is wanted, and clients that keep an
idle connection cost no thread."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading

import pytest

from vpnrunbook.emulator import server

SUB = "00000000-0000-0000-0000-000000000000"
RG_PATH = f"/subscriptions/{SUB}/resourcegroups/{{}}?api-version=2025-04-01"


def _tls(running: server.RunningServer, timeout: float = 20.0) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(running.ca))
    raw = socket.create_connection(running.httpd.server_address[:2], timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _request(method: str, path: str, headers: list[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Responses:
    """Reads HTTP/1.1 responses one after another from one connection."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):
            chunk = self.sock.recv(65536)
            self.buf += chunk
            return bool(chunk)
        return False

    def next(self) -> tuple[str, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"the connection closed before a whole response: {self.buf[:200]!r}"
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            assert self._fill(), "the connection closed inside a body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status_line, headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (nothing more arrives)."""
        return not self.buf and not self._fill()


def _auth(running) -> tuple[str, str]:
    return ("Authorization", f"Bearer {running.token}")


@pytest.fixture
def no_tracebacks(capfd, caplog):
    """Fails the test if the server wrote a traceback to stderr or logged one."""
    caplog.set_level(logging.DEBUG)
    yield
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


def _error(body: bytes) -> dict:
    payload = json.loads(body)
    assert set(payload) == {"error"} and payload["error"]["message"], payload
    return payload["error"]


# ---- HTTP/1.1 keep-alive ---------------------------------------------------------------------------------
def test_one_connection_serves_several_requests(served):
    sock = _tls(served)
    responses = _Responses(sock)
    data = json.dumps({"location": "eastus"}).encode()
    sock.sendall(_request("PUT", RG_PATH.format("Kept"), [_auth(served), ("Content-Length", str(len(data)))], data))
    status, headers, body = responses.next()
    assert status.startswith("HTTP/1.1 201") and headers.get("connection", "").lower() != "close"
    for _ in range(3):  # the same TLS connection answers again, and again
        sock.sendall(_request("GET", RG_PATH.format("Kept"), [_auth(served)]))
        status, headers, body = responses.next()
        assert status.startswith("HTTP/1.1 200") and json.loads(body)["name"] == "Kept"
    sock.sendall(_request("GET", RG_PATH.format("Kept"), [_auth(served), ("Connection", "close")]))
    status, headers, _ = responses.next()
    assert status.startswith("HTTP/1.1 200") and headers["connection"].lower() == "close"
    assert responses.closed()
    sock.close()


def test_a_refused_request_keeps_the_connection_usable(served):
    """401 without reading the (small) body: the body is skipped and the next request on the connection works."""
    sock = _tls(served)
    responses = _Responses(sock)
    data = json.dumps({"location": "eastus"}).encode()
    sock.sendall(_request("PUT", RG_PATH.format("Nope"), [("Content-Length", str(len(data)))], data))
    status, _, body = responses.next()
    assert status.startswith("HTTP/1.1 401") and _error(body)["code"] == "AuthenticationFailed"
    sock.sendall(_request("GET", RG_PATH.format("Nope"), [_auth(served)]))
    status, _, body = responses.next()
    assert status.startswith("HTTP/1.1 404") and _error(body)["code"] == "ResourceGroupNotFound"
    sock.close()


def test_idle_kept_alive_clients_hold_no_thread(served):
    """200 clients that made a request and keep their connection open wait in one selector thread."""
    threads_before = threading.active_count()
    clients = []
    try:
        for _ in range(200):
            sock = _tls(served)
            sock.sendall(_request("GET", RG_PATH.format("Idle"), [_auth(served)]))
            status, headers, _ = _Responses(sock).next()
            assert status.startswith("HTTP/1.1 404") and headers.get("connection", "").lower() != "close"
            clients.append(sock)
        assert served.httpd.active == 0, "an idle connection holds a worker"
        assert threading.active_count() - threads_before <= 1, "a thread per connection"
        sock = _tls(served)  # and a new client is served at once
        sock.sendall(_request("GET", RG_PATH.format("Idle"), [_auth(served), ("Connection", "close")]))
        assert _Responses(sock).next()[0].startswith("HTTP/1.1 404")
        sock.close()
    finally:
        for sock in clients:
            sock.close()


def test_a_kept_alive_connection_is_closed_once_idle(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    running = server.start_in_thread(directory=tmp_path / "idle", limits=server.Limits(idle_timeout=1.0))
    try:
        sock = _tls(running, timeout=30)
        responses = _Responses(sock)
        sock.sendall(_request("GET", RG_PATH.format("RG"), [_auth(running)]))
        assert responses.next()[0].startswith("HTTP/1.1 404")
        assert responses.closed(), "kept open past the idle timeout"  # without it: the 30 s client timeout fails
        sock.close()
    finally:
        running.stop()


# ---- oversized and malformed requests -------------------------------------------------------------------
def test_a_70_kb_request_line_is_414(served, no_tracebacks):
    sock = _tls(served)
    path = "/subscriptions/" + "a" * 70_000 + "?api-version=2025-04-01"
    with contextlib.suppress(OSError):  # the server may answer before the whole line is sent
        sock.sendall(_request("GET", path, [_auth(served)]))
    status, headers, body = _Responses(sock).next()
    assert status.startswith("HTTP/1.1 414") and headers["connection"].lower() == "close"
    assert _error(body)["code"] == "RequestUriTooLong"
    sock.close()


@pytest.mark.parametrize("headers", [
    [("X-Big", "b" * 70_000)],
    [(f"X-Many-{i}", "v") for i in range(150)],
])
def test_oversized_headers_are_431(served, no_tracebacks, headers):
    sock = _tls(served)
    with contextlib.suppress(OSError):
        sock.sendall(_request("GET", RG_PATH.format("RG"), [_auth(served), *headers]))
    status, _, body = _Responses(sock).next()
    assert status.startswith("HTTP/1.1 431") and _error(body)["code"] == "RequestHeaderFieldsTooLarge"
    sock.close()


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /x HTTP/1.1\r\nNo-Colon-Here\r\n\r\n",
    b"GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"GET /x#frag HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
])
def test_malformed_requests_are_400(served, no_tracebacks, raw):
    sock = _tls(served)
    sock.sendall(raw)
    status, _, body = _Responses(sock).next()
    assert status.split()[1] == "400" and _error(body)["code"] == "BadRequest", status
    assert b"evil.example" not in body
    sock.close()


def test_a_chunked_body_is_411(served, no_tracebacks):
    sock = _tls(served)
    sock.sendall(_request("PUT", RG_PATH.format("Chunked"), [_auth(served), ("Transfer-Encoding", "chunked")],
                          b"15\r\n{\"location\":\"eastus\"}\r\n0\r\n\r\n"))
    status, _, body = _Responses(sock).next()
    assert status.startswith("HTTP/1.1 411") and _error(body)["code"] == "LengthRequired"
    sock.close()


# ---- Expect: 100-continue -------------------------------------------------------------------------------
def test_100_continue_only_when_the_body_is_wanted(served):
    data = json.dumps({"location": "eastus"}).encode()
    head = [("Content-Length", str(len(data))), ("Expect", "100-continue")]
    sock = _tls(served)  # without the token: the final answer at once, never "100 Continue"
    sock.sendall(_request("PUT", RG_PATH.format("Expect"), head))
    status, headers, body = _Responses(sock).next()
    assert status.startswith("HTTP/1.1 401") and headers["connection"].lower() == "close"
    sock.close()
    sock = _tls(served)
    responses = _Responses(sock)
    sock.sendall(_request("PUT", RG_PATH.format("Expect"), [_auth(served), *head]))
    status, _, _ = responses.next()
    assert status.startswith("HTTP/1.1 100")
    sock.sendall(data)
    status, _, body = responses.next()
    assert status.startswith("HTTP/1.1 201") and json.loads(body)["name"] == "Expect"
    sock.close()


def test_a_client_that_never_sends_the_promised_body_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    running = server.start_in_thread(directory=tmp_path / "short", limits=server.Limits(body_timeout=1.0))
    try:
        sock = _tls(running, timeout=30)
        sock.sendall(_request("PUT", RG_PATH.format("Short"), [_auth(running), ("Content-Length", "100")],
                              b'{"location"'))
        assert _Responses(sock).closed(), "an answer to half a body"  # without a deadline: the 30 s timeout fails
        sock.close()
    finally:
        running.stop()


def test_connections_beyond_max_idle_are_closed_at_once(tmp_path, monkeypatch):
    """Open connections are bounded (file descriptors): beyond ``max_idle``, a new one is closed, not queued."""
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    running = server.start_in_thread(directory=tmp_path / "few", limits=server.Limits(max_idle=3))
    address = running.httpd.server_address[:2]
    kept = [socket.create_connection(address, timeout=30) for _ in range(3)]
    try:
        extra = socket.create_connection(address, timeout=30)
        with contextlib.suppress(ConnectionResetError):
            assert extra.recv(1) == b"", "a connection beyond the bound was kept"
        extra.close()
        kept[0].settimeout(0.3)
        with pytest.raises(TimeoutError):
            kept[0].recv(1)  # the first ones are still open (closed only after the 10 s idle timeout)
    finally:
        for sock in kept:
            sock.close()
        running.stop()


def test_a_target_with_repeated_leading_slashes_is_served(served):
    """The Azure CLI asks ``//metadata/endpoints`` of a cloud registered with a trailing slash; ARM tolerates it."""
    for path in ("//metadata/endpoints?api-version=2022-09-01", "///" + RG_PATH.format("Slashes").lstrip("/")):
        sock = _tls(served)
        sock.sendall(_request("GET", path, [_auth(served), ("Connection", "close")]))
        status, _, body = _Responses(sock).next()
        assert status.split()[1] in ("200", "404"), (path, status, body)
        assert status.split()[1] == "200" or _error(body)["code"] == "ResourceGroupNotFound"
        sock.close()
