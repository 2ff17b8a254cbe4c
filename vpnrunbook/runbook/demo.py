"""``vpnrunbook demo``: the seed workflow, headless, against the emulator.

The runs form a small dependency graph (``RUNS``): each run starts as soon as every run it needs has succeeded,
each in its own papermill kernel, at most ``max_parallel`` at a time. So the two VPN gateways are created at the
same time, and the local gateway and the policy files are made while the gateways build; a connection starts
when its gateways (and its local gateway and policy file) are there. What depends on a failed run is not run
and is listed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vpnrunbook.runbook.runner import RunResult, Timeouts, run_step

REPO = Path(__file__).resolve().parents[2]
SEED_DIR = REPO / "parameters" / "seed"
SEED_KEY_ENV = "VPNRUNBOOK_SEED_KEY"
# The seed document's shared key (its `New-AzVirtualNetworkGatewayConnection ... -SharedKey 'AzureA1b2C3'`): a
# published example, never a secret. Parameters only refer to keys (a literal is refused); the demo puts this one
# in its 0600 key file when $VPNRUNBOOK_SEED_KEY is not set, so the seed's reference resolves to it.
DOCUMENT_SHARED_KEY = "AzureA1b2C3"


@dataclass(frozen=True)
class DemoRun:
    """One run of the seed workflow: a step with a seed parameter file, started once all of ``needs``
    (parameter file names of other runs) have succeeded and the ``resource_groups`` exist (an earlier run
    creates them in its first cells; the run is not started if they never appear)."""

    step: str
    params: str
    needs: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()


GATEWAY_GROUPS = ("TestRG1", "TestRG2")  # created in the first cells of 01_vnet1_gateway / 01_vnet2_gateway
# which run creates each resource group a run waits for (for schedulers that cannot poll: `--graph`)
GROUP_CREATED_BY = {"TestRG1": "01_vnet1_gateway.yaml", "TestRG2": "01_vnet2_gateway.yaml"}

# Listed in start priority order (the gateways first: they take longest).
RUNS: tuple[DemoRun, ...] = (
    DemoRun("01_create_vnet_gateway", "01_vnet1_gateway.yaml"),
    DemoRun("01_create_vnet_gateway", "01_vnet2_gateway.yaml"),
    DemoRun("02_create_local_gateway", "02_site6.yaml", resource_groups=("TestRG1",)),  # 01_vnet1 makes it
    # the policy files need nothing; they wait until both gateway runs are under way (their resource groups
    # exist) so that on 2 cores the gateway kernels, the long pole, start first
    DemoRun("03_create_policy", "03_policy_seed_s2s.yaml", resource_groups=GATEWAY_GROUPS),
    DemoRun("03_create_policy", "03_policy_seed_vnet2vnet.yaml", resource_groups=GATEWAY_GROUPS),
    DemoRun("04_connect", "04_vnet1_to_site6.yaml",
            needs=("01_vnet1_gateway.yaml", "02_site6.yaml", "03_policy_seed_s2s.yaml")),
    DemoRun("04_connect", "04_vnet1_to_vnet2.yaml",
            needs=("01_vnet1_gateway.yaml", "01_vnet2_gateway.yaml", "03_policy_seed_vnet2vnet.yaml")),
    DemoRun("05_update_policy", "05_update_vnet1_to_site6.yaml", needs=("04_vnet1_to_site6.yaml",)),
    DemoRun("06_remove_policy", "06_remove_vnet1_to_site6.yaml", needs=("05_update_vnet1_to_site6.yaml",)),
    DemoRun("07_overview", "07_overview.yaml", needs=("04_vnet1_to_vnet2.yaml", "06_remove_vnet1_to_site6.yaml")),
    DemoRun("08_show_policy", "08_show_vnet1_to_vnet2.yaml", needs=("04_vnet1_to_vnet2.yaml",)),
)

MAX_PARALLEL_ENV = "VPNRUNBOOK_DEMO_PARALLEL"


def default_max_parallel() -> int:
    """Kernels at once: cores + 2 (a gateway run mostly waits for the gateway), so 4 on 2 cores;
    $VPNRUNBOOK_DEMO_PARALLEL overrides."""
    raw = os.environ.get(MAX_PARALLEL_ENV)
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{MAX_PARALLEL_ENV}={raw!r}: allowed is a whole number >= 1")
        return int(raw)
    return (os.cpu_count() or 2) + 2


def check_graph(runs: tuple[DemoRun, ...]) -> None:
    """Every run has a unique parameter file, needs only runs listed before it (so the graph has no cycle)."""
    seen: set[str] = set()
    for r in runs:
        if r.params in seen:
            raise ValueError(f"demo run {r.params!r} is listed twice")
        unknown = [n for n in r.needs if n not in seen]
        if unknown:
            raise ValueError(f"demo run {r.params!r} needs {unknown[0]!r}, which is not a run listed before it")
        seen.add(r.params)


def graph_json(runs: tuple[DemoRun, ...] = RUNS) -> str:
    """The graph as JSON (``vpnrunbook demo --graph``): one object per run, in start priority order, with the
    seed folder — for schedulers that build their own task graph from it instead of copying it. A run's
    ``groups_created_by`` names the runs that create the resource groups it waits for: a scheduler that cannot
    poll for them makes the run depend on those."""
    import json

    check_graph(runs)
    return json.dumps({"seed_dir": str(SEED_DIR), "repo": str(REPO), "source": str(Path(__file__).resolve()),
                       "runs": [{"step": r.step, "params": r.params, "needs": list(r.needs),
                                 "resource_groups": list(r.resource_groups),
                                 "groups_created_by": [GROUP_CREATED_BY[g] for g in r.resource_groups]}
                                for r in runs]}, indent=1)


def task_ids(runs: tuple[DemoRun, ...] = RUNS) -> list[str]:
    """The scheduler task id of each run (the Airflow DAG's ``task_id``: the parameter file's stem)."""
    import re

    return [re.sub(r"[^A-Za-z0-9_.-]", "_", r.params.rsplit(".", 1)[0]) for r in runs]


def ensure_seed_key() -> str:
    """The seed's shared key lives in a 0600 file in the state dir and reaches kernels as $VPNRUNBOOK_SEED_KEY.

    Unless $VPNRUNBOOK_SEED_KEY is set, the file is created holding the document's example key
    (:data:`DOCUMENT_SHARED_KEY`), so the seed parameters' ``env:VPNRUNBOOK_SEED_KEY`` resolves to it without
    anything exported. A file an earlier demo left (with another key) is kept: its connections use that key.
    Returns where the key came from (never the key)."""
    if os.environ.get(SEED_KEY_ENV):
        return f"env:{SEED_KEY_ENV} (already set)"
    folder = Path(os.environ.get("VPNRUNBOOK_STATE_DIR", ".vpnrunbook")) / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / "seed-demo.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(DOCUMENT_SHARED_KEY)
    key = path.read_text(encoding="utf-8").strip()
    os.environ[SEED_KEY_ENV] = key
    which = "the document's example key" if key == DOCUMENT_SHARED_KEY else "the key an earlier demo left"
    return (f"file:{path} ({which}; set {SEED_KEY_ENV} to use your own), passed to the runs as env:{SEED_KEY_ENV}; "
            "`vpnrunbook run` and `vpnrunbook lab` read it from there too")


def seed_key_from_demo() -> bool:
    """For `vpnrunbook run` after `vpnrunbook demo`: $VPNRUNBOOK_SEED_KEY from the demo's key file when it is not
    set (as `vpnrunbook lab` does), so the seed files' ``env:VPNRUNBOOK_SEED_KEY`` resolves — to the document's key
    — with nothing exported. Returns whether it set it."""
    from vpnrunbook.project import project_path

    if os.environ.get(SEED_KEY_ENV):
        return False
    path = project_path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook") / "secrets" / "seed-demo.key"
    if not path.is_file():
        return False
    os.environ[SEED_KEY_ENV] = path.read_text(encoding="utf-8").strip()
    return True


def _project() -> Path:
    """The project the demo runs in: the one around the current folder (`vpnrunbook demo` from a copy of the
    project), else the package's checkout."""
    from vpnrunbook.project import project_root

    try:
        return project_root()
    except FileNotFoundError:
        return REPO


