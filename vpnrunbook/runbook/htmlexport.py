"""Self-contained HTML export of an executed notebook: it opens offline, with no CDN requests.

nbconvert's ``lab`` template inlines its CSS and images (``embed_images``) but links require.js, MathJax and
the widget renderer from CDNs. None of them is needed to read a runbook's evidence (tables are HTML, text is
text), so every script or stylesheet that points at the network is removed, and the page says so in a note.
"""

from __future__ import annotations

import re
from typing import Any

_REMOTE_SCRIPT_RE = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I | re.S)
_INLINE_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_REMOTE_LINK_RE = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I | re.S)
_REMOTE_IMPORT_RE = re.compile(r"""(?:import\s*\(?|from\s+)\s*["'](?:https?:)?//""", re.I)
NOTE = ("<!-- vpnrunbook: exported for offline reading; scripts and stylesheets loaded from the network "
        "were removed (widgets and LaTeX render as text). -->")


def make_offline(html: str) -> str:
    """Remove every network-loaded script/stylesheet (and inline scripts that import from the network)."""
    html = _REMOTE_SCRIPT_RE.sub("", html)
    html = _REMOTE_LINK_RE.sub("", html)

    def _inline(m: re.Match[str]) -> str:
        return "" if _REMOTE_IMPORT_RE.search(m.group(2)) else m.group(0)

    html = _INLINE_SCRIPT_RE.sub(_inline, html)
    return html.replace("<head>", "<head>\n" + NOTE, 1)


def remote_references(html: str) -> list[str]:
    """Scripts/stylesheets in ``html`` that would be fetched from the network (empty for our exports)."""
    found = [m.group(0)[:120] for m in _REMOTE_SCRIPT_RE.finditer(html)]
    found += [m.group(0)[:120] for m in _REMOTE_LINK_RE.finditer(html)]
    found += [m.group(0)[:120] for m in _INLINE_SCRIPT_RE.finditer(html) if _REMOTE_IMPORT_RE.search(m.group(2))]
    return found


def notebook_to_html(nb: Any) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    return make_offline(body)
