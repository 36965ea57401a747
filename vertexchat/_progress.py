"""Pure: running totals of a batch (``BatchStats``) and the progress lines the CLI prints.

No I/O: the clock is passed in, and the formatting functions return strings. Latency
percentiles come from a bounded, seeded reservoir sample, so memory stays flat however many
results are recorded.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

__all__ = ["BatchStats", "format_duration", "progress_line", "summary_lines"]

_RESERVOIR = 4096


class BatchStats:
    """Counts, token totals, throughput and latency percentiles of a batch, readable any time.

    ``done`` counts finished items, failed ones included; ``failed`` those that ended with
    an error; ``submitted`` those pulled from the input so far.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.finished: float | None = None
        self.submitted = 0
        self.done = 0
        self.failed = 0
        self.attempts = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.reasoning_tokens = 0
        self.total_tokens = 0
        self._latencies: list[float] = []
        self._sampled = 0
        self._random = random.Random(0)

    def __repr__(self) -> str:
        return (
            f"<BatchStats done={self.done} failed={self.failed} in_flight={self.in_flight} "
            f"tokens={self.total_tokens}>"
        )

    @property
    def succeeded(self) -> int:
        """Items that ended with a response."""
        return self.done - self.failed

    @property
    def in_flight(self) -> int:
        """Items pulled from the input and not finished yet (waiting, sending or retrying)."""
        return self.submitted - self.done

    @property
    def elapsed(self) -> float:
        """Seconds since the batch started (until it finished, once it has)."""
        end = self.finished if self.finished is not None else self._clock()
        return max(0.0, end - self.started)

    @property
    def throughput(self) -> float:
        """Finished items per second so far."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Total tokens (prompt, completion and thinking) per second so far."""
        elapsed = self.elapsed
        return self.total_tokens / elapsed if elapsed > 0 else 0.0

    @property
    def latency_p50(self) -> float | None:
        """Median latency in seconds of finished items (``None`` before the first)."""
        return self._percentile(0.50)

    @property
    def latency_p95(self) -> float | None:
        """95th percentile latency in seconds of finished items (``None`` before the first)."""
        return self._percentile(0.95)

    def record_submitted(self) -> None:
        """Count one item pulled from the input."""
        self.submitted += 1

    def record(
        self,
        *,
        ok: bool,
        latency: float | None,
        attempts: int,
        usage: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> None:
        """Count one finished item; ``usage`` is (prompt, completion, reasoning, total).

        ``latency`` None leaves the item out of the percentiles (it was never sent).
        """
        self.done += 1
        self.failed += 0 if ok else 1
        self.attempts += attempts
        prompt, completion, reasoning, total = usage
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.reasoning_tokens += reasoning
        self.total_tokens += total
        if latency is not None:
            self._sample(latency)

    def finish(self) -> None:
        """Freeze ``elapsed`` (and so the rates) at the current time."""
        if self.finished is None:
            self.finished = self._clock()

    def _sample(self, latency: float) -> None:
        # Algorithm R: every latency seen has the same chance to be in the reservoir.
        self._sampled += 1
        if len(self._latencies) < _RESERVOIR:
            self._latencies.append(latency)
            return
        slot = self._random.randrange(self._sampled)
        if slot < _RESERVOIR:
            self._latencies[slot] = latency

    def _percentile(self, fraction: float) -> float | None:
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        rank = max(0, math.ceil(fraction * len(ordered)) - 1)
        return ordered[rank]


def format_duration(seconds: float) -> str:
    """``75.3`` → ``"1m15s"``; under a minute with one decimal (``"4.2s"``)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _count(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def progress_line(stats: BatchStats, total: int, *, width: int = 20) -> str:
    """``[#####-----] 120/300 40% 35.2/s ETA 5.1s tokens 52k errors 3`` for ``total`` items."""
    fraction = min(1.0, stats.done / total) if total else 1.0
    filled = int(fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    rate = stats.throughput
    remaining = max(0, total - stats.done)
    eta = format_duration(remaining / rate) if rate > 0 else "?"
    return (
        f"[{bar}] {stats.done}/{total} {fraction:4.0%} {rate:.1f}/s ETA {eta} "
        f"tokens {_count(stats.total_tokens)} errors {stats.failed}"
    )


def summary_lines(stats: BatchStats, *, skipped: int = 0) -> list[str]:
    """The end-of-run summary: counts, tokens, elapsed, throughput and latency."""
    p50, p95 = stats.latency_p50, stats.latency_p95
    latency = (
        f"latency p50 {p50:.2f}s p95 {p95:.2f}s" if p50 is not None and p95 is not None else ""
    )
    return [
        f"done {stats.done}: {stats.succeeded} ok, {stats.failed} failed"
        + (f"; {skipped} already in the output, skipped" if skipped else ""),
        f"tokens: {stats.prompt_tokens} prompt, {stats.completion_tokens} completion, "
        f"{stats.reasoning_tokens} thinking, {stats.total_tokens} total",
        f"elapsed {format_duration(stats.elapsed)}, {stats.throughput:.1f} requests/s, "
        f"{stats.tokens_per_second:.0f} tokens/s" + (f", {latency}" if latency else ""),
    ]