def _pin_state_paths(project: Path) -> None:
    """State, database and evidence paths made absolute under ``project``, as `vpnrunbook lab` does: the runs'
    kernels (started in ``project``) and this process (wherever it stands) then share one emulator state."""
    from vpnrunbook.ui.lab import PATH_VARIABLES

    for var, default in PATH_VARIABLES.items():
        value = os.environ.get(var) or default
        if value:
            path = Path(value).expanduser()
            os.environ[var] = str(path if path.is_absolute() else (project / path).resolve())


def demo_signer():
    """The demo signs with the operator's key — the one ``vpnrunbook run``, JupyterLab's kernels, the Python API and
    the schedulers use ($VPNRUNBOOK_SIGNING_KEY, $VPNRUNBOOK_SIGNING_DIR, else ~/.config/vpnrunbook/signing/):
    one identity per operator, so the verify command the demo prints still passes after any later run."""
    from vpnrunbook.evidence import signing

    return signing.load_signer()


LEGACY_KEY = "signing/ed25519.pub"  # under the state folder: the demo's own key before issue 21 (one identity since)


def demo_keyring(signer: Any, root: Path) -> list[Any]:
    """The keys the demo verifies with: the operator's, and the state folder's older demo key while lines of this
    ledger are signed by it (an evidence folder begun before the demo used the operator's key)."""
    from vpnrunbook.evidence import ledger, signing

    ring = [signer.public_key]
    legacy = Path(os.environ.get("VPNRUNBOOK_STATE_DIR", ".vpnrunbook")) / LEGACY_KEY
    if legacy.is_file():
        try:
            old = signing.load_public_key(str(legacy))
        except ValueError:
            return ring
        if old.keyid != signer.keyid and old.fingerprint in ledger.signature_check(root).signers:
            ring.append(old)
    return ring


