"""Benchmark: what the terminal renderer (``vpnrunbook.render.TerminalStream``, which every ``vpnrunbook``
command prints through) costs — a command's output written through it over the same output written raw.

Two outputs of ``lines`` lines each: an ``evidence list`` table (ASCII: the fast path) and plan lines with
arrows and dashes (non-ASCII: every character's category is looked up). Both are small next to a run (a
kernel start is ~1 s); the ratio shows the renderer is not what a command waits for.

Run: ``.venv/bin/python -m benchmarks.render_terminal [lines]`` (default 20000).
"""

from __future__ import annotations

import io
import sys
import time


def _write_all(stream: io.TextIOBase | io.StringIO, lines: list[str]) -> float:
    t = time.perf_counter()
    for line in lines:
        stream.write(line)
        stream.write("\n")
    return time.perf_counter() - t


def _best(fn, repeat: int = 5) -> float:
    return min(fn() for _ in range(repeat))


def main() -> None:
    from vpnrunbook.render import TerminalStream

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    ascii_lines = [f"{i:<5} 20261206T2250{i % 60:02d}Z-05_update_policy-{i:08x}  05_update_policy  succeeded  True  "
                   f"emulator  operator{i % 7}  2026-12-06T22:50:{i % 60:02d}.000Z" for i in range(n)]
    plan_lines = [f"      VNet1toSite6-{i}  ipsecPolicies[0].saLifeTimeSeconds: 27000 → 3600 — warning: "
                  f"weaker than before (DHGroup14 → DHGroup2)" for i in range(n)]
    figures = []
    for name, lines in (("evidence list (ASCII)", ascii_lines), ("plan lines (non-ASCII)", plan_lines)):
        raw = _best(lambda lines=lines: _write_all(io.StringIO(), lines))
        safe = _best(lambda lines=lines: _write_all(TerminalStream(io.StringIO()), lines))
        size = sum(len(x) + 1 for x in lines)
        figures.append((name, raw, safe))
        print(f"{name}: {n} lines, {size / 1e6:.1f} MB — raw {raw * 1e3:.1f} ms, through the renderer "
              f"{safe * 1e3:.1f} ms ({safe / n * 1e6:.2f} µs a line)")
    worst = max(safe / raw for _, raw, safe in figures)
    print(f"ratio (renderer / raw write, worst of the two): {worst:.1f}x")


if __name__ == "__main__":
    main()
