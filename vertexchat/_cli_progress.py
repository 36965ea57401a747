"""Draws the progress of ``vertexchat batch`` on stderr: a line redrawn in place on a terminal
(fitted to its width, coloured unless ``NO_COLOR``), plain periodic lines otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Protocol

import anyio

from ._progress_view import ProgressSnapshot, RecentRate, plain_progress, render_progress

__all__ = ["Gauges", "ProgressPrinter", "wants_color"]


class _LimitGauge(Protocol):
    @property
    def limit(self) -> int: ...
    @property
    def ceiling(self) -> int: ...
    @property
    def decreases(self) -> int: ...


class _FlightGauge(Protocol):
    @property
    def in_flight(self) -> int: ...


class Gauges(Protocol):
    """What the display reads from a running batch: ``BatchRun``, or the Ray engine's pool."""

    @property
    def limiter(self) -> _LimitGauge: ...
    @property
    def stats(self) -> _FlightGauge: ...


def wants_color(stream: Any = None) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (no-color.org) or TERM=dumb."""
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(stream.isatty())


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (OSError, ValueError):
        return int(os.environ.get("COLUMNS", "80") or 80)


class ProgressPrinter:
    """Redraws the progress every ``interval`` seconds while ``run()`` runs."""

    def __init__(self, args: argparse.Namespace, job: Any, batch: Gauges) -> None:
        self._quiet = bool(args.quiet)
        self._tty = sys.stderr.isatty()
        self._color = wants_color()
        self._interval = args.progress_interval or (0.2 if self._tty else 10.0)
        self._job = job
        self._batch = batch
        self._rate = RecentRate(window=10.0)
        self._drawn = False
        self._last_draw = time.monotonic()
        self._closed = False

    def snapshot(self) -> ProgressSnapshot:
        """The numbers at this moment."""
        job, run = self._job, self._batch
        stats = job.stats
        self._rate.add(time.monotonic(), stats.done)
        limiter = run.limiter
        return ProgressSnapshot(
            done=stats.done,
            total=job.todo,
            rate=self._rate.rate(),
            in_flight=run.stats.in_flight,
            limit=limiter.limit,
            ceiling=limiter.ceiling,
            throttled=limiter.decreases,
            retries=max(0, stats.attempts - stats.done),
            transient=job.kinds["transient"],
            permanent=job.kinds["permanent"],
            tokens=stats.total_tokens,
        )

    async def run(self) -> None:
        """Draw until cancelled."""
        if self._quiet:
            return
        while True:
            await anyio.sleep(self._interval)
            self.draw()

    def tick(self) -> None:
        """Draw if the interval has passed since the last drawing (for a loop without a clock)."""
        if not self._quiet and time.monotonic() - self._last_draw >= self._interval:
            self.draw()

    @property
    def interval(self) -> float:
        """Seconds between two drawings."""
        return self._interval

    def draw(self) -> None:
        """Draw once: in place on a terminal, a new line otherwise."""
        if self._closed:
            return  # the last state is on screen; a late tick would draw over the summary
        self._last_draw = time.monotonic()
        snap = self.snapshot()
        if self._tty:
            line = render_progress(snap, _columns(), color=self._color)
            sys.stderr.write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            sys.stderr.write(plain_progress(snap) + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Leave the last state on screen, on its own line, before the summary."""
        if self._quiet or not self._tty or self._closed:
            return
        self.draw()
        self._closed = True
        sys.stderr.write("\n")
        sys.stderr.flush()
