"""Pure: what ``vertexchat batch`` shows while it runs — a one-line view fitted to the terminal.

No I/O: the clock is passed in and every function returns a string. ``RecentRate`` measures
the rate over the last few seconds (not since the start), so the ETA follows a 429 slowdown.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ._progress import format_duration

__all__ = ["ProgressSnapshot", "RecentRate", "plain_progress", "render_progress"]

_GREEN, _YELLOW, _RED, _DIM, _RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


class RecentRate:
    """Items per second over the last ``window`` seconds, from (time, count) samples."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, count: int) -> None:
        """Record the running count at ``now`` (call it periodically, e.g. every redraw)."""
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float:
        """The recent rate (0 until two samples a moment apart exist)."""
        if len(self._samples) < 2:
            return 0.0
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        return (last - first) / (end - start) if end > start else 0.0


@dataclass(frozen=True)
class ProgressSnapshot:
    """Everything the progress line shows, read at one moment."""

    done: int
    total: int | None
    rate: float
    in_flight: int
    limit: int
    ceiling: int
    throttled: int  # times the concurrency limit was cut after 429s
    retries: int
    transient: int
    permanent: int
    tokens: int

    @property
    def eta(self) -> str:
        """Time left at the recent rate, ``?`` when unknown."""
        if self.total is None or self.rate <= 0:
            return "?"
        return format_duration(max(0, self.total - self.done) / self.rate)


def _count(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def _segments(snap: ProgressSnapshot, color: bool) -> list[tuple[int, str, str]]:
    """``(priority, plain, coloured)`` pieces; lower priority is dropped first when narrow."""

    def paint(code: str, text: str, when: bool = True) -> str:
        return f"{code}{text}{_RESET}" if color and when else text

    total = "?" if snap.total is None else str(snap.total)
    percent = f" {snap.done / snap.total:.0%}" if snap.total else ""
    errors = snap.transient + snap.permanent
    error_text = f"err {errors}" + (f" ({snap.transient}t/{snap.permanent}p)" if errors else "")
    limit = f"{snap.in_flight}/{snap.limit}" + ("" if snap.limit == snap.ceiling else " cut")
    pieces = [
        (9, f"{snap.done}/{total}{percent}"),
        (8, f"{snap.rate:.1f}/s"),
        (7, f"ETA {snap.eta}"),
        (6, error_text),
        (5, f"inflight {limit}"),
        (4, f"429 cuts {snap.throttled} retries {snap.retries}"),
        (3, f"tok {_count(snap.tokens)}"),
    ]
    coloured = {
        9: paint(_GREEN, pieces[0][1]),
        6: paint(_RED, error_text, errors > 0),
        4: paint(_YELLOW, pieces[5][1], snap.throttled > 0),
        3: paint(_DIM, pieces[6][1]),
    }
    return [(priority, text, coloured.get(priority, text)) for priority, text in pieces]


def render_progress(snap: ProgressSnapshot, columns: int, *, color: bool) -> str:
    """The live line for a terminal ``columns`` wide: never wider than ``columns - 1``.

    Pieces are dropped from the least important (tokens, 429s, in flight…) until the line
    fits; a bar takes what room is left.
    """
    room = max(1, columns - 1)
    segments = _segments(snap, color)
    while len(segments) > 1 and len(" ".join(text for _, text, _ in segments)) > room:
        segments.remove(min(segments, key=lambda segment: segment[0]))
    plain = " ".join(text for _, text, _ in segments)
    if len(plain) > room:
        return plain[:room]
    line = " ".join(shown for _, _, shown in segments)
    bar_width = min(30, room - len(plain) - 3)
    if snap.total and bar_width >= 8:
        filled = min(bar_width, math.floor(bar_width * snap.done / snap.total))
        bar = "#" * filled + "-" * (bar_width - filled)
        bar = f"{_GREEN}{bar}{_RESET}" if color else bar
        line = f"[{bar}] {line}"
    return line


def plain_progress(snap: ProgressSnapshot) -> str:
    """A periodic line for logs (not a terminal): every piece, no colour, no bar."""
    return " ".join(text for _, text, _ in _segments(snap, color=False))
