"""``emulator serve`` under hostile clients: the token is checked before any body is read, bodies are capped (413),
a malformed ``Content-Length`` or too deeply nested JSON is 400 (never 500), slow or idle clients are dropped
within a bound, and a fixed number of connections is served at once (more wait their turn)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time

import pytest

from vpnrunbook.emulator import limits, server

SUB = "00000000-0000-0000-0000-000000000000"
RG_PATH = f"/subscriptions/{SUB}/resourcegroups/{{}}?api-version=2025-04-01"
TOKEN_PATH = "/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token"
GIB = 1024 ** 3


def _tls(running: server.RunningServer, timeout: float = 20.0) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(running.ca))
    raw = socket.create_connection(running.httpd.server_address[:2], timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _head(method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: ssl.SSLSocket) -> tuple[int, dict]:
    """Read until the server closes; the status and JSON body. A server still waiting for the body it was
    promised never answers: the socket's timeout fails the test."""
    raw = b""
    with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):
        while chunk := sock.recv(65536):
            raw += chunk
    sock.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload or b"{}")


def _send(running, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> tuple[int, dict]:
    sock = _tls(running)
    sock.sendall(_head(method, path, headers) + body)
    return _answer(sock)


def _auth(running) -> tuple[str, str]:
    return ("Authorization", f"Bearer {running.token}")


# ---- authenticate before reading; cap bodies -------------------------------------------------------------
def test_no_token_is_refused_without_reading_a_huge_body(served):
    for length in (str(GIB), "1", "16777216"):
        status, body = _send(served, "PUT", RG_PATH.format("RG"), [("Content-Length", length)])
        assert status == 401 and body["error"]["code"] == "AuthenticationFailed", length


def test_authenticated_body_over_the_cap_is_413_without_reading_it(served):
    for length in (GIB, limits.BODY_LIMIT + 1):
        status, body = _send(served, "PUT", RG_PATH.format("RG"), [_auth(served), ("Content-Length", str(length))])
        assert status == 413 and body["error"]["code"] == "RequestContentTooLarge", length
        assert "exceeds" in body["error"]["message"]


def test_login_endpoints_are_capped_too(served):
    status, body = _send(served, "POST", TOKEN_PATH, [("Content-Length", str(limits.LOGIN_BODY_LIMIT + 1)),
                                                     ("Content-Type", "application/x-www-form-urlencoded")])
    assert status == 413 and body["error"]["code"] == "RequestContentTooLarge"
    form = b"grant_type=client_credentials&client_id=vpnrunbook&client_secret=any"
    status, body = _send(served, "POST", TOKEN_PATH, [("Content-Length", str(len(form))),
                                                     ("Content-Type", "application/x-www-form-urlencoded")], form)
    assert status == 200 and body["access_token"] == served.token  # a real token request still works


def test_a_refused_body_already_on_its_way_does_not_hide_the_answer(served):
    data = json.dumps({"location": "eastus", "tags": {"pad": "x" * 200_000}}).encode()
    status, body = _send(served, "PUT", RG_PATH.format("RG"), [("Content-Length", str(len(data)))], data)
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"


def test_a_body_at_the_usual_size_is_still_served(served):
    data = json.dumps({"location": "eastus", "tags": {"pad": "x" * 200}}).encode()
    status, body = _send(served, "PUT", RG_PATH.format("RG"), [_auth(served), ("Content-Length", str(len(data)))],
                         data)
    assert status == 201 and body["name"] == "RG"


# ---- malformed Content-Length and deep JSON: 400, never 500 ----------------------------------------------
@pytest.mark.parametrize("values", [["-1"], ["abc"], ["1_0"], ["+5"], [" "], ["5", "6"], ["5, 6"],
                                    ["99999999999999999999999999"], ["0x10"]])
def test_malformed_content_length_is_400(served, values):
    for token in (True, False):
        headers = [("Content-Length", v) for v in values] + ([_auth(served)] if token else [])
        status, body = _send(served, "PUT", RG_PATH.format("RG"), headers, b'{"location": "eastus"}')
        assert status == 400 and body["error"]["code"] == "InvalidContentLength", (values, token, body)


def test_repeated_identical_content_length_is_one_value(served):
    data = b'{"location": "eastus"}'
    status, body = _send(served, "PUT", RG_PATH.format("RG"),
                         [_auth(served), ("Content-Length", str(len(data))), ("Content-Length", str(len(data)))], data)
    assert status == 201, body


@pytest.mark.parametrize("data", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"location": "eastus", "tags": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
    b'{"location": "eastus", "tags": {"a": ' + b"[" * (limits.MAX_JSON_DEPTH + 1) + b"]" * (limits.MAX_JSON_DEPTH + 1)
    + b"}}",
])
def test_deep_json_is_400(served, data):
    for path in (RG_PATH.format("RG"), "/_emulator/faults"):
        method = "PUT" if "resourcegroups" in path else "POST"
        status, body = _send(served, method, path, [_auth(served), ("Content-Length", str(len(data)))], data)
        assert status == 400 and body["error"]["code"] == "InvalidRequestFormat", (path, status, body)
        assert "deeper" in body["error"]["message"] or "nest" in body["error"]["message"]


