"""Benchmark: the ARM emulator in-process and over HTTPS (``vpnrunbook emulator serve``).

Run: ``.venv/bin/python benchmarks/emulator.py``. Uses a temporary state dir. Prints the time to build the seed
topology (2 resource groups, 2 VNets, 2 public IPs, 2 gateways, 1 local gateway, 1 S2S connection) with time
factor 0, the same at the default factor 0.002 (two 45-minute gateways ≈ 5.4 s each, sequential), the mean
latency of a connection GET, and a listing of 500 local network gateways (10 pages of 50).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _bench(label: str, session) -> None:
    from tests.emulator import seed
    from vpnrunbook.emulator.control import EmulatorControl

    ctl = EmulatorControl(session)
    ctl.reset()
    ctl.set_time_factor(0)
    t = time.perf_counter()
    seed.build_topology(session)
    build = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(100):
        session.network.virtual_network_gateway_connections.get("TestRG1", "VNet1toSite6")
    get_ms = (time.perf_counter() - t) * 10
    lg = session.network.local_network_gateways
    for i in range(500):
        lg.begin_create_or_update("TestRG1", f"s{i}", {"location": "eastus", "properties": {
            "gatewayIpAddress": "131.107.72.22", "localNetworkAddressSpace": {"addressPrefixes": ["10.61.0.0/16"]}}}
        ).result()
    t = time.perf_counter()
    count = len(list(lg.list("TestRG1")))
    listing = time.perf_counter() - t
    print(f"{label}: seed topology {build:.3f} s (factor 0); GET connection {get_ms:.2f} ms; "
          f"list {count} local gateways {listing:.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VPNRUNBOOK_STATE_DIR"] = tmp
        os.environ["VPNRUNBOOK_SIGNING_DIR"] = str(Path(tmp) / "signing")
        os.environ["VPNRUNBOOK_DB"] = str(Path(tmp) / "emulator.sqlite3")
        from tests.emulator import seed
        from vpnrunbook.azure.connect import connect
        from vpnrunbook.emulator import server
        from vpnrunbook.emulator.control import EmulatorControl

        _bench("in-process", connect(polling_interval=0))
        running = server.start_in_thread(directory=Path(tmp))
        try:
            _bench("HTTPS", connect(emulator_url=running.url, polling_interval=0))
        finally:
            running.stop()
        s = connect()
        ctl = EmulatorControl(s)
        ctl.reset()
        ctl.set_time_factor(0.002)
        t = time.perf_counter()
        seed.build_topology(s)
        print(f"in-process, default factor 0.002, polling 0.1 s: seed topology {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
