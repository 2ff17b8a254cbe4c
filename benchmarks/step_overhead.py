"""Benchmark 2: per-step overhead — a headless read-only step over a bare papermill run of an empty notebook.

The step is ``vpnrunbook run 07_overview`` (read-only: shows the connections and their policies, gateways,
topology and the fleet audit) through the runner (parameter validation, papermill, HTML export, scrubbing,
evidence, ledger) against a small emulator fleet (one resource group, four connections). The baseline is
``papermill.execute_notebook`` of a notebook with one empty code cell on the same kernel: the runner's own kernel
command (this environment's Python, ``-m ipykernel_launcher``, IPC transport, the run's environment) without the
runner's import warm-up (``vpnrunbook.runbook.warm``), so the baseline pays nothing for it. Also shown: the step
without the warm-up (``VPNRUNBOOK_KERNEL_WARM=0``), the 07 notebook through bare papermill, and the empty notebook
on the installed ``python3`` kernelspec. Median of ``repeats`` runs each (default 5), after one warm-up of each;
the variants are interleaved so machine load hits them alike. Last line: step / bare.
Run: ``python -m benchmarks.step_overhead [repeats]``.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys

from benchmarks._common import fresh_state, timed


def main(argv: list[str]) -> float:
    repeat = int(argv[0]) if argv else 5
    base = fresh_state("step")
    import nbformat
    import papermill as pm

    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.runbook.demo import REPO
    from vpnrunbook.runbook.runner import WARM_ENV, _kernel_manager_class, _kill_kernels, run_step

    seed_fleet(connect(target="emulator"), connections=4, resource_groups=1, vnet_to_vnet_pairs=0)
    empty = base / "empty.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(""))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, empty)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    params = {"resource_groups": ["fleet-rg-000"]}

    def bare() -> None:  # the runner's kernel command, without the warm-up
        holder: list = []
        kernel_dir = base / "kernel"
        kernel_dir.mkdir(exist_ok=True)
        manager = _kernel_manager_class({**os.environ, WARM_ENV: "0"}, holder, kernel_dir)
        try:
            pm.execute_notebook(str(empty), str(base / "empty-out.ipynb"), kernel_name="python3", progress_bar=False,
                                cwd=str(REPO), kernel_manager_class=manager, shutdown_kernel="immediate")
        finally:
            _kill_kernels(holder)

    def bare_installed_spec() -> None:  # the kernelspec `make` installs (python3)
        pm.execute_notebook(str(empty), str(base / "empty-out2.ipynb"), kernel_name="python3", progress_bar=False,
                            cwd=str(REPO))

    def step(warm: bool = True) -> None:
        os.environ[WARM_ENV] = "1" if warm else "0"
        try:
            result = run_step("07_overview", parameters=params, cwd=REPO)
        finally:
            os.environ.pop(WARM_ENV, None)
        if not result.ok:
            raise SystemExit(f"07_overview failed: {result.message}")

    def notebook_only() -> None:  # the step's notebook through bare papermill: separates runner cost
        pm.execute_notebook(str(REPO / "notebooks" / "07_overview.ipynb"), str(base / "07-out.ipynb"),
                            parameters=params, kernel_name="python3", progress_bar=False, cwd=str(REPO))

    variants = {"bare": bare, "step": step, "step_cold": lambda: step(warm=False), "nb": notebook_only,
                "bare_spec": bare_installed_spec}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn()
    for _ in range(repeat):
        for name, fn in variants.items():
            times[name].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in times.items()}

    def runs(k: str) -> str:
        return ", ".join(f"{t:.2f}" for t in times[k])

    print(f"bare papermill, empty notebook, runner's kernel command (no warm-up): median {med['bare']:.2f} s "
          f"of {runs('bare')}")
    print(f"bare papermill, empty notebook, installed python3 kernelspec: median {med['bare_spec']:.2f} s")
    print(f"07_overview notebook through bare papermill (python3 kernelspec, no runner, no evidence): "
          f"median {med['nb']:.2f} s")
    print(f"headless read-only step 07_overview without the warm-up ({WARM_ENV}=0): median {med['step_cold']:.2f} s "
          f"= {med['step_cold'] / med['bare']:.3f}")
    print(f"headless read-only step 07_overview (runner + evidence): median {med['step']:.2f} s of {runs('step')}")
    ratio = med["step"] / med["bare"]
    print(f"ratio step / bare papermill: {ratio:.3f} (goal <= 1.5)")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
