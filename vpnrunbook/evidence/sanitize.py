"""Sanitize an exported evidence page: nothing in it runs in a browser unless the export itself put it there.

The page is parsed (``html.parser``) and written again from what was parsed: text and attribute values
re-escaped, so no markup can appear that the parser did not see as a tag, and of the tags only what is safe:

* no inline event handler (any ``on*`` attribute), no ``javascript:``/``vbscript:`` URL and no ``data:`` URL
  other than ``data:image/...`` in any attribute;
* no ``<script>`` except those of the export template (the exact text it writes, :func:`script_key`) and widget
  state/view JSON (with ``<`` written as ``\\u003c``, so it cannot close the element);
* no ``iframe``/``frame``/``object``/``embed``/``applet``/``base``/``meta http-equiv``/SVG animation elements
  (``animate``, ``set``: they can rewrite an ``href``); ``<`` inside ``<style>`` written as the CSS escape ``\\3c ``.

:func:`live_content` lists what a browser could run (the tests' oracle: empty for every evidence page).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape
from html.parser import HTMLParser

DATA_SCRIPT_TYPES = frozenset({"application/vnd.jupyter.widget-state+json",
                               "application/vnd.jupyter.widget-view+json"})
DROPPED_TAGS = frozenset({"iframe", "frame", "frameset", "object", "embed", "applet", "base", "animate", "set",
                          "animatemotion", "animatetransform", "portal", "param"})
_NAME_RE = re.compile(r"[a-z][a-z0-9:_.-]*\Z")
_ATTR_RE = re.compile(r"[a-z_:][a-z0-9:_.-]*\Z")
_URL_JUNK_RE = re.compile(r"[\x00-\x20\x7f]+")
_BAD_SCHEME_RE = re.compile(r"(?:java|vb|live)script:|data:(?!image/)", re.I)
_BAD_STYLE_RE = re.compile(r"expression\s*\(|javascript:|vbscript:|-moz-binding|behavior\s*:", re.I)


def script_key(attrs: Iterable[tuple[str, str | None]], text: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """What identifies a template script: its attributes and its exact text."""
    return tuple(sorted((k, v or "") for k, v in attrs)), text


def _script_type(attrs: Iterable[tuple[str, str | None]]) -> str:
    for k, v in attrs:
        if k == "type":
            return (v or "").split(";")[0].strip().lower()
    return ""


def _bad_attr(name: str, value: str | None) -> str | None:
    """Why an attribute may not stay, or None."""
    if not _ATTR_RE.match(name):
        return "a malformed attribute name"
    if name.startswith("on"):
        return "an inline event handler"
    if value is None:
        return None
    if name == "style":
        return "a scripted style" if _BAD_STYLE_RE.search(value) else None
    if name == "srcdoc":
        return "an inline document"
    if name == "http-equiv":
        return "an http-equiv directive"
    compact = _URL_JUNK_RE.sub("", value)
    for part in (compact, *compact.split(",")):  # srcset and friends hold several URLs
        if _BAD_SCHEME_RE.match(part.strip()):
            return "a script or document URL"
    return None


class _Sanitizer(HTMLParser):
    def __init__(self, allowed_scripts: frozenset) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed_scripts = allowed_scripts
        self.out: list[str] = []
        self.findings: list[str] = []
        self._script: list[tuple[str, str | None]] | None = None
        self._script_text: list[str] = []
        self._in_style = False

    # ---- tags ----
    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: bool) -> None:
        if not _NAME_RE.match(tag):
            self.findings.append(f"<{tag[:40]}>: a malformed tag")
            return
        if tag in DROPPED_TAGS or (tag == "meta" and any(k == "http-equiv" for k, _ in attrs)):
            self.findings.append(f"<{tag}>: an element that can load or run content")
            return
        kept = []
        for name, value in attrs:
            why = _bad_attr(name, value)
            if why:
                self.findings.append(f"<{tag} {name[:40]}=...>: {why}")
                continue
            kept.append(f" {name}" if value is None else f' {name}="{escape(value, quote=True)}"')
        self.out.append(f"<{tag}{''.join(kept)}{' /' if close else ''}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._script, self._script_text = attrs, []
            return
        if tag == "style":
            self._in_style = True
        self._tag(tag, attrs, close=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
            return
        self._tag(tag, attrs, close=True)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self._end_script()
            return
        if tag == "style":
            self._in_style = False
        if _NAME_RE.match(tag) and tag not in DROPPED_TAGS:
            self.out.append(f"</{tag}>")

    def _end_script(self) -> None:
        attrs, text = self._script or [], "".join(self._script_text)
        self._script, self._script_text = None, []
        if script_key(attrs, text) in self.allowed_scripts:
            body = text
        elif _script_type(attrs) in DATA_SCRIPT_TYPES:
            body = text.replace("<", "\\u003c")
        else:
            self.findings.append(f"<script {_script_type(attrs) or 'javascript'}>: a script the export did not write")
            return
        kept = "".join(f" {k}" if v is None else f' {k}="{escape(v, quote=True)}"' for k, v in attrs
                       if not _bad_attr(k, v))
        self.out.append(f"<script{kept}>{body}</script>")

    # ---- text ----
    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_text.append(data)
        elif self._in_style:
            self.out.append(data.replace("<", "\\3c "))
        else:
            self.out.append(escape(data, quote=False))

    def handle_comment(self, data: str) -> None:
        pass  # comments are dropped: parsers disagree about where odd ones end

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.out.append(f"<!{escape(decl, quote=False)}>")

    def unknown_decl(self, data: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def close(self) -> None:
        super().close()
        if self._script is not None:  # an unterminated script: dropped
            self.findings.append("<script>: never closed")
            self._script = None


def sanitize(html: str, *, allowed_scripts: frozenset = frozenset()) -> str:
    """``html`` without anything a browser could run but the export's own scripts (``allowed_scripts``:
    :func:`script_key` values)."""
    parser = _Sanitizer(allowed_scripts)
    parser.feed(html)
    parser.close()
    return "".join(parser.out)


def live_content(html: str, *, allowed_scripts: frozenset = frozenset()) -> list[str]:
    """What :func:`sanitize` would remove from ``html``: inline handlers, script URLs, foreign scripts, frames."""
    parser = _Sanitizer(allowed_scripts)
    parser.feed(html)
    parser.close()
    return parser.findings


def scripts_of(html: str) -> frozenset:
    """The :func:`script_key` of every script in ``html`` (the template's own, from an export of a tiny notebook)."""
    found: list[tuple] = []

    class _Collect(HTMLParser):
        attrs: list | None = None
        text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "script":
                self.attrs, self.text = attrs, []

        def handle_data(self, data: str) -> None:
            if self.attrs is not None:
                self.text.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag == "script" and self.attrs is not None:
                found.append(script_key(self.attrs, "".join(self.text)))
                self.attrs = None

    collector = _Collect(convert_charrefs=True)
    collector.feed(html)
    collector.close()
    return frozenset(found)
