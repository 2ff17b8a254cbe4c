"""The ``vpnrunbook`` command. Thin: each feature module registers its own sub-commands.

A module in ``COMMAND_MODULES`` exposes ``register(subparsers)``; each sub-command's handler takes
the parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from vpnrunbook import __version__

# Exit codes shared by every command (the runner documents them in the README).
EXIT_OK = 0
EXIT_FAILED = 1          # the run executed and failed (a cell raised, Azure refused)
EXIT_USAGE = 2           # bad command line / bad parameters: nothing was changed
EXIT_TIMEOUT = 3         # the run exceeded its time bound
EXIT_EVIDENCE = 4        # evidence verification found tampering

COMMAND_MODULES: tuple[str, ...] = (
    "vpnrunbook.policy.cli",
    "vpnrunbook.emulator.cli",
    "vpnrunbook.runbook.cli",
    "vpnrunbook.device.cli",
    "vpnrunbook.fleet.cli",
    "vpnrunbook.ui.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpnrunbook",
        description="Runbooks for custom IPsec/IKE policies on Azure VPN Gateway "
                    "(default target: the embedded ARM emulator).",
    )
    parser.add_argument("--version", action="version", version=f"vpnrunbook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a feature not built yet
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_OK if args.command is None else EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
