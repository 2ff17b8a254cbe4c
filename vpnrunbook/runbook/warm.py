"""Kernel warm-up for ``vpnrunbook run``: the runner starts each kernel with
``--IPKernelApp.exec_lines`` = :data:`EXEC_LINE`, which imports the heavy modules every runbook notebook
needs (pandas, the Azure SDK's network and resource clients, the package's operations) in a background thread.
They then load while the kernel finishes starting and papermill sends the first cells, instead of inside the
first cells. Imports only — nothing is read, written or connected; a module that fails to import here is left to
the notebook's own import, which reports the error as usual. ``warm.done`` is set when the thread has finished.

Which modules: ``$VPNRUNBOOK_KERNEL_WARM_MODULES`` (comma-separated, set by the runner from the step's
declaration, ``Step.warm``), else :data:`MODULES`. A light step (``08_show_policy``) leaves pandas out: warming a
module the notebook never imports would only hold the kernel's GIL while its cells run.
"""

from __future__ import annotations

import importlib
import os
import threading

MODULES_ENV = "VPNRUNBOOK_KERNEL_WARM_MODULES"

# In the order the notebooks need them: the parameter check, then the connection, then the tables.
LIGHT_MODULES = (
    "vpnrunbook.runbook.params",
    "vpnrunbook.runbook.show",
    "vpnrunbook.azure.connect",
    "azure.mgmt.network",
    "vpnrunbook.operations",
    "vpnrunbook.emulator.app",
    "vpnrunbook.emulator.transport",
)
MODULES = LIGHT_MODULES + ("azure.mgmt.resource.resources", "pandas")

done = threading.Event()


def modules() -> tuple[str, ...]:
    """The modules to warm: ``$VPNRUNBOOK_KERNEL_WARM_MODULES`` when set, else :data:`MODULES`."""
    raw = os.environ.get(MODULES_ENV)
    if raw is None:
        return MODULES
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _warm() -> None:
    try:
        for name in modules():
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - the notebook's own import reports it
                continue
    finally:
        done.set()


_started = threading.Lock()
_thread: threading.Thread | None = None


def start() -> threading.Thread:
    """Start the warm-up thread once (later calls return the same thread)."""
    global _thread
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_warm, name="vpnrunbook-warm", daemon=True)
            _thread.start()
        return _thread


# The kernel's start-up line (the runner passes it as --IPKernelApp.exec_lines): leaves no name in the
# notebook's namespace.
EXEC_LINE = "__import__('vpnrunbook.runbook.warm', fromlist=['start']).start()"
