"""`vpnrunbook lab` opens on START.md, rendered: the notebooks in the seed document's order with their seed
parameter files; the file browser lists notebooks/, parameters/ and evidence/ (and the two pages) before anything
else — the package's code, tests and build files are not listed (they still open by path)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fnmatch import fnmatch

from tests.conftest import REPO
from vpnrunbook.runbook.demo import RUNS
from vpnrunbook.runbook.steps import STEPS
from vpnrunbook.ui.lab import HIDDEN_FROM_LISTING, LAB_OVERRIDES, START_PAGE, lab_command, write_lab_settings


def test_start_page_lists_every_notebook_in_order_with_its_seed_files():
    text = (REPO / START_PAGE).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"\| \d \| \[", line)]
    assert [re.search(r"\(notebooks/([\w.]+)\)", r).group(1) for r in rows] == [s.path.name for s in STEPS.values()]
    for run in RUNS:  # every seed parameter file is linked from its step's row
        (row,) = [r for r in rows if f"notebooks/{run.step}.ipynb" in r]
        assert f"(parameters/seed/{run.params})" in row, run.params
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # every link opens something
        assert (REPO / target).exists(), target


def test_lab_opens_on_the_start_page_rendered_and_lists_what_an_operator_uses(tmp_path):
    cmd = lab_command(REPO)
    assert f"--LabApp.default_url=/lab/tree/{START_PAGE}" in cmd  # `/` and the printed URL open it
    (globs,) = [a.split("=", 1)[1] for a in cmd if a.startswith("--ContentsManager.hide_globs=")]
    hidden = json.loads(globs)
    listed = sorted(p.name for p in REPO.iterdir() if not p.name.startswith(".")
                    and not any(fnmatch(p.name, g) for g in hidden))
    assert set(listed) <= {"notebooks", "parameters", "evidence", "START.md", "README.md"}, listed
    assert {"notebooks", "parameters"} <= set(listed) and not {"notebooks", "parameters", "evidence"} & set(hidden)
    assert hidden == list(HIDDEN_FROM_LISTING)
    overrides = json.loads(write_lab_settings(tmp_path).read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["markdown"] == "Markdown Preview"
    assert overrides == LAB_OVERRIDES
    assert lab_command(tmp_path)[-1] != f"--LabApp.default_url=/lab/tree/{START_PAGE}"  # no page, no default URL


def test_lab_refuses_its_own_options_after_the_separator():
    out = subprocess.run([sys.executable, "-m", "vpnrunbook", "lab", "--dry-run", "--", "--port=9999"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "`vpnrunbook lab --port ...` before `--`" in out.stderr
    ok = subprocess.run([sys.executable, "-m", "vpnrunbook", "lab", "--dry-run", "--port", "8890", "--",
                         "--ServerApp.port_retries=0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "--port=8890" in ok.stdout and ok.stdout.rstrip().endswith("port_retries=0")
