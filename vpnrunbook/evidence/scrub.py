"""Secret scrubbing: the last line of defence before anything is written under the evidence root.

Shared keys only travel as references, and the operations strip ``sharedKey`` from snapshots; this module
still masks (1) every known secret value — the keys behind the references the run used and every key file in
``$VPNRUNBOOK_STATE_DIR/secrets`` — wherever it appears, and (2) the value of any JSON/dict field named like a
shared key. It counts what it masked so the manifest can say so.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MASK = "***redacted***"
SECRET_FIELD_RE = re.compile(r"^(shared_?key|sharedKey|password|client_?secret)$", re.IGNORECASE)
# "sharedKey": "value" in JSON text (also escaped inside a JSON string, as in notebook outputs)
_JSON_FIELD_RE = re.compile(r'(\\?"(?:sharedKey|shared_key)\\?"\s*:\s*\\?")((?:[^"\\]|\\.)*?)(\\?")')
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


def state_dir() -> Path:
    return Path(os.environ.get("VPNRUNBOOK_STATE_DIR", ".vpnrunbook"))


def secrets_from_refs(refs: Iterable[str]) -> set[str]:
    """The values behind env:/file: references (silently skipping ones that do not resolve)."""
    out: set[str] = set()
    for ref in refs:
        if not isinstance(ref, str):
            continue
        value: str | None = None
        if ref.startswith("env:"):
            value = os.environ.get(ref[4:])
        elif ref.startswith("file:"):
            try:
                value = Path(ref[5:]).expanduser().read_text(encoding="utf-8").strip()
            except OSError:
                value = None
        if value and len(value) >= MIN_SECRET_LEN:
            out.add(value)
    return out


def secrets_in_state_dir() -> set[str]:
    folder = state_dir() / "secrets"
    out: set[str] = set()
    if folder.is_dir():
        for f in folder.iterdir():
            try:
                value = f.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            if len(value) >= MIN_SECRET_LEN:
                out.add(value)
    return out


class Scrubber:
    """Masks known secret values and shared-key fields; ``count`` says how many it masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self.count = 0

    def text(self, text: str) -> str:
        for s in self.secrets:
            variants = {s, s.replace("\\", "\\\\").replace('"', '\\"'), html.escape(s), html.escape(s, quote=False)}
            for v in variants:
                if v in text:
                    self.count += text.count(v)
                    text = text.replace(v, MASK)

        def _mask(m: re.Match[str]) -> str:
            if m.group(2) in (MASK, ""):
                return m.group(0)
            self.count += 1
            return m.group(1) + MASK + m.group(3)

        return _JSON_FIELD_RE.sub(_mask, text)

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like data with secret fields and secret values masked."""
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(k, str) and SECRET_FIELD_RE.match(k) and v not in (None, "", MASK):
                    self.count += 1
                    out[k] = MASK
                else:
                    out[k] = self.data(v)
            return out
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def contains_secret(self, text: str) -> bool:
        return any(s in text for s in self.secrets)
