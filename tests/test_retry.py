"""RetryPolicy: exact delays with a fixed random source, validation, purity."""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from vertexchat._retry import DEFAULT_RETRY_STATUSES, RetryPolicy


def always(value: float) -> Callable[[], float]:
    """A "random" source that always returns ``value``."""
    return lambda: value


LOW = always(0.0)  # no jitter taken off: the nominal delay
HIGH = always(1.0)  # the most jitter taken off


def test_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 4
    assert policy.max_retries == 3
    assert (policy.initial_delay, policy.max_delay, policy.multiplier) == (1.0, 30.0, 2.0)
    assert policy.jitter == 0.5
    assert policy.max_server_delay == 60.0
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})


def test_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().max_attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (7, 30.0), (10_000, 30.0)],
)
def test_exponential_backoff_capped_at_max_delay(attempt: int, expected: float) -> None:
    assert RetryPolicy().delay(attempt, random=LOW) == expected


@pytest.mark.parametrize(
    ("draw", "expected"),
    [(0.0, 4.0), (0.25, 3.5), (0.5, 3.0), (1.0, 2.0)],
)
def test_jitter_takes_up_to_its_fraction_off(draw: float, expected: float) -> None:
    assert RetryPolicy().delay(3, random=always(draw)) == expected


def test_full_jitter_and_no_jitter() -> None:
    full = RetryPolicy(jitter=1.0)
    assert full.delay(2, random=always(0.75)) == 0.5
    assert full.delay(2, random=HIGH) == 0.0
    fixed = RetryPolicy(jitter=0.0)
    assert fixed.delay(2, random=always(0.9)) == 2.0


def test_out_of_range_random_values_are_clamped() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, random=always(-3.0)) == 1.0
    assert policy.delay(1, random=always(7.0)) == 0.5


def test_custom_initial_and_multiplier() -> None:
    policy = RetryPolicy(initial_delay=0.25, multiplier=3.0, max_delay=5.0, jitter=0.0)
    assert [policy.delay(n, random=LOW) for n in range(1, 6)] == [0.25, 0.75, 2.25, 5.0, 5.0]


def test_integer_multiplier_with_huge_attempt_does_not_overflow() -> None:
    policy = RetryPolicy(multiplier=10, jitter=0.0)
    assert policy.delay(100_000, random=LOW) == 30.0


def test_server_delay_is_waited_at_least() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, server_delay=27.0, random=LOW) == 27.0
    # a shorter server delay does not shorten our own backoff
    assert policy.delay(4, server_delay=2.0, random=LOW) == 8.0


def test_server_delay_is_capped_by_max_server_delay() -> None:
    assert RetryPolicy().delay(1, server_delay=3600.0, random=LOW) == 60.0
    assert RetryPolicy(max_server_delay=5.0).delay(1, server_delay=math.inf, random=LOW) == 5.0


def test_server_delay_is_honoured_beyond_max_delay() -> None:
    policy = RetryPolicy(max_delay=2.0, initial_delay=1.0)
    assert policy.delay(1, server_delay=45.0, random=LOW) == 45.0


def test_server_delay_is_not_jittered_below_what_was_asked() -> None:
    assert RetryPolicy(jitter=1.0).delay(1, server_delay=10.0, random=HIGH) == 10.0


def test_negative_or_nan_server_delay_is_ignored() -> None:
    policy = RetryPolicy()
    assert policy.delay(2, server_delay=-5.0, random=LOW) == 2.0
    assert policy.delay(2, server_delay=math.nan, random=LOW) == 2.0


def test_random_is_called_once_per_delay() -> None:
    calls: list[int] = []

    def counting() -> float:
        calls.append(1)
        return 0.0

    RetryPolicy().delay(2, server_delay=1.0, random=counting)
    assert len(calls) == 1


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt"):
        RetryPolicy().delay(0, random=LOW)


@pytest.mark.parametrize("status", sorted(DEFAULT_RETRY_STATUSES))
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy().should_retry_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 499, 501, 505])
def test_statuses_not_retried(status: int) -> None:
    assert not RetryPolicy().should_retry_status(status)


def test_custom_statuses_accept_any_iterable() -> None:
    policy = RetryPolicy(retry_statuses=[429, 409])  # type: ignore[arg-type]
    assert policy.retry_statuses == frozenset({409, 429})
    assert policy.should_retry_status(409)
    assert not policy.should_retry_status(500)


def test_can_retry_counts_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.can_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]


def test_none_never_retries() -> None:
    policy = RetryPolicy.none()
    assert policy.max_attempts == 1
    assert policy.max_retries == 0
    assert not policy.can_retry(1)


def test_with_max_retries() -> None:
    base = RetryPolicy(initial_delay=0.1)
    five = base.with_max_retries(5)
    assert (five.max_attempts, five.max_retries, five.initial_delay) == (6, 5, 0.1)
    assert base.with_max_retries(0) == dataclasses.replace(base, max_attempts=1)
    assert not base.with_max_retries(0).can_retry(1)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_with_max_retries_rejects_bad_counts(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="max_retries"):
        RetryPolicy().with_max_retries(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"initial_delay": -1.0}, "initial_delay"),
        ({"initial_delay": math.nan}, "initial_delay"),
        ({"max_delay": math.inf}, "max_delay"),
        ({"initial_delay": 5.0, "max_delay": 1.0}, "max_delay must be >= initial_delay"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"multiplier": math.inf}, "multiplier"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"max_server_delay": -1}, "max_server_delay"),
        ({"max_server_delay": "60"}, "max_server_delay"),
        ({"retry_statuses": {429, 42}}, "retry_statuses"),
        ({"retry_statuses": {"429"}}, "retry_statuses"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_module_is_pure() -> None:
    source = Path(__file__).parents[1] / "vertexchat" / "_retry.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "math"}
