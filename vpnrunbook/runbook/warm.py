"""Kernel warm-up for ``vpnrunbook run``: the runner starts each kernel with
``--IPKernelApp.exec_lines=import vpnrunbook.runbook.warm``, which imports the heavy modules every runbook notebook
needs (pandas, the Azure SDK's network and resource clients, the package's operations) in a background thread.
They then load while the kernel finishes starting and papermill sends the first cells, instead of inside the
first cells. Imports only — nothing is read, written or connected; a module that fails to import here is left to
the notebook's own import, which reports the error as usual. ``warm.done`` is set when the thread has finished.
"""

from __future__ import annotations

import importlib
import threading

MODULES = (
    "pandas",
    "azure.mgmt.network",
    "azure.mgmt.resource.resources",
    "vpnrunbook.runbook.show",
    "vpnrunbook.runbook.params",
    "vpnrunbook.azure.connect",
    "vpnrunbook.operations",
    "vpnrunbook.emulator.app",
    "vpnrunbook.emulator.transport",
)

done = threading.Event()


def _warm() -> None:
    try:
        for name in MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the notebook's own import reports it
                continue
    finally:
        done.set()


threading.Thread(target=_warm, name="vpnrunbook-warm", daemon=True).start()
