"""CLI wiring of `vpnrunbook run` / `demo` that needs no kernel, and the demo's shared-key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vpnrunbook.cli import EXIT_USAGE, main
from vpnrunbook.evidence import rundir
from vpnrunbook.runbook.demo import DOCUMENT_SHARED_KEY, SEED_KEY_ENV, ensure_seed_key


def test_demo_key_is_the_documents_by_reference_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.delenv(SEED_KEY_ENV, raising=False)
    source = ensure_seed_key()
    key = os.environ[SEED_KEY_ENV]
    path = Path(os.environ["VPNRUNBOOK_STATE_DIR"]) / "secrets" / "seed-demo.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key == DOCUMENT_SHARED_KEY == "AzureA1b2C3", "nothing exported: the seed reference gets the document's key"
    assert key not in source and source.startswith("file:") and "the document's example key" in source
    path.write_text("EarlierDemoKey0123456789abcdefXY")  # a state an earlier demo left keeps its key
    monkeypatch.delenv(SEED_KEY_ENV)
    assert "an earlier demo" in ensure_seed_key()
    assert os.environ[SEED_KEY_ENV] == "EarlierDemoKey0123456789abcdefXY", "re-runs reuse the same key"
    monkeypatch.setenv(SEED_KEY_ENV, "MyOwnKey0123")
    assert ensure_seed_key().endswith("(already set)") and os.environ[SEED_KEY_ENV] == "MyOwnKey0123"


def test_run_reads_the_demos_key_when_nothing_is_exported(tmp_path, monkeypatch):
    from vpnrunbook.runbook.demo import seed_key_from_demo

    monkeypatch.delenv(SEED_KEY_ENV, raising=False)
    assert not seed_key_from_demo(), "no demo yet: nothing to read"
    ensure_seed_key()
    monkeypatch.delenv(SEED_KEY_ENV)
    assert seed_key_from_demo() and os.environ[SEED_KEY_ENV] == DOCUMENT_SHARED_KEY
    monkeypatch.setenv(SEED_KEY_ENV, "MyOwnKey0123")
    assert not seed_key_from_demo() and os.environ[SEED_KEY_ENV] == "MyOwnKey0123", "an exported key wins"


def test_unknown_step_and_bad_timeouts(capsys, tmp_path):
    assert main(["run", "99_nothing", "--evidence-dir", str(tmp_path / "ev")]) == EXIT_USAGE
    assert "unknown step '99_nothing'; steps: 01_create_vnet_gateway" in capsys.readouterr().err
    assert main(["run", "06", "--timeout", "0", "--evidence-dir", str(tmp_path / "ev")]) == EXIT_USAGE
    assert "--timeout: 0 s is out of range; allowed: a finite number of seconds" in capsys.readouterr().err
    assert [r["outcome"] for r in rundir.list_runs(tmp_path / "ev")] == ["refused", "refused"]   # (the gate)


def test_missing_parameter_file_is_refused_with_evidence(tmp_path, capsys):
    root = tmp_path / "ev"
    code = main(["run", "06", "-p", str(tmp_path / "nope.yaml"), "--evidence-dir", str(root)])
    assert code == EXIT_USAGE
    assert "cannot be read" in capsys.readouterr().err
    (run,) = rundir.list_runs(root)
    assert run["outcome"] == "refused" and rundir.verify(root) == []


def test_demo_refuses_azure_target(monkeypatch, capsys):
    monkeypatch.setenv("VPNRUNBOOK_TARGET", "azure")
    assert main(["demo"]) == EXIT_USAGE
    assert "emulator only" in capsys.readouterr().err


def test_describe_lists_every_parameter(capsys):
    from vpnrunbook.runbook.steps import get_step

    assert main(["run", "connect", "--describe"]) == 0
    out = capsys.readouterr().out
    for p in get_step("04").params:
        assert f"  {p.name}: {p.type}" in out


class _FakeRuns:
    """Stands in for run_step in the demo's scheduler: records start/end, fails the chosen parameter files."""

    def __init__(self, fail=(), gateway_seconds=0.3, group_after=0.05):
        import threading

        self.fail, self.gateway_seconds, self.lock = set(fail), gateway_seconds, threading.Lock()
        self.times: dict[str, tuple[float, float]] = {}
        self.active = self.most_active = 0
        self.started: dict[str, float] = {}
        self.group_after = group_after

    def group_exists(self, name):  # TestRGn appears group_after s after 01_vnetN_gateway started (its first cell)
        import time

        run = {"TestRG1": "01_vnet1_gateway.yaml", "TestRG2": "01_vnet2_gateway.yaml"}[name]
        start = self.started.get(run)
        return start is not None and time.monotonic() - start >= self.group_after and run not in self.fail

    def __call__(self, step, *, params_file, **_):
        import time

        from vpnrunbook.runbook.runner import RunResult

        name = Path(params_file).name
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        start = self.started[name] = time.monotonic()
        time.sleep(self.gateway_seconds if step.startswith("01") else 0.02)
        with self.lock:
            self.active -= 1
            self.times[name] = (start, time.monotonic())
        outcome, code = ("failed", 1) if name in self.fail else ("succeeded", 0)
        return RunResult(run_id=f"run-{name}", run_dir=Path("."), step=step, outcome=outcome, exit_code=code)


