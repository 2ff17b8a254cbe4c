"""Progress bars: text lines headless, the tqdm widget in a kernel (checked in test_kernel_display.py)."""

from __future__ import annotations

import pytest

from vpnrunbook.ui.progress import progress, track, wait_with_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_headless_bar_prints_text_lines(capsys):
    with progress(3, "creating gateway", interactive=False, mininterval=0) as bar:
        for _ in range(3):
            bar.update(1)
    out = capsys.readouterr().out
    assert "creating gateway" in out and "3/3" in out


def test_track_counts_items(capsys):
    assert list(track([1, 2, 3, 4], "items", interactive=False, mininterval=0)) == [1, 2, 3, 4]
    assert "4/4" in capsys.readouterr().out


def test_wait_with_progress_polls_until_done_and_reports_status(capsys):
    clock = FakeClock()
    states = iter(["Updating"] * 5 + ["Succeeded"])
    current = {"s": "Updating"}

    def done() -> bool:
        current["s"] = next(states)
        return current["s"] == "Succeeded"

    waited = wait_with_progress(done, desc="VNet1GW", expected_seconds=10, interval=1.0, clock=clock,
                                sleep=clock.sleep, status=lambda: current["s"], interactive=False, mininterval=0)
    assert waited == pytest.approx(5.0)
    out = capsys.readouterr().out
    assert "VNet1GW" in out and "Succeeded" in out


def test_wait_with_progress_times_out_naming_the_operation():
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="VNet1GW: not finished after"):
        wait_with_progress(lambda: False, desc="VNet1GW", expected_seconds=5, interval=1.0, timeout=3,
                           clock=clock, sleep=clock.sleep, interactive=False)


def test_bar_never_reaches_total_before_done(capsys):
    clock = FakeClock()
    seen = []

    def done() -> bool:
        seen.append(clock.now)
        return clock.now >= 20  # takes twice the expected time

    wait_with_progress(done, desc="slow", expected_seconds=10, interval=1.0, clock=clock, sleep=clock.sleep,
                       interactive=False, mininterval=0)
    out = capsys.readouterr().out
    assert "10.0/10.0" not in out.split("20.0/20.0")[0]  # no premature 100 %
    assert "20.0/20.0" in out
