"""An azure-core transport that hands each request to the emulator app in-process (no socket is opened).

The client keeps ``https://management.azure.com`` as its base URL, so the bearer-token policy's HTTPS
rule holds; this transport never dials it. ``sleep()`` (used by retries and LRO polling) is recorded and
can be skipped, and every exchange is kept in ``requests`` as ``(method, path, status)``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.utils import case_insensitive_dict

from vpnrunbook.emulator import errors
from vpnrunbook.emulator.app import EmulatorApp
from vpnrunbook.emulator.models import RawJson, serialized

LARGE_BODY = 64 * 1024            # a response body larger than this is kept serialized in ``exchanges``
LARGE_BODIES_BUDGET = 16 * 1024 * 1024   # at most this much of them; the oldest beyond it are dropped


class KeptBody(Mapping[str, Any]):
    """A large response body in ``exchanges``: its JSON bytes, read on access (not kept parsed), dropped when the
    log's budget for large bodies is spent (then it reads as ``{"_dropped": "<n> bytes"}``)."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self.data: bytes | None = data

    def _value(self) -> dict[str, Any]:
        return json.loads(self.data) if self.data is not None else {"_dropped": f"{self.size} bytes"}

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())


class InProcessResponse(HttpResponse):
    """A complete, already-read response (implements the public ``azure.core.rest.HttpResponse`` ABC)."""

    def __init__(self, request: HttpRequest, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self._request = request
        self._status = status
        self._reason = reason
        self._headers = case_insensitive_dict(headers)
        self._body = body
        self._closed = False
        self._consumed = False

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def url(self) -> str:
        return self._request.url

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def headers(self) -> Any:
        return self._headers

    @property
    def content_type(self) -> str | None:
        return self._headers.get("Content-Type")

    @property
    def encoding(self) -> str | None:
        return "utf-8"

    @encoding.setter
    def encoding(self, value: str | None) -> None:  # azure-core may set it
        pass

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def is_stream_consumed(self) -> bool:
        return self._consumed

    @property
    def content(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode(encoding or "utf-8")

    def body(self) -> bytes:
        """The legacy transport-response accessor: generated clients that deserialize the HTTP response itself
        (azure-mgmt-resourcegraph) look for ``body()`` to decide it is a response and decode ``text()``."""
        return self._body

    def json(self) -> Any:
        return json.loads(self._body) if self._body else None

    def read(self) -> bytes:
        self._consumed = True
        return self._body

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        self._consumed = True
        if self._body:
            yield self._body

    def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
        yield from self.iter_bytes()

    def raise_for_status(self) -> None:
        if self._status >= 400:
            from azure.core.exceptions import HttpResponseError

            raise HttpResponseError(response=self)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> InProcessResponse:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()


class InProcessTransport(HttpTransport):
    """Deliver requests to an :class:`EmulatorApp` directly.

    ``fast_sleep=True`` records the sleeps the SDK asks for (retry back-off, LRO polling) without sleeping.
    """

    def __init__(self, app: EmulatorApp, *, fast_sleep: bool = False, max_exchanges: int = 200) -> None:
        self.app = app
        self.fast_sleep = fast_sleep
        self.requests: list[tuple[str, str, int]] = []
        # The last exchanges in full, for inspection: (method, url, status, response headers, response JSON)
        self.exchanges: deque[tuple[str, str, int, dict[str, str], Any]] = deque(maxlen=max_exchanges)
        self.sleeps: list[float] = []
        self._large: deque[KeptBody] = deque()   # the large bodies kept, oldest first, within the budget
        self._lock = threading.Lock()

    def __enter__(self) -> InProcessTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        with self._lock:
            self.sleeps.append(duration)
        if not self.fast_sleep:
            time.sleep(duration)

    def _keep_large(self, body: bytes) -> KeptBody:
        kept = KeptBody(body)
        self._large.append(kept)
        total = sum(k.size for k in self._large)
        while total > LARGE_BODIES_BUDGET and len(self._large) > 1:
            oldest = self._large.popleft()
            total -= oldest.size
            oldest.data = None
        return kept

    def send(self, request: Any, **kwargs: Any) -> InProcessResponse:
        url = urllib.parse.urlsplit(request.url)
        data = getattr(request, "content", None)
        if data is None:
            data = getattr(request, "body", None) or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, bytes):
            data = json.dumps(data).encode("utf-8") if data else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = urllib.parse.unquote(url.path)
        base = f"{url.scheme}://{url.netloc}"
        try:
            resp = self.app.handle(request.method.upper(), path, url.query, headers, data, base)
        except errors.DropConnection as exc:
            with self._lock:
                self.requests.append((request.method.upper(), path, 0))
            raise ServiceResponseError(f"Connection closed by the emulator ({exc})") from None
        body = serialized(resp.body)
        out = dict(resp.headers)
        if resp.body is not None:
            out["Content-Type"] = "application/json; charset=utf-8"
        out["Content-Length"] = str(len(body))
        with self._lock:
            self.requests.append((request.method.upper(), path, resp.status))
            kept = resp.body
            if path.lower().endswith("/sharedkey") and isinstance(kept, dict) and "value" in kept:
                kept = {**kept, "value": "<redacted>"}  # the key never lands in an inspectable log
            elif len(body) > LARGE_BODY:  # a page of 1,000 rows: not every one parsed in memory for the log
                kept = self._keep_large(body)
            elif isinstance(kept, RawJson):
                kept = json.loads(body)
            self.exchanges.append((request.method.upper(), request.url, resp.status, dict(resp.headers), kept))
        from vpnrunbook.emulator.app import REASONS

        return InProcessResponse(request, resp.status, REASONS.get(resp.status, ""), out, body)
