"""Untrusted text, rendered for one medium at a time: a terminal, an HTML page, a CSV cell.

Resource names, tags (tag-only write access in Azure is enough to set one), policy descriptions, operator names
and ledger fields are untrusted: a control character, an ANSI/OSC escape or a bidi override in them must never
reach a terminal, a page or a spreadsheet raw — it could clear the screen and print a fake "verified", reorder
what a reader sees, or run a formula.

- :func:`terminal` — every control character (C0, DEL, C1: ESC, BEL, CR ...), format character (bidi embeddings,
  overrides and isolates U+202A..U+202E / U+2066..U+2069, U+200E/U+200F, zero-width characters, U+FEFF),
  line/paragraph separator and lone surrogate becomes its visible escape (``\\x1b``, ``\\u202e``).
  :class:`TerminalStream` applies it to everything a ``vpnrunbook`` command prints (``vpnrunbook.cli.main``),
  keeping only the newline (and, on an interactive stderr, the carriage return of a progress bar).
- :func:`html_text` — HTML-escaped, with the same characters shown as a marked escape
  (``<span class="vr-ctl">\\u202e</span>``); :func:`html_document` marks them in a whole page (the notebook's
  HTML) as plain visible escapes, valid in text and attributes alike.
- :func:`csv_cell` — a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``, so a
  spreadsheet shows it as text instead of evaluating it; :func:`csv_frame` does it for a whole table.
"""

from __future__ import annotations

import html as _html
import io
import re
import unicodedata
from typing import Any, TextIO

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Every code point of those categories (Unicode 14.0, Python 3.11's unicodedata), as one character class: a regex
# finds them ~100x faster than a category lookup per character. tests/reliability/test_untrusted_text.py checks it
# against unicodedata for all 1,114,112 code points, so a newer Python's Unicode cannot drift from it unnoticed.
UNSAFE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_char(c: str) -> str:
    o = ord(c)
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def is_unsafe(c: str) -> bool:
    return unicodedata.category(c) in UNSAFE_CATEGORIES


def _escape(text: str, keep: str, mark: Any = escape_char) -> str:
    if not UNSAFE_RE.search(text):
        return text
    return UNSAFE_RE.sub(lambda m: m.group() if m.group() in keep else mark(m.group()), text)


def terminal(value: Any, *, newlines: bool = False) -> str:
    """``value`` as text safe for a terminal: every control, format and separator character as its visible
    escape; ``newlines``: keep line breaks (a multi-line message), else ``\\n`` is escaped too (one field)."""
    return _escape(value if isinstance(value, str) else str(value), "\n" if newlines else "")


def has_raw_controls(text: str, *, allowed: str = "\n") -> bool:
    """Whether ``text`` holds a character :func:`terminal` would escape (tests, checks)."""
    return any(c not in allowed and is_unsafe(c) for c in text)


def _html_mark(c: str) -> str:
    return f'<span class="vr-ctl" title="control character U+{ord(c):04X}">{escape_char(c)}</span>'


def html_text(value: Any) -> str:
    """``value`` as HTML text: escaped, every control/bidi character shown as a marked visible escape."""
    return _escape(_html.escape(value if isinstance(value, str) else str(value)), "", _html_mark)


def html_document(page: str) -> str:
    """A whole HTML page with every control, bidi and zero-width character (not the HTML whitespace ``\\t``,
    ``\\n``, ``\\r``) replaced by its visible escape text — in text and attributes alike, so no bidi override
    reorders what a reader sees and nothing hides."""
    return _escape(page, "\t\n\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting with a formula prefix gets a leading ``'``;
    control characters are escaped. Numbers and other values are returned as they are."""
    if not isinstance(value, str):
        return value
    text = value
    if text.startswith(CSV_FORMULA_PREFIXES):
        text = "'" + text
    return _escape(text, "")


def csv_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame whose text cells (and column names) are :func:`csv_cell`-safe."""
    out = frame.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, str)).any():   # object or string dtype: the text columns
            out[col] = out[col].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


class TerminalStream(io.TextIOBase):
    """A text stream that writes :func:`terminal`-safe text to ``raw`` (everything else is delegated)."""

    def __init__(self, raw: TextIO, *, keep_cr: bool = False) -> None:
        super().__init__()
        self.raw = raw
        self._keep = "\n\r" if keep_cr else "\n"

    def write(self, s: str) -> int:
        self.raw.write(_escape(s, self._keep))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.raw, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def safe_streams(stdout: TextIO, stderr: TextIO) -> tuple[TextIO, TextIO]:
    """The streams a command prints through; an interactive stderr keeps the carriage return (progress bars)."""
    def wrap(stream: TextIO, keep_cr: bool) -> TextIO:
        return stream if isinstance(stream, TerminalStream) else TerminalStream(stream, keep_cr=keep_cr)

    try:
        tty = stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return wrap(stdout, False), wrap(stderr, tty)


__all__ = ["TerminalStream", "csv_cell", "csv_frame", "has_raw_controls", "html_document", "html_text",
           "safe_streams", "terminal"]
