"""Interactive operators' tools: the policy picker and update panel (ipywidgets), progress bars (tqdm.auto),
and the topology picture (SVG). Everything renders statically in headless runs.

The picker and the update panel (``vpnrunbook.ui.widgets`` / ``vpnrunbook.ui.update``) load on first use, so a
headless notebook that only needs ``is_interactive`` or the topology does not import them."""

from typing import Any

from vpnrunbook.ui.env import is_interactive
from vpnrunbook.ui.progress import progress, track, wait_for_poller, wait_with_progress
from vpnrunbook.ui.proposals import Proposals, strongswan_proposals
from vpnrunbook.ui.topology import collect_topology, render_topology_svg, show_topology, topology_svg

_LAZY = {"ApplyControl": "vpnrunbook.ui.apply", "apply_control": "vpnrunbook.ui.apply",
         "PolicyPicker": "vpnrunbook.ui.widgets", "policy_picker": "vpnrunbook.ui.widgets",
         "UpdatePanel": "vpnrunbook.ui.update", "update_panel": "vpnrunbook.ui.update"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vpnrunbook.ui' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ApplyControl", "PolicyPicker", "apply_control", "Proposals", "UpdatePanel", "collect_topology", "is_interactive", "policy_picker", "progress",
    "render_topology_svg", "show_topology", "strongswan_proposals", "topology_svg", "track", "update_panel",
    "wait_for_poller", "wait_with_progress",
]
