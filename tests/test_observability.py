"""Usage totals, event hooks and log lines from real calls against the emulator."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import vertexchat
from vertexchat.testing import Emulator, Faults

MODEL = "google/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "a private prompt"}]
FAST = vertexchat.RetryPolicy(initial_delay=0.001, max_delay=0.001, jitter=0.0)
TOKEN = "ya29.SECRET-TOKEN"


def _client(emulator: Emulator, **options: Any) -> vertexchat.Client:
    http = httpx.AsyncClient(transport=emulator.transport())
    options.setdefault("retry_policy", FAST)
    return vertexchat.Client("p", "global", auth=TOKEN, http_client=http, **options)


async def test_client_usage_totals_by_model() -> None:
    emulator = Emulator(faults=Faults(schedule=("429", "ok", "500", "500")))
    async with _client(emulator) as client:
        first = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(vertexchat.InternalServerError):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_retries=1)
        stream = await client.chat.completions.create(
            model="gemini-2.5-pro", messages=MESSAGES, stream=True
        )
        async with stream:
            streamed = await stream.get_final_completion()
    usage = client.usage.by_model()
    flash = usage[MODEL]
    assert (flash.calls, flash.succeeded, flash.requests) == (2, 1, 4)
    assert flash.errors == {"RateLimitError": 1, "InternalServerError": 2}
    assert first.usage is not None
    assert flash.input_tokens == first.usage.prompt_tokens
    assert flash.output_tokens == first.usage.output_tokens
    pro = usage["google/gemini-2.5-pro"]
    assert streamed.usage is not None
    assert (pro.calls, pro.requests, pro.output_tokens) == (1, 1, streamed.usage.output_tokens)
    prices = {
        "gemini-2.5-flash": vertexchat.ModelPrice(input=1.0, output=10.0),
        "gemini-2.5-pro": vertexchat.ModelPrice(input=2.0, output=20.0),
    }
    expected = (
        flash.input_tokens * 1.0
        + flash.output_tokens * 10.0
        + pro.input_tokens * 2.0
        + pro.output_tokens * 20.0
    ) / 1_000_000
    assert client.usage.cost(prices) == pytest.approx(expected)


async def test_a_batch_has_its_own_totals() -> None:
    emulator = Emulator(faults=Faults(schedule=("ok", "503")))
    requests = [
        {"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(4)
    ]
    async with _client(emulator) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)  # not the batch's
        async with client.batch(requests, concurrency=2) as run:
            results = [result async for result in run]
        batch = run.usage.by_model()[MODEL]
    assert all(result.ok for result in results)
    assert (batch.calls, batch.succeeded, batch.requests) == (4, 4, 5)
    assert batch.errors == {"InternalServerError": 1}
    assert batch.output_tokens == sum(r.response.usage.output_tokens for r in results)  # type: ignore[union-attr]
    assert client.usage.by_model()[MODEL].calls == 5


async def test_event_hooks_see_every_attempt() -> None:
    seen: list[str] = []
    statuses: Counter[int] = Counter()

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path.rsplit('/', 2)[-2]}")

    async def on_response(response: httpx.Response) -> None:
        statuses[response.status_code] += 1

    hooks = {"request": [on_request], "response": [on_response]}
    emulator = Emulator(faults=Faults(schedule=("429", "ok")))
    async with _client(emulator, event_hooks=hooks) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            await stream.get_final_completion()
    assert seen == ["POST chat"] * 3
    assert statuses == {429: 1, 200: 2}


async def test_an_exception_in_a_hook_reaches_the_caller_and_frees_the_slot() -> None:
    class Refused(Exception):
        pass

    async def refuse(request: httpx.Request) -> None:
        raise Refused

    emulator = Emulator()
    async with _client(emulator, event_hooks={"request": [refuse]}, max_concurrency=1) as client:
        for _ in range(2):  # a leaked limiter slot would hang the second call
            with pytest.raises(Refused):
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert emulator.requests == []


async def test_log_lines_per_attempt_and_retry_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="vertexchat")
    emulator = Emulator(faults=Faults(schedule=("429", "ok")))
    async with _client(emulator) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    records = [(r.name, r.levelname) for r in caplog.records if r.name != "vertexchat._auth"]
    assert records == [
        ("vertexchat.request", "DEBUG"),
        ("vertexchat.retry", "INFO"),
        ("vertexchat.request", "DEBUG"),
    ]
    text = caplog.text
    assert "-> HTTP 429 RESOURCE_EXHAUSTED (attempt 1/" in text
    assert "-> 200 (attempt 2/" in text
    assert TOKEN not in text
    assert "private prompt" not in text


async def test_batch_milestones_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vertexchat.batch")
    requests = [{"model": MODEL, "messages": MESSAGES} for _ in range(12)]
    async with _client(Emulator()) as client, client.batch(requests, concurrency=3) as run:
        [result async for result in run]
    lines = [r.getMessage() for r in caplog.records if r.name == "vertexchat.batch"]
    assert lines[0].startswith("batch started")
    assert [line.split(":")[0] for line in lines[1:-1]] == ["batch progress"] * 2  # 1 and 10 done
    assert lines[-1].startswith("batch finished: 12 done, 12 ok, 0 failed")


async def test_a_cancelled_call_counts_as_cancelled() -> None:
    scope = anyio.CancelScope()

    async def cancel_while_sending(request: httpx.Request) -> None:
        scope.cancel()
        await anyio.lowlevel.checkpoint()  # the cancellation arrives here

    async with _client(Emulator(), event_hooks={"request": [cancel_while_sending]}) as client:
        with scope:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    flash = client.usage.by_model()[MODEL]
    assert scope.cancelled_caught
    assert (flash.calls, flash.succeeded, flash.requests) == (1, 0, 1)
    assert flash.errors == {"Cancelled": 1}
