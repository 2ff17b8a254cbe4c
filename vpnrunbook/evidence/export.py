"""Self-contained HTML export of an executed notebook, for the auditor: it opens offline, with no CDN requests,
and shows every output and markdown cell but no code input (nbconvert ``exclude_input``); the full notebook,
code included, is the run's notebook.ipynb. ``evidence.RunEvidence.write`` opens it with the change record.

nbconvert's ``lab`` template inlines its CSS and images (``embed_images``) but links require.js, MathJax and
the widget renderer from CDNs. None of them is needed to read a runbook's evidence (tables are HTML, text is
text), so every script or stylesheet that points at the network is removed, and the page says so in a note.

The page is then sanitized (``htmlsanitize``): a notebook's outputs and markdown carry text from parameter files,
so no inline event handler, ``javascript:`` URL, frame or script stays, except the scripts the export template
itself writes (learnt from exporting a tiny notebook with the same template).

A lean page (issue 24): the lab template's ``<head>`` carries about 265 KB of JupyterLab's stylesheets (its
themes, CodeMirror, every widget's CSS) and a MathJax configuration script, the same in every run. None of it is
content: the head is replaced by :data:`LEAN_CSS` (a few KB: cells, text and error outputs with their ANSI
colours, tables, markdown), and the body — every output, the change record, the outputs' own styles — is kept
byte for byte. The page holds no script. The full notebook is notebook.ipynb beside it, as before.
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
    everything a browser could run that the export template did not write (``htmlsanitize.sanitize``); the
    template's head (stylesheets, MathJax configuration) becomes the lean one (:func:`lean_head`)."""
    return lean_head(_sanitized(html)).replace("<head>", "<head>\n" + NOTE, 1)


def _sanitized(html: str) -> str:
    from vpnrunbook.evidence.sanitize import sanitize

    return sanitize(_strip_remote(html), allowed_scripts=template_scripts())


_HEAD_RE = re.compile(r"<head\b[^>]*>(.*?)</head>", re.I | re.S)
_HEAD_BLOCK_RE = re.compile(r"<(style|script)\b[^>]*>.*?</\1\s*>", re.I | re.S)
# What the evidence page needs to read well: the lab template's class names, styled in a few KB
LEAN_CSS = """<style type="text/css">
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;line-height:1.45;color:#1f1f1f;
margin:0;background:#fff}
.jp-Notebook{max-width:1200px;margin:0 auto;padding:8px 16px 32px}
.jp-Cell{margin:6px 0;padding:2px 0}
.jp-Collapser,.jp-InputPrompt,.jp-OutputPrompt,.jp-mod-noInput .jp-InputArea,a.anchor-link{display:none}
.jp-OutputArea-child{display:block;margin:2px 0}
.jp-OutputArea-output{overflow-x:auto}
pre,code,.jp-RenderedText pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.jp-RenderedText pre{margin:0;padding:2px 0;white-space:pre-wrap;word-break:break-word}
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]{background:#fdd;padding:2px 6px}
.jp-RenderedHTMLCommon table,table.dataframe{border-collapse:collapse;margin:6px 0;font-size:12.5px}
.jp-RenderedHTMLCommon th,.jp-RenderedHTMLCommon td,table.dataframe th,table.dataframe td{border:1px solid #ccc;
padding:2px 8px;text-align:left;vertical-align:top}
.jp-RenderedHTMLCommon thead,table.dataframe thead{background:#f2f2f2}
.jp-RenderedHTMLCommon tbody tr:nth-child(odd){background:#fafafa}
.jp-RenderedHTMLCommon h1{font-size:1.7em}.jp-RenderedHTMLCommon h2{font-size:1.4em}
.jp-RenderedHTMLCommon h3{font-size:1.2em}.jp-RenderedHTMLCommon h1,.jp-RenderedHTMLCommon h2,
.jp-RenderedHTMLCommon h3{margin:.8em 0 .4em}
.jp-RenderedHTMLCommon code{background:#f3f3f3;padding:0 3px;border-radius:3px}
.jp-RenderedHTMLCommon pre{background:#f6f6f6;padding:6px 8px;overflow-x:auto}
.jp-RenderedHTMLCommon blockquote{border-left:3px solid #ccc;margin:0;padding-left:10px;color:#555}
.jp-RenderedSVG svg,.jp-RenderedImage img{max-width:100%;height:auto}
.ansi-black-fg{color:#3e424d}.ansi-red-fg{color:#e75c58}.ansi-green-fg{color:#00a250}
.ansi-yellow-fg{color:#ddb62b}.ansi-blue-fg{color:#208ffb}.ansi-magenta-fg{color:#d160c4}
.ansi-cyan-fg{color:#60c6c8}.ansi-white-fg{color:#c5c1b4}.ansi-black-bg{background:#3e424d}
.ansi-red-bg{background:#e75c58}.ansi-green-bg{background:#00a250}.ansi-yellow-bg{background:#ddb62b}
.ansi-blue-bg{background:#208ffb}.ansi-magenta-bg{background:#d160c4}.ansi-cyan-bg{background:#60c6c8}
.ansi-white-bg{background:#c5c1b4}.ansi-bold{font-weight:bold}.ansi-underline{text-decoration:underline}
@media print{.jp-Notebook{max-width:none}}
</style>"""


def lean_head(html: str) -> str:
    """``html`` with the stylesheets and scripts of its ``<head>`` (all written by the export template, never
    by a notebook's outputs, which are in the body) replaced by :data:`LEAN_CSS`; the body is left as it is."""
    m = _HEAD_RE.search(html)
    if m is None:
        return html
    inner = _HEAD_BLOCK_RE.sub("", m.group(1))
    inner = re.sub(r"\n\s*\n+", "\n", inner).rstrip() + "\n" + LEAN_CSS + "\n"
    return html[:m.start(1)] + inner + html[m.end(1):]


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


def _export(nb: Any) -> str:
    exporter = _take()
    try:
        body, _ = exporter.from_notebook_node(nb)
    finally:
        _give(exporter)
    return body


def notebook_to_html(nb: Any) -> str:
    return make_offline(_export(nb))


def template_page(nb: Any) -> str:
    """The page as the export template's own head left it (its stylesheets), sanitized the same way: what the
    evidence page was before the lean head — for the check and the benchmark that only the head changed."""
    return _sanitized(_export(nb))
