"""Is there an operator looking at widgets? Headless runs (the runner/papermill, plain Python) get static output.

Interactive means: running inside a Jupyter kernel (ZMQ shell), and neither ``VPNRUNBOOK_HEADLESS=1`` nor
``VPNRUNBOOK_RUN_DIR`` (set by the runner for papermill kernels) is set.
"""

from __future__ import annotations

import os


def in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def is_interactive() -> bool:
    if os.environ.get("VPNRUNBOOK_HEADLESS") == "1" or os.environ.get("VPNRUNBOOK_RUN_DIR"):
        return False
    return in_kernel()
