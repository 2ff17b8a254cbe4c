"""The layers' arrows point one way: runbook -> operations -> evidence (issue 21.1).

Every import in a module counts, at module level or inside a function (a lazy import is still an arrow)."""

from __future__ import annotations

import ast
from pathlib import Path

import vpnrunbook

PACKAGE = Path(vpnrunbook.__file__).parent
LAYERS = ("runbook", "operations", "evidence")  # top to bottom


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vpnrunbook" else None


def _edges() -> dict[str, dict[str, set[str]]]:
    """layer -> imported package -> the files of the layer that import it."""
    edges: dict[str, dict[str, set[str]]] = {}
    for layer in LAYERS:
        for f in sorted((PACKAGE / layer).rglob("*.py")):
            for mod in _imports(f):
                pkg = _package_of(mod)
                if pkg and pkg != layer:
                    edges.setdefault(layer, {}).setdefault(pkg, set()).add(f.relative_to(PACKAGE).as_posix())
    return edges


def test_the_evidence_layer_imports_no_operations_runbook_or_ui():
    up = {pkg: files for pkg, files in _edges().get("evidence", {}).items()
          if pkg in ("operations", "runbook", "ui", "fleet", "emulator", "device", "cli")}
    assert up == {}, f"evidence/ imports layers above it: {up}"


def test_no_circle_between_runbook_operations_and_evidence():
    edges = _edges()
    for i, upper in enumerate(LAYERS):
        for lower in LAYERS[i + 1:]:
            back = edges.get(lower, {}).get(upper)
            assert not back, f"{lower}/ imports {upper}/ (a circle): {sorted(back or ())}"


def test_runbook_holds_no_evidence_module():
    moved = {"changes", "ledger", "signing", "changerecord", "evidence", "reconcile", "htmlexport", "htmlsanitize",
             "scrub", "change_runs", "capture"}
    left = sorted(p.stem for p in (PACKAGE / "runbook").glob("*.py") if p.stem in moved)
    assert left == [], f"evidence modules still in runbook/: {left}"
