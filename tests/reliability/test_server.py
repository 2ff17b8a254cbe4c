"""`emulator serve`: loopback only unless told otherwise, 401 + ARM error envelope without the token, and a burst
of 2,000 concurrent HTTPS requests from a loopback load test with every response correct."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time

import pytest
import requests

from vpnrunbook.emulator import server

SUB = "00000000-0000-0000-0000-000000000000"
RG_URL = f"/subscriptions/{SUB}/resourcegroups/{{}}?api-version=2025-04-01"



def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_binds_loopback_only_unless_told_otherwise(served, tmp_path):
    host, port = served.httpd.server_address[:2]
    assert host == "127.0.0.1" and served.url == f"https://127.0.0.1:{port}"
    assert _reachable("127.0.0.1", port)
    assert not _reachable("127.0.0.2", port), "bound to more than 127.0.0.1"
    other = server.start_in_thread(directory=tmp_path / "other", host="0.0.0.0")
    try:
        assert _reachable("127.0.0.2", other.httpd.server_address[1]), "an explicit --host is honoured"
    finally:
        other.stop()
    import argparse

    from vpnrunbook.emulator import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    assert parser.parse_args(["emulator", "serve"]).host == "127.0.0.1", "the CLI's default is loopback too"


def test_missing_or_wrong_token_is_401_with_the_arm_envelope(served):
    url = served.url + RG_URL.format("RG")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {served.token}"}):
        r = requests.get(url, headers=headers, verify=str(served.ca), timeout=10)
        assert r.status_code == 401, headers
        body = r.json()
        assert set(body) == {"error"} and body["error"]["code"] == "AuthenticationFailed"
        assert body["error"]["message"] and "Bearer" in r.headers["WWW-Authenticate"]
        assert served.token not in r.text


def test_a_client_that_never_handshakes_does_not_stall_the_server(served):
    """The TLS handshake happens in the connection's own thread: an idle TCP client blocks nobody else."""
    port = served.httpd.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        r = requests.get(served.url + RG_URL.format("RG"), headers={"Authorization": f"Bearer {served.token}"},
                         verify=str(served.ca), timeout=15)
        assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    finally:
        for sock in idle:
            sock.close()


async def _one(port: int, ctx: ssl.SSLContext, method: str, path: str, token: str | None,
               body: dict | None) -> tuple[int, dict]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), 120)
    data = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            f"Content-Length: {len(data)}", "Content-Type: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 120)
    writer.close()
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload or b"{}")


@pytest.mark.slow
def test_burst_of_2000_concurrent_requests(served):
    """A mix of authorised reads, writes of distinct resource groups and unauthorised requests, all at once."""
    import requests as rq

    port = served.httpd.server_address[1]
    auth = {"Authorization": f"Bearer {served.token}"}
    for name in ("Base1", "Base2"):
        rq.put(served.url + RG_URL.format(name), json={"location": "eastus"}, headers=auth, verify=str(served.ca),
               timeout=10).raise_for_status()
    ctx = ssl.create_default_context(cafile=str(served.ca))
    jobs: list[tuple[str, str, str | None, dict | None, int, object]] = []
    for i in range(2000):
        kind = i % 5
        if kind in (0, 1):
            name = f"Base{kind + 1}"
            jobs.append(("GET", RG_URL.format(name), served.token, None, 200, name))
        elif kind == 2:
            jobs.append(("PUT", RG_URL.format(f"Load{i}"), served.token, {"location": "westus", "tags": {"i": str(i)}},
                         201, f"Load{i}"))
        elif kind == 3:
            jobs.append(("GET", RG_URL.format("Missing"), served.token, None, 404, "ResourceGroupNotFound"))
        else:
            jobs.append(("GET", RG_URL.format("Base1"), None, None, 401, "AuthenticationFailed"))

    async def burst() -> list:
        return await asyncio.gather(*(_one(port, ctx, m, p, t, b) for m, p, t, b, _s, _x in jobs),
                                    return_exceptions=True)

    start = time.perf_counter()
    results = asyncio.run(burst())
    elapsed = time.perf_counter() - start
    print(f"\n2000 concurrent HTTPS requests answered in {elapsed:.2f} s")
    wrong = []
    for (method, path, _t, body, status, expect), res in zip(jobs, results, strict=True):
        if isinstance(res, BaseException):
            wrong.append((method, path, repr(res)))
            continue
        code, payload = res
        ok = code == status and (
            payload.get("name") == expect if status in (200, 201) else payload.get("error", {}).get("code") == expect)
        if status == 201 and ok:
            ok = payload.get("tags") == body["tags"] and payload.get("location") == "westus"
        if not ok:
            wrong.append((method, path, code, payload))
    assert wrong == [], f"{len(wrong)} wrong responses, e.g. {wrong[:3]}"
    listed = rq.get(served.url + f"/subscriptions/{SUB}/resourcegroups?api-version=2025-04-01", headers=auth,
                    verify=str(served.ca), timeout=30).json()
    names = {g["name"] for g in listed["value"]}
    while listed.get("nextLink"):
        listed = rq.get(listed["nextLink"], headers=auth, verify=str(served.ca), timeout=30).json()
        names |= {g["name"] for g in listed["value"]}
    assert {f"Load{i}" for i in range(2, 2000, 5)} <= names and len(names) == 2 + 400, "a write was lost"
