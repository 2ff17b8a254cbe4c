"""The cost model behind docs/evidence-object-storage.md (benchmarks/team_cost.py): its sums, and its command line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import BENCHMARKS, BY_NAME_ONLY
from benchmarks.team_cost import Figures, main, row, table

REPO = Path(__file__).resolve().parents[2]


def test_one_operator_one_subscription_adds_up_by_hand():
    f = Figures(change_run_kb=100, read_only_run_kb=50, checkpoint_kb=2, rollout_1000_mb=14, rollout_1000_writes=700,
                changes_per_operator_day=10, read_only_runs_per_operator_day=20, rollouts_per_week=1,
                change_reads=20, change_writes=1, read_only_reads=3, rollout_reads_per_write=2.0, audit_arm_reads=1,
                change_lines=3, read_only_lines=1)
    r = row(f, 1, 1_000, 1)
    # 10 changes x 100 KB + 20 read-only x 50 KB + 30 checkpoints x 2 KB + a 14 MB rollout spread over 7 days
    assert r.bytes_per_day == pytest.approx(1_000_000 + 1_000_000 + 60_000 + 2_000_000)
    assert r.rollout_share == pytest.approx(2_000_000 / 4_060_000)
    # the rollout day: the team's reads, the audit's read, 2 reads per written connection; the team's writes + 700
    assert (r.reads_peak, r.writes_peak) == (10 * 20 + 20 * 3 + 1 + 1_400, 10 + 700)
    assert r.rollout_seconds == pytest.approx(70.0)  # 700 writes at 10 per second
    assert r.lines_per_year == round((10 * 3 + 20 * 1 + (2 * 700 + 1) / 7) * 365)


def test_a_fleet_spread_over_subscriptions_costs_each_subscription_its_share():
    f = Figures()
    one = row(f, 5, 1_000, 1)
    spread = row(f, 5, 50_000, 50)
    assert (spread.reads_peak, spread.writes_peak, spread.rollout_seconds) == \
        (one.reads_peak, one.writes_peak, one.rollout_seconds)       # per subscription: as 1,000 connections
    assert spread.bytes_per_day > 40 * one.bytes_per_day * one.rollout_share  # the disk holds all 50 records


def test_a_smaller_rollout_figure_shrinks_only_the_rollouts_part():
    f = Figures()
    before, after = row(f, 1, 10_000, 1), row(replace(f, rollout_1000_mb=f.rollout_1000_mb / 2), 1, 10_000, 1)
    team = before.bytes_per_day * (1 - before.rollout_share)
    assert after.bytes_per_day == pytest.approx(team + before.bytes_per_day * before.rollout_share / 2)
    assert "| 20 | 50,000 (50) |" in table(f)


def test_bad_rollout_figure_is_refused_naming_what_is_allowed(capsys):
    assert main(["--rollout-mb", "-3"]) == 2
    assert "--rollout-mb -3 is not allowed; allowed: more than 0" in capsys.readouterr().err
    assert main(["--rollout-mb"]) == 2
    assert main(["--frobnicate"]) == 2
    assert "allowed: --measure, --rollout-mb MB" in capsys.readouterr().err


def test_runs_by_name_but_not_in_make_bench():
    assert "team_cost" in BY_NAME_ONLY and "team_cost" not in BENCHMARKS
    out = subprocess.run([sys.executable, "-m", "benchmarks", "team_cost"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| operators | connections (subscriptions) | evidence per day |" in out.stdout
