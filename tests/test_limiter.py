"""AdaptiveLimit (pure AIMD), TokenBucket (pure) and the anyio AdaptiveLimiter."""

from __future__ import annotations

import anyio
import pytest

from vertexchat._limiter import AdaptiveLimit, AdaptiveLimiter, TokenBucket


def fill(state: AdaptiveLimit) -> int:
    taken = 0
    while state.try_acquire():
        taken += 1
    return taken


def test_starts_at_ceiling_and_refuses_beyond_it() -> None:
    state = AdaptiveLimit(8)
    assert fill(state) == 8
    assert state.in_flight == state.peak_in_flight == 8
    state.release()
    assert state.try_acquire()


def test_burst_of_429s_from_one_window_halves_the_limit_once() -> None:
    state = AdaptiveLimit(16)
    fill(state)
    for _ in range(16):
        state.release(throttled=True)
    assert state.limit == 8
    assert state.decreases == 1


def test_429_after_the_window_drains_decreases_again() -> None:
    state = AdaptiveLimit(16)
    fill(state)
    for _ in range(16):
        state.release(throttled=True)
    assert fill(state) == 8  # started under the new limit
    state.release(throttled=True)
    assert state.limit == 4
    assert state.decreases == 2


def test_never_below_floor() -> None:
    state = AdaptiveLimit(4, floor=2)
    for _ in range(10):
        assert state.try_acquire()
        state.release(throttled=True)
    assert state.limit == 2


def test_additive_increase_is_about_one_per_limit_successes() -> None:
    state = AdaptiveLimit(10)
    state.try_acquire()
    state.release(throttled=True)
    assert state.limit == 5
    for _ in range(4):
        state.try_acquire()
        state.release()
    assert state.limit == 5
    for _ in range(2):
        state.try_acquire()
        state.release()
    assert state.limit == 6
    for _ in range(1000):
        state.try_acquire()
        state.release()
    assert state.limit == 10  # capped at the ceiling


def test_release_without_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        AdaptiveLimit(1).release()


@pytest.mark.parametrize(("ceiling", "floor", "decrease"), [(0, 1, 0.5), (4, 5, 0.5), (4, 1, 1.0)])
def test_invalid_settings(ceiling: int, floor: int, decrease: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        AdaptiveLimit(ceiling, floor=floor, decrease=decrease)


def test_token_bucket_bursts_a_minute_then_refills_evenly() -> None:
    bucket = TokenBucket(60, now=0.0)
    for _ in range(60):
        assert bucket.wait_time(0.0) == 0.0
        bucket.take(1, 0.0)
    assert bucket.wait_time(0.0) == pytest.approx(1.0)
    assert bucket.wait_time(0.5) == pytest.approx(0.5)
    assert bucket.wait_time(1.0) == 0.0


def test_token_bucket_debt_is_paid_back_by_waiting() -> None:
    bucket = TokenBucket(600, now=0.0)  # 10 per second
    bucket.take(620, 0.0)
    assert bucket.wait_time(0.0) == pytest.approx(2.1)


async def test_acquire_waits_for_release_in_fifo_order() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await limiter.acquire()
        order.append(n)
        limiter.release()

    async with anyio.create_task_group() as tasks:
        for n in range(3):
            tasks.start_soon(waiter, n)
            await anyio.wait_all_tasks_blocked()
        assert limiter.waiting == 3
        limiter.release()
    assert order == [0, 1, 2]
    assert limiter.in_flight == 0
    assert limiter.peak_in_flight == 1


async def test_cancelled_waiter_leaks_no_slot() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    with anyio.move_on_after(0) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    assert limiter.waiting == 0
    limiter.release()
    assert limiter.in_flight == 0


async def test_waiter_cancelled_after_being_granted_gives_the_slot_back() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()

    async def hold() -> None:
        await limiter.acquire()
        try:
            await anyio.sleep_forever()
        finally:
            limiter.release()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(hold)
        await anyio.wait_all_tasks_blocked()
        limiter.release()  # hands the slot to the waiter...
        tasks.cancel_scope.cancel()  # ...which is cancelled before it runs again
    assert limiter.in_flight == 0
    await limiter.acquire()  # and the slot is really free
    assert limiter.in_flight == 1


async def test_shrunk_limit_holds_back_new_calls() -> None:
    limiter = AdaptiveLimiter(4)
    for _ in range(4):
        await limiter.acquire()
    limiter.release(throttled=True)
    assert limiter.limit == 2
    with anyio.move_on_after(0.05):
        await limiter.acquire()  # 3 in flight > limit 2: must wait
        pytest.fail("acquired above the limit")
    for _ in range(2):
        limiter.release()
    await limiter.acquire()
    assert limiter.in_flight == 2


async def test_requests_per_minute_budget_makes_callers_wait() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(10, requests_per_minute=2, clock=lambda: now[0])
    for _ in range(2):
        await limiter.acquire()
        limiter.release()
    with anyio.move_on_after(0.05):
        await limiter.acquire()
        pytest.fail("acquired beyond the per-minute budget")
    now[0] = 30.0  # half a minute later one request's worth has refilled
    await limiter.acquire()
    assert limiter.in_flight == 1


async def test_tokens_per_minute_charged_at_release() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(10, tokens_per_minute=100, clock=lambda: now[0])
    await limiter.acquire()
    limiter.release(tokens=150)
    with anyio.move_on_after(0.05):
        await limiter.acquire()
        pytest.fail("acquired while the token budget is in debt")
    now[0] = 31.0
    await limiter.acquire()
