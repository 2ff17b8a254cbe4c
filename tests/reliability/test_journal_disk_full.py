"""A full disk as `ulimit -f` makes it (RLIMIT_FSIZE set in the child before exec: every file the runner and its
kernel write is capped, writes beyond fail with EFBIG). A change is either recorded (intent + outcome) or refused:
- a cap hit while the HTML is written: the change is applied with its intent and outcome, the HTML is named in the
  manifest's file_errors instead of left truncated, and verify passes (it counts the run and the change). Since
  the page is lean (issue 24: ~30 KB, smaller than the notebook and the emulator's WAL), no single cap falls
  between it and the files before it: the runner's own process lowers its cap to 4 KiB for that one write
  (`sitecustomize`, below), so the write still fails with a real EFBIG half-way;
- a ledger already at the cap: the intent cannot be written, so the change is refused — nothing written —
  with an error saying why; the ledger is left whole (no half line) and verify reports the run it could not record.
Also the in-process form: an unwritable ledger refuses apply_plan before any write request."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_OK, main
from vpnrunbook.evidence import journal, ledger

pytestmark = pytest.mark.slow
SEED = REPO / "parameters" / "seed"
CAP = 240 * 1024  # above the emulator's WAL, notebook and manifest of run 05; below its HTML (~310 KB)


# Loaded by the runner (and its kernel) through PYTHONPATH: when vpnrunbook.evidence.rundir is imported, its
# write_once writes notebook.html under a 4 KiB RLIMIT_FSIZE (Python ignores SIGXFSZ: the write fails with EFBIG)
HTML_CAP_HOOK = """
import importlib.abc, importlib.util, resource, sys

class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "vpnrunbook.evidence.rundir":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            real = module.write_once

            def write_once(folder, name, text):
                if name != "notebook.html":
                    return real(folder, name, text)
                soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
                try:
                    return real(folder, name, text)
                finally:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

            module.write_once = write_once

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Hook())
"""


def _run_05_capped(cap: int, *, hook: Path | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))

    env = dict(os.environ)
    if hook is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "05", "-p",
                           str(SEED / "05_update_vnet1_to_site6.yaml"), "--apply"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)


def _etag() -> str:
    from vpnrunbook.azure.connect import connect

    return connect(target="emulator").network.virtual_network_gateway_connections.get(
        "TestRG1", "VNet1toSite6").etag


def _verify(root: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", "--evidence-dir", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_efbig_on_the_html_keeps_the_change_records_and_says_so(seeded, capsys, tmp_path):
    root = seeded["evidence"]
    before = _etag()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HTML_CAP_HOOK)
    r = _run_05_capped(CAP, hook=hook)
    assert "Traceback" not in r.stdout + r.stderr, r.stderr[-3000:]
    assert r.returncode == EXIT_OK, r.stdout + r.stderr[-3000:]
    assert _etag() != before, "the change was applied"
    kinds = [e.get("kind") for _, _, e in ledger.read(root)]
    assert kinds == ["intent", "outcome", "run"]
    (run,) = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert not (run / "notebook.html").exists() and not list(run.glob(".*.tmp")), "no truncated or temp file"
    manifest = json.loads((run / "manifest.json").read_text())
    assert "File too large" in manifest["file_errors"]["notebook.html"]
    assert [e["kind"] for e in manifest["journal"]] == ["intent", "outcome"]
    code, text = _verify(root, capsys)
    assert code == EXIT_OK and "1 run(s) and 1 change(s)" in text, text


def test_a_ledger_that_cannot_grow_refuses_the_change(seeded, capsys):
    root = seeded["evidence"]
    root.mkdir(parents=True, exist_ok=True)
    while (root / ledger.LEDGER_NAME).stat().st_size < CAP if (root / ledger.LEDGER_NAME).exists() else True:
        ledger.append(root, {"kind": "note", "text": "x" * 8000})  # a valid chain, already at the cap
    whole = (root / ledger.LEDGER_NAME).read_bytes()
    before = _etag()
    r = _run_05_capped(CAP)
    out = r.stdout + r.stderr
    assert r.returncode != EXIT_OK
    assert "EvidenceUnavailableError" in out and "the intent record could not be written" in out, out[-3000:]
    assert "nothing was changed" in out
    assert _etag() == before, "refused before any write"
    assert (root / ledger.LEDGER_NAME).read_bytes() == whole, "no half line appended"
    code, text = _verify(root, capsys)
    assert code == EXIT_EVIDENCE and "0 run(s)" not in text, text
    assert "no ledger line" in text or "has no manifest" in text, text


def test_unwritable_ledger_refuses_apply_before_any_write(seeded, monkeypatch):
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    session = connect(target="emulator")
    plan = ops.plan_connection_update(session, resource_group="TestRG1", connection_name="VNet1toSite6",
                                      dpd_timeout_seconds=41)
    sent = len(session.transport.requests)

    def refuse(root, entry):
        raise PermissionError(13, "Permission denied", str(root / ledger.LEDGER_NAME))

    monkeypatch.setattr(ledger, "append", refuse)
    with pytest.raises(journal.EvidenceUnavailableError, match="nothing was changed"):
        ops.apply_plan(session, plan)
    assert not [r for r in session.transport.requests[sent:] if r[0] in ("PUT", "DELETE", "PATCH")]
    assert not [p for p in seeded["evidence"].glob("*") if p.is_dir() and not p.name.startswith(".")], \
        "no empty run folder left"
