"""Adaptive concurrency for everything sent through one client: AIMD plus optional RPM/TPM.

``AdaptiveLimit`` (pure arithmetic, no clock, no I/O) keeps the in-flight limit: a 429 halves
it (multiplicative decrease), every ``limit`` successes add one (additive increase), between
``floor`` and ``ceiling``. The calls already in flight when the limit drops were started under
the old limit, so their 429s are the same congestion event and do not shrink it again; this
is the rule TCP uses (one decrease per window). ``TokenBucket`` is the pure per-minute budget.
``AdaptiveLimiter`` is the thin anyio wrapper that makes callers wait: usage is always::

    await limiter.acquire()
    try:
        ...  # one attempt, until its body or stream is finished
    finally:
        limiter.release(throttled=got_429, tokens=usage_total_tokens)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import anyio
import anyio.lowlevel

__all__ = ["AdaptiveLimit", "AdaptiveLimiter", "TokenBucket"]


class AdaptiveLimit:
    """Pure AIMD state: how many calls may be in flight now, and how many are."""

    def __init__(self, ceiling: int, *, floor: int = 1, decrease: float = 0.5) -> None:
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
            raise ValueError("ceiling must be an int >= 1")
        if isinstance(floor, bool) or not isinstance(floor, int) or not 1 <= floor <= ceiling:
            raise ValueError("floor must be an int between 1 and ceiling")
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must be between 0 and 1 (exclusive)")
        self.ceiling = ceiling
        self.floor = floor
        self.decrease = decrease
        self._limit = float(ceiling)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.decreases = 0
        self._grace = 0  # releases still due from calls started before the last decrease

    @property
    def limit(self) -> int:
        """Calls allowed in flight right now."""
        return max(self.floor, int(self._limit))

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return True

    def release(self, *, throttled: bool = False) -> None:
        """Give a slot back; ``throttled`` (a 429) shrinks the limit, success grows it."""
        self.give_back()
        if self._grace:
            self._grace -= 1
            if throttled:
                return  # same congestion event as the decrease that started the grace
        if throttled:
            self._limit = max(float(self.floor), self._limit * self.decrease)
            self._grace = self.in_flight
            self.decreases += 1
        else:
            self._limit = min(float(self.ceiling), self._limit + 1.0 / self._limit)

    def resize(self, ceiling: int) -> None:
        """Move the ceiling (a new lease of a shared quota); the limit jumps to it."""
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < self.floor:
            raise ValueError("ceiling must be an int >= floor")
        self.ceiling = ceiling
        self._limit = float(ceiling)

    def give_back(self) -> None:
        """Free a slot without judging the call (it was cancelled before it was answered)."""
        if self.in_flight <= 0:
            raise RuntimeError("release() called more often than acquire()")
        self.in_flight -= 1


class TokenBucket:
    """Pure per-minute budget: ``per_minute`` units refill evenly; a minute's worth can burst."""

    def __init__(self, per_minute: float, *, now: float) -> None:
        if not (math.isfinite(per_minute) and per_minute > 0):
            raise ValueError("a per-minute limit must be a positive number")
        self.capacity = float(per_minute)
        self.level = self.capacity
        self._rate = per_minute / 60.0
        self._updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until at least one unit is available (0 when it is now)."""
        self._refill(now)
        return 0.0 if self.level >= 1.0 else (1.0 - self.level) / self._rate

    def take(self, amount: float, now: float) -> None:
        """Spend ``amount`` units; the level may go negative (debt paid back by waiting)."""
        self._refill(now)
        self.level -= amount

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self.level = min(self.capacity, self.level + elapsed * self._rate)


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


class AdaptiveLimiter:
    """Waits callers out while the AIMD limit or the RPM/TPM budget is used up.

    FIFO and cancellation-safe: a waiter cancelled after being handed a slot gives it back.
    Works on asyncio and trio. ``tokens_per_minute`` is charged after the fact, from the
    ``tokens`` passed to ``release``, so a call starts whenever the budget is not in debt.
    """

    def __init__(
        self,
        ceiling: int,
        *,
        floor: int = 1,
        decrease: float = 0.5,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = AdaptiveLimit(ceiling, floor=floor, decrease=decrease)
        self._clock = clock
        now = clock()
        self._rpm = TokenBucket(requests_per_minute, now=now) if requests_per_minute else None
        self._tpm = TokenBucket(tokens_per_minute, now=now) if tokens_per_minute else None
        self._queue: deque[_Waiter] = deque()

    def __repr__(self) -> str:
        return f"<AdaptiveLimiter limit={self.limit} in_flight={self.in_flight}>"

    @property
    def limit(self) -> int:
        """Calls allowed in flight right now (between floor and ceiling)."""
        return self._state.limit

    @property
    def ceiling(self) -> int:
        """The most calls ever allowed in flight."""
        return self._state.ceiling

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        return self._state.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most calls that held a slot at once."""
        return self._state.peak_in_flight

    @property
    def decreases(self) -> int:
        """How many congestion events shrank the limit."""
        return self._state.decreases

    @property
    def waiting(self) -> int:
        """Callers waiting in ``acquire``."""
        return len(self._queue)

    async def acquire(self) -> None:
        """Wait for a slot (and the per-minute budgets); pair with exactly one ``release``."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._queue and self._budget_delay() == 0.0 and self._state.try_acquire():
            self._spend()
            return
        waiter = _Waiter()
        self._queue.append(waiter)
        try:
            await self._wait(waiter)
        except BaseException:
            if waiter.granted:
                self._state.give_back()
                self._wake()
            else:
                self._queue.remove(waiter)
            raise

    def release(self, *, throttled: bool = False, tokens: int = 0) -> None:
        """End one call: ``throttled`` after a 429; ``tokens`` it used, for the TPM budget."""
        self._state.release(throttled=throttled)
        if self._tpm is not None and tokens:
            self._tpm.take(tokens, self._clock())
        self._wake()

    def resize(self, ceiling: int) -> None:
        """Set a new ceiling, and the limit to it (a lease of a quota shared with others).

        Calls already in flight above a smaller ceiling finish; new ones wait for room.
        """
        self._state.resize(ceiling)
        self._wake()

    async def _wait(self, waiter: _Waiter) -> None:
        while True:
            delay = self._wake()
            if waiter.granted:
                return
            if delay is None:
                await waiter.event.wait()
            else:
                with anyio.move_on_after(delay):
                    await waiter.event.wait()
            if waiter.granted:
                return
            waiter.event = anyio.Event()

    def _wake(self) -> float | None:
        """Hand free slots to waiters in order; the budget delay if that is what blocks."""
        while self._queue:
            delay = self._budget_delay()
            if delay > 0.0:
                return delay
            if not self._state.try_acquire():
                return None
            self._spend()
            waiter = self._queue.popleft()
            waiter.granted = True
            waiter.event.set()
        return None

    def _budget_delay(self) -> float:
        if self._rpm is None and self._tpm is None:
            return 0.0
        now = self._clock()
        rpm = self._rpm.wait_time(now) if self._rpm is not None else 0.0
        tpm = self._tpm.wait_time(now) if self._tpm is not None else 0.0
        return max(rpm, tpm)

    def _spend(self) -> None:
        if self._rpm is not None:
            self._rpm.take(1, self._clock())
