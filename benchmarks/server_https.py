"""Benchmark 7: ``vpnrunbook emulator serve`` under 100 concurrent HTTPS clients.

1,000 authorised ``GET`` of a resource group at 100 concurrency against the server in its own process (loopback),
from one asyncio client process: first as clients that keep their connection (HTTP/1.1 keep-alive: one TLS
handshake per client when the server keeps connections open), then with a new connection (and TLS handshake) for
every request (``Connection: close``), both in the same run. Every answer must be 200 with the group's name.
The hand-written wsgiref server this replaced answered HTTP/1.0 and closed every connection (3.1 s for this load
as first reported). Measured with this script on the shared 2-core machine, old and new server alternately:
at load ~5, old 2.24-2.68 s (keep-alive clients; it closed each connection) and 2.16-2.98 s (new connections),
new 1.41-1.59 s keep-alive; at load 11-14, old 5.16 / 7.37 s and 7.79 / 6.14 s, new 2.43 / 1.97 s and
6.84 / 9.78 s (with a new connection per request the TLS handshakes dominate; server CPU 2.0 s for both).
Last line: keep-alive time / new-connection time (< 1: keep-alive pays).
Run: ``python -m benchmarks.server_https [requests] [concurrency]``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path

from benchmarks._common import fresh_state, served_emulator, timed

SUB = "00000000-0000-0000-0000-000000000000"
GROUP = "BenchRG"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response with a Content-Length body: (status, body, server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    keep = lines[0].startswith("HTTP/1.1") and headers.get("connection", "").lower() != "close"
    return status, body, keep


async def _client(host: str, port: int, ctx: ssl.SSLContext, token: str, count: int, keep_alive: bool,
                  handshakes: list[int]) -> list[tuple[int, str]]:
    request = (f"GET /subscriptions/{SUB}/resourcegroups/{GROUP}?api-version=2025-04-01 HTTP/1.1\r\n"
               f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
               f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n").encode()
    answers: list[tuple[int, str]] = []
    reader = writer = None
    for _ in range(count):
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            handshakes.append(1)
        writer.write(request)
        status, body, keep = await _read_response(reader)
        answers.append((status, json.loads(body).get("name", "") if body else ""))
        if not (keep and keep_alive):
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return answers


def load(url: str, ca: Path, token: str, total: int, concurrency: int, *, keep_alive: bool) -> tuple[float, int]:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(ca))
    per = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    handshakes: list[int] = []

    async def run() -> list[list[tuple[int, str]]]:
        return await asyncio.gather(*(_client(host, int(port), ctx, token, n, keep_alive, handshakes)
                                      for n in per))

    seconds, results = timed(lambda: asyncio.run(run()))
    answers = [a for r in results for a in r]
    wrong = [a for a in answers if a != (200, GROUP)]
    assert len(answers) == total and not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:3]}"
    return seconds, len(handshakes)


def main(argv: list[str]) -> float:
    total = int(argv[0]) if argv else 1000
    concurrency = int(argv[1]) if len(argv) > 1 else 100
    base = fresh_state("server")
    with served_emulator() as url:
        if url is None:
            raise SystemExit("the server did not start")
        state = base / "state"
        token = (state / "emulator.token").read_text().strip()
        ca = state / "emulator-ca.pem"
        import requests

        requests.put(f"{url}/subscriptions/{SUB}/resourcegroups/{GROUP}?api-version=2025-04-01",
                     json={"location": "eastus"}, headers={"Authorization": f"Bearer {token}"}, verify=str(ca),
                     timeout=30).raise_for_status()
        load(url, ca, token, 100, 20, keep_alive=True)  # warm-up
        t_keep, hs_keep = load(url, ca, token, total, concurrency, keep_alive=True)
        t_new, hs_new = load(url, ca, token, total, concurrency, keep_alive=False)
    print(f"{total} HTTPS GETs at {concurrency} concurrency, clients keeping their connection: {t_keep:.2f} s "
          f"({hs_keep} TLS handshakes, {total / t_keep:.0f} requests/s)")
    print(f"{total} HTTPS GETs at {concurrency} concurrency, a new connection per request: {t_new:.2f} s "
          f"({hs_new} TLS handshakes, {total / t_new:.0f} requests/s)")
    ratio = t_keep / t_new
    print(f"ratio keep-alive / new connection per request: {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
