"""Without chromium the browser test skips with a reason; in CI (VPNRUNBOOK_CI=1) that becomes a failure."""

from __future__ import annotations

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.browser import jlab
from tests.browser.conftest import require_browser


def test_missing_chromium_skips_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(jlab, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("VPNRUNBOOK_CI", raising=False)
    with pytest.raises(Skipped, match="no-chromium not installed"):
        require_browser()


def test_missing_chromium_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(jlab, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("VPNRUNBOOK_CI", "1")
    with pytest.raises(Failed, match="cannot run in CI"):
        require_browser()
