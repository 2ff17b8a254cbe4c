"""Benchmark 2: per-step overhead — a headless read-only step (show policy) over a bare papermill run of an empty
notebook on the same kernel.

The step is ``08_show_policy`` through the runner (parameter validation, papermill, HTML export, scrubbing,
evidence, ledger) against a small emulator fleet (one resource group, four connections): the connection's policy
with a strength per field, findings, status with the reason and the device proposals. The baseline is
``papermill.execute_notebook`` of a notebook with one empty code cell on the same kernel: the runner's own kernel
command (this environment's Python, ``-m ipykernel_launcher``, IPC transport, the run's environment) without the
runner's import warm-up (``vpnrunbook.runbook.warm``), so the baseline pays nothing for it. Both in one process
(what a scheduler or ``make demo`` does); median of ``repeats`` runs each (default 5) after one warm-up of each,
the variants interleaved so machine load hits them alike.

Also shown: the bare run with the runner's kernel shutdown (``reap_later``: the kernel is SIGKILLed and reaped by
the caller — the runner meanwhile writes the notebook's evidence — instead of jupyter_client polling for its end
every 0.1 s), the step without the warm-up (``VPNRUNBOOK_KERNEL_WARM=0``), the heavier read-only ``07_overview``
(pandas tables, topology, fleet audit) through the runner, and what an operator feels from a shell: ``vpnrunbook run 08 -P ...`` against ``papermill`` on the
empty notebook, each a fresh process (``cold_repeats``, default 3). Last line: step / bare (in-process).
Run: ``python -m benchmarks.step_overhead [repeats] [cold_repeats]``.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks._common import fresh_state, timed

SHOW = "08_show_policy"


def main(argv: list[str]) -> float:
    repeat = int(argv[0]) if argv else 5
    cold_repeat = int(argv[1]) if len(argv) > 1 else 3
    base = fresh_state("step")
    import nbformat
    import papermill as pm

    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.runbook.demo import REPO
    from vpnrunbook.runbook.runner import WARM_ENV, _kernel_manager_class, _reap_kernels, run_step

    seed_fleet(connect(target="emulator"), connections=4, resource_groups=1, vnet_to_vnet_pairs=0)
    session = connect(target="emulator")
    first = next(iter(session.network.virtual_network_gateway_connections.list("fleet-rg-000")))
    show_params = {"resource_group": "fleet-rg-000", "connection_name": first.name}
    empty = base / "empty.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(""))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, empty)
    logging.getLogger("papermill").setLevel(logging.ERROR)

    def bare(reap_later: bool = False) -> None:  # the runner's kernel command, without the warm-up
        holder: list = []
        kernel_dir = base / "kernel"
        kernel_dir.mkdir(exist_ok=True)
        manager = _kernel_manager_class({**os.environ, WARM_ENV: "0"}, holder, kernel_dir, reap_later=reap_later)
        try:
            pm.execute_notebook(str(empty), str(base / "empty-out.ipynb"), kernel_name="python3", progress_bar=False,
                                cwd=str(REPO), kernel_manager_class=manager, shutdown_kernel="immediate")
        finally:
            _reap_kernels(holder)

    def step(name: str, params: dict, warm: bool = True) -> None:
        os.environ[WARM_ENV] = "1" if warm else "0"
        try:
            result = run_step(name, parameters=params, cwd=REPO)
        finally:
            os.environ.pop(WARM_ENV, None)
        if not result.ok:
            raise SystemExit(f"{name} failed: {result.message}")

    variants = {"bare": bare, "bare_reap": lambda: bare(reap_later=True), "show": lambda: step(SHOW, show_params),
                "show_cold": lambda: step(SHOW, show_params, warm=False),
                "overview": lambda: step("07_overview", {"resource_groups": ["fleet-rg-000"]})}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn()
    for _ in range(repeat):
        for name, fn in variants.items():
            times[name].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in times.items()}

    # From a shell: each command a fresh process (imports, kernel, run, evidence)
    bin_dir = Path(sys.executable).parent
    cli = [str(bin_dir / "vpnrunbook"), "run", SHOW, *[f"-P{k}={v}" for k, v in show_params.items()]]
    papermill_cli = [str(bin_dir / "papermill"), "-k", "python3", "--no-progress-bar", str(empty),
                     str(base / "empty-cli.ipynb")]

    def shell(cmd: list[str]) -> None:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        if out.returncode:
            raise SystemExit(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")

    cold: dict[str, list[float]] = {"cli": [], "papermill_cli": []}
    for _ in range(cold_repeat):
        cold["cli"].append(timed(lambda: shell(cli))[0])
        cold["papermill_cli"].append(timed(lambda: shell(papermill_cli))[0])
    cmed = {k: statistics.median(v) for k, v in cold.items()}

    def runs(values: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in values)

    print(f"bare papermill, empty notebook, runner's kernel command (no warm-up): median {med['bare']:.2f} s "
          f"of {runs(times['bare'])}")
    print(f"bare papermill with the runner's kernel shutdown (SIGKILL, reaped without jupyter_client's 0.1 s "
          f"polling): median {med['bare_reap']:.2f} s; the step over it: {med['show'] / med['bare_reap']:.3f}")
    print(f"read-only 07_overview through the runner (pandas tables, topology, fleet audit): median "
          f"{med['overview']:.2f} s = {med['overview'] / med['bare']:.3f}")
    print(f"{SHOW} without the warm-up ({WARM_ENV}=0): median {med['show_cold']:.2f} s "
          f"= {med['show_cold'] / med['bare']:.3f}")
    # papermill's CLI uses the installed kernelspec over TCP, whose start now and then stalls ~3.5 s: the best
    # run of each is shown next to the medians
    best = {k: min(v) for k, v in cold.items()}
    print(f"from a shell, fresh processes: `vpnrunbook run {SHOW} -P ...` median {cmed['cli']:.2f} s of "
          f"{runs(cold['cli'])}; `papermill` on the empty notebook median {cmed['papermill_cli']:.2f} s of "
          f"{runs(cold['papermill_cli'])}; ratio of medians {cmed['cli'] / cmed['papermill_cli']:.3f}, "
          f"of best runs {best['cli'] / best['papermill_cli']:.3f}")
    print(f"headless read-only step {SHOW} (runner + evidence): median {med['show']:.2f} s of {runs(times['show'])}")
    ratio = med["show"] / med["bare"]
    print(f"ratio step / bare papermill: {ratio:.3f} (goal <= 1.5)")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
