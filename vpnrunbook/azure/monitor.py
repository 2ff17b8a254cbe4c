"""The Azure Monitor client of a session: the Activity Log reader (``activity_logs.list``), same target, same path.

On ``azure`` it is ``MonitorManagementClient`` with the session's ``DefaultAzureCredential`` (the Reader role on
the subscription is enough to list its Activity Log); on the emulator it goes through the session's in-process
transport or to the served emulator with its token and CA, so the same SDK code reads both.
"""

from __future__ import annotations

from datetime import UTC
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


# What a crosscheck needs of each event (``$select``: smaller pages).
CROSSCHECK_FIELDS = ("caller", "correlationId", "eventTimestamp", "httpRequest", "operationId", "operationName",
                     "resourceGroupName", "resourceId", "status", "subscriptionId")


class ActivityLogReader:
    """Reads a subscription's Activity Log through ``activity_logs.list`` — one filtered query per subscription and
    time span, followed page by page (``nextLink``) — and counts the pages. Events come as Azure sends them (REST
    property names). ``client_for(subscription_id)``: the Monitor client of that subscription."""

    def __init__(self, client_for: Any) -> None:
        self.client_for = client_for
        self.pages_read = 0
        self.queries: list[str] = []

    def events(self, subscription_id: str, start: Any, end: Any, *, correlation_id: str | None = None) -> Any:
        def iso(t: Any) -> str:
            return t.astimezone(UTC).isoformat().replace("+00:00", "Z")

        query = f"eventTimestamp ge '{iso(start)}' and eventTimestamp le '{iso(end)}'"
        if correlation_id:
            query += " and correlationId eq '{}'".format(correlation_id.replace("'", "''"))
        self.queries.append(query)
        paged = self.client_for(subscription_id).activity_logs.list(filter=query, select=",".join(CROSSCHECK_FIELDS))
        for page in paged.by_page():
            self.pages_read += 1
            for event in page:
                yield event.serialize(keep_readonly=True)
