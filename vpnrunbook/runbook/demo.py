"""``vpnrunbook demo``: the seed workflow, headless, against the emulator.

Stages run in order; the runs inside one stage run concurrently (each its own papermill kernel), so the two VPN
gateways are created at the same time — the second does not wait for the first.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vpnrunbook.runbook.runner import RunResult, Timeouts, run_step

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = REPO / "parameters" / "seed"
SEED_KEY_ENV = "VPNRUNBOOK_SEED_KEY"

# (step, parameter file) — runs in one stage go in parallel
STAGES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("01_create_vnet_gateway", "01_vnet1_gateway.yaml"), ("01_create_vnet_gateway", "01_vnet2_gateway.yaml")),
    (("02_create_local_gateway", "02_site6.yaml"), ("03_create_policy", "03_policy_seed_s2s.yaml"),
     ("03_create_policy", "03_policy_seed_vnet2vnet.yaml")),
    (("04_connect", "04_vnet1_to_site6.yaml"), ("04_connect", "04_vnet1_to_vnet2.yaml")),
    (("05_update_policy", "05_update_vnet1_to_site6.yaml"),),
    (("06_remove_policy", "06_remove_vnet1_to_site6.yaml"),),
    (("07_overview", "07_overview.yaml"),),
)


def ensure_seed_key() -> str:
    """The seed's shared key lives in a 0600 file in the state dir and reaches kernels as $VPNRUNBOOK_SEED_KEY.

    Returns where it came from (never the key)."""
    if os.environ.get(SEED_KEY_ENV):
        return f"env:{SEED_KEY_ENV} (already set)"
    folder = Path(os.environ.get("VPNRUNBOOK_STATE_DIR", ".vpnrunbook")) / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seed-demo.key"
    if not path.exists():
        alphabet = string.ascii_letters + string.digits
        key = "".join(secrets.choice(alphabet) for _ in range(32))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
    os.environ[SEED_KEY_ENV] = path.read_text(encoding="utf-8").strip()
    return f"file:{path}; for later `vpnrunbook run` with the seed files: export {SEED_KEY_ENV}=\"$(cat {path})\""


def run_demo(*, evidence_dir: str | Path | None = None, seed_dir: str | Path | None = None,
             timeouts: Timeouts | None = None, stages=STAGES, out=sys.stdout) -> int:
    seed = Path(seed_dir) if seed_dir else SEED_DIR
    missing = [f for stage in stages for _, f in stage if not (seed / f).exists()]
    if missing:
        print(f"vpnrunbook demo: seed parameter files missing under {seed}: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("VPNRUNBOOK_TARGET", "emulator")
    if os.environ["VPNRUNBOOK_TARGET"] != "emulator":
        print("vpnrunbook demo runs against the emulator only; unset VPNRUNBOOK_TARGET", file=sys.stderr)
        return EXIT_USAGE
    key_source = ensure_seed_key()
    factor = os.environ.get("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.002")
    print(f"vpnrunbook demo: seed workflow against the emulator (a gateway takes 45 min x time factor {factor}; "
          f"shared key from {key_source})", file=out)
    t0 = time.monotonic()
    results: list[tuple[str, float, RunResult]] = []
    for stage in stages:
        def one(item: tuple[str, str]) -> tuple[str, float, RunResult]:
            step, fname = item
            t = time.monotonic()
            r = run_step(step, params_file=seed / fname, apply=True, evidence_dir=evidence_dir, timeouts=timeouts,
                         cwd=REPO)
            return fname, time.monotonic() - t, r

        names = " + ".join(f for _, f in stage)
        print(f"  running {names} ...", file=out, flush=True)
        with ThreadPoolExecutor(max_workers=len(stage)) as pool:
            done = list(pool.map(one, stage))
        results += done
        for fname, secs, r in done:
            print(f"    {fname}: {r.outcome} in {secs:.1f} s", file=out, flush=True)
        if any(not r.ok for _, _, r in done):
            break
    total = time.monotonic() - t0
    _summary(results, total, out)
    from vpnrunbook.runbook.evidence import evidence_root
    from vpnrunbook.runbook.ledger import verify

    root = evidence_root(evidence_dir).resolve()
    _, findings = verify(root)
    print(f"\nevidence: {root}  (ledger: {root / 'ledger.jsonl'}; "
          f"`vpnrunbook evidence verify`: {'OK' if not findings else f'{len(findings)} problem(s)'})", file=out)
    failed = [r for _, _, r in results if not r.ok]
    ran = {f for f, _, _ in results}
    skipped = [f for stage in stages for _, f in stage if f not in ran]
    if skipped:
        print(f"not run after the failure: {', '.join(skipped)}", file=out)
    return EXIT_OK if not failed and not skipped else (failed[0].exit_code if failed else EXIT_FAILED)


def _summary(results: list[tuple[str, float, RunResult]], total: float, out) -> None:
    import pandas as pd

    rows = []
    for fname, secs, r in results:
        changes = r.manifest.get("changes", [])
        changed = sum(1 for c in changes if c.get("changed", c.get("applied")))
        rows.append({"step": r.step, "parameters": fname, "outcome": r.outcome, "seconds": round(secs, 1),
                     "resources changed": changed, "run": r.run_id})
    frame = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_colwidth", 60):
        print("\nsummary:", file=out)
        print(frame.to_string(index=False), file=out)
    print(f"\ntotal {total:.1f} s", file=out)
