"""Browser tests: skipped with a reason where chromium or Playwright is missing — unless VPNRUNBOOK_CI=1, where
such a skip is a failure (CI installs chromium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser import jlab

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def unavailable_reason() -> str | None:
    chromium = jlab.CHROMIUM
    if not (os.path.exists(chromium) and os.access(chromium, os.X_OK)):
        return f"{chromium} not installed (apt-get install chromium; never `playwright install`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    if not shutil.which("jupyter", path=str(Path(os.sys.executable).parent)):
        return "jupyter (JupyterLab) is not installed in this environment"
    return None


def require_browser() -> None:
    """Skip with the reason — or, with VPNRUNBOOK_CI=1, fail — when the browser test cannot run."""
    reason = unavailable_reason()
    if reason:
        if os.environ.get("VPNRUNBOOK_CI") == "1":
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_available() -> None:
    require_browser()


@pytest.fixture
def artifacts(request) -> Path:
    path = ARTIFACTS / request.node.name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
