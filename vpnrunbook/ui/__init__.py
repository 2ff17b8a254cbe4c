"""Interactive operators' tools: the policy picker and update panel (ipywidgets), progress bars (tqdm.auto),
and the topology picture (SVG). Everything renders statically in headless runs."""

from vpnrunbook.ui.env import is_interactive
from vpnrunbook.ui.progress import progress, track, wait_for_poller, wait_with_progress
from vpnrunbook.ui.proposals import Proposals, strongswan_proposals
from vpnrunbook.ui.topology import collect_topology, render_topology_svg, show_topology, topology_svg
from vpnrunbook.ui.update import UpdatePanel, update_panel
from vpnrunbook.ui.widgets import PolicyPicker, policy_picker

__all__ = [
    "PolicyPicker", "Proposals", "UpdatePanel", "collect_topology", "is_interactive", "policy_picker", "progress",
    "render_topology_svg", "show_topology", "strongswan_proposals", "topology_svg", "track", "update_panel",
    "wait_for_poller", "wait_with_progress",
]
