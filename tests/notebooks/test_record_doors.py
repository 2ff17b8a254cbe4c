"""Issue 21 item 2: one change record, built from what the apply path wrote, whatever the door.

The same change — the seed's 05 update on TestRG1/VNet1toSite6 (DHGroup24 → DHGroup14, AES256 → AES128,
SHA384 → SHA1: weakening warnings; DPD 45 → 30; policy-based traffic selectors on) — is made through four doors:
the Python API (its own run_scope), ``vpnrunbook run`` (the runner), a JupyterLab-like kernel driven by nbclient
with the Apply control clicked from a cell after the plan was shown, and a fleet rollout. Each door gets its own
evidence folder; the connection is put back between doors (into a scratch folder). The change records — the
manifest's ``change_record``, ``evidence show``'s record and the HTML's top — must carry the same plan rows,
warnings, verify read-back, status, connection, who and target."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from tests.notebooks.conftest import seed_site_state
from vpnrunbook.evidence import ledger, record

pytestmark = pytest.mark.slow
PARAMS = Path(__file__).resolve().parents[2] / "parameters" / "seed" / "05_update_vnet1_to_site6.yaml"
RG, CONN = "TestRG1", "VNet1toSite6"


def _update(**kw: Any) -> dict[str, Any]:
    p = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))
    return {"resource_group": RG, "connection_name": CONN, "policy": p["policy"],
            "dpd_timeout_seconds": p["dpd_timeout_seconds"],
            "use_policy_based_traffic_selectors": p["use_policy_based_traffic_selectors"], **kw}


def _reset(base: Path, mp: pytest.MonkeyPatch) -> None:
    """The connection as the seed made it (seed-s2s policy, DPD 45, selectors off), recorded in a scratch folder."""
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    mp.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(base / "scratch"))
    ops.update_connection(connect("emulator"), resource_group=RG, connection_name=CONN, policy="seed-s2s",
                          dpd_timeout_seconds=45, use_policy_based_traffic_selectors=False, apply=True)


def _door_api(root: Path) -> None:
    from vpnrunbook import operations as ops
    from vpnrunbook.azure.connect import connect

    ops.update_connection(connect("emulator"), apply=True, **_update())


def _door_runner(root: Path) -> None:
    from vpnrunbook.runbook.runner import run_step

    result = run_step("05_update_policy", params_file=PARAMS, apply=True, evidence_dir=root)
    assert result.ok, result.outcome


def _door_kernel(root: Path) -> None:
    """As in JupyterLab: the plan shown by one cell, Apply clicked in a later one (no runner variables)."""
    cells = ["from vpnrunbook import operations as ops\nfrom vpnrunbook.azure.connect import connect\n"
             "from vpnrunbook.ui import apply_control\nsession = connect(target='emulator')\n"
             f"planned = ops.update_connection(session, **{_update()!r})\nprint(planned.plan.summary())",
             "control = apply_control(planned, lambda: ops.apply_plan(session, planned.plan), interactive=True)\n"
             "control.confirm.checkbox.value = True  # the update weakens the crypto: the operator accepts it\n"
             "control.click()\nprint('OUTCOME', control.outcome.value)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = root.parent / "lab" / "update_panel.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    env_before = os.environ.get("JPY_SESSION_NAME")
    os.environ["JPY_SESSION_NAME"] = str(path)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_before is None:
            os.environ.pop("JPY_SESSION_NAME", None)
        else:
            os.environ["JPY_SESSION_NAME"] = env_before


def _door_rollout(root: Path) -> None:
    from vpnrunbook.azure.connect import connect
    from vpnrunbook.fleet.rollout import rollout

    u = _update()
    result = rollout(connect("emulator"), [f"{RG}/{CONN}"], policy=u["policy"],
                     dpd_timeout_seconds=u["dpd_timeout_seconds"],
                     use_policy_based_traffic_selectors=u["use_policy_based_traffic_selectors"], apply=True,
                     max_workers=1)
    assert result.counts.get("applied") == 1, result.summary()


DOORS = {"api": _door_api, "runner": _door_runner, "kernel": _door_kernel, "rollout": _door_rollout}
SAME = ("plan", "warnings", "notes", "verify", "status", "connections", "target", "weakened", "breaks", "summary",
        "who", "errors")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("doors")
    out: dict[str, dict[str, Any]] = {}
    with seed_site_state(base) as _env, pytest.MonkeyPatch.context() as mp:
        from tests.browser.seed_state import create_seed_connection
        from vpnrunbook.policy.presets import get_preset

        mp.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(base / "scratch"))
        create_seed_connection(get_preset("seed-s2s"))
        for name, door in DOORS.items():
            _reset(base, mp)
            root = base / name / "evidence"
            mp.setenv("VPNRUNBOOK_EVIDENCE_DIR", str(root))
            door(root)
            runs = {str(e["run_id"]) for _, _, e in ledger.read(root) if e and e.get("kind") == "intent"}
            assert len(runs) == 1, (name, runs)
            run_id = runs.pop()
            manifest = json.loads((root / run_id / "manifest.json").read_text(encoding="utf-8"))
            html = (root / run_id / "notebook.html").read_text(encoding="utf-8") \
                if (root / run_id / "notebook.html").exists() else None
            out[name] = {"root": root, "run_id": run_id, "manifest": manifest, "shown": record.for_run(root, run_id),
                         "html": html}
    return out


def _comparable(change: dict[str, Any]) -> dict[str, Any]:
    return {k: change.get(k) for k in SAME}


def test_every_door_records_the_same_change(records):
    api = _comparable(records["api"]["manifest"]["change_record"])
    assert api["connections"] == [CONN] and api["status"] == "applied" and api["target"] == "emulator"
    rows = {(r["field"].split(".")[-1], r["current"], r["desired"]) for r in api["plan"]}
    assert ("dhGroup", "DHGroup24", "DHGroup14") in rows and ("ikeEncryption", "AES256", "AES128") in rows
    assert api["weakened"] and any("SHA1" in w for w in api["warnings"]), api["warnings"]
    assert [v["connection"] for v in api["verify"]] == [f"{RG}/connections/{CONN}"] and api["verify"][0]["status"]
    for name, got in records.items():
        # a rollout's manifest names each plan once (grouped); record.change_of gives its rows back
        assert _comparable(record.change_of(got["manifest"])) == api, f"manifest of the {name} door"
        shown = got["shown"]
        assert shown["source"].startswith("apply path"), name
        assert (shown["plan"], shown["warnings"], shown["verify"], shown["status"]) == (
            api["plan"], api["warnings"], api["verify"], api["status"]), f"evidence show of the {name} door"
        assert shown["signer"] == records["api"]["shown"]["signer"] and shown["signer"], f"signer, {name} door"
        text = record.to_text(shown)
        assert "DHGroup24 → DHGroup14" in text and f"{RG}/connections/{CONN}: {api['verify'][0]['status']}" in text


def test_the_html_top_of_each_door_shows_the_change_not_nothing_to_change(records):
    for name in ("runner", "kernel"):
        html = records[name]["html"]
        top = html[:html.index("</section>")]
        assert "DHGroup24 → DHGroup14" in top and "nothing to change" not in top, name
        assert "not recorded (no connection was read back)" not in top, name
