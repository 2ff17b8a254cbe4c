"""``vpnrunbook emulator serve|reset|status``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("emulator", help="the embedded Azure Resource Manager emulator",
                                   description="Serve, reset or inspect the embedded ARM emulator's state "
                                               "(VPNRUNBOOK_STATE_DIR / VPNRUNBOOK_DB).")
    sub = parser.add_subparsers(dest="emulator_command", metavar="ACTION")
    serve = sub.add_parser("serve", help="serve the emulator over HTTPS with a bearer token")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one, printed at start)")
    serve.set_defaults(handler=_serve)
    reset = sub.add_parser("reset", help="forget every emulated resource, operation and setting")
    reset.set_defaults(handler=_reset)
    status = sub.add_parser("status", help="show what the emulator holds")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)
    from vpnrunbook.fleet.cli import add_seed_parser  # `emulator seed`: a synthetic fleet (fleet builder's)

    add_seed_parser(sub)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _serve(args: argparse.Namespace) -> int:
    from vpnrunbook.emulator import server
    from vpnrunbook.emulator.store import state_dir

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, not loopback; anyone reaching it with the token can change state",
              file=sys.stderr)
    running = server.make_server(host=args.host, port=args.port)
    directory = state_dir()
    print(f"emulator serving on {running.url}", flush=True)
    print(f"  export VPNRUNBOOK_EMULATOR_URL={running.url}")
    print(f"  export VPNRUNBOOK_EMULATOR_CA={running.ca}")
    print(f"  token in {Path(directory) / server.TOKEN_NAME} (or VPNRUNBOOK_EMULATOR_TOKEN)", flush=True)
    from vpnrunbook.emulator.handlers.identity import EMULATOR_TENANT

    print("Azure CLI (az):")
    print(f"  export REQUESTS_CA_BUNDLE={running.ca} AZURE_CORE_INSTANCE_DISCOVERY=false")
    print(f"  az cloud register -n vpnrunbook-emulator --endpoint-resource-manager {running.url}/ "
          "&& az cloud set -n vpnrunbook-emulator")
    print(f"  az login --service-principal -u vpnrunbook -p any --tenant {EMULATOR_TENANT}", flush=True)
    try:
        running.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.httpd.server_close()
    return 0


def _reset(args: argparse.Namespace) -> int:
    from vpnrunbook.emulator.store import Store, StoreUnusableError, default_db_path, move_aside

    try:
        store = Store()
    except StoreUnusableError as exc:  # reset means "start over": keep the damaged file, start an empty one
        moved = move_aside(default_db_path())
        print(f"{default_db_path()} was not a usable database ({exc.reason}); moved aside to {moved}")
        store = Store()
    with store.write() as db:
        store.reset(db)
    print(f"emulator state reset ({store.path})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from vpnrunbook.emulator.app import EmulatorApp
    from vpnrunbook.emulator.control import status
    from vpnrunbook.emulator.store import Store, StoreUnusableError

    try:
        app = EmulatorApp(Store())
    except StoreUnusableError as exc:
        print(f"vpnrunbook emulator status: {exc}", file=sys.stderr)
        return 1
    with app.store.read() as db:
        info = status(app, db)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"database: {info['database']}")
    print(f"time factor: {info['time_factor']} (a VPN gateway takes {45 * 60 * info['time_factor']:.1f} s)")
    print(f"operations in progress: {info['operations_in_progress']}")
    if not info["resources"]:
        print("resources: none")
    for type_, count in sorted(info["resources"].items()):
        print(f"  {type_}: {count}")
    return 0
