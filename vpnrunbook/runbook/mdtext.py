"""Text from user input, written into a markdown cell so that it stays text (never markup, HTML or a link)."""

from __future__ import annotations

import html
import re

_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def text(value: object, *, limit: int = 500) -> str:
    """Inline text: HTML escaped (``<`` ``>`` ``&`` ``"`` ``'``), markdown punctuation backslash-escaped,
    line breaks as spaces, cut to ``limit`` characters."""
    s = str(value)
    if len(s) > limit:
        s = s[:limit] + "…"
    s = " ".join(s.splitlines())
    return _MD_SPECIAL_RE.sub(r"\\\1", html.escape(s, quote=True))


def code_block(value: object, *, limit: int = 20_000) -> str:
    """A fenced code block holding ``value`` verbatim: the fence is longer than any backtick run inside, so the
    text cannot close it; a code block's content is shown as text by every markdown renderer."""
    s = str(value)
    if len(s) > limit:
        s = s[:limit] + "\n… (cut)"
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{s}\n{fence}"
