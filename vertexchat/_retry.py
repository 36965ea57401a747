"""Pure retry policy: frozen settings plus backoff arithmetic; no I/O, no clock, no sleeping.

Implements the retry rules of vertex-api.md §7.2: truncated exponential backoff with jitter on
408/429/5xx, honouring a delay the server asks for (``Retry-After`` or ``RetryInfo``) up to a
cap. Randomness is passed in, so the delays are exact in tests; the client does the sleeping.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY_STATUSES", "RetryPolicy"]

DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed call.

    ``max_attempts`` counts every attempt, the first included (the client's ``max_retries`` is
    ``max_attempts - 1``). Before attempt ``n + 1`` the nominal delay is
    ``initial_delay * multiplier ** (n - 1)``, capped at ``max_delay``; jitter then draws the
    delay uniformly from ``[nominal * (1 - jitter), nominal]`` (``jitter=1`` is "full jitter",
    ``0`` none). A delay asked for by the server is waited at least, up to ``max_server_delay``.
    """

    max_attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    max_server_delay: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError("max_attempts must be an int")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 (1 means no retries)")
        _check_seconds("initial_delay", self.initial_delay)
        _check_seconds("max_delay", self.max_delay)
        _check_seconds("max_server_delay", self.max_server_delay)
        if self.max_delay < self.initial_delay:
            raise ValueError("max_delay must be >= initial_delay")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1.0):
            raise ValueError("multiplier must be a finite number >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        object.__setattr__(self, "retry_statuses", _status_set(self.retry_statuses))

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt: ``max_attempts - 1``."""
        return self.max_attempts - 1

    def with_max_retries(self, max_retries: int) -> RetryPolicy:
        """A copy allowing ``max_retries`` retries (``0`` disables retrying)."""
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise TypeError("max_retries must be an int")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        return dataclasses.replace(self, max_attempts=max_retries + 1)

    def should_retry_status(self, status: int) -> bool:
        """Whether an HTTP status is worth another attempt."""
        return status in self.retry_statuses

    def can_retry(self, attempts: int) -> bool:
        """Whether another attempt is allowed after ``attempts`` attempts."""
        return attempts < self.max_attempts

    def delay(
        self,
        attempt: int,
        *,
        server_delay: float | None = None,
        random: Callable[[], float],
    ) -> float:
        """Seconds to wait after ``attempt`` attempts (1 after the first) before the next one.

        ``random`` returns a float in ``[0, 1)`` (e.g. ``random.random``); ``server_delay`` is
        what the server asked for, if anything.
        """
        if attempt < 1:
            raise ValueError("attempt counts attempts made so far and starts at 1")
        nominal = self._nominal_delay(attempt)
        draw = min(max(random(), 0.0), 1.0)
        backoff = nominal * (1.0 - self.jitter * draw)
        if server_delay is None or math.isnan(server_delay):
            return backoff
        asked = min(max(server_delay, 0.0), self.max_server_delay)
        return max(backoff, asked)

    def _nominal_delay(self, attempt: int) -> float:
        try:
            nominal = self.initial_delay * float(self.multiplier) ** (attempt - 1)
        except OverflowError:  # a huge attempt number: the cap applies anyway
            return self.max_delay
        return min(nominal, self.max_delay)


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0")


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    result = frozenset(statuses)
    for status in result:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"retry_statuses must hold HTTP status codes, got {status!r}")
    return result
