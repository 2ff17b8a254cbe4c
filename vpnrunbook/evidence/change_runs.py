"""The run folder of changes made without the runner: JupyterLab (Apply button, update panel, a cell calling the
operations), the Python API, a script.

:func:`close_run` writes ``<evidence root>/<run id>/`` for a :class:`~vpnrunbook.evidence.journal.RunScope` that
recorded changes: ``changes.json`` (the run's intent and outcome records, as in the ledger), in a Jupyter kernel the
notebook as it stood — every executed cell with its outputs (:mod:`vpnrunbook.evidence.capture`) — and its HTML, and
the manifest; then the run line in the ledger. Everything is scrubbed like the runner's runs. In a kernel it
displays where the evidence went.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vpnrunbook.evidence import rundir, scrub
from vpnrunbook.evidence.journal import INTENT, OUTCOME, RunScope, now_iso

CHANGES_FILE = "changes.json"
_REF_IN_TEXT = re.compile(r"\b(?:env:[A-Za-z_][A-Za-z0-9_]*|file:[^\s'\"\\,)]+)")


def _outcome(entries: list[dict[str, Any]]) -> str:
    intents = [e for e in entries if e.get("kind") == INTENT]
    outcomes = {e.get("intent_id"): e for e in entries if e.get("kind") == OUTCOME}
    if any(i.get("intent_id") not in outcomes for i in intents):
        return "failed"
    statuses = {o.get("status") for o in outcomes.values()}
    return "succeeded" if statuses <= {"applied", "accepted"} else "failed"


def headline(scope: RunScope, outcome: str) -> str:
    return (f"**vpnrunbook change run `{scope.run_id}`** — {scope.owner} — step `{scope.step}` — outcome **{outcome}**"
            f" — target {scope.target.get('target')} — operator {rundir.operator_label()} — evidence: "
            f"`{scope.run_dir}`")


def close_run(scope: RunScope) -> dict[str, Any] | None:
    """Write the run folder and its ledger line. Errors are reported (the change records are already in the
    ledger; a run folder without manifest is reported by verify and closed by reconcile), never raised."""
    import logging

    log = logging.getLogger("vpnrunbook.evidence")
    try:
        manifest = _write(scope)
    except Exception as exc:  # noqa: BLE001 - the change is made and journaled; say the folder is incomplete
        log.error("the evidence folder %s could not be completed (%s: %s); its change records are in the ledger — "
                  "`vpnrunbook evidence reconcile` closes it", scope.run_dir, type(exc).__name__, exc)
        scope.where = {"run_id": scope.run_id, "path": str(scope.run_dir), "error": f"{type(exc).__name__}: {exc}"}
        return None
    scope.closed = True
    scope.where = {"run_id": scope.run_id, "path": str(scope.run_dir)}
    from vpnrunbook.evidence import index

    index.refresh(scope.root)  # the auditor's index.html (derived from the ledger; not evidence)
    if scope.owner == "interactive":
        _show(scope, manifest)
    return manifest


def _write(scope: RunScope) -> dict[str, Any]:
    assert scope.run_id is not None and scope.run_dir is not None
    ended = rundir.utcnow()
    entries = list(scope.entries)
    outcome = _outcome(entries)
    scrubber = scrub.Scrubber(scrub.secrets_from_refs(scope.secret_refs) | scrub.secrets_in_state_dir())
    nb_text = html = None
    source = None
    manifest_extra: dict[str, Any] = {}
    if scope.owner == "interactive":
        import nbformat

        from vpnrunbook.evidence import capture

        source = capture.notebook_path()
        nb = capture.notebook(headline(scope, outcome) + "\n\nThe cells below are the ones this kernel ran, in the "
                              "order it ran them, with their outputs, up to the change.")
        nb.metadata["vpnrunbook"] = {"run_id": scope.run_id, "step": scope.step, "outcome": outcome,
                                     "source_notebook": source}
        raw = nbformat.writes(nb)
        # the keys behind every env:/file: reference the cells name (a parameter cell, a print) are masked too
        scrubber.secrets = scrub.Scrubber(set(scrubber.secrets) | scrub.secrets_from_refs(
            m.group(0) for m in _REF_IN_TEXT.finditer(raw))).secrets
        nb_text = scrubber.text(raw)
        try:
            from vpnrunbook.evidence.export import notebook_to_html

            html = notebook_to_html(nbformat.reads(nb_text, as_version=4))
        except Exception as exc:  # noqa: BLE001 - the records matter more than the HTML
            manifest_extra["html_error"] = f"{type(exc).__name__}: {exc}"
    rec = rundir.RunEvidence(root=scope.root, run_dir=scope.run_dir, step=scope.step, started=scope.started,
                             since=scope.since)
    rec.manifest = {
        "mode": scope.owner, "title": f"{scope.step} ({scope.owner})", "apply": True, "outcome": outcome,
        "exit_code": 0 if outcome == "succeeded" else 1, "error": None,
        "notebook": {"source": source, "sha256": None}, "parameters": {},
        "operator": rundir.operator(), "target": scope.target.get("target"),
        "subscription_id": scope.target.get("subscription_id"), "versions": rundir.versions(),
        "journal": entries, "closed": now_iso(), **manifest_extra,
    }
    records = [{"name": f"{e.get('kind')} {e.get('step')}", **e} for e in entries]
    manifest = rec.write(notebook_text=nb_text, html=html, records=records, scrubber=scrubber, ended=ended,
                         extra_files={CHANGES_FILE: json.dumps(entries, indent=2, default=str) + "\n"})
    return manifest


def _show(scope: RunScope, manifest: dict[str, Any]) -> None:
    """In the notebook: where the evidence of this change went."""
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover
        return
    files = ", ".join(manifest.get("files", {}))
    display(Markdown(f"Evidence of this change: `{scope.run_dir}` ({files}; run `{scope.run_id}` in "
                     f"`{scope.root / 'ledger.jsonl'}`) — check it with `vpnrunbook evidence verify`"))
