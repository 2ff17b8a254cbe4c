"""Set-up contract: pyproject and environment.yml agree, the CLI runs, the README names the two commands."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.conftest import REPO


def _pins_pyproject() -> dict[str, str]:
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    out = {}
    for r in reqs:
        name, _, version = r.partition("==")
        assert version, f"{r} is not pinned"
        out[name.lower()] = version
    return out


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = {n.lower(): v for n, _, v in (p.partition("==") for p in pip)}
    assert conda == _pins_pyproject()


def test_required_dependencies_are_pinned():
    pins = _pins_pyproject()
    for name in ("jupyterlab", "ipywidgets", "papermill", "azure-identity", "azure-mgmt-resource", "pandas",
                 "nbconvert", "pyyaml", "tqdm", "pytest", "ruff"):
        assert name in pins
    assert pins["azure-mgmt-network"] == "33.1.0"


def test_cli_help_and_policy_list():
    out = subprocess.run([sys.executable, "-m", "vpnrunbook", "--help"], capture_output=True, text=True, check=True)
    assert "policy" in out.stdout
    out = subprocess.run([sys.executable, "-m", "vpnrunbook", "policy", "list"], capture_output=True, text=True,
                         check=True)
    for name in ("seed-s2s", "seed-vnet2vnet", "seed-update", "strong-modern"):
        assert name in out.stdout


def test_policy_check_exit_codes(tmp_path):
    good = REPO / "parameters" / "policies" / "seed-s2s.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("SHA384", "SHA512"))
    ok = subprocess.run([sys.executable, "-m", "vpnrunbook", "policy", "check", str(good)], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "valid" in ok.stdout
    ko = subprocess.run([sys.executable, "-m", "vpnrunbook", "policy", "check", str(bad)], capture_output=True,
                        text=True)
    assert ko.returncode == 2 and "'SHA512' is not allowed" in ko.stderr and "SHA384" in ko.stderr


def test_readme_names_the_two_commands():
    text = (REPO / "README.md").read_text()
    assert re.search(r"make demo", text) and re.search(r"make test", text)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_license_is_an_spdx_expression_and_the_backend_understands_it():
    """`license = {text = ...}` makes setuptools >= 77 print a deprecation warning on every install; the SPDX string
    form needs setuptools 77 or later, so the build system asks for it."""
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"
    (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools == "setuptools>=77"


def test_install_keeps_pips_output_in_a_log():
    """`make demo` on a fresh clone prints the project's lines; pip's output goes to .venv/install.log."""
    make = (REPO / "Makefile").read_text()
    recipe = make[make.index("$(STAMP): pyproject.toml"):make.index("demo: $(STAMP)")]
    assert ">$(VENV)/install.log 2>&1" in recipe and "tail -n 25 $(VENV)/install.log" in recipe
    assert "--quiet" not in recipe  # all of pip's output is in the log, none on the terminal


def test_system_tests_have_their_own_target_that_ci_runs():
    """`make test` leaves the system tests (browser, strongSwan lab, Azure CLI) out and runs the rest in parallel
    workers; `make test-system` runs exactly those, one at a time; `.ci/run` runs both."""
    from tests.conftest import SYSTEM_TESTS

    make = (REPO / "Makefile").read_text()
    test = make[make.index("\ntest: "):make.index("\ntest-system: ")]
    system = make[make.index("\ntest-system: "):]
    assert '-m "not system"' in test and "-n $(TEST_WORKERS)" in test and "--dist loadfile" in test
    assert "-m system" in system.split("\n\n")[0] and "-n " not in system.split("\n\n")[0]
    ci = (REPO / ".ci" / "run").read_text().split()
    assert ci.index("test") < ci.index("test-system")
    for path in SYSTEM_TESTS:
        assert (REPO / path).exists(), path
    import tomllib

    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert "pytest-xdist==3.8.0" in pins
