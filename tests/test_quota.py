"""SharedQuota (leases of a job-wide AIMD limit) and AdaptiveLimiter.resize."""

from __future__ import annotations

import anyio
import pytest

from vertexchat._limiter import AdaptiveLimit, AdaptiveLimiter
from vertexchat._quota import SharedQuota


def test_the_limit_is_split_evenly_between_recent_workers() -> None:
    quota = SharedQuota(64, period=1.0)
    assert quota.renew("a", successes=0, throttled=0, now=0.0) == 64
    assert quota.renew("b", successes=0, throttled=0, now=0.1) == 32
    assert quota.renew("a", successes=0, throttled=0, now=0.2) == 32
    assert quota.workers == 2


def test_a_429_anywhere_halves_everyones_lease_once_per_period() -> None:
    quota = SharedQuota(64, period=1.0)
    quota.renew("a", successes=0, throttled=0, now=0.0)
    quota.renew("b", successes=0, throttled=0, now=0.0)
    assert quota.renew("a", successes=10, throttled=3, now=0.5) == 16
    # b's 429s come from calls started under the old limit: the same congestion event
    assert quota.renew("b", successes=0, throttled=5, now=0.6) == 16
    assert quota.decreases == 1
    assert quota.throttled == 8
    assert quota.renew("b", successes=0, throttled=1, now=1.6) == 8  # a new period, a new event
    assert quota.decreases == 2


def test_successes_grow_the_job_by_one_per_limit_successes() -> None:
    quota = SharedQuota(100, period=1.0)
    quota.renew("a", successes=0, throttled=1, now=0.0)
    assert quota.limit == 50
    quota.renew("a", successes=50, throttled=0, now=0.1)
    assert quota.limit == pytest.approx(51)
    for step in range(1000):
        quota.renew("a", successes=100, throttled=0, now=1.0 + step)
    assert quota.limit == 100  # never above the ceiling


def test_never_below_one_call_per_worker() -> None:
    quota = SharedQuota(4, period=0.1)
    for worker in "abc":
        quota.renew(worker, successes=0, throttled=0, now=0.0)
    for step in range(10):
        for worker in "abc":
            assert quota.renew(worker, successes=0, throttled=1, now=step * 0.1) >= 1
    assert quota.limit == 3


def test_idle_and_finished_workers_give_their_share_back() -> None:
    quota = SharedQuota(30, period=0.5)
    for worker in "abc":
        quota.renew(worker, successes=0, throttled=0, now=0.0)
    assert quota.lease() == 10
    quota.leave("c")
    assert quota.lease() == 15
    assert quota.renew("a", successes=0, throttled=0, now=3.0) == 30  # b stopped renewing


@pytest.mark.parametrize(
    "options", [{"ceiling": 0}, {"ceiling": 2, "period": 0.0}, {"ceiling": 2, "decrease": 1.0}]
)
def test_bad_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"ceiling|period|decrease"):
        SharedQuota(**options)  # type: ignore[arg-type]


def test_resize_sets_the_ceiling_and_the_limit() -> None:
    state = AdaptiveLimit(8)
    assert state.try_acquire()
    state.release(throttled=True)
    assert state.limit == 4
    state.resize(20)
    assert (state.ceiling, state.limit) == (20, 20)
    state.resize(2)
    assert (state.ceiling, state.limit) == (2, 2)
    with pytest.raises(ValueError, match="ceiling"):
        state.resize(0)


async def test_a_larger_lease_lets_waiting_callers_in() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    entered = anyio.Event()

    async def second() -> None:
        await limiter.acquire()
        entered.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert limiter.waiting == 1
        limiter.resize(2)
        await entered.wait()
        assert limiter.in_flight == 2
        limiter.release()
        limiter.release()
