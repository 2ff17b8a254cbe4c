"""Self-contained HTML export of an executed notebook, for the auditor: it opens offline, with no CDN requests,
and shows every output and markdown cell but no code input (nbconvert ``exclude_input``); the full notebook,
code included, is the run's notebook.ipynb. ``evidence.RunEvidence.write`` opens it with the change record.

nbconvert's ``lab`` template inlines its CSS and images (``embed_images``) but links require.js, MathJax and
the widget renderer from CDNs. None of them is needed to read a runbook's evidence (tables are HTML, text is
text), so every script or stylesheet that points at the network is removed, and the page says so in a note.

The page is then sanitized (``htmlsanitize``): a notebook's outputs and markdown carry text from parameter files,
so no inline event handler, ``javascript:`` URL, frame or script stays, except the scripts the export template
itself writes (learnt from exporting a tiny notebook with the same template).
"""

from __future__ import annotations

import re
import threading
from typing import Any

_REMOTE_SCRIPT_RE = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I | re.S)
_INLINE_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_REMOTE_LINK_RE = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I | re.S)
_REMOTE_IMPORT_RE = re.compile(r"""(?:import\s*\(?|from\s+)\s*["'](?:https?:)?//""", re.I)
NOTE = ("<!-- vpnrunbook: exported for offline reading; scripts and stylesheets loaded from the network "
        "were removed (widgets and LaTeX render as text). -->")


def make_offline(html: str) -> str:
    """Remove every network-loaded script/stylesheet (and inline scripts that import from the network), then
    everything a browser could run that the export template did not write (``htmlsanitize.sanitize``)."""
    from vpnrunbook.evidence.sanitize import sanitize

    html = _strip_remote(html)
    html = sanitize(html, allowed_scripts=template_scripts())
    return html.replace("<head>", "<head>\n" + NOTE, 1)


def _strip_remote(html: str) -> str:
    html = _REMOTE_SCRIPT_RE.sub("", html)
    html = _REMOTE_LINK_RE.sub("", html)

    def _inline(m: re.Match[str]) -> str:
        return "" if _REMOTE_IMPORT_RE.search(m.group(2)) else m.group(0)

    return _INLINE_SCRIPT_RE.sub(_inline, html)


_template_scripts: frozenset | None = None


def template_scripts() -> frozenset:
    """The scripts the lab template writes into every export (offline ones), as ``htmlsanitize.script_key``s."""
    global _template_scripts
    if _template_scripts is None:
        from vpnrunbook.evidence.sanitize import scripts_of

        exporter = _take()
        try:
            body, _ = exporter.from_notebook_node(_tiny_notebook())
        finally:
            _give(exporter)
        _template_scripts = scripts_of(_strip_remote(body))
    return _template_scripts


def remote_references(html: str) -> list[str]:
    """Scripts/stylesheets in ``html`` that would be fetched from the network (empty for our exports)."""
    found = [m.group(0)[:120] for m in _REMOTE_SCRIPT_RE.finditer(html)]
    found += [m.group(0)[:120] for m in _REMOTE_LINK_RE.finditer(html)]
    found += [m.group(0)[:120] for m in _INLINE_SCRIPT_RE.finditer(html) if _REMOTE_IMPORT_RE.search(m.group(2))]
    return found


# Building an exporter imports nbconvert and compiles the lab template's Jinja files: about 0.4 s in a fresh
# process, against 0.03-0.05 s for one export. Exporters are therefore kept and reused (an export keeps no
# state in the exporter: its resources are per call), one per concurrent export, and `prepare()` builds one
# ahead of time — the runner calls it in a background thread while the kernel runs the notebook.
_pool: list[Any] = []
# the auditor's export: code inputs hidden, every output kept (the full notebook is notebook.ipynb)
EXPORTER_OPTIONS: dict[str, Any] = {"template_name": "lab", "embed_images": True, "exclude_input": True,
                                    "exclude_input_prompt": True}
_pool_lock = threading.Lock()


def _take() -> Any:
    with _pool_lock:
        if _pool:
            return _pool.pop()
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(**EXPORTER_OPTIONS)
    exporter.from_notebook_node(_tiny_notebook())  # compiles every template the exports use, loads the lexer
    return exporter


def _tiny_notebook() -> Any:
    import nbformat

    v4 = nbformat.v4
    code = v4.new_code_cell("x = 1\nx", outputs=[
        v4.new_output("stream", name="stdout", text="text\n"),
        v4.new_output("execute_result", data={"text/plain": "1", "text/html": "<b>1</b>"}, execution_count=1),
        v4.new_output("error", ename="E", evalue="e", traceback=["E: e"])])
    return v4.new_notebook(cells=[v4.new_markdown_cell("# title\n\n**bold** `code`"), code],
                           metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                    "language": "python"},
                                     "language_info": {"name": "python"}})


def _give(exporter: Any) -> None:
    with _pool_lock:
        _pool.append(exporter)


def prepare() -> None:
    """Make sure an exporter is ready (import + template compile); safe to call from any thread, any number of
    times."""
    with _pool_lock:
        if _pool:
            return
    _give(_take())
    template_scripts()


def notebook_to_html(nb: Any) -> str:
    exporter = _take()
    try:
        body, _ = exporter.from_notebook_node(nb)
    finally:
        _give(exporter)
    return make_offline(body)