def test_demo_starts_each_run_once_its_needs_succeeded(tmp_path, monkeypatch):
    import io

    from vpnrunbook.runbook import demo

    fake = _FakeRuns()
    monkeypatch.setattr(demo, "run_step", fake)
    monkeypatch.setattr(demo._ResourceGroups, "exists", lambda _self, name: fake.group_exists(name))
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    out = io.StringIO()
    assert demo.run_demo(evidence_dir=tmp_path / "ev", max_parallel=5, out=out) == 0, out.getvalue()
    assert set(fake.times) == {r.params for r in demo.RUNS}
    gateways_done = min(fake.times[f][1] for f in ("01_vnet1_gateway.yaml", "01_vnet2_gateway.yaml"))
    for f in ("02_site6.yaml", "03_policy_seed_s2s.yaml", "03_policy_seed_vnet2vnet.yaml"):
        assert fake.times[f][0] < gateways_done, f"{f} runs while the gateways build"
    assert fake.times["02_site6.yaml"][0] >= fake.started["01_vnet1_gateway.yaml"] + fake.group_after, \
        "02 waits for its resource group"
    for f in ("03_policy_seed_s2s.yaml", "03_policy_seed_vnet2vnet.yaml"):
        assert fake.times[f][0] >= max(fake.started[g] for g in ("01_vnet1_gateway.yaml", "01_vnet2_gateway.yaml"))
    for r in demo.RUNS:
        for need in r.needs:
            assert fake.times[r.params][0] >= fake.times[need][1], f"{r.params} started before {need} ended"
    assert "summary:" in out.getvalue() and "not run" not in out.getvalue()


def test_demo_caps_parallel_runs(tmp_path, monkeypatch):
    import io

    from vpnrunbook.runbook import demo

    fake = _FakeRuns(gateway_seconds=0.1)
    monkeypatch.setattr(demo, "run_step", fake)
    monkeypatch.setattr(demo._ResourceGroups, "exists", lambda _self, name: fake.group_exists(name))
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    assert demo.run_demo(evidence_dir=tmp_path / "ev", max_parallel=2, out=io.StringIO()) == 0
    assert fake.most_active == 2
    monkeypatch.setenv(demo.MAX_PARALLEL_ENV, "0")
    assert demo.run_demo(evidence_dir=tmp_path / "ev", out=io.StringIO()) == EXIT_USAGE


def test_demo_does_not_run_what_depends_on_a_failed_run(tmp_path, monkeypatch):
    import io

    from vpnrunbook.runbook import demo

    fake = _FakeRuns(fail={"02_site6.yaml"}, gateway_seconds=0.05)
    monkeypatch.setattr(demo, "run_step", fake)
    monkeypatch.setattr(demo._ResourceGroups, "exists", lambda _self, name: fake.group_exists(name))
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    out = io.StringIO()
    assert demo.run_demo(evidence_dir=tmp_path / "ev", out=out) == 1
    not_run = {"04_vnet1_to_site6.yaml", "05_update_vnet1_to_site6.yaml", "06_remove_vnet1_to_site6.yaml",
               "07_overview.yaml"}
    assert set(fake.times) == {r.params for r in demo.RUNS} - not_run, "the VNet-to-VNet branch still runs"
    listed = out.getvalue().split("not run after the failure: ")[1].splitlines()[0]
    assert set(listed.split(", ")) == not_run


def test_demo_does_not_start_a_run_whose_resource_group_never_appears(tmp_path, monkeypatch):
    import io

    from vpnrunbook.runbook import demo

    fake = _FakeRuns(fail={"01_vnet1_gateway.yaml"}, gateway_seconds=0.05)
    monkeypatch.setattr(demo, "run_step", fake)
    monkeypatch.setattr(demo._ResourceGroups, "exists", lambda _self, name: fake.group_exists(name))
    monkeypatch.delenv("VPNRUNBOOK_TARGET", raising=False)
    out = io.StringIO()
    assert demo.run_demo(evidence_dir=tmp_path / "ev", out=out) == 1
    assert "02_site6.yaml" not in fake.times
    assert "02_site6.yaml" in out.getvalue().split("not run after the failure: ")[1]


def test_demo_graph_refuses_an_unknown_need():
    import pytest

    from vpnrunbook.runbook.demo import DemoRun, check_graph

    with pytest.raises(ValueError, match="needs 'nope.yaml'"):
        check_graph((DemoRun("07_overview", "07_overview.yaml", needs=("nope.yaml",)),))
