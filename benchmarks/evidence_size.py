"""Benchmark: how much evidence a run leaves — a read-only step (`vpnrunbook run 07`, the overview) and a
1,000-connection rollout — before and after the lean evidence of issue 24, measured on the same runs.

Evidence of a run: how much the whole evidence folder grows on disk with it — every file under it, before vs after
the run (its run folder, the ledger however it is stored, sealed segments included, and the derived index.html).
Before, recomputed from the same run as the earlier measurements did: its folder (every file) and its lines in the
ledger (bytes), with the read-only run's page exported with the lab template's head (its stylesheets and script, as
before), and the rollout's manifest as it was written before (a row per connection in ``outcomes``, each unit's
record in ``changes`` with its plan row per field, a copy of each change record with its envelope in ``journal``,
the change record's plan row per field again, two-space indent).

Prints, each on its own line, last::

    evidence per read-only run: X KB
    evidence per 1000-connection rollout: X MB

(KB = 1,000 bytes, MB = 1,000,000 bytes.) Run: ``python -m benchmarks evidence_size`` or
``python -m benchmarks.evidence_size [connections]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._common import fresh_state, timed

REPO = Path(__file__).resolve().parents[1]


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def ledger_disk_bytes(root: Path) -> int:
    """The ledger's bytes on disk: ledger.jsonl and its sealed, gzip-compressed segments (ledger.sealed/)."""
    from vpnrunbook.evidence import ledger

    files = [root / ledger.LEDGER_NAME, *(root / ledger.SEALED_DIR).glob("*.jsonl.gz")]
    return sum(f.stat().st_size for f in files if f.is_file())


def ledger_bytes(root: Path, run_id: str) -> int:
    from vpnrunbook.evidence import ledger

    return sum(len(raw) + 1 for _, raw, e in ledger.read_naming(root, run_id) if e and e.get("run_id") == run_id)


def read_only_run(base: Path) -> tuple[int, int, dict[str, int]]:
    """(bytes now, bytes before, files) of one `vpnrunbook run 07` on a small seeded fleet."""
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.evidence import export
    from vpnrunbook.fleet.seed import seed_fleet

    session = connect(target="emulator")
    seed_fleet(session, connections=12, resource_groups=2, vnet_to_vnet_pairs=1,
               policies={"default": 1, "seed-s2s": 1, "seed-update": 1})
    session.transport.app.store.close()  # the runner's kernel opens the same database
    root = base / "evidence"
    start = folder_bytes(root)
    r = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "07", "-p",
                        str(REPO / "parameters" / "seed" / "07_overview.yaml"), "--quiet"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"vpnrunbook run 07 failed (exit {r.returncode}): {r.stdout[-2000:]}{r.stderr[-2000:]}")
    (run,) = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    now = folder_bytes(root) - start
    earlier = folder_bytes(run) + ledger_bytes(root, run.name)   # as measured before: folder + ledger lines
    files = {f.name: f.stat().st_size for f in run.iterdir()}
    import nbformat

    nb = nbformat.read(str(run / "notebook.ipynb"), as_version=4)
    full = export.template_page(nb)
    page = (run / "notebook.html").read_text(encoding="utf-8")
    head_then = len(full[:full.index("</head>")].encode())
    head_now = len(page[:page.index("</head>")].encode())
    return now, earlier - head_now + head_then, files


def rollout_run(n: int) -> tuple[int, int, dict[str, int], float]:
    """(bytes now, bytes before, files, seconds) of a rollout to ``n`` connections."""
    base = fresh_state("evidence-rollout")
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet import rollout as rollout_module
    from vpnrunbook.fleet.audit import audit_fleet
    from vpnrunbook.fleet.seed import seed_fleet

    session = connect(target="emulator")
    seed_fleet(session, connections=n, resource_groups=max(1, n // 10), vnet_to_vnet_pairs=0,
               policies={"default": 1, "seed-s2s": 1})
    targets = audit_fleet(session).frame
    root = base / "evidence"
    start, disk = folder_bytes(root), ledger_disk_bytes(root)
    seen: dict[str, Any] = {}
    write = rollout_module.write_evidence

    def keep(result: Any, records: list[dict[str, Any]], **kw: Any) -> Path:  # the units' records, for "before"
        seen.update(frame=result.frame, records=records)
        return write(result, records, **kw)

    rollout_module.write_evidence = keep
    try:
        seconds, result = timed(lambda: rollout_module.rollout(session, targets, policy="strong-modern",
                                                               max_workers=8))
    finally:
        rollout_module.write_evidence = write
    run = result.evidence_dir
    now = folder_bytes(root) - start
    manifest: dict[str, Any] = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    then = len((json.dumps(_manifest_before(root, run.name, manifest, seen), indent=2, default=str) + "\n").encode())
    files = {f.name: f.stat().st_size for f in run.iterdir()}
    files["(ledger lines)"] = ledger_bytes(root, run.name)
    files["(ledger growth on disk)"] = ledger_disk_bytes(root) - disk  # (sealed: ~1/10 of its lines)
    files["(index.html now)"] = (root / "index.html").stat().st_size
    earlier = folder_bytes(run) + files["(ledger lines)"]   # as measured before: folder + ledger lines
    return now, earlier - files["manifest.json"] + then, files, seconds


def _manifest_before(root: Path, run_id: str, manifest: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
    """The rollout's manifest as write_evidence wrote it before each plan was named once."""
    from vpnrunbook.evidence import journal, record

    entries = journal.for_run(root, run_id)
    head = {k: v for k, v in manifest.items()
            if k not in ("change_record", "journal", "plans", "units", "scrubbed_occurrences", "files")}
    return {**head, "outcomes": json.loads(seen["frame"].to_json(orient="records")), "changes": seen["records"],
            "journal": entries,   # as before: every record copied, envelope and all
            "change_record": record.applied(entries),
            "scrubbed_occurrences": manifest.get("scrubbed_occurrences"), "files": manifest.get("files")}


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1000
    base = fresh_state("evidence-read-only")
    ro_now, ro_then, ro_files = read_only_run(base)
    print(f"read-only run (vpnrunbook run 07): before {ro_then / 1e3:.1f} KB, after {ro_now / 1e3:.1f} KB; "
          f"files {ro_files}")
    r_now, r_then, r_files, seconds = rollout_run(n)
    print(f"rollout to {n} connections ({seconds:.0f} s): before {r_then / 1e6:.2f} MB, after {r_now / 1e6:.2f} MB; "
          f"files {r_files}")
    print(f"evidence per read-only run: {ro_now / 1e3:.1f} KB")
    print(f"evidence per {n}-connection rollout: {r_now / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
