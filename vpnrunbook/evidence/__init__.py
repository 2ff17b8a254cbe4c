"""The evidence layer: what a change leaves behind, and the checks an auditor runs on it.

It sits below the operations: they hand it plain data (plan rows, warnings, verify results, ETags) and it never
imports ``vpnrunbook.operations``, ``vpnrunbook.runbook`` or ``vpnrunbook.ui`` (a test holds the arrows one way).

* ``journal``   — intent / outcome records written by the apply path, runs and their locks
* ``ledger``    — the append-only, hash-chained, signed ledger (``ledger.jsonl``)
* ``signing``   — Ed25519 DSSE / in-toto statements on ledger lines
* ``record``    — THE change record, built from intent + outcome; rendered for HTML and the terminal
* ``rundir``    — one run's folder: notebook, HTML, manifest, written once
* ``change_runs`` / ``capture`` — the run folder of a change made without the runner (JupyterLab, API)
* ``export`` / ``sanitize`` — the offline HTML of an executed notebook, with nothing that runs
* ``scrub``     — secret scrubbing before anything is written
* ``compare``   — whether a resource read back holds what was written
* ``reconcile`` — settling what a cut-off run leaves (the reader is handed in)
"""

import os
import sys

RUN_DIR_ENV = "VPNRUNBOOK_RUN_DIR"
RUN_ID_ENV = "VPNRUNBOOK_RUN_ID"  # set by the runner: the change journal's records carry the runner's run id


def _capture_interactive_kernel() -> None:
    """In a Jupyter kernel no runner drives, keep what the cells show: the evidence of an Apply holds it. Here,
    because every door that writes imports this layer (the apply path records through it)."""
    if os.environ.get(RUN_DIR_ENV) or "ipykernel" not in sys.modules:
        return
    from vpnrunbook.evidence import capture

    capture.install()


_capture_interactive_kernel()
