"""The evidence HTML runs nothing that came from user input: a refused run echoing hostile key names, values,
file names and the operator name, and notebooks whose markdown and outputs carry script, leave a page with no
inline event handler, no script URL, no frame and no script except the export template's own.

The oracle parses the page as a browser does (the HTML5 parsing algorithm, html5lib as vendored by bleach, an
nbconvert dependency), independently of the sanitizer's own html.parser."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from bleach._vendor import html5lib  # the WHATWG parsing algorithm: what a browser builds from the page
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnrunbook.cli import EXIT_USAGE
from vpnrunbook.evidence import rundir
from vpnrunbook.evidence.export import notebook_to_html
from vpnrunbook.evidence.sanitize import sanitize
from vpnrunbook.runbook.runner import run_step

TEMPLATE_SCRIPT_TYPES = {"text/x-mathjax-config"}
HOSTILE = [
    "<img src=x onerror=alert(1)>", "\n```\n<img src=x onerror=alert(2)>\n```\n", "<script>alert(3)</script>",
    "[click](javascript:alert(4))", '<a href="jav&#x09;ascript:alert(5)">x</a>', "<svg onload=alert(6)>",
    "<svg><style><img src=x onerror=alert(7)></style></svg>", '<iframe srcdoc="<script>alert(8)</script>">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(9)">', "<object data=javascript:alert(10)>",
    '<svg><a><animate attributeName="href" values="javascript:alert(11)"/><text y="20">x</text></a></svg>',
    '<math><mi href="javascript:alert(12)">x</mi></math>', "<noscript><p title=\"</noscript><img src=x "
    "onerror=alert(13)>\"></noscript>", '<img srcset="x.png 1x, javascript:alert(14) 2x">', "<base href=//evil>",
    "<details open ontoggle=alert(15)>", "<form><button formaction=javascript:alert(16)>x</button></form>",
    "<!--<img src=x onerror=alert(17)>-->", "<![CDATA[<img src=x onerror=alert(18)>]]>", "</textarea><img "
    "src=x onerror=alert(19)>", '<div style="background:url(javascript:alert(20))">x</div>',
    '<script type="application/vnd.jupyter.widget-state+json">{"a": "</script><script>alert(21)</script>"}</script>',
    "<embed src=data:text/html,alert(22)>", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgyMyk8L3NjcmlwdD4=">y</a>',
]


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def live(page: str) -> list[str]:
    """What a browser could run in ``page``: on* handlers, script/document URLs, foreign scripts, frames."""
    tree = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
    found = []
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        tag = _local(el.tag)
        if tag == "script":
            kind = (el.get("type") or "").split(";")[0].strip().lower()
            if kind not in TEMPLATE_SCRIPT_TYPES and not kind.endswith("+json"):
                found.append(f"script type={kind!r}: {(el.text or '')[:60]!r}")
            elif kind.endswith("+json") and "<" in (el.text or ""):
                found.append("a JSON script holding markup")
        if tag in {"iframe", "frame", "object", "embed", "applet", "base", "animate", "set"}:
            found.append(f"<{tag}>")
        if tag == "meta" and el.get("http-equiv") is not None:
            found.append("<meta http-equiv>")
        for name, value in el.attrib.items():
            attr = _local(name)
            compact = re.sub(r"[\x00-\x20]+", "", value or "").lower()
            if attr.startswith("on"):
                found.append(f"<{tag} {attr}>")
            if any(p.startswith(("javascript:", "vbscript:")) or (p.startswith("data:") and
                                                                   not p.startswith("data:image/"))
                   for p in (compact, *compact.split(","))):
                found.append(f"<{tag} {attr}={value[:40]!r}>")
            if attr == "srcdoc" or (attr == "style" and "javascript:" in compact):
                found.append(f"<{tag} {attr}>")
    return found


@pytest.fixture
def hostile_params(tmp_path):
    data = {h: h for h in HOSTILE}
    data["connection_name"] = HOSTILE[0]
    pfile = tmp_path / "params <img src=x onerror=alert(0)>.yaml"
    pfile.write_text(yaml.safe_dump(data))
    return pfile


def test_a_refused_run_with_hostile_keys_and_values_leaves_no_live_html(tmp_path, monkeypatch, hostile_params):
    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    monkeypatch.setenv("VPNRUNBOOK_OPERATOR", "<b onmouseover=alert(99)>op</b>")
    r = run_step("06", params_file=hostile_params)
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE)
    page = (r.run_dir / rundir.HTML_FILE).read_text()
    assert live(page) == []
    assert "is not a parameter of step 06_remove_policy" in page  # the refusal is still there to read
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # as text
    nb = nbformat.read(str(r.run_dir / rundir.NOTEBOOK_FILE), as_version=4)
    outcome = nb.cells[0].source
    assert "<b onmouseover" not in outcome and "&lt;b onmouseover" in outcome


def _hostile_notebook(fragments: list[str]) -> nbformat.NotebookNode:
    v4 = nbformat.v4
    text = "\n\n".join(fragments)
    return v4.new_notebook(cells=[
        v4.new_markdown_cell(text),
        v4.new_code_cell("x", outputs=[
            v4.new_output("display_data", data={"text/html": text, "text/markdown": text, "text/plain": "p"}),
            v4.new_output("display_data", data={"image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg'>{text}</svg>"}),
            v4.new_output("stream", name="stdout", text=text),
            v4.new_output("error", ename="E", evalue=text, traceback=[text])]),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                 "language_info": {"name": "python"}})


def test_markdown_and_outputs_with_script_export_without_it():
    nb = nbformat.read(str(Path(__file__).resolve().parents[2] / "notebooks" / "05_update_policy.ipynb"), 4)
    nb.cells += _hostile_notebook(HOSTILE + ["KEEP-THIS-TEXT"]).cells
    page = notebook_to_html(nb)
    assert live(page) == []
    # the runbook's own content, the hostile text as text, and the lean stylesheet stay; the template's script
    # (MathJax's configuration) went with its head (issue 24)
    assert "Update a connection" in page and "jp-Notebook" in page and "<style" in page
    assert "KEEP-THIS-TEXT" in page and "text/x-mathjax-config" not in page


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(HOSTILE) | st.text(alphabet="<>\"'=/ &;:#abcdefghijklmnopqrstuvwxyzonerrorjavascript",
                                                  max_size=40), min_size=1, max_size=8).map("".join))
def test_sanitized_html_has_nothing_live_and_is_stable(fragment):
    page = f"<!DOCTYPE html><html><head></head><body><div>{fragment}</div><svg>{fragment}</svg></body></html>"
    clean = sanitize(page)
    assert live(clean) == []
    assert sanitize(clean) == clean


def test_the_page_is_lean_and_keeps_every_output_byte_for_byte():
    """Issue 24: the template's head (JupyterLab's stylesheets, ~265 KB, and its MathJax script) is replaced by a
    few KB of CSS; the body — every output and markdown cell — is exactly what the template wrote, sanitized."""
    from vpnrunbook.evidence import export

    nb = nbformat.read(str(Path(__file__).resolve().parents[2] / "notebooks" / "07_overview.ipynb"), 4)
    nb.cells += _hostile_notebook(["KEEP-THIS-TEXT"]).cells
    page = notebook_to_html(nb)
    full = export.template_page(nb)
    assert page[page.index("</head>"):] == full[full.index("</head>"):]
    assert len(page) < len(full) - 200_000 and len(page) - len(page[page.index("</head>"):]) < 4_000
    assert export.LEAN_CSS in page and "<script" not in page and "KEEP-THIS-TEXT" in page
