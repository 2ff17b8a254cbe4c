"""Benchmark 2: per-step overhead — a headless read-only step over a bare papermill run of an empty notebook.

The step is ``vpnrunbook run 07_overview`` (read-only: shows the connections and their policies) through the
runner (parameter validation, papermill, HTML export, scrubbing, evidence, ledger) against a small emulator
fleet (one resource group, four connections). The baseline is ``papermill.execute_notebook`` of a notebook with
one empty code cell on the same kernel (this environment's ``python3``). Median of 3 runs each, after one
warm-up of each. Last line: step / bare.
Run: ``python -m benchmarks.step_overhead [repeats]``.
"""

from __future__ import annotations

import logging
import sys

from benchmarks._common import fresh_state, median_time


def main(argv: list[str]) -> float:
    repeat = int(argv[0]) if argv else 3
    base = fresh_state("step")
    import nbformat
    import papermill as pm

    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.seed import seed_fleet
    from vpnrunbook.runbook.demo import REPO
    from vpnrunbook.runbook.runner import run_step

    seed_fleet(connect(target="emulator"), connections=4, resource_groups=1, vnet_to_vnet_pairs=0)
    empty = base / "empty.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(""))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, empty)
    logging.getLogger("papermill").setLevel(logging.ERROR)

    def bare() -> None:
        pm.execute_notebook(str(empty), str(base / "empty-out.ipynb"), kernel_name="python3", progress_bar=False,
                            cwd=str(REPO))

    def step() -> None:
        result = run_step("07_overview", parameters={"resource_groups": ["fleet-rg-000"]}, cwd=REPO)
        if not result.ok:
            raise SystemExit(f"07_overview failed: {result.message}")

    def notebook_only() -> None:  # the step's notebook through bare papermill: separates runner cost
        pm.execute_notebook(str(REPO / "notebooks" / "07_overview.ipynb"), str(base / "07-out.ipynb"),
                            parameters={"resource_groups": ["fleet-rg-000"]}, kernel_name="python3",
                            progress_bar=False, cwd=str(REPO))

    bare()
    step()
    t_bare, bare_runs, _ = median_time(bare, repeat)
    t_step, step_runs, _ = median_time(step, repeat)
    t_nb, _runs, _ = median_time(notebook_only, repeat)
    print(f"bare papermill, empty notebook: median {t_bare:.2f} s of {', '.join(f'{t:.2f}' for t in bare_runs)}")
    print(f"07_overview notebook through bare papermill (no runner, no evidence): median {t_nb:.2f} s")
    print(f"headless read-only step 07_overview (runner + evidence): median {t_step:.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in step_runs)}")
    ratio = t_step / t_bare
    print(f"ratio step / bare papermill: {ratio:.3f} (goal <= 1.5)")
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