def test_json_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert limits.json_depth(deep) == limits.MAX_JSON_DEPTH + 1  # stops counting past the limit
    assert limits.json_depth({"a": [1, {"b": 2}]}) == 3 and limits.json_depth("x") == 0


# ---- slow and idle clients ------------------------------------------------------------------------------
@pytest.fixture
def strict(tmp_path, monkeypatch):
    """A served emulator with short timeouts and three connections served at once."""
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    running = server.start_in_thread(directory=tmp_path / "strict", limits=server.Limits(
        handshake_timeout=30.0, header_timeout=1.0, body_timeout=1.0, idle_timeout=30.0, max_connections=3))
    yield running
    running.stop()


def _closed_by_server(sock: ssl.SSLSocket, trickle: bytes, *, pace: float = 0.25) -> int:
    """Send ``trickle`` one byte per ``pace`` seconds; the number of bytes sent when the server dropped the
    connection, or -1 if it never did."""
    sock.settimeout(pace)
    for sent, byte in enumerate(trickle):
        try:
            if sock.recv(1) == b"":
                return sent
        except TimeoutError:
            pass
        except (ssl.SSLError, ConnectionError):
            return sent
        try:
            sock.sendall(bytes([byte]))
        except (ssl.SSLError, OSError):
            return sent
    return -1


def test_slowloris_headers_are_dropped(strict):
    sock = _tls(strict)
    headers = _head("GET", RG_PATH.format("RG"), [_auth(strict)] + [(f"X-Slow-{i}", "a" * 20) for i in range(5)])
    sent = _closed_by_server(sock, headers)
    assert 0 <= sent < len(headers), "the server kept a client that trickles its headers"
    sock.close()


def test_an_idle_client_is_dropped(strict):
    sock = _tls(strict)
    sock.settimeout(30)
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        assert sock.recv(1) == b""  # the server closed; without a deadline this waits for the client's timeout
    sock.close()


def test_a_slow_body_is_dropped(strict):
    body = json.dumps({"location": "eastus", "tags": {"pad": "y" * 400}}).encode()
    sock = _tls(strict)
    sock.sendall(_head("PUT", RG_PATH.format("Slow"), [_auth(strict), ("Content-Length", str(len(body)))]))
    sent = _closed_by_server(sock, body)
    assert 0 <= sent < len(body), "the server kept a client that trickles its body"
    sock.close()
    status, got = _send(strict, "GET", RG_PATH.format("Slow"), [_auth(strict)])
    assert status == 404 and got["error"]["code"] == "ResourceGroupNotFound"  # nothing half-written


# ---- bounded connections: excess clients wait -----------------------------------------------------------
def _wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_connections_are_bounded_and_excess_ones_wait(strict):
    httpd = strict.httpd
    address = httpd.server_address[:2]
    assert _send(strict, "GET", RG_PATH.format("RG"), [_auth(strict)])[0] == 404  # workers started
    threads_before = threading.active_count()
    idle = [socket.create_connection(address, timeout=30) for _ in range(40)]
    for sock in idle:
        sock.sendall(b"\x16")  # the first byte of a TLS handshake, never the rest: each holds a worker
    try:
        assert _wait_for(lambda: httpd.active == 3), httpd.active
        assert httpd.peak_active == 3
        assert threading.active_count() - threads_before <= 1, "a thread per connection"
        answer: list = []
        waiting = threading.Thread(target=lambda: answer.append(
            _send(strict, "GET", RG_PATH.format("RG"), [_auth(strict)])), daemon=True)
        waiting.start()
        waiting.join(0.5)
        assert not answer, "served beyond the bound while every worker was busy"
    finally:
        for sock in idle:
            sock.close()
    waiting.join(30)
    assert answer and answer[0][0] == 404 and answer[0][1]["error"]["code"] == "ResourceGroupNotFound"
    assert httpd.peak_active == 3


def test_clients_that_connect_and_send_nothing_hold_no_worker(strict):
    httpd = strict.httpd
    silent = [socket.create_connection(httpd.server_address[:2], timeout=30) for _ in range(300)]
    try:
        assert _send(strict, "GET", RG_PATH.format("RG"), [_auth(strict)])[0] == 404  # served among 300 silent ones
        assert httpd.peak_active <= 1 and httpd.active == 0
    finally:
        for sock in silent:
            sock.close()
