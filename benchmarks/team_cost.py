"""What a team of N operators and a fleet of M connections cost per day: evidence on disk and ARM's request budget.

Not a benchmark of speed (it is not in ``make bench``'s list): a cost model built from figures the benchmarks
measure, kept here as named constants so the table can be printed again when a figure changes (the rollout's
evidence, for one, shrinks as issue 24's remaining steps land). docs/evidence-object-storage.md quotes the table.

    python -m benchmarks team_cost                    # the table, from the constants below
    python -m benchmarks.team_cost --rollout-mb 3     # the same with another figure for a 1,000-connection rollout
    python -m benchmarks.team_cost --measure          # measure the single-change and read-only-step figures first

``--measure`` (about a minute): a fresh state folder, an emulator fleet of one gateway with four site-to-site
connections, then ``vpnrunbook run 05 --apply`` (a policy update of one connection), ``vpnrunbook run 06 --apply``
(its removal), ``vpnrunbook run 08`` (show one connection's policy: a read-only step) and ``vpnrunbook evidence
verify --since-checkpoint`` after each, as the operator's guide recommends; for each run it prints the evidence it
left (its folder and its ledger lines), the checkpoint the verify signed, and the ARM requests the emulator counted
(reads, LRO polls and writes). The table then uses the measured figures.

KB = 1,000 bytes, MB = 10**6, GB = 10**9.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Figures:
    """The inputs. Each says where it was measured; refresh them from the command named."""

    # -- evidence per run (folder + its ledger lines) --------------------------------------------------------------
    # `python -m benchmarks evidence_size` -> "evidence per read-only run" (vpnrunbook run 07; 55.7 KB on
    # 2026-12-07 02:31 UTC, stop 21's merged tree)
    read_only_run_kb: float = 55.7
    # `python -m benchmarks.team_cost --measure` -> "evidence per single-connection change" (run 05 --apply)
    change_run_kb: float = 119.1
    # `python -m benchmarks evidence_size` -> "evidence per 1000-connection rollout" (1.97 MB on 2026-12-07
    # 02:31 UTC, stop 21's merged tree: statement v2, sealed segments, the grouped manifest; 17.55 MB before)
    rollout_1000_mb: float = 1.97
    # connections that rollout writes: all 1,000 (none was at the policy) — the worst case of a weekly rollout; one
    # that finds the fleet already at the policy writes nothing and leaves far less
    rollout_1000_writes: int = 1000
    # `--measure` -> "checkpoint per verify": one signed checkpoint line per clean verify
    checkpoint_kb: float = 1.7
    # -- ledger lines (for the verify's time) ----------------------------------------------------------------------
    change_lines: int = 3             # intent, outcome, run line (`--measure`)
    read_only_lines: int = 1          # the run line
    # CPU per ledger line of a full verify: `python -m benchmarks ledger_growth` -> "full verify: ... s CPU"
    # (11.3 s of CPU for 100,000 lines on 2026-12-07 02:29 UTC; 27-28 s before statement v2 and libsodium)
    verify_ms_per_line: float = 0.113
    # -- ARM requests --------------------------------------------------------------------------------------------
    # `--measure`: requests the emulator counted for run 05 --apply (GETs incl. LRO polls; PUTs)
    change_reads: int = 25
    change_writes: int = 1
    # `--measure`: requests of run 08 (a read-only step on one connection)
    read_only_reads: int = 3
    # `python -m benchmarks rollout_arm_limits` -> "reads per write" (emulator; on Azure about one less)
    rollout_reads_per_write: float = 1.97
    # a Resource Graph audit: GET /subscriptions, then one Graph query per 1,000 rows (Graph's own quota)
    audit_arm_reads: int = 1
    # -- the team's habits ---------------------------------------------------------------------------------------
    changes_per_operator_day: int = 10
    read_only_runs_per_operator_day: int = 20
    audits_per_day: int = 1
    rollouts_per_week: int = 1
    # -- ARM's per-subscription buckets (docs/performance.md) ----------------------------------------------------
    reads_per_second: float = 25.0
    writes_per_second: float = 10.0


TEAMS = (1, 5, 20)
# (connections, subscriptions they are spread over): 1,000 and 10,000 in one; 50,000 over 50 (as in
# docs/performance.md's fleet table)
FLEETS = ((1_000, 1), (10_000, 1), (50_000, 50))
DAY = 86_400


@dataclass(frozen=True)
class Row:
    operators: int
    connections: int
    subscriptions: int
    bytes_per_day: float      # average over a week (the weekly rollout spread over 7 days)
    rollout_share: float      # of bytes_per_day, the rollouts' part
    lines_per_year: int
    reads_peak: int           # the rollout day, in the busiest subscription
    writes_peak: int
    rollout_seconds: float    # least time of the weekly rollout in one subscription (write-bound)


def row(f: Figures, operators: int, connections: int, subscriptions: int) -> Row:
    per_sub = math.ceil(connections / subscriptions)
    written = connections * f.rollout_1000_writes / 1000          # connections a full rollout writes
    runs = operators * (f.changes_per_operator_day + f.read_only_runs_per_operator_day)
    team_bytes = operators * (f.changes_per_operator_day * f.change_run_kb
                              + f.read_only_runs_per_operator_day * f.read_only_run_kb) * 1e3
    checkpoints = runs * f.checkpoint_kb * 1e3                       # a verify --since-checkpoint after each run
    rollout_bytes = f.rollouts_per_week / 7 * connections / 1000 * f.rollout_1000_mb * 1e6
    per_day = team_bytes + checkpoints + rollout_bytes
    lines_day = (operators * (f.changes_per_operator_day * f.change_lines
                              + f.read_only_runs_per_operator_day * f.read_only_lines)
                 + f.rollouts_per_week / 7 * (2 * written + subscriptions))
    team_reads = operators * (f.changes_per_operator_day * f.change_reads
                              + f.read_only_runs_per_operator_day * f.read_only_reads)
    sub_written = per_sub * f.rollout_1000_writes / 1000
    reads = team_reads + f.audits_per_day * f.audit_arm_reads + round(sub_written * f.rollout_reads_per_write)
    writes = operators * f.changes_per_operator_day * f.change_writes + round(sub_written)
    return Row(operators, connections, subscriptions, per_day, rollout_bytes / per_day, round(lines_day * 365),
               reads, writes, sub_written / f.writes_per_second)


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def _pct(part: float, whole: float) -> str:
    share = 100 * part / whole
    return f"{share:.2f} %" if share < 10 else f"{share:.0f} %"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def table(f: Figures) -> str:
    read_day, write_day = f.reads_per_second * DAY, f.writes_per_second * DAY
    out = ["| operators | connections (subscriptions) | evidence per day | per year | of which rollouts "
           "| ledger lines per year | full verify of a year (CPU) | ARM reads / writes on the rollout day, "
           "busiest subscription | share of its daily read / write budget | weekly rollout, least time |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for m, subs in FLEETS:
        for n in TEAMS:
            r = row(f, n, m, subs)
            verify = r.lines_per_year * f.verify_ms_per_line / 1000
            out.append(f"| {n} | {m:,} ({subs}) | {_size(r.bytes_per_day)} | {_size(r.bytes_per_day * 365)} "
                       f"| {100 * r.rollout_share:.0f} % | {r.lines_per_year:,} | {_duration(verify)} "
                       f"| {r.reads_peak:,} / {r.writes_peak:,} | {_pct(r.reads_peak, read_day)} / "
                       f"{_pct(r.writes_peak, write_day)} | {_duration(r.rollout_seconds)} |")
    return "\n".join(out)


def inputs(f: Figures) -> str:
    return (f"inputs: change {f.change_run_kb:g} KB ({f.change_lines} ledger lines, {f.change_reads} ARM reads, "
            f"{f.change_writes} write); read-only run {f.read_only_run_kb:g} KB ({f.read_only_reads} reads); "
            f"checkpoint {f.checkpoint_kb:g} KB per verify; 1,000-connection rollout {f.rollout_1000_mb:g} MB "
            f"({f.rollout_1000_writes} writes, {f.rollout_reads_per_write:g} reads per write); per operator and day "
            f"{f.changes_per_operator_day} changes + {f.read_only_runs_per_operator_day} read-only runs, each followed "
            f"by `evidence verify --since-checkpoint`; {f.audits_per_day} Resource Graph audit a day (no evidence); "
            f"{f.rollouts_per_week} full rollout a week; ARM buckets {f.reads_per_second:g} reads/s, "
            f"{f.writes_per_second:g} writes/s per subscription")


# ---- --measure ---------------------------------------------------------------------------------------------------
KEY_ENV = "VPNRUNBOOK_TEAMCOST_SHARED_KEY"  # env references must start VPNRUNBOOK_


def _stats(db: Path) -> dict[str, int]:
    con = sqlite3.connect(str(db), timeout=30)
    try:
        counts: dict[str, int] = {}
        for _method, kind, count in con.execute("SELECT method, kind, count FROM stats"):
            counts[kind] = counts.get(kind, 0) + count
        return counts
    finally:
        con.close()


def _seed() -> None:
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    session = connect(target="emulator", polling_interval=0)
    rg, loc = "TestRG1", "EastUS"
    ops.ensure_resource_group(session, name=rg, location=loc, apply=True)
    ops.ensure_virtual_network(session, resource_group=rg, name="TestVNet1", location=loc,
                               address_space=["10.1.0.0/16"],
                               subnets={"FrontEnd": "10.1.0.0/24", "GatewaySubnet": "10.1.255.0/27"}, apply=True)
    ops.ensure_public_ip(session, resource_group=rg, name="VNet1GWIP", location=loc, apply=True)
    ops.begin_create_vpn_gateway(session, resource_group=rg, name="VNet1GW", location=loc, vnet_name="TestVNet1",
                                 public_ip_name="VNet1GWIP", sku="VpnGw1AZ", vpn_type="RouteBased", apply=True,
                                 progress=False).result(timeout=120)
    for i, name in enumerate(("Site6", "Site7", "Site8", "Site9")):
        ops.ensure_local_network_gateway(session, resource_group=rg, name=name, location=loc,
                                         gateway_ip_address=f"131.107.72.{22 + i}",
                                         address_prefixes=[f"10.{61 + i}.0.0/16"], apply=True)
        ops.ensure_connection(session, resource_group=rg, name=f"VNet1to{name}", location=loc,
                              connection_type="IPsec", gateway_name="VNet1GW", local_gateway_name=name,
                              shared_key_ref=f"env:{KEY_ENV}", policy="seed-s2s", apply=True)
    session.transport.app.store.close()  # the runner's kernel opens the same database


def _run(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "vpnrunbook", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=900)
    if r.returncode:
        raise SystemExit(f"vpnrunbook {' '.join(args)} failed (exit {r.returncode}): {r.stdout[-2000:]}"
                         f"{r.stderr[-2000:]}")
    return r.stdout


def measure(f: Figures) -> Figures:
    from benchmarks._common import fresh_state
    from benchmarks.evidence_size import folder_bytes, ledger_bytes
    from vpnrunbook.evidence import checkpoint, ledger

    base = fresh_state("team-cost")
    os.environ["VPNRUNBOOK_EMULATOR_TIME_FACTOR"] = "0"
    os.environ[KEY_ENV] = "TeamCostSharedKey0123456789abcdefXYZ"
    _seed()
    root, db = base / "evidence", Path(os.environ["VPNRUNBOOK_DB"])
    params = Path(tempfile.mkdtemp(prefix="team-cost-params-"))
    (params / "show.yaml").write_text("resource_group: TestRG1\nconnection_name: VNet1toSite6\n", encoding="utf-8")
    seed = REPO / "parameters" / "seed"
    steps = (("change", ("run", "05", "-p", str(seed / "05_update_vnet1_to_site6.yaml"), "--apply", "--quiet")),
             ("removal", ("run", "06", "-p", str(seed / "06_remove_vnet1_to_site6.yaml"), "--apply", "--quiet")),
             ("read-only", ("run", "08", "-p", str(params / "show.yaml"), "--quiet")))
    measured: dict[str, tuple[int, int, dict[str, int], int]] = {}
    for label, args in steps:
        before_runs = {p.name for p in root.iterdir()} if root.is_dir() else set()
        before_stats = _stats(db)
        _run(*args)
        after_stats = _stats(db)
        (run,) = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in before_runs]
        lines = sum(1 for _, _, e in ledger.read_naming(root, run.name) if e and e.get("run_id") == run.name)
        size = folder_bytes(run) + ledger_bytes(root, run.name)
        counts = {k: after_stats.get(k, 0) - before_stats.get(k, 0) for k in ("read", "poll", "write")}
        cp = root / checkpoint.CHECKPOINTS_NAME
        cp_before = cp.stat().st_size if cp.exists() else 0
        _run("evidence", "verify", "--since-checkpoint", "--evidence-dir", str(root))
        measured[label] = (size, lines, counts, cp.stat().st_size - cp_before if cp.exists() else 0)
        files = {p.name: p.stat().st_size for p in sorted(run.iterdir())}
        print(f"{label} ({' '.join(args[:2])}): {size / 1e3:.1f} KB in {lines} ledger line(s); ARM {counts}; "
              f"checkpoint {measured[label][3]} bytes; files {files}")
    size, lines, counts, cp_bytes = measured["change"]
    ro_size, _, ro_counts, _ = measured["read-only"]
    print(f"evidence per single-connection change: {size / 1e3:.1f} KB")
    print(f"evidence per read-only step (run 08): {ro_size / 1e3:.1f} KB (the table keeps run 07's "
          f"{f.read_only_run_kb:g} KB from evidence_size: the overview is the larger read-only step)")
    print(f"checkpoint per verify: {cp_bytes / 1e3:.1f} KB")
    return replace(f, change_run_kb=round(size / 1e3, 1), change_lines=lines,
                   change_reads=counts["read"] + counts["poll"], change_writes=counts["write"],
                   read_only_reads=ro_counts["read"] + ro_counts["poll"],
                   checkpoint_kb=round(cp_bytes / 1e3, 1) if cp_bytes else f.checkpoint_kb)


def main(argv: list[str]) -> int:
    f = Figures()
    args = list(argv)
    if "--rollout-mb" in args:
        i = args.index("--rollout-mb")
        try:
            value = float(args[i + 1])
        except (IndexError, ValueError):
            print("--rollout-mb needs a number of MB (the evidence of a 1,000-connection rollout), e.g. 3",
                  file=sys.stderr)
            return 2
        if not 0 < value < 10_000:
            print(f"--rollout-mb {value:g} is not allowed; allowed: more than 0 and less than 10,000 (MB)",
                  file=sys.stderr)
            return 2
        f = replace(f, rollout_1000_mb=value)
        del args[i:i + 2]
    if "--measure" in args:
        f = measure(f)
        args.remove("--measure")
    if args:
        print(f"unknown argument {args[0]!r}; allowed: --measure, --rollout-mb MB", file=sys.stderr)
        return 2
    print(inputs(f))
    print(table(f))
    r = row(f, 20, 50_000, 50)
    print(f"team 20, fleet 50000: evidence per year {_size(r.bytes_per_day * 365)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
