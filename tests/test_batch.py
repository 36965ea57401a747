"""client.batch(): completion order, per-item errors, flat memory, AIMD, cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import vertexchat
from vertexchat._batch import BatchResult, BatchRun
from vertexchat._limiter import AdaptiveLimiter
from vertexchat._progress import BatchStats
from vertexchat.testing import Emulator, Faults

BASE_URL = "http://emulator/v1/projects/p/locations/global/endpoints/openapi"
MODEL = "google/gemini-2.5-flash"
FAST_RETRIES = vertexchat.RetryPolicy(max_attempts=4, initial_delay=0.001, max_delay=0.002)


def ask(n: int, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}], **extra}


@asynccontextmanager
async def connect(
    emulator: Emulator, retry_policy: vertexchat.RetryPolicy = FAST_RETRIES
) -> AsyncIterator[vertexchat.Client]:
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        client = vertexchat.Client(
            base_url=BASE_URL, auth=None, http_client=http, retry_policy=retry_policy
        )
        async with client:
            yield client


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return [result async for result in run]


async def test_every_index_once_in_completion_order() -> None:
    emulator = Emulator(require_auth=False)
    slow = {"extra_headers": {"x-emulator-fault": "latency=0.5"}}
    requests = [ask(0, **slow)] + [ask(n) for n in range(1, 20)]
    async with connect(emulator) as client:
        results = await collect(client.batch(requests, concurrency=8))
    assert sorted(r.index for r in results) == list(range(20))
    assert results[-1].index == 0  # the slow one finished last, so it came last
    for result in results:
        assert result.ok
        assert result.response is not None
        assert result.request is requests[result.index]
        assert result.attempts == 1
        assert result.latency > 0
    assert emulator.in_flight == 0


async def test_bare_async_for_and_stats() -> None:
    emulator = Emulator(require_auth=False)
    async with connect(emulator) as client:
        run = client.batch((ask(n) for n in range(30)), concurrency=4)
        results = [result async for result in run]
    assert len(results) == 30
    stats = run.stats
    assert (stats.submitted, stats.done, stats.failed, stats.in_flight) == (30, 30, 0, 0)
    usages = [r.response.usage for r in results if r.response and r.response.usage]
    assert stats.total_tokens == sum(u.total_tokens for u in usages) > 0
    assert stats.prompt_tokens == sum(u.prompt_tokens for u in usages)
    assert stats.latency_p50 is not None
    assert stats.latency_p95 is not None
    assert stats.latency_p50 <= stats.latency_p95
    assert stats.throughput > 0


async def test_request_models_and_streaming_items_are_collected() -> None:
    emulator = Emulator(require_auth=False)
    request = vertexchat.ChatCompletionRequest.model_validate(ask(1))
    async with connect(emulator) as client:
        results = await collect(client.batch([request, ask(1, stream=True)], concurrency=2))
    by_index = {r.index: r for r in results}
    plain, streamed = by_index[0].response, by_index[1].response
    assert plain is not None
    assert streamed is not None
    assert streamed.choices[0].message.content == plain.choices[0].message.content


async def test_per_item_errors_are_results() -> None:
    emulator = Emulator(require_auth=False)
    requests: list[Any] = [
        ask(0),
        {"model": MODEL, "messages": []},  # invalid: never sent
        ask(2, extra_headers={"x-emulator-fault": "404"}),  # not retried
        ask(3, extra_headers={"x-emulator-fault": "503"}),  # retried until the policy gives up
        "not a request",
    ]
    async with connect(emulator) as client:
        results = await collect(client.batch(requests, concurrency=5))
    by_index = {r.index: r for r in results}
    assert by_index[0].ok
    assert isinstance(by_index[1].error, vertexchat.InvalidRequestError)
    assert by_index[1].attempts == 0
    assert isinstance(by_index[2].error, vertexchat.NotFoundError)
    assert by_index[2].attempts == 1
    assert isinstance(by_index[3].error, vertexchat.InternalServerError)
    assert by_index[3].attempts == by_index[3].error.attempts == 4
    assert isinstance(by_index[4].error, vertexchat.InvalidRequestError)
    assert not any(r.ok for i, r in by_index.items() if i)


async def test_a_429_is_retried_and_counted() -> None:
    emulator = Emulator(require_auth=False, faults=Faults(schedule=("429", "429")))
    async with connect(emulator) as client:
        (result,) = await collect(client.batch([ask(0)], max_retries=5))
    assert result.ok
    assert result.attempts == 3
    assert len(emulator.requests) == 3


async def test_programming_error_in_callback_propagates() -> None:
    emulator = Emulator(require_auth=False, faults=Faults(latency=0.01))

    def progress(stats: BatchStats) -> None:
        if stats.done == 3:
            raise TypeError("bug in the callback")

    async with connect(emulator) as client:
        run = client.batch([ask(n) for n in range(50)], concurrency=4, on_progress=progress)
        with pytest.raises(TypeError, match="bug in the callback"):
            await collect(run)
    assert emulator.in_flight == 0
    assert run.stats.done < 50


async def test_error_in_the_input_iterator_propagates() -> None:
    def requests() -> Iterator[dict[str, Any]]:
        yield ask(0)
        raise ValueError("broken input")

    async with connect(Emulator(require_auth=False)) as client:
        with pytest.raises(ValueError, match="broken input"):
            await collect(client.batch(requests()))


async def test_large_generator_is_consumed_lazily() -> None:
    # Every 50th item is sent to the emulator, the others fail validation at once; the bound
    # checked is structural (pulled minus finished), so it does not need millions of items.
    total, concurrency = 5_000, 64
    emulator = Emulator(require_auth=False)
    pulled = 0
    worst = 0
    run: BatchRun | None = None

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled, worst
        for n in range(total):
            if run is not None:
                worst = max(worst, pulled - run.stats.done)
            pulled += 1
            yield ask(n) if n % 50 == 0 else {"model": MODEL, "messages": []}

    async with connect(emulator) as client:
        run = client.batch(requests(), concurrency=concurrency)
        seen = 0
        async with run:
            async for _ in run:
                seen += 1
    assert seen == pulled == total
    assert len(emulator.requests) == total // 50
    # Pulled but unfinished: at most one per worker.
    assert worst <= concurrency


async def test_slow_consumer_applies_backpressure() -> None:
    emulator = Emulator(require_auth=False)
    pulled = 0

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for n in range(500):
            pulled += 1
            yield ask(n)

    async with connect(emulator) as client:
        run = client.batch(requests(), concurrency=8)
        async with run:
            async for _ in run:
                await anyio.wait_all_tasks_blocked()  # let the workers run as far as they can
                # 8 results in the buffer, 8 more finished and waiting to be buffered
                assert pulled - run.stats.done <= 8
                assert pulled <= 1 + 8 + 8
                break
        assert pulled <= 1 + 8 + 8


async def test_aimd_shrinks_in_flight_under_a_429_storm_and_recovers() -> None:
    retries = vertexchat.RetryPolicy(max_attempts=50, initial_delay=0.001, max_delay=0.005)
    storm = Emulator(require_auth=False, faults=Faults(max_concurrency=8, latency=0.01))
    calm = Emulator(require_auth=False, faults=Faults(latency=0.01))
    transport = storm.transport()
    late_in_flight: list[int] = []

    def sample(stats: BatchStats) -> None:
        if stats.done > 80:
            late_in_flight.append(storm.in_flight)

    async with httpx.AsyncClient(transport=transport) as http:
        client = vertexchat.Client(base_url=BASE_URL, auth=None, http_client=http)
        client.retry_policy = retries
        # The client's shared limiter when it has one, else one shared by both batches.
        limiter = getattr(client, "limiter", None)
        options: dict[str, Any] = {} if limiter else {"limiter": AdaptiveLimiter(64)}
        run = client.batch([ask(n) for n in range(160)], on_progress=sample, **options)
        limiter = run.limiter
        assert all(r.ok for r in await collect(run))
        assert len(storm.requests) > 160  # there were 429s, retried
        assert limiter.decreases >= 2
        assert limiter.limit <= 16  # from a ceiling of 64
        assert max(late_in_flight) <= 16  # the emulator saw far fewer than 64 at once
        shrunk = limiter.limit

        transport.emulator = calm  # the storm is over
        run = client.batch([ask(n) for n in range(250)], **options)
        assert all(r.ok for r in await collect(run))
    assert limiter.limit >= shrunk + 10  # additive increase while calls succeed
    assert calm.peak_in_flight > 8
    assert limiter.in_flight == 0


async def test_break_cancels_in_flight_work() -> None:
    emulator = Emulator(require_auth=False, faults=Faults(latency=0.05))
    async with connect(emulator) as client:
        run = client.batch([ask(n) for n in range(100)], concurrency=8)
        async with run:
            async for _ in run:
                break
        assert emulator.in_flight == 0
        assert run.limiter.in_flight == 0
        assert len(emulator.requests) < 100
        # the client is still usable
        await client.chat.completions.create(**ask(1))


async def test_cancelling_the_consumer_cancels_in_flight_work() -> None:
    # Deterministic: the consumer cancels itself after its third result, whatever the load.
    emulator = Emulator(require_auth=False, faults=Faults(latency=0.05))
    got: list[BatchResult] = []
    async with connect(emulator) as client:
        run = client.batch([ask(n) for n in range(100)], concurrency=8)
        with anyio.fail_after(60), anyio.CancelScope() as consumer:  # fail_after: a hang guard
            async for result in run:
                got.append(result)
                if len(got) == 3:
                    consumer.cancel()
        assert consumer.cancelled_caught
    assert emulator.in_flight == 0
    assert run.limiter.in_flight == 0
    assert len(got) == 3
    assert len(emulator.requests) < 100  # the rest was never sent


def test_invalid_arguments() -> None:
    client = vertexchat.Client(base_url=BASE_URL, auth=None)
    with pytest.raises(ValueError, match="concurrency"):
        client.batch([], concurrency=0)
    with pytest.raises(TypeError, match="unexpected"):
        client.batch([], temperature=0.5)
