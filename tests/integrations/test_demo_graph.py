"""``vpnrunbook demo --graph``: the demo's dependency graph for schedulers, with who creates awaited groups."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_graph_names_its_source_file(capsys):
    import vpnrunbook.runbook.demo as demo

    assert main(["demo", "--graph"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == str(Path(demo.__file__).resolve())


def test_groups_exist_answers_a_schedulers_sensor(capsys):
    from vpnrunbook.azure.connect import connect

    assert main(["demo", "--groups-exist", "TestRG1", "TestRG2"]) == 1      # a fresh emulator: none yet
    assert "TestRG1, TestRG2" in capsys.readouterr().out
    connect(target="emulator").resources.resource_groups.create_or_update("TestRG1", {"location": "eastus"})
    assert main(["demo", "--groups-exist", "TestRG1", "TestRG2", "--wait", "0.3"]) == 1   # looked again: TestRG2
    out = capsys.readouterr().out
    assert "TestRG2" in out and "TestRG1" not in out
    assert main(["demo", "--groups-exist", "TestRG1"]) == 0
    assert main(["demo", "--groups-exist", "TestRG1", "--wait", "nan"]) == 2             # refused, named
    assert "--wait nan" in capsys.readouterr().err
