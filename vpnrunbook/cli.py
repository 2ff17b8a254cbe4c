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


# Optional imports of third-party packages that cost a ``vpnrunbook`` start much and serve it nothing; each is
# imported under ``try/except ImportError`` by its user, and marking it absent skips it in this process only:
# - ``rfc3987_syntax``: jsonschema (imported by nbformat, so by every run) loads it when installed — a checker for
#   the "iri" string format that jupyter-events pulls in. It builds 38 Lark parsers at import: about 0.7 s, for a
#   format neither nbformat's schema nor the emulator uses.
# - ``papermill.abs``: papermill's handler for ``abs://`` (Azure Blob) notebook paths imports azure.identity
#   (about 0.2 s) whenever it is installed, as it is here. Runs read and write local notebooks only; the
#   package's own Azure code imports azure.identity itself when it connects.
SKIPPED_OPTIONAL_IMPORTS = ("rfc3987_syntax", "papermill.abs")


def skip_slow_optional_imports() -> None:
    for name in SKIPPED_OPTIONAL_IMPORTS:
        sys.modules.setdefault(name, None)  # type: ignore[assignment] - None: "import fails with ImportError"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever it prints goes through ``vpnrunbook.render.TerminalStream``: untrusted text
    (resource names, tags, ledger fields) never reaches the terminal with a raw control, ANSI/OSC or bidi
    character."""
    from vpnrunbook.render import safe_streams

    skip_slow_optional_imports()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = safe_streams(*saved)
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (`vpnrunbook evidence list | head`): stop quietly, as `ls` does
        _silence(saved[0])
        return EXIT_BROKEN_PIPE
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BrokenPipeError:
                _silence(saved[0] if stream is sys.stdout else saved[1])
        sys.stdout, sys.stderr = saved


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe


def _silence(stream: object) -> None:
    """Point ``stream``'s file descriptor at /dev/null, so the interpreter's last flush at exit cannot fail on the
    closed pipe again (and print "Exception ignored ... BrokenPipeError")."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
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
