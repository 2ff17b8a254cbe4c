"""``python -m benchmarks [NAME ...]``: run the benchmarks one after another, each in a fresh process."""

from __future__ import annotations

import compileall
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import BENCHMARKS, BY_NAME_ONLY


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS + BY_NAME_ONLY]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; allowed: {', '.join(BENCHMARKS + BY_NAME_ONLY)}", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    # Measure the package as installed from a wheel, with its bytecode: under PYTHONDONTWRITEBYTECODE an editable
    # install never gets any, and every kernel would compile the package's sources again (~60-80 ms of a step)
    compileall.compile_dir(str(root / "vpnrunbook"), quiet=1)
    failed = []
    for name in names:
        print(f"== {name} ==", flush=True)
        t = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=root)
        print(f"(exit {code}, {time.perf_counter() - t:.0f} s)\n", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
