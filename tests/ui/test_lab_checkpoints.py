"""Issue 21 item 4: opening evidence in `vpnrunbook lab` writes nothing into the run folder. JupyterLab creates a
checkpoint of a file it opens (POST /api/contents/<path>/checkpoints); with the command `vpnrunbook lab` runs, the
checkpoint goes under the state folder, and `evidence verify` still exits 0."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.jlab import free_port
from vpnrunbook.cli import EXIT_OK, main
from vpnrunbook.evidence import rundir
from vpnrunbook.evidence.scrub import Scrubber
from vpnrunbook.ui.lab import CHECKPOINTS_DIR, lab_command, lab_environment

pytestmark = pytest.mark.slow


def _request(url: str, token: str, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
        return json.loads(resp.read() or b"{}")


def test_opening_a_run_html_in_the_lab_leaves_the_run_folder_alone(tmp_path):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "parameters").mkdir()
    env = lab_environment(project, base={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                         "VPNRUNBOOK_SIGNING_DIR": str(tmp_path / "signing")})
    root = Path(env["VPNRUNBOOK_EVIDENCE_DIR"])
    started = rundir.utcnow()
    rec = rundir.RunEvidence(root=root, run_dir=rundir.new_run_dir(root, "s", started), step="s", started=started,
                             manifest={"outcome": "succeeded", "operator": {"user": "t"}})
    rec.write(notebook_text='{"cells": []}', html="<html><body>run</body></html>", records=[], scrubber=Scrubber([]),
              ended=rundir.utcnow())
    port, token = free_port(), secrets.token_hex(16)
    cmd = lab_command(project, port=port, extra=[f"--IdentityProvider.token={token}"])
    server = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                _request(f"{base}/api/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        rel = f"evidence/{rec.run_id}/notebook.html"
        made = _request(f"{base}/api/contents/{rel}/checkpoints", token, "POST")
        assert made.get("id") == "checkpoint"
        assert _request(f"{base}/api/contents/{rel}/checkpoints", token)[0]["id"] == "checkpoint"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not (rec.run_dir / ".ipynb_checkpoints").exists(), "nothing written into the run folder"
    kept = project / ".vpnrunbook" / CHECKPOINTS_DIR  # lab_command's default, the state folder's
    assert (kept / "evidence" / rec.run_id / ".ipynb_checkpoints" / "notebook-checkpoint.html").is_file()
    assert main(["evidence", "verify", "--evidence-dir", str(root)]) == EXIT_OK
