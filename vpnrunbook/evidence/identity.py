"""Who made a run or a change: the operator's identity, decided in one place, and its one spelling.

:func:`operator` decides the identity — ``{"user", "host"}``: ``$VPNRUNBOOK_OPERATOR`` or the login name, and the
host name — for every writer: the runner's manifest, the change journal's intent, a change run's, a rollout's
and a reconcile's manifest. :func:`label` spells it, ``user@host``, for every reader and the ledger's run line:
``evidence list``, ``index.html``, ``evidence show``, the HTML change record, the headlines.

Records written before this spelling was shared keep reading: a run line naming only the user (``"root"``) is
shown as it is, an intent's ``{"user", "host"}`` as ``user@host``; a bare user cannot be given a host afterwards.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

OPERATOR_ENV = "VPNRUNBOOK_OPERATOR"


def operator() -> dict[str, str]:
    """The operator of this process: ``user`` (``$VPNRUNBOOK_OPERATOR``, else the login name, else the uid) and
    ``host`` (this machine's name)."""
    user = os.environ.get(OPERATOR_ENV)
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
    return {"user": user, "host": socket.gethostname()}


def label(value: Any = None) -> str | None:
    """The operator as every record and view spells it: ``user@host``. ``value``: a recorded operator — the
    ``{"user", "host"}`` of a manifest or an intent, or the text of a run line (already spelled, or an older
    line's bare user) — or None for this process's operator (:func:`operator`). None when nothing names one."""
    if value is None:
        value = operator()
    if isinstance(value, dict):
        user, host = value.get("user"), value.get("host")
        if user in (None, "") and host in (None, ""):
            return None
        user = "?" if user in (None, "") else str(user)
        return f"{user}@{host}" if host not in (None, "") else user
    text = str(value)
    return text or None


__all__ = ["OPERATOR_ENV", "label", "operator"]
