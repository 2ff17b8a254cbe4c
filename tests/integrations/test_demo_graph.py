"""``vpnrunbook demo --graph``: the demo's dependency graph for schedulers, with who creates awaited groups."""

from __future__ import annotations

import json

import yaml

from vpnrunbook.cli import main
from vpnrunbook.runbook.demo import RUNS, SEED_DIR


def test_graph_is_the_demos_and_names_the_runs_that_create_awaited_groups(capsys):
    assert main(["demo", "--graph"]) == 0
    graph = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["params"], tuple(r["needs"]), tuple(r["resource_groups"])) for r in graph["runs"]] == \
        [(r.step, r.params, r.needs, r.resource_groups) for r in RUNS]
    listed: list[str] = []
    for run in graph["runs"]:
        assert len(run["groups_created_by"]) == len(run["resource_groups"])
        for group, creator in zip(run["resource_groups"], run["groups_created_by"], strict=True):
            assert creator in listed                     # created by a run listed (and started) before it
            made = yaml.safe_load((SEED_DIR / creator).read_text(encoding="utf-8"))["resource_group"]
            assert made == group
        listed.append(run["params"])
