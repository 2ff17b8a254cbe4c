"""The runner's kernels warm the heavy imports in a background thread; headless imports stay lean."""

from __future__ import annotations

import sys

from tests.conftest import python_prints
from vpnrunbook.runbook import warm
from vpnrunbook.runbook.runner import WARM_ENV, _kernel_manager_class, _warm_env
from vpnrunbook.runbook.steps import STEPS

WARM_LINE = f"--IPKernelApp.exec_lines={warm.EXEC_LINE}"


def test_runner_kernels_start_the_warm_up_unless_disabled(tmp_path):
    warm = _kernel_manager_class({}, [], tmp_path)().kernel_spec.argv
    cold = _kernel_manager_class({WARM_ENV: "0"}, [], tmp_path)().kernel_spec.argv
    assert warm[-1] == WARM_LINE and warm[:2] == [sys.executable, "-m"]
    assert WARM_LINE not in cold and cold == warm[:-1]


def test_warm_up_imports_its_modules_in_a_background_thread():
    code = ("import sys, threading\n"
            f"ns = {{}}\nexec({warm.EXEC_LINE!r}, ns)\n"
            "import vpnrunbook.runbook.warm as w\n"
            "assert [k for k in ns if k != '__builtins__'] == [], 'the start-up line leaves no name behind'\n"
            "assert any(t.name == 'vpnrunbook-warm' for t in threading.enumerate()) or w.done.is_set()\n"
            "assert w.start() is w.start(), 'one thread'\n"
            "assert w.done.wait(120)\n"
            "missing = [m for m in w.MODULES if m not in sys.modules]\n"
            "assert not missing, missing\n"
            "print('ok')")
    assert python_prints(code, timeout=180) == "ok"


def test_importing_the_module_alone_starts_nothing():
    code = ("import threading, vpnrunbook.runbook.warm as w\n"
            "assert not any(t.name == 'vpnrunbook-warm' for t in threading.enumerate()) and not w.done.is_set()\n"
            "print('ok')")
    assert python_prints(code, timeout=60) == "ok"


def test_each_step_warms_its_own_modules(monkeypatch):
    """The runner hands the kernel the step's list; the show step leaves pandas out (its tables are light)."""
    show = _warm_env("08_show_policy")[warm.MODULES_ENV].split(",")
    assert "pandas" not in show and "azure.mgmt.network" in show
    assert _warm_env("07_overview")[warm.MODULES_ENV].split(",") == list(STEPS["07_overview"].warm)
    assert "pandas" in STEPS["07_overview"].warm
    assert _warm_env("not-a-step") == {}
    monkeypatch.setenv(warm.MODULES_ENV, " json , ,csv")
    assert warm.modules() == ("json", "csv")
    monkeypatch.delenv(warm.MODULES_ENV)
    assert warm.modules() == warm.MODULES


def test_ui_package_loads_the_widgets_only_when_asked():
    code = ("import sys, vpnrunbook.ui as ui\n"
            "assert 'vpnrunbook.ui.widgets' not in sys.modules and 'vpnrunbook.ui.update' not in sys.modules\n"
            "from vpnrunbook.ui import policy_picker, UpdatePanel, progress\n"
            "from vpnrunbook.ui.widgets import policy_picker as p2\n"
            "assert policy_picker is p2 and callable(progress) and UpdatePanel.__name__ == 'UpdatePanel'\n"
            "try:\n    ui.nothing_here\nexcept AttributeError as e:\n    assert 'nothing_here' in str(e)\n"
            "print('ok')")
    assert python_prints(code, timeout=120) == "ok"
