"""Emulator test fixtures: an in-process session with time factor 0 (LROs finish at once) and no real sleeps."""

from __future__ import annotations

import pytest

from tests.emulator import seed
from vpnrunbook.azure.connect import connect
from vpnrunbook.emulator.control import EmulatorControl


@pytest.fixture
def session(monkeypatch):
    monkeypatch.setenv("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0")
    s = connect(polling_interval=0)
    s.transport.fast_sleep = True
    yield s
    s.transport.app.store.close()


@pytest.fixture
def topology(session):
    """The seed topology: both gateways, Site6, and the S2S connection (with its policy)."""
    return seed.build_topology(session)


@pytest.fixture
def ctl(session):
    """The emulator's control API (reset, time factor, faults) for the session's emulator."""
    return EmulatorControl(session)
