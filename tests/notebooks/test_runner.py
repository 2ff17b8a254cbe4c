"""The papermill runner on a tiny notebook: outcomes, exit codes, timeouts, evidence files, secret scrubbing."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from tests.notebooks.conftest import files_containing
from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from vpnrunbook.evidence import ledger, rundir
from vpnrunbook.evidence.export import remote_references
from vpnrunbook.runbook.runner import Timeouts, execute

pytestmark = pytest.mark.slow


def _run(nb, mode, **kw):
    return execute(nb, step="tiny", parameters={"x": 7, "key_ref": "env:TINY_KEY", "mode": mode}, **kw)


def test_success_writes_all_evidence(tiny_notebook, evidence_root, planted_key):
    r = _run(tiny_notebook, "ok", apply=True)
    assert (r.outcome, r.exit_code) == ("succeeded", EXIT_OK)
    files = sorted(p.name for p in r.run_dir.iterdir())
    assert files == ["manifest.json", "notebook.html", "notebook.ipynb"]
    m = json.loads((r.run_dir / "manifest.json").read_text())
    for key in ("run_id", "step", "parameters", "operator", "target", "subscription_id", "versions", "started",
                "ended", "outcome", "changes", "files"):
        assert key in m, key
    assert m["parameters"]["key_ref"] == "env:TINY_KEY" and m["parameters"]["apply"] is True
    assert m["versions"]["azure-mgmt-network"] == "33.1.0"
    assert m["changes"][0]["before"] == {"x": 0} and m["changes"][0]["after"]["x"] == 7
    for name, digest in m["files"].items():
        assert ledger.sha256_file(r.run_dir / name) == digest
    nb = nbformat.read(str(r.run_dir / "notebook.ipynb"), as_version=4)
    assert any("done 7" in "".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", []))
    assert nb.metadata["vpnrunbook"]["outcome"] == "succeeded"
    assert rundir.list_runs(evidence_root)[0]["run_id"] == r.run_id
    assert rundir.verify(evidence_root) == []


def test_planted_key_never_reaches_evidence(tiny_notebook, evidence_root, planted_key):
    ok = _run(tiny_notebook, "ok")
    bad = _run(tiny_notebook, "fail")
    assert bad.outcome == "failed"
    assert files_containing(evidence_root, planted_key) == []
    assert planted_key not in (bad.error or "")
    m = json.loads((ok.run_dir / "manifest.json").read_text())
    assert m["scrubbed_occurrences"] >= 2   # printed output + the sharedKey field of the record
    assert m["changes"][0]["after"]["sharedKey"] != planted_key


def test_failed_run_keeps_evidence_and_exits_failed(tiny_notebook, evidence_root, planted_key):
    r = _run(tiny_notebook, "fail")
    assert (r.outcome, r.exit_code) == ("failed", EXIT_FAILED)
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert m["outcome"] == "failed" and m["error"]["type"] == "RuntimeError"
    assert (r.run_dir / "notebook.html").exists() and (r.run_dir / "notebook.ipynb").exists()
    assert m["changes"], "results recorded before the failing cell still reach the manifest"
    assert rundir.verify(evidence_root) == []


def test_refusal_inside_notebook_is_a_usage_error(tiny_notebook, evidence_root, planted_key):
    r = _run(tiny_notebook, "refuse")
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE)
    assert "x: is refused" in r.error


def test_cell_timeout(tiny_notebook, evidence_root, planted_key):
    r = _run(tiny_notebook, "sleep", timeouts=Timeouts(start=60, cell=2, run=120))
    assert (r.outcome, r.exit_code) == ("timed_out", EXIT_TIMEOUT)
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert m["outcome"] == "timed_out" and m["error"]["type"] == "CellTimeout"


def test_run_timeout_kills_the_kernel(tiny_notebook, evidence_root, planted_key):
    r = _run(tiny_notebook, "sleep", timeouts=Timeouts(start=60, cell=120, run=4))
    assert (r.outcome, r.exit_code) == ("timed_out", EXIT_TIMEOUT)
    m = json.loads((r.run_dir / "manifest.json").read_text())
    assert m["error"]["type"] == "RunTimeout" and m["duration_seconds"] < 60
    assert rundir.verify(evidence_root) == []


def test_runs_never_overwrite_and_html_is_offline(tiny_notebook, evidence_root, planted_key):
    a = _run(tiny_notebook, "ok")
    b = _run(tiny_notebook, "ok")
    assert a.run_dir != b.run_dir and a.run_dir.exists() and b.run_dir.exists()
    html = (a.run_dir / "notebook.html").read_text()
    assert remote_references(html) == []
    assert not re.search(r"<script[^>]+src=", html)
    assert "done 7" in html
    seqs = [e["seq"] for e in rundir.list_runs(evidence_root)]
    assert seqs == [1, 2]


def test_kernel_is_this_environment(tmp_path, evidence_root):
    from tests.notebooks.conftest import make_notebook

    nb = make_notebook(tmp_path / "exe.ipynb", ["x: int = 1  # unused", "import sys\nprint('EXE=' + sys.executable)"])
    r = execute(nb, step="exe", parameters={}, apply=None)
    assert r.outcome == "succeeded"
    import sys

    out = nbformat.read(str(r.run_dir / "notebook.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert f"EXE={sys.executable}" in text


def test_key_with_markup_characters_is_scrubbed_everywhere(tiny_notebook, evidence_root, monkeypatch):
    key = 'Pl@nted<Key>&"Quote\'s\\1'   # Azure accepts every printable ASCII except space, '-' and '~'
    monkeypatch.setenv("TINY_KEY", key)
    ok = _run(tiny_notebook, "ok")
    bad = _run(tiny_notebook, "fail")
    assert (ok.outcome, bad.outcome) == ("succeeded", "failed")
    assert files_containing(evidence_root, key) == []
    assert key not in (bad.error or "")


def test_sigterm_still_leaves_evidence_marked_failed(tiny_notebook, evidence_root, planted_key):
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys\n"
            "from vpnrunbook.runbook.cli import _interrupt_on_sigterm\n"
            "from vpnrunbook.runbook.runner import execute\n"
            "_interrupt_on_sigterm()\n"
            "try:\n"
            f"    execute({str(tiny_notebook)!r}, step='tiny', parameters={{'x': 1, 'key_ref': 'env:TINY_KEY', "
            "'mode': 'sleep'})\n"
            "except KeyboardInterrupt:\n"
            "    sys.exit(130)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(evidence_root.glob("*-tiny-*")):
            time.sleep(0.2)
        time.sleep(4)  # inside the sleeping cell
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    (run,) = rundir.list_runs(evidence_root)
    m = rundir.load_manifest(evidence_root, run["run_id"])
    assert m["outcome"] == "failed" and m["error"]["type"] == "Interrupted"
    assert rundir.verify(evidence_root) == []
    assert files_containing(evidence_root, planted_key) == []


def test_a_run_never_changes_the_process_working_folder(tmp_path, evidence_root):
    """Parallel runs (the demo's, a scheduler's threads) share one process: a run's `cwd` is its kernel's folder,
    never an os.chdir of the process that the other threads' relative paths would follow."""
    import os
    import threading

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os, time\nprint(os.getcwd())\ntime.sleep(1.5)")]
    path = tmp_path / "cwd.ipynb"
    nbformat.write(nb, path)
    folder = tmp_path / "kernel-folder"
    folder.mkdir()
    here = os.getcwd()
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.add(os.getcwd())
            stop.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        r = execute(path, step="cwd", parameters={}, apply=None, evidence_dir=evidence_root, cwd=folder)
    finally:
        stop.set()
        sampler.join()
    assert r.outcome == "succeeded", r.error
    assert seen == {here}
    out = nbformat.read(r.run_dir / rundir.NOTEBOOK_FILE, as_version=4)
    printed = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert str(folder) in printed  # the kernel itself ran in the folder asked for


def test_kernel_is_gone_when_the_run_returns(tmp_path, evidence_root):
    """The kernel is killed when the notebook ends and reaped before its records are read: no process (not even a
    zombie) of the run is left when ``execute`` returns."""
    import os

    from tests.notebooks.conftest import make_notebook

    nb = make_notebook(tmp_path / "pid.ipynb", ["x: int = 1  # unused", "import os\nprint('PID=%d' % os.getpid())"])
    r = execute(nb, step="pid", parameters={}, apply=None)
    assert r.outcome == "succeeded"
    out = nbformat.read(str(r.run_dir / "notebook.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    pid = int(re.search(r"PID=(\d+)", text).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_reap_kills_and_waits_for_every_kernel():
    """What the runner does before it reads the kernel's records: a kernel still running is killed, and every
    kernel is waited for (its exit status collected), so nothing of the run writes afterwards."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from vpnrunbook.runbook.runner import _reap_kernels

    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    procs[1].kill()  # killed already (as the kernel manager does), not yet waited for
    _reap_kernels([SimpleNamespace(provisioner=SimpleNamespace(process=p)) for p in procs])
    assert all(p.returncode is not None for p in procs)
