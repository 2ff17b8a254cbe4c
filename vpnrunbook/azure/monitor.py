"""The Azure Monitor client of a session: the Activity Log reader (``activity_logs.list``), same target, same path.

On ``azure`` it is ``MonitorManagementClient`` with the session's ``DefaultAzureCredential`` (the Reader role on
the subscription is enough to list its Activity Log); on the emulator it goes through the session's in-process
transport or to the served emulator with its token and CA, so the same SDK code reads both.
"""

from __future__ import annotations

from typing import Any


def monitor_client(session: Any) -> Any:
    """An ``azure.mgmt.monitor.MonitorManagementClient`` for ``session``'s target and subscription."""
    from azure.mgmt.monitor import MonitorManagementClient

    kwargs: dict[str, Any] = {}
    if getattr(session, "transport", None) is not None:
        kwargs["transport"] = session.transport
    if getattr(session, "ca_bundle", None):
        kwargs["connection_verify"] = session.ca_bundle
    return MonitorManagementClient(session.credential, session.subscription_id, base_url=session.base_url, **kwargs)
