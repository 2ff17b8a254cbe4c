"""The read-only show step (08) and what keeps a run quick: a light kernel, throttled output saves, the HTML
exporter made ready while the kernel works, ``-P`` parameters, and a ``vpnrunbook`` start without slow optional
imports."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import nbformat
import pytest

from tests.conftest import REPO, python_prints
from tests.notebooks.conftest import TINY_CELLS, make_notebook
from vpnrunbook.cli import EXIT_OK, EXIT_USAGE
from vpnrunbook.evidence import rundir
from vpnrunbook.runbook.runner import Timeouts, execute, run_step
from vpnrunbook.runbook.steps import STEPS

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """Two S2S connections and one Vnet2Vnet pair in the emulator; evidence under tmp_path."""
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.seed import seed_fleet

    monkeypatch.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(tmp_path / "ev"))
    seed_fleet(connect(target="emulator"), connections=4, resource_groups=2, vnet_to_vnet_pairs=1,
               policies=["strong-modern"])
    conns = list(connect(target="emulator").network.virtual_network_gateway_connections.list("fleet-rg-000"))
    return {"root": tmp_path / "ev", "s2s": next(c.name for c in conns if c.connection_type == "IPsec"),
            "v2v": next(c.name for c in conns if c.connection_type == "Vnet2Vnet")}


def _outputs(run_dir) -> str:
    nb = nbformat.read(str(run_dir / "notebook.ipynb"), as_version=4)
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            parts += ["".join(v) if isinstance(v, list) else str(v) for v in o.get("data", {}).values()]
    return "\n".join(parts)


def test_show_policy_of_a_vnet_to_vnet_connection(fleet):
    r = run_step("08", parameters={"resource_group": "fleet-rg-000", "connection_name": fleet["v2v"]})
    assert (r.outcome, r.exit_code) == ("succeeded", EXIT_OK), r.error
    (pol,) = [x for x in r.manifest["records"] if x["name"] == "policy"]
    assert pol["policy"]["ipsecEncryption"] == "GCMAES256" and pol["uses_default_proposals"] is False
    (ver,) = [x for x in r.manifest["records"] if x["name"] == "verify"]
    assert ver["peer"] and ver["status"] == "Connected"
    (fnd,) = [x for x in r.manifest["records"] if x["name"] == "findings"]
    assert [f["field"] for f in fnd["findings"]] == [w["field"] for w in pol["warnings"]], "the policy's own lint"
    html = (r.run_dir / "notebook.html").read_text()
    for text in ("strength", "IKE encryption", "both directions of the VNet-to-VNet pair", "esp_proposals"):
        assert text in html, text
    assert "aes256gcm16" in _outputs(r.run_dir), "the strongSwan proposals of the policy"
    assert r.manifest["apply"] is False and not any(c.get("applied") for c in r.manifest["changes"])


def test_show_policy_without_custom_policy_lists_azure_defaults(fleet):
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.operations import remove_policy

    session = connect()
    remove_policy(session, resource_group="fleet-rg-000", connection_name=fleet["s2s"], apply=True)
    r = run_step("08", parameters={"resource_group": "fleet-rg-000", "connection_name": fleet["s2s"]})
    assert r.outcome == "succeeded", r.error
    (pol,) = [x for x in r.manifest["records"] if x["name"] == "policy"]
    assert pol["uses_default_proposals"] is True and pol["policy"] is None
    out = _outputs(r.run_dir)
    assert "no custom policy — Azure's default proposals" in out and "IKE (main mode)" in out
    (fnd,) = [x for x in r.manifest["records"] if x["name"] == "findings"]
    flagged = {(f["field"], f["value"], f["strength"]) for f in fnd["findings"]}
    assert ("dh_group", "DHGroup2", "weak") in flagged and ("ike_encryption", "DES3", "deprecated") in flagged
    assert "a custom policy (step 05, e.g. preset strong-modern) stops offering them" in out


def test_show_of_a_missing_connection_is_refused_naming_it(fleet):
    r = run_step("08", parameters={"resource_group": "fleet-rg-000", "connection_name": "NoSuchConnection"})
    assert (r.outcome, r.exit_code) == ("refused", EXIT_USAGE)
    assert "NoSuchConnection" in r.error and r.manifest["error"]["type"] == "PrecheckError"


def test_show_kernel_stays_light(fleet, tmp_path):
    """The 08 notebook, plus a last cell, run as the show step: its kernel never imports pandas."""
    nb = nbformat.read(str(STEPS["08_show_policy"].path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nassert 'pandas' not in sys.modules, 'pandas imported'\n"
                                              "print('light kernel')"))
    path = tmp_path / "08_checked.ipynb"
    nbformat.write(nb, str(path))
    r = execute(path, step="08_show_policy", apply=None, cwd=REPO,
                parameters={"resource_group": "fleet-rg-000", "connection_name": fleet["s2s"]})
    assert r.outcome == "succeeded", r.error
    assert "light kernel" in _outputs(r.run_dir)


def test_output_notebook_is_saved_at_the_end_not_twice_per_cell(tmp_path, evidence_root, planted_key, monkeypatch):
    import papermill.engines as engines

    saves: list[str] = []
    real = engines.write_ipynb
    monkeypatch.setattr(engines, "write_ipynb", lambda nb, path: (saves.append(str(path)), real(nb, path)))
    cells = TINY_CELLS + [f"print('cell {i}')" for i in range(6)]
    r = execute(make_notebook(tmp_path / "many.ipynb", cells), step="tiny",
                parameters={"x": 1, "key_ref": "env:TINY_KEY", "mode": "ok"})
    assert r.outcome == "succeeded", r.error
    assert 1 <= len(saves) <= 2, f"{len(saves)} saves for {len(cells) + 1} cells"
    assert "cell 5" in _outputs(r.run_dir)


def test_timed_out_run_keeps_the_outputs_of_the_cells_that_ran(tmp_path, evidence_root, planted_key):
    cells = [TINY_CELLS[0], "print('first cell ran')", "import time\ntime.sleep(60)", "print('never')"]
    r = execute(make_notebook(tmp_path / "slow.ipynb", cells), step="tiny",
                parameters={"x": 1, "key_ref": "env:TINY_KEY", "mode": "ok"},
                timeouts=Timeouts(start=60, cell=2, run=120))
    assert r.outcome == "timed_out"
    out = _outputs(r.run_dir)
    assert "first cell ran" in out and "never" not in out


def test_reused_html_exporter_renders_like_a_new_one_in_any_thread():
    from nbconvert import HTMLExporter

    from vpnrunbook.evidence import export

    notebooks = [nbformat.read(str(STEPS[s].path), as_version=4) for s in ("05_update_policy", "08_show_policy")]
    expected = [export.make_offline(HTMLExporter(**export.EXPORTER_OPTIONS)
                                        .from_notebook_node(nb)[0]) for nb in notebooks]
    export.prepare()
    results: dict[int, list[str]] = {}

    def render(i: int) -> None:
        results[i] = [export.notebook_to_html(nb) for nb in notebooks * 2]

    threads = [threading.Thread(target=render, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3
    for htmls in results.values():
        assert htmls == expected * 2


def _cli(*args, env_extra=None, timeout=180):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "vpnrunbook", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def test_cli_set_parameters(fleet):
    ok = _cli("run", "08", "-P", "resource_group=fleet-rg-000", "-P", f"connection_name={fleet['v2v']}")
    assert ok.returncode == EXIT_OK, ok.stderr
    bad_type = _cli("run", "08", "-P", "resource_group=[a, b]", "-P", "connection_name=x")
    assert bad_type.returncode == EXIT_USAGE and "resource_group" in bad_type.stderr
    runs = rundir.list_runs(fleet["root"])
    assert [r["outcome"] for r in runs] == ["succeeded", "refused"]
    m = rundir.load_manifest(fleet["root"], runs[0]["run_id"])
    assert m["parameters"] == {"resource_group": "fleet-rg-000", "connection_name": fleet["v2v"]}


def test_cli_set_syntax_errors_are_refused_without_echoing_the_text(tmp_path):
    for arg, shown in (("connection_name", "'connection_name'"), ("shared_key:Secret0123", None)):
        proc = _cli("run", "08", "-P", arg, env_extra={"VPNRUNBOOK_EVIDENCE_DIR": str(tmp_path / "ev")})
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert "Secret0123" not in proc.stdout + proc.stderr
        if shown:
            assert shown in proc.stderr
    assert not (tmp_path / "ev").exists() or rundir.list_runs(tmp_path / "ev") == []
    # a value that is not valid YAML is a bad value like any other (issue 13): refused naming it, recorded
    proc = _cli("run", "08", "-P", "connection_name=[unclosed Secret0123",
                env_extra={"VPNRUNBOOK_EVIDENCE_DIR": str(tmp_path / "ev")})
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "connection_name: is not valid YAML" in proc.stderr and "Secret0123" not in proc.stdout + proc.stderr
    assert [r["outcome"] for r in rundir.list_runs(tmp_path / "ev")] == ["refused"]


def test_cli_start_skips_slow_optional_imports_and_notebooks_still_validate():
    check = ("import sys, nbformat, papermill\n"
             f"nbformat.validate(nbformat.read({str(STEPS['08_show_policy'].path)!r}, as_version=4))\n"
             "print(','.join(m for m in ('rfc3987_syntax', 'azure.identity') if sys.modules.get(m)) or '-')")
    guard = "from vpnrunbook.cli import skip_slow_optional_imports\nskip_slow_optional_imports()\n"
    assert python_prints(guard + check) == "-"
    # the guard is what keeps them out: without it the same imports load rfc3987_syntax and (through papermill's
    # abs:// handler) azure.identity, both installed here
    assert python_prints(check) == "rfc3987_syntax,azure.identity"