def run_demo(*, evidence_dir: str | Path | None = None, seed_dir: str | Path | None = None,
             timeouts: Timeouts | None = None, runs: tuple[DemoRun, ...] = RUNS, max_parallel: int | None = None,
             out=sys.stdout) -> int:
    project = _project()
    seed = Path(seed_dir) if seed_dir else project / "parameters" / "seed"
    check_graph(runs)
    missing = [r.params for r in runs if not (seed / r.params).exists()]
    if missing:
        print(f"vpnrunbook demo: seed parameter files missing under {seed}: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("VPNRUNBOOK_TARGET", "emulator")
    if os.environ["VPNRUNBOOK_TARGET"] != "emulator":
        print("vpnrunbook demo runs against the emulator only; unset VPNRUNBOOK_TARGET", file=sys.stderr)
        return EXIT_USAGE
    try:
        cap = max_parallel or default_max_parallel()
    except ValueError as exc:
        print(f"vpnrunbook demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _pin_state_paths(project)
    key_source = ensure_seed_key()
    signer = demo_signer()
    factor = os.environ.get("VPNRUNBOOK_EMULATOR_TIME_FACTOR", "0.002")
    print(f"vpnrunbook demo: seed workflow against the emulator (a gateway takes 45 min x time factor {factor}; "
          f"shared key from {key_source}; up to {cap} runs at once)", file=out)
    t0 = time.monotonic()
    results = _run_graph(runs, cap, t0, out, lambda r: run_step(
        r.step, params_file=seed / r.params, apply=True, evidence_dir=evidence_dir, timeouts=timeouts, cwd=project),
        _ResourceGroups().exists)
    total = time.monotonic() - t0
    _summary([results[r.params] for r in runs if r.params in results], total, out)
    from vpnrunbook.evidence.ledger import check, head
    from vpnrunbook.evidence.rundir import evidence_root

    root = evidence_root(evidence_dir).resolve()
    from vpnrunbook.evidence import index

    page = index.write(root) if (root / "ledger.jsonl").exists() else None
    ring = demo_keyring(signer, root)
    # (no ledger: no run wrote evidence — each run says why; verify would only add "nothing signed")
    findings = check(root, key=ring if len(ring) > 1 else ring[0]).findings if page is not None else []
    keys = " ".join(f"--key {k.path}" for k in ring)
    command = f"vpnrunbook evidence verify --evidence-dir {root} {keys}"
    print(f"\nevidence: {root}  (ledger: {root / 'ledger.jsonl'}; ledger head {head(root)})", file=out)
    print(f"verify: {command}  → {'OK' if not findings else f'{len(findings)} PROBLEM(S)'}", file=out)
    if page is not None:
        print(f"index: {page} (one line per change; `vpnrunbook evidence list`)", file=out)
    for f in findings[:10]:
        print(f"  - {f}", file=out)
    print(f"signed by: {signer.fingerprint} (Ed25519; public key {signer.pub_path}; the operator's key, the same "
          "for `vpnrunbook run`, JupyterLab and the schedulers)", file=out)
    failed = [res for _, _, _, res in results.values() if not res.ok]
    skipped = [r.params for r in runs if r.params not in results]
    if skipped:
        print(f"not run after the failure: {', '.join(skipped)}", file=out)
    if failed or skipped:
        return failed[0].exit_code if failed else EXIT_FAILED
    return EXIT_EVIDENCE if findings else EXIT_OK  # a demo whose evidence does not verify did not succeed


def missing_groups(names: list[str], *, wait: float = 0.0) -> list[str]:
    """The resource groups of ``names`` that do not exist (yet) in the target ($VPNRUNBOOK_TARGET, the emulator
    by default), looking again every :data:`POLL_SECONDS` (as the demo does) for up to ``wait`` seconds:
    ``vpnrunbook demo --groups-exist`` — what a scheduler's sensor asks where the demo polls."""
    groups = _ResourceGroups(target=None)
    deadline = time.monotonic() + wait
    while True:
        missing = [n for n in names if not groups.exists(n)]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(POLL_SECONDS)


class _ResourceGroups:
    """Whether a resource group exists in the demo's emulator (read through the SDK; found ones are cached)."""

    def __init__(self, target: str | None = "emulator") -> None:
        self.target = target
        self.session: Any = None
        self.found: set[str] = set()

    def exists(self, name: str) -> bool:
        if name not in self.found:
            from azure.core.exceptions import ResourceNotFoundError

            from vpnrunbook.azure.connect import connect

            self.session = self.session or connect(target=self.target)
            try:
                self.session.resources.resource_groups.get(name)
            except ResourceNotFoundError:
                return False
            self.found.add(name)
        return True


POLL_SECONDS = 0.25  # how often a run waiting for a resource group looks again


def _run_graph(runs: tuple[DemoRun, ...], cap: int, t0: float, out, execute,
               group_exists: Callable[[str], bool]) -> dict[str, tuple[str, float, float, RunResult]]:
    """Start each run once all it needs has succeeded and its resource groups exist (list order breaks ties),
    at most ``cap`` at a time.

    Returns {params: (params, start offset s, seconds, result)} for the runs that ran; a run whose needs
    include a failed run never starts, nor one whose resource groups are still missing when nothing runs."""
    results: dict[str, tuple[str, float, float, RunResult]] = {}
    pending = list(runs)
    running: dict[Future, DemoRun] = {}

    def one(r: DemoRun) -> tuple[str, float, float, RunResult]:
        start = time.monotonic()
        res = execute(r)
        return r.params, start - t0, time.monotonic() - start, res

    with ThreadPoolExecutor(max_workers=cap) as pool:
        while True:
            succeeded = {p for p, (_, _, _, res) in results.items() if res.ok}
            unblocked = [r for r in pending if all(n in succeeded for n in r.needs)]
            ready = [r for r in unblocked if all(group_exists(g) for g in r.resource_groups)]
            for r in ready[:cap - len(running)]:
                pending.remove(r)
                print(f"  [{time.monotonic() - t0:6.1f} s] start {r.params}", file=out, flush=True)
                running[pool.submit(one, r)] = r
            if not running:
                return results
            waiting = len(unblocked) > len(ready)  # on a resource group a running run is about to create
            done, _ = wait(running, timeout=POLL_SECONDS if waiting else None, return_when=FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                params, start, secs, res = fut.result()
                results[params] = (params, start, secs, res)
                print(f"  [{time.monotonic() - t0:6.1f} s] {params}: {res.outcome} in {secs:.1f} s",
                      file=out, flush=True)


def _summary(results: list[tuple[str, float, float, RunResult]], total: float, out) -> None:
    import pandas as pd

    rows = []
    for fname, start, secs, r in results:
        changes = r.manifest.get("changes", [])
        changed = sum(1 for c in changes if c.get("changed", c.get("applied")))
        rows.append({"step": r.step, "parameters": fname, "outcome": r.outcome, "started at s": round(start, 1),
                     "seconds": round(secs, 1), "resources changed": changed, "run": r.run_id})
    frame = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 10, "display.max_colwidth", 60):
        print("\nsummary:", file=out)
        print(frame.to_string(index=False), file=out)
    print(f"\ntotal {total:.1f} s", file=out)
