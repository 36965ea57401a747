"""Issue 4's acceptance: faults, attempt counts, cancellation, one refresh for many callers."""

from __future__ import annotations

import datetime
import threading
from collections import Counter
from typing import Any

import anyio
import httpx
import pytest
from google.auth.credentials import Credentials

import vertexchat
from vertexchat.testing import Emulator, Faults

FAST_RETRIES = vertexchat.RetryPolicy(
    max_attempts=10, initial_delay=0.001, max_delay=0.005, max_server_delay=0.01
)
FAULT_KINDS = (
    "429",
    "429 retry-after=0",
    "429 retry-delay=0",
    "500",
    "503",
    "reset",
    "cut",
    "cut-with-error",
)


def client_on(emulator: Emulator, **options: Any) -> vertexchat.Client:
    options.setdefault("retry_policy", FAST_RETRIES)
    return vertexchat.Client(
        "p",
        "us-central1",
        auth=options.pop("auth", "token"),
        http_client=httpx.AsyncClient(transport=emulator.transport()),
        **options,
    )


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question number {i}: why is the sky blue?"}]


async def answer(client: vertexchat.Client, i: int) -> str:
    params: dict[str, Any] = {"model": "google/gemini-2.5-flash", "messages": prompt(i)}
    if i % 2:
        stream = await client.chat.completions.create(**params, stream=True)
        async with stream:
            result = await stream.get_final_completion()
    else:
        result = await client.chat.completions.create(**params)
    assert result.usage is not None
    return result.choices[0].message.content or ""


async def test_thousand_calls_with_twenty_percent_faults_all_complete_correctly() -> None:
    expected_emulator = Emulator()
    async with client_on(expected_emulator) as client:
        expected = {i: await answer(client, i) for i in range(0, 1000, 97)}

    emulator = Emulator(faults=Faults(rate=0.2, kinds=FAULT_KINDS, seed=7))
    results: dict[int, str] = {}
    async with client_on(emulator) as client:
        limiter = anyio.CapacityLimiter(100)

        async def one(i: int) -> None:
            async with limiter:
                results[i] = await answer(client, i)

        async with anyio.create_task_group() as tasks:
            for i in range(1000):
                tasks.start_soon(one, i)

    assert sorted(results) == list(range(1000))
    for i, text in expected.items():
        assert results[i] == text  # replays after faults give the same, whole answer
    attempts = Counter(_prompt_of(r.body) for r in emulator.requests)
    faulted = sum(count - 1 for count in attempts.values())
    assert len(attempts) == 1000
    assert 100 < faulted < 400  # about 20 % of ~1,250 attempts were faults, each retried once


def _prompt_of(body: Any) -> str:
    return str(body["messages"][0]["content"])


class GatedTransport(httpx.AsyncBaseTransport):
    """The emulator's transport behind a gate: requests wait, counted, until it opens."""

    def __init__(self, emulator: Emulator) -> None:
        self._inner = emulator.transport()
        self.gate = anyio.Event()
        self.waiting = 0
        self.all_waiting = anyio.Event()
        self.expected = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.waiting += 1
        if self.waiting == self.expected:
            self.all_waiting.set()
        await self.gate.wait()
        return await self._inner.handle_async_request(request)


async def test_cancelling_half_of_500_in_flight_calls_leaves_the_rest_correct() -> None:
    # Deterministic: every call waits on the wire (at a gate) until half of them are cancelled.
    emulator = Emulator()
    gated = GatedTransport(emulator)
    gated.expected = 500
    finished: dict[int, str] = {}
    client = vertexchat.Client(
        "p",
        "us-central1",
        auth="token",
        http_client=httpx.AsyncClient(transport=gated),
        retry_policy=FAST_RETRIES,
    )
    async with client:
        scopes: list[anyio.CancelScope] = []

        async def one(i: int, scope: anyio.CancelScope) -> None:
            with scope:
                finished[i] = await answer(client, i)

        async with anyio.create_task_group() as tasks:
            for i in range(500):
                scope = anyio.CancelScope()
                scopes.append(scope)
                tasks.start_soon(one, i, scope)
            with anyio.fail_after(60):  # a hang guard only
                await gated.all_waiting.wait()
            assert not finished
            for scope in scopes[::2]:
                scope.cancel()
            gated.gate.set()
        survivors = set(finished)
        after = await answer(client, 10_000)  # the client is still usable
    assert survivors == set(range(1, 500, 2))
    reference = Emulator()
    async with client_on(reference) as client:
        for i in (1, 251, 499):
            assert finished[i] == await answer(client, i)
    assert after


