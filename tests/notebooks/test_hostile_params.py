"""Hostile parameter values through `vpnrunbook run`: a value that is not plain data is refused with exit 2 naming
its field, before a kernel starts (no canary file, a `refused` evidence folder). Arbitrary YAML trees with tags,
and plain strings built to break out of a literal (Hypothesis): refused with exit 2, or run as data, never code."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnrunbook.cli import EXIT_OK, EXIT_USAGE, main
from vpnrunbook.evidence import rundir

REPO = Path(__file__).resolve().parents[2]


def _breakout(canary: Path) -> bytes:
    """Bytes whose repr, put inside papermill's double quotes, closes the literal and creates ``canary``."""
    return f'"+open("{canary}","w").close()+"'.encode()


def _hostile(canary: Path) -> list[str]:
    b64 = base64.b64encode(_breakout(canary)).decode()
    return [f"!!binary {b64}", f'!!python/object/apply:os.system ["touch {canary}"]', "!!python/name:os.system",
            "!!set {a: null}", "2024-01-01", "!!omap [a: 1]", "9" * 5000, ".nan", '"\\0"', '"\\ud800"',
            json.dumps(f"\"+open('{canary}','w').close()+\""), json.dumps(f"'+open('{canary}','w').close()+'"),
            json.dumps(f"\\\"+open('{canary}','w').close()+\\\"")]


def _run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


def _only_run(root: Path) -> dict:
    (run,) = rundir.list_runs(root)
    return rundir.load_manifest(root, run["run_id"])


@pytest.mark.parametrize(("step", "text", "field"), [
    ("05", "policy:\n  name: {v}\n  ike_encryption: AES256\n  ike_integrity: SHA384\n  dh_group: DHGroup24\n"
           "  ipsec_encryption: AES256\n  ipsec_integrity: SHA256\n  pfs_group: None\n", "policy.name"),
    ("03", "policy_name: hostile\nfields:\n  description: {v}\n", "fields.description"),
    ("03", "policy_name: hostile\nfields:\n  name: {v}\n", "fields.name"),
    ("01", "subnets:\n  GatewaySubnet: 10.1.255.0/27\n  x: {v}\n", "subnets.x"),
])
@pytest.mark.parametrize("kind", range(10))
def test_a_value_that_is_not_plain_data_is_refused_naming_its_field(tmp_path, step, text, field, kind):
    canary = tmp_path / "canary"
    value = _hostile(canary)[kind]
    pfile = tmp_path / "p.yaml"
    pfile.write_text(text.format(v=value))
    root = tmp_path / "ev"
    code, err = _run(["run", step, "-p", str(pfile), "--evidence-dir", str(root)])
    assert not canary.exists(), "a parameter value ran as code"
    assert code == EXIT_USAGE, err
    assert f"{field}: " in err and "Traceback" not in err
    manifest = _only_run(root)
    assert manifest["outcome"] == "refused"
    assert any(p["field"] == field for p in manifest["error"]["problems"])
    run_dir = root / rundir.list_runs(root)[0]["run_id"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "notebook.html", "notebook.ipynb"]
    nb = json.loads((run_dir / "notebook.ipynb").read_text())
    assert not [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])], "a kernel ran"


@pytest.mark.parametrize(("option", "field", "said"), [
    ("connection_name=[unclosed", "connection_name", "not valid YAML"),
    ("fields={name: 2024-01-01}", "fields.name", "date"),
    ("connection_name=!!set {a}", "connection_name", "!!set"),
    ("connection_name=" + "9" * 5000, "connection_name", "digits"),
    ("connection_name=\udcff\udcfe", "connection_name", "not valid YAML"),
    ('connection_name="\\ud800"', "connection_name", "surrogate"),
    ("apply=true", "apply", "--apply"),
    ("\udcffname=1", "\\udcffname", "is not a parameter"),
])
def test_bad_dash_p_values_are_refused_with_exit_2(tmp_path, option, field, said):
    root = tmp_path / "ev"
    step = "03" if option.startswith("fields") else "06"
    code, err = _run(["run", step, "-P", option, "--evidence-dir", str(root)])
    assert code == EXIT_USAGE, err
    assert "Traceback" not in err and f"{field}: " in err and said in err
    assert _only_run(root)["outcome"] == "refused"


def test_billion_laughs_parameter_file_is_refused_not_hung(tmp_path):
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    pfile = tmp_path / "lol.yaml"
    text += "connection_name: *i\n"
    assert len(text) < 1024
    pfile.write_text(text)
    root = tmp_path / "ev"
    proc = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "06", "-p", str(pfile), "--evidence-dir",
                           str(root)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "Traceback" not in proc.stderr and "more than" in proc.stderr
    assert _only_run(root)["outcome"] == "refused"


# ---- Hypothesis: arbitrary YAML trees with tags -----------------------------------------------------------
CANARY = "@CANARY@"
TAGS = ["!!set", "!!omap", "!!pairs", "!!python/tuple", "!!python/object:os.system", "!foo", "!!map", "!!seq",
        "!!str", "!!binary", "!!timestamp", "!!bool", "!!int", "!!float", "!!null", "!!merge", "!!value"]
SCALARS = st.one_of(
    st.text(max_size=12).map(json.dumps),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["true", "null", "~", "1.5", ".nan", "-.inf", "2024-01-01", "0x" + "f" * 40, "9" * 5000, "x"]),
    st.sampled_from(_hostile(Path(CANARY))),
)


def _tagged(pair: tuple[str, str]) -> str:
    return f"{pair[0]} {pair[1]}"


TREES = st.recursive(
    SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), kids, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"),
        st.tuples(st.sampled_from(TAGS), kids).map(_tagged),
    ),
    max_leaves=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TREES, description=TREES)
def test_arbitrary_yaml_trees_are_refused_or_run_as_data(name, description):
    with tempfile.TemporaryDirectory() as tmp:
        canary = Path(tmp) / "canary"
        pfile = Path(tmp) / "p.yaml"
        pfile.write_text(f"policy_name: hypo\nfields:\n  name: {name}\ndescription: {description}\n"
                         .replace(CANARY, str(canary)))
        root = Path(tmp) / "ev"
        code, err = _run(["run", "03", "-p", str(pfile), "--evidence-dir", str(root)])
        assert not canary.exists(), f"a parameter value ran as code: {pfile.read_text()}"
        assert "Traceback" not in err
        assert code in (EXIT_OK, EXIT_USAGE), err
        assert _only_run(root)["outcome"] == ("succeeded" if code == EXIT_OK else "refused")


@pytest.mark.parametrize("name", [b"/nonexistent-\xff.yaml", b"exists-\xff<b onmouseover=x>.yaml"])
def test_a_parameter_file_name_that_is_not_utf8_is_refused_not_crashed_on(tmp_path, name):
    (tmp_path / os.fsdecode(b"exists-\xff<b onmouseover=x>.yaml")).write_text("resource_group: ..\n")
    root = tmp_path / "ev"
    proc = subprocess.run([sys.executable, "-m", "vpnrunbook", "run", "06", "-p", name, "--evidence-dir", str(root)],
                          capture_output=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == EXIT_USAGE, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    assert _only_run(root)["outcome"] == "refused"
