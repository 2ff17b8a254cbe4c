"""Benchmarks (``make bench`` = ``python -m benchmarks``). Each prints its figures and its ratio on the last line.

``python -m benchmarks`` runs, each in its own process with fresh temporary state:
  seed_workflow  1. critical path of the seed workflow (``make demo``) over the simulated gateway time T,
                    with the sequential baseline measured in the same run
  step_overhead  2. a headless read-only step over a bare papermill run of an empty notebook, same kernel
  fleet_audit    3. audit of 1,000 connections in 50 resource groups over the naive per-connection GET loop
  fleet_rollout  4. rollout to 200 connections, 8 workers, injected 429 throttling, over the sequential run
  fleet_resource_graph  5. audit of 10,000 connections in 10 subscriptions through Resource Graph (goal < 10 s),
                    over the per-resource-group list audit of the same subscriptions in the same run
  airflow_seed   6. the seed workflow under a real Airflow scheduler (LocalExecutor) over `vpnrunbook demo`
                    (needs .venv/airflow-3.3.2; skipped without it)
  server_https   7. 1,000 HTTPS GETs at 100 concurrency against `emulator serve`, clients keeping their
                    connection over a new connection per request (same run)
  activity_crosscheck  8. crosscheck of a 1,000-connection rollout's ledger against the Activity Log: pages
                    read over the ledger's lines (one query per subscription, not one per resource)
  ledger_growth  10. one ledger append at 100,000 lines over one at 10 (before: the whole-ledger read, same run);
                    `evidence verify` of 100,000 lines, full and from the last signed checkpoint
  evidence_size  11. evidence of a read-only run (`vpnrunbook run 07`) and of a 1,000-connection rollout, before
                    (the template's head, the manifest's record copies: recomputed from the same runs) and after
  history_cost   12. the same rollout (300 connections) on a 100,000-line history over on a fresh ledger, same run
``python -m benchmarks fleet_audit fleet_rollout`` runs only those. Runnable by name but not in the default list
(they measure no speed): team_cost (the cost model of a team and a fleet per day: evidence on disk, ARM's request
budget; docs/evidence-object-storage.md). The other scripts in this folder
(emulator.py, operations_seed.py, runbook_demo.py, ui_widgets.py, device_lab.py) are run directly.
"""

BENCHMARKS = ("seed_workflow", "step_overhead", "fleet_audit", "fleet_rollout", "fleet_resource_graph", "airflow_seed",
              "server_https", "activity_crosscheck", "rollout_arm_limits", "ledger_growth", "evidence_size",
              "history_cost")
BY_NAME_ONLY = ("team_cost",)  # `python -m benchmarks team_cost`; not run by `make bench`
