"""Pure: fault configuration, the ``x-emulator-fault`` grammar, and the seeded fault picker.

Grammar (header value, schedule entries and ``Faults.kinds`` all use it): tokens separated by
commas and/or spaces, each one of

* ``ok`` — no fault (useful in schedules);
* ``429`` / ``500`` / ``503`` / ``504`` (any 4xx/5xx) — answer with that Google error;
* ``service-disabled`` — a 403 saying the Vertex AI API is not enabled (``SERVICE_DISABLED``);
* ``retry-after=S`` — add ``Retry-After: S`` to a 429;
* ``retry-delay=S`` — add ``RetryInfo.retryDelay: "Ss"`` to a 429;
* ``reset`` — close the connection before any response byte;
* ``cut`` — reset the connection mid-body (half-way, or after ``cut-after=N`` stream events);
* ``cut-with-error`` — end a stream mid-way with the bare 499 JSON array (no ``data:``);
* ``no-done`` — send the whole stream but never ``data: [DONE]``;
* ``latency=S`` — wait S seconds before the response headers;
* ``slow-first-byte=S`` — send the headers, then wait S seconds before the first body byte.

Example: ``x-emulator-fault: 429, retry-after=2, retry-delay=5``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request (the parsed form of the grammar)."""

    status: int | None = None
    retry_after: float | None = None
    retry_delay: float | None = None
    reset: bool = False
    cut: str | None = None  # "reset" or "error"
    cut_after: int | None = None
    no_done: bool = False
    latency: float = 0.0
    slow_first_byte: float = 0.0
    reason: str | None = None


_FLAGS = {
    "ok": {},
    "none": {},
    "reset": {"reset": True},
    "cut": {"cut": "reset"},
    "cut-with-error": {"cut": "error"},
    "no-done": {"no_done": True},
    "service-disabled": {"status": 403, "reason": "SERVICE_DISABLED"},
}
_SECONDS = {
    "retry-after": "retry_after",
    "retry-delay": "retry_delay",
    "latency": "latency",
    "slow-first-byte": "slow_first_byte",
}


def parse_fault(spec: str) -> Fault:
    """Parse one fault spec; raise ValueError naming the bad token."""
    fault = Fault()
    for token in spec.replace(",", " ").split():
        name, equals, value = token.strip().lower().partition("=")
        if not equals and name in _FLAGS:
            fault = replace(fault, **_FLAGS[name])  # type: ignore[arg-type]
        elif not equals and name.isdigit() and 400 <= int(name) <= 599:
            fault = replace(fault, status=int(name))
        elif equals and name in _SECONDS:
            fault = replace(fault, **{_SECONDS[name]: _seconds(token, value)})  # type: ignore[arg-type]
        elif equals and name == "cut-after" and value.isdigit():
            fault = replace(fault, cut=fault.cut or "reset", cut_after=int(value))
        else:
            raise ValueError(f"unknown fault token {token!r}")
    return fault


def _seconds(token: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"bad number in fault token {token!r}") from None
    if not seconds >= 0:
        raise ValueError(f"negative or NaN seconds in fault token {token!r}")
    return seconds


@dataclass(frozen=True)
class Faults:
    """Emulator-wide faults: a seeded fraction, a schedule, latency and a capacity limit.

    ``schedule`` entries are consumed one per valid request, in order; after it runs out,
    each request draws a ``kinds`` entry with probability ``rate``. A request's
    ``x-emulator-fault`` header replaces both for that request. ``max_concurrency`` answers
    429 to requests that arrive while that many are already in flight (Vertex's shared quota).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429",)
    schedule: tuple[str, ...] = ()
    latency: float = 0.0
    slow_first_byte: float = 0.0
    max_concurrency: int | None = None
    retry_after: float | None = None
    retry_delay: float | None = None
    seed: int = 0
    parsed_kinds: tuple[Fault, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        for spec in self.schedule:
            parse_fault(spec)
        object.__setattr__(self, "parsed_kinds", tuple(parse_fault(k) for k in self.kinds))


class FaultPicker:
    """Hands out the fault for each request: header, else schedule, else a seeded draw."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._schedule = deque(parse_fault(spec) for spec in faults.schedule)
        self._rng = random.Random(faults.seed)

    def extend(self, specs: tuple[str, ...]) -> None:
        """Append faults to the schedule (validated first, so a typo changes nothing)."""
        self._schedule.extend([parse_fault(spec) for spec in specs])

    def next(self, header: str | None) -> Fault:
        """The fault for the next request (raises ValueError for a malformed header)."""
        if header is not None:
            return self._with_defaults(parse_fault(header))
        if self._schedule:
            return self._with_defaults(self._schedule.popleft())
        hit = self._rng.random() < self._faults.rate  # always draw: keeps the sequence stable
        if hit and self._faults.parsed_kinds:
            return self._with_defaults(self._rng.choice(self._faults.parsed_kinds))
        return self._with_defaults(Fault())

    def _with_defaults(self, fault: Fault) -> Fault:
        config = self._faults
        return replace(
            fault,
            retry_after=fault.retry_after if fault.retry_after is not None else config.retry_after,
            retry_delay=fault.retry_delay if fault.retry_delay is not None else config.retry_delay,
            latency=fault.latency or config.latency,
            slow_first_byte=fault.slow_first_byte or config.slow_first_byte,
        )
