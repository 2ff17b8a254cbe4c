"""Start JupyterLab on 127.0.0.1 (token, nothing from outside) and drive it with Playwright through Debian's
chromium. Pitfalls handled (see shared/reference/jupyterlab-browser-and-strongswan-notes.md, part B): the
kernel-ready race and the Select Kernel dialog, workspace restore (?reset + fresh dirs), Run All by menu label,
selectors scoped to the visible notebook panel, widget output in HTML widgets (not print)."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """``with JupyterLab(root, env=...) as lab: lab.url(path)``; the server log is kept in ``log_path``."""

    def __init__(self, root: Path, *, home: Path, env: dict[str, str], log_path: Path) -> None:
        self.root, self.home, self.extra_env, self.log_path = root, home, env, log_path
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JupyterLab:
        settings = self.home / "lab-settings"
        (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        venv_bin = str(Path(sys.executable).parent)
        env = {**os.environ, **self.extra_env,
               "HOME": str(self.home), "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
               "JUPYTER_CONFIG_DIR": str(self.home / "jupyter-config"),
               "JUPYTER_RUNTIME_DIR": str(self.home / "jupyter-runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "lab-workspaces")}
        for var in ("VPNRUNBOOK_RUN_DIR", "VPNRUNBOOK_HEADLESS"):  # an operator session, not a runner
            env.pop(var, None)
        cmd = [str(Path(venv_bin) / "jupyter"), "lab", "--ip=127.0.0.1", f"--port={self.port}", "--no-browser",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", "--ServerApp.allow_root=True",
               "--ServerApp.open_browser=False"]
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status?token={self.token}",
                                            timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within 60 s; see {self.log_path}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{path}?reset&token={self.token}"

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def launch_browser(playwright: Any, user_data_dir: Path) -> Any:
    """A persistent context in a fresh user-data-dir (Debian's chromium, never a downloaded one)."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000})


def block_outside_traffic(context: Any, blocked: list[str]) -> None:
    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()
    context.route("**/*", route)


class Notebook:
    """One notebook open in JupyterLab."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page, self.shots = page, shots

    def panel(self, selector: str = "") -> Any:
        return self.page.locator(f"{PANEL} {selector}".strip())

    def open(self, url: str, *, timeout: float = 60) -> None:
        self.page.goto(url)
        self.panel(".jp-Cell").first.wait_for(timeout=timeout * 1000)
        self.wait_kernel_ready(timeout=timeout)

    def wait_kernel_ready(self, *, timeout: float = 60) -> None:
        """Idle AND a kernel name (not 'No Kernel'); accept a Select Kernel dialog if it appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count():
                dialog.first.click()
            status = self.page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator").first.get_attribute(
                "data-status") if self.page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator").count() else None
            names = self.page.locator(f"{PANEL} .jp-KernelName")
            name = names.first.inner_text() if names.count() else ""
            if status == "idle" and name and "No Kernel" not in name:
                return
            time.sleep(0.2)
        raise TimeoutError(f"kernel not ready after {timeout} s")

    def run_all(self, *, attempts: int = 3) -> None:
        """Run → Run All Cells, until a cell prompt shows that running started ([*] or [n]): on a loaded machine a
        menu click can land while the page is still settling and run nothing."""
        started = self.panel(".jp-InputPrompt").filter(has_text=re.compile(r"\[(\d+|\*)\]")).first
        for attempt in range(attempts):
            self.page.locator("li.lm-MenuBar-item:has-text('Run')").first.click()
            self.page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").first.click()
            dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
            try:
                dialog.first.wait_for(timeout=1000)
                dialog.first.click()
            except Exception:  # noqa: BLE001 - no dialog is the normal case
                pass
            try:
                started.wait_for(timeout=30_000)
                return
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: nothing started; try the menu again
                if attempt == attempts - 1:
                    raise

    def wait_idle(self, *, timeout: float = 120) -> None:
        indicator = self.page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator").first
        deadline = time.monotonic() + timeout
        time.sleep(0.5)
        while time.monotonic() < deadline:
            if indicator.get_attribute("data-status") == "idle":
                pending = self.panel(".jp-InputPrompt:has-text('[*]')").count()
                if not pending:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"notebook still busy after {timeout} s")

    def errors(self) -> list[str]:
        return [e.inner_text() for e in self.panel(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all()
                if "Traceback" in e.inner_text() or "Error" in e.inner_text()]

    def select(self, field: str, value: str) -> None:
        self.panel(f".vpnrunbook-field-{field} select").first.select_option(label=value)

    def value(self, field: str) -> str:
        return self.panel(f".vpnrunbook-field-{field} select").first.input_value()

    def shot(self, name: str, focus: str | None = None) -> Path:
        """Screenshot of the page, scrolled so that ``focus`` (a selector in the notebook) is in view."""
        if focus:
            self.panel(focus).first.scroll_into_view_if_needed()
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
