"""Benchmark 3: audit of 1,000 connections in 50 resource groups on the in-process emulator.

Compares ``audit_fleet`` (list endpoints per resource group, bounded pool of 8) with the naive loop that GETs
each connection and then its gateway, on the same seeded fleet in the same run (both after one warm-up audit).
Prints both times, request counts, two variants (1 worker; SDK models), and the same comparison over HTTPS
against ``vpnrunbook emulator serve`` in its own process (loopback: a network and a server between client and
"ARM", as with Azure). Last line: the in-process ratio audit / naive (the default target).
Run: ``python -m benchmarks.fleet_audit [connections] [resource_groups]``.
"""

from __future__ import annotations

import sys

from benchmarks._common import fresh_state, median_time, served_emulator, timed


def over_https(n: int, m: int, pairs: list[tuple[str, str]]) -> float | None:
    """The same audit and naive loop through ``vpnrunbook emulator serve`` (a separate process)."""
    with served_emulator() as url:
        if url is None:
            return None
        from vpnrunbook.azure.connect import connect
        from vpnrunbook.emulator.control import EmulatorControl
        from vpnrunbook.fleet.audit import audit_fleet, audit_one_by_one

        session = connect(target="emulator", emulator_url=url)
        ctl = EmulatorControl(session)
        audit_fleet(session)
        before = ctl.stats()["requests"].get("GET", 0)
        t_audit, runs, audit = median_time(lambda: audit_fleet(session), 3)
        per_audit = (ctl.stats()["requests"].get("GET", 0) - before) // 3
        print(f"HTTPS audit_fleet (8 workers): median {t_audit:.3f} s of {', '.join(f'{t:.3f}' for t in runs)}; "
              f"{per_audit} requests; {len(audit.frame)} rows")
        before = ctl.stats()["requests"].get("GET", 0)
        t_naive, naive = timed(lambda: audit_one_by_one(session, pairs))
        print(f"HTTPS naive per-connection GET loop: {t_naive:.3f} s; "
              f"{ctl.stats()['requests'].get('GET', 0) - before} requests; same table: {naive.equals(audit.frame)}")
        ratio = t_audit / t_naive
        print(f"HTTPS ratio audit / naive loop: {ratio:.3f}")
        session.close()
        return ratio


def main(argv: list[str]) -> float:
    n = int(argv[0]) if argv else 1000
    m = int(argv[1]) if len(argv) > 1 else 50
    fresh_state("audit")
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.audit import audit_fleet, audit_one_by_one
    from vpnrunbook.fleet.seed import seed_fleet

    session = connect(target="emulator")
    seeded = seed_fleet(session, connections=n, resource_groups=m)
    print(seeded.summary())
    warm = audit_fleet(session)
    assert len(warm.frame) == n, f"audit found {len(warm.frame)} of {n} connections"
    t_audit, runs, audit = median_time(lambda: audit_fleet(session), 3)
    print(f"audit_fleet (8 workers): median {t_audit:.3f} s of {', '.join(f'{t:.3f}' for t in runs)}; "
          f"{audit.requests} requests; {len(audit.frame)} rows")
    t_one, one = median_time(lambda: audit_fleet(session, max_workers=1), 3)[::2]
    print(f"audit_fleet (1 worker): median {t_one:.3f} s")
    t_sdk, sdk = median_time(lambda: audit_fleet(session, sdk_models=True), 3)[::2]
    print(f"audit_fleet (SDK models via ops.list): median {t_sdk:.3f} s (same table: {sdk.frame.equals(audit.frame)})")
    pairs = list(zip(audit.frame["resource_group"], audit.frame["connection"], strict=True))
    before = len(session.transport.requests)
    t_naive, naive = timed(lambda: audit_one_by_one(session, pairs))
    print(f"naive per-connection GET loop: {t_naive:.3f} s; {len(session.transport.requests) - before} requests; "
          f"same table: {naive.equals(audit.frame)}")
    over_https(n, m, pairs)
    print(f"absolute audit time: {t_audit:.2f} s for {n} connections in {m} resource groups (goal < 10 s)")
    ratio = t_audit / t_naive
    print(f"ratio audit / naive loop (in-process emulator): {ratio:.3f} (goal <= 0.2)")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