class SlowCredentials(Credentials):  # type: ignore[misc]
    """Starts expired; each refresh takes a moment and is counted."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.refreshes = 0
        self.fail = fail
        self.lock = threading.Lock()

    def refresh(self, request: Any) -> None:
        import time

        from google.auth.exceptions import RefreshError

        with self.lock:
            self.refreshes += 1
        time.sleep(0.05)
        if self.fail:
            raise RefreshError("the refresh token was revoked")
        self.token = f"fresh-token-{self.refreshes}"
        self.expiry = datetime.datetime.utcnow() + datetime.timedelta(hours=1)


async def test_thousand_concurrent_calls_with_expired_token_refresh_once() -> None:
    emulator = Emulator(tokens={"fresh-token-1"})
    credentials = SlowCredentials()
    auth = vertexchat.GoogleAuth(credentials)
    async with client_on(emulator, auth=auth) as client, anyio.create_task_group() as tasks:
        for i in range(1000):
            tasks.start_soon(answer, client, i * 2)
    assert credentials.refreshes == 1
    assert len(emulator.requests) == 1000


async def test_refresh_failure_reaches_every_waiting_call_without_hanging() -> None:
    emulator = Emulator()
    credentials = SlowCredentials(fail=True)
    errors: list[BaseException] = []
    async with client_on(emulator, auth=vertexchat.GoogleAuth(credentials)) as client:

        async def one(i: int) -> None:
            try:
                await answer(client, i)
            except vertexchat.CredentialsError as exc:
                errors.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for i in range(200):
                    tasks.start_soon(one, i)
    assert len(errors) == 200
    assert emulator.requests == []
    assert "revoked" in str(errors[0])
    assert credentials.refreshes == 1


@pytest.mark.parametrize("fault", ["429", "500", "503", "504", "reset"])
async def test_each_fault_kind_costs_exactly_one_retry(fault: str) -> None:
    emulator = Emulator()
    emulator.schedule(fault)
    async with client_on(emulator) as client:
        text = await answer(client, 0)
    assert text
    assert len(emulator.requests) == 2


async def test_emulator_429_body_is_retried_and_final_error_is_typed() -> None:
    emulator = Emulator(faults=Faults(rate=1.0, kinds=("429",)))
    async with client_on(emulator, max_retries=2) as client:
        with pytest.raises(vertexchat.RateLimitError) as info:
            await answer(client, 0)
    assert info.value.attempts == 3
    assert info.value.status == "RESOURCE_EXHAUSTED"
    assert info.value.body == {  # Google's error object, out of Vertex's array form
        "code": 429,
        "message": info.value.error.message if info.value.error else None,
        "status": "RESOURCE_EXHAUSTED",
    }


async def test_no_connection_is_leaked_over_loopback() -> None:
    from vertexchat.testing import serve

    emulator = Emulator(faults=Faults(rate=0.2, kinds=FAULT_KINDS, seed=3))
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth="t", retry_policy=FAST_RETRIES)
        async with client, anyio.create_task_group() as tasks:
            for i in range(100):
                tasks.start_soon(answer, client, i)
        with anyio.fail_after(5):
            while emulator.open_connections:  # noqa: ASYNC110 (the server closes on its side)
                await anyio.sleep(0.01)
        assert emulator.in_flight == 0
        assert len({_prompt_of(r.body) for r in emulator.requests}) == 100


class SwitchableTransport(httpx.AsyncBaseTransport):
    """Forwards to the current emulator's transport, so the server can change under a client."""

    def __init__(self, emulator: Emulator) -> None:
        self.current = emulator.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.current.handle_async_request(request)


async def test_client_wide_limiter_backs_off_on_429_and_recovers() -> None:
    storm = Emulator(faults=Faults(max_concurrency=4, latency=0.01))
    switch = SwitchableTransport(storm)
    client = vertexchat.Client(
        "p",
        "us-central1",
        auth="t",
        retry_policy=FAST_RETRIES,
        max_concurrency=32,
        http_client=httpx.AsyncClient(transport=switch),
    )
    limiter = client.limiter
    assert limiter is not None
    async with client:
        async with anyio.create_task_group() as tasks:
            for i in range(300):
                tasks.start_soon(answer, client, i)
        assert limiter.decreases > 0
        shrunk = limiter.limit
        assert shrunk < 32
        calm = Emulator(faults=Faults(latency=0.01))
        switch.current = calm.transport()
        async with anyio.create_task_group() as tasks:
            for i in range(600):
                tasks.start_soon(answer, client, i)
    assert limiter.limit > shrunk
    assert calm.peak_in_flight > shrunk
    assert limiter.in_flight == 0


async def test_closing_the_client_fails_in_flight_calls_cleanly() -> None:
    from vertexchat.testing import serve

    emulator = Emulator(faults=Faults(slow_first_byte=30))
    outcomes: list[BaseException] = []
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth="t", max_retries=0)

        async def one(i: int) -> None:
            try:
                await answer(client, i)
            except vertexchat.APIConnectionError as exc:
                outcomes.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for i in range(20):
                    tasks.start_soon(one, i)
                while emulator.in_flight < 20:  # noqa: ASYNC110 (polls a counter)
                    await anyio.sleep(0.01)
                await client.aclose()
        assert len(outcomes) == 20
        with pytest.raises(RuntimeError, match="closed"):
            await answer(client, 99)
