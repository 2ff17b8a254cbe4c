"""Benchmark: the cost of signing ledger lines (Ed25519, in-toto Statement in a DSSE envelope) — appends of a
run-sized entry, signed vs the same append unsigned, and ``ledger.check`` with and without ``--key``.

Run: ``.venv/bin/python -m benchmarks.ledger_signing [lines]`` (default 2000).
"""

from __future__ import annotations

import sys
import time

from benchmarks._common import fresh_state


class _NoSign:
    """A signer that signs nothing: the baseline append (same lock, read, hash, write)."""

    keyid = "0" * 64
    key_path = None

    def inside(self, root):
        return False

    def last_signed_head(self, root):
        return None

    def envelope(self, line):
        return None

    def sign_line(self, line):
        from vpnrunbook.evidence import signing

        return signing.canonical(line), None

    def remember_head(self, root, head):
        pass


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    base = fresh_state("signing")
    from vpnrunbook.evidence import ledger, signing

    t = time.perf_counter()
    signer = signing.load_signer()
    print(f"load (create) the key: {(time.perf_counter() - t) * 1e3:.2f} ms")
    entry = {"run_id": "20261202T000000Z-05_update_policy-abcdef12", "step": "05_update_policy",
             "outcome": "succeeded", "apply": True, "target": "emulator",
             "subscription_id": "00000000-0000-0000-0000-000000000000", "started": "2026-12-02T00:00:00.000Z",
             "ended": "2026-12-02T00:00:02.000Z", "operator": "alice", "manifest_sha256": "a" * 64}
    t = time.perf_counter()
    for _ in range(n):
        signer.envelope({**entry, "seq": 1, "prev": "b" * 64})
    sign_ms = (time.perf_counter() - t) / n * 1e3
    print(f"sign one line (statement + DSSE envelope): {sign_ms:.3f} ms")
    per_run = 200  # appends read the whole ledger: time a ledger of a realistic size, not a huge one
    timings = {}
    for name, s in (("unsigned", _NoSign()), ("signed", signer)):
        root = base / f"evidence-{name}"
        t = time.perf_counter()
        for _ in range(per_run):
            ledger.append(root, entry, signer=s)
        timings[name] = (time.perf_counter() - t) / per_run * 1e3
        print(f"append, {name}: {timings[name]:.3f} ms per line ({per_run} lines)")
    root = base / "evidence-signed"
    for label, key in (("without --key", None), ("with --key", signer.public_key)):
        t = time.perf_counter()
        ledger.check(root, key=key)
        print(f"verify {per_run} lines {label}: {(time.perf_counter() - t) * 1e3:.1f} ms (run folders absent)")
    print(f"signing adds {timings['signed'] - timings['unsigned']:.3f} ms per appended line "
          f"(ratio {timings['signed'] / timings['unsigned']:.2f})")


if __name__ == "__main__":
    main()
