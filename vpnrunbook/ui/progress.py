"""Progress bars for long operations: a tqdm widget in JupyterLab, plain text lines headless."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from vpnrunbook.ui.env import is_interactive

T = TypeVar("T")


def progress(total: float | None, desc: str, *, unit: str = "it", interactive: bool | None = None,
             **kwargs: Any) -> Any:
    """A tqdm bar: ``tqdm.auto`` (the notebook widget) for an operator, text on stdout headless.

    Headless bars print at most every few seconds so evidence stays short.
    """
    interactive = is_interactive() if interactive is None else interactive
    if interactive:
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, unit=unit, **kwargs)
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("mininterval", 2.0)
    kwargs.setdefault("ascii", True)
    kwargs.setdefault("ncols", 90)
    return _relayed_tqdm()(total=total, desc=desc, unit=unit, **kwargs)


def _relayed_tqdm() -> type:
    """The text bar, also handing each line it draws to ``vpnrunbook run`` on the terminal (when the CLI asked
    for it with ``VPNRUNBOOK_PROGRESS_FILE``: percentage, elapsed and expected remaining time, live)."""
    from tqdm.std import tqdm as text_tqdm

    from vpnrunbook.runbook.terminal import write_progress

    class RelayedTqdm(text_tqdm):  # type: ignore[misc, valid-type]
        def display(self, msg: str | None = None, pos: int | None = None) -> Any:
            shown = super().display(msg, pos)
            write_progress(str(self))
            return shown

    return RelayedTqdm


def track(iterable: Iterable[T], desc: str, *, total: int | None = None, **kwargs: Any) -> Iterator[T]:
    """Iterate with a bar (one tick per item)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress(total, desc, **kwargs) as bar:
        for item in iterable:
            yield item
            bar.update(1)


def wait_with_progress(done: Callable[[], bool], *, desc: str, expected_seconds: float, interval: float = 0.5,
                       timeout: float | None = None, status: Callable[[], str] | None = None,
                       clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                       **kwargs: Any) -> float:
    """Poll ``done()`` until true, advancing a bar in seconds against the expected duration.

    ``status()`` (e.g. a poller's provisioning state) is shown beside the bar. Returns the seconds waited;
    raises ``TimeoutError`` after ``timeout`` seconds. The bar never claims 100 % before ``done()``.
    """
    start = clock()
    total = max(float(expected_seconds), 1e-6)
    with progress(round(total, 1), desc, unit="s", **kwargs) as bar:
        shown = 0.0
        while True:
            finished = done()
            elapsed = clock() - start
            if status is not None:
                bar.set_postfix_str(str(status()), refresh=False)
            if finished:
                bar.total = max(bar.total or 0, round(elapsed, 1))
                bar.update(round(bar.total - shown, 1))
                return elapsed
            if timeout is not None and elapsed > timeout:
                raise TimeoutError(f"{desc}: not finished after {elapsed:.1f} s (timeout {timeout} s)")
            target = min(elapsed, total * 0.99)
            if target > shown:
                bar.update(round(target - shown, 1))
                shown = round(target, 1)
            sleep(interval)


def wait_for_poller(poller: Any, *, desc: str, expected_seconds: float, interval: float = 0.5,
                    timeout: float | None = None, **kwargs: Any) -> Any:
    """Show a bar while an LRO poller (azure-core ``LROPoller`` or the operations' ``GatewayPoller``) runs;
    returns ``poller.result()``."""
    wait_with_progress(poller.done, desc=desc, expected_seconds=expected_seconds, interval=interval,
                       timeout=timeout, status=getattr(poller, "status", None), **kwargs)
    return poller.result()
