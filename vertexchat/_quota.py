"""Pure: one concurrency quota shared by many workers, handed out as leases (AIMD, job-wide).

Vertex quota belongs to the project and model, not to a worker, so when any worker sees a 429
the whole job should slow down. ``SharedQuota`` keeps one job-wide in-flight limit. Every
worker renews its lease every ``period`` seconds, reporting the successes and 429s it saw
since its last renewal, and gets back how many calls it may have in flight until the next:
the job-wide limit split evenly between the workers seen recently. 429s halve the limit, at
most once per ``period`` (the calls in flight when it dropped were started under the old
limit: their 429s are the same congestion event, as in TCP); each success adds
``1 / limit``, so the job as a whole grows by one call per ``limit`` successes.

No clock and no I/O: ``now`` is passed in.
"""

from __future__ import annotations

import math

__all__ = ["SharedQuota"]


class SharedQuota:
    """The job-wide AIMD limit and the leases it is split into."""

    def __init__(self, ceiling: int, *, period: float = 0.25, decrease: float = 0.5) -> None:
        if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
            raise ValueError("ceiling must be an int >= 1")
        if not (math.isfinite(period) and period > 0):
            raise ValueError("period must be a positive number of seconds")
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must be between 0 and 1 (exclusive)")
        self.ceiling = ceiling
        self.period = period
        self.decrease = decrease
        self.limit = float(ceiling)
        self.decreases = 0
        self.throttled = 0
        self._last_decrease = -math.inf
        self._seen: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<SharedQuota limit={self.limit:.1f} workers={len(self._seen)}>"

    @property
    def workers(self) -> int:
        """Workers that renewed recently (the limit is split between them)."""
        return len(self._seen)

    def renew(self, worker: str, *, successes: int, throttled: int, now: float) -> int:
        """Record ``worker``'s report and return its new lease (calls it may have in flight)."""
        if successes < 0 or throttled < 0:
            raise ValueError("successes and throttled are counts (>= 0)")
        self._seen[worker] = now
        self._forget_idle(now)
        self.throttled += throttled
        if throttled:
            if now - self._last_decrease >= self.period:
                self.limit = max(float(self.workers), self.limit * self.decrease)
                self._last_decrease = now
                self.decreases += 1
        elif successes:
            self.limit = min(float(self.ceiling), self.limit + successes / self.limit)
        return self.lease()

    def lease(self) -> int:
        """One worker's even share of the job-wide limit (at least one call)."""
        return max(1, int(self.limit / max(1, self.workers)))

    def leave(self, worker: str) -> None:
        """A worker has finished: its share goes to the others at their next renewal."""
        self._seen.pop(worker, None)

    def _forget_idle(self, now: float) -> None:
        idle = [name for name, seen in self._seen.items() if now - seen > 4 * self.period]
        for name in idle:
            del self._seen[name]
