"""The in-process adapter: plain httpx.AsyncClient over Emulator.transport(), asyncio and trio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import anyio
import httpx
import pytest

from vertexchat.testing import Emulator, EmulatorTransport, Faults

BASE = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"
URL = BASE + "/endpoints/openapi/chat/completions"
BODY: dict[str, Any] = {
    "model": "google/gemini-2.5-flash",
    "messages": [{"role": "user", "content": "Hi"}],
}
STREAM = {**BODY, "stream": True}


@asynccontextmanager
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": "Bearer test-token"}
    async with httpx.AsyncClient(transport=emulator.transport(), headers=headers) as http:
        yield http


async def test_non_streaming_round_trip() -> None:
    emulator = Emulator()
    assert isinstance(emulator.transport(), EmulatorTransport)
    async with client(emulator) as http:
        response = await http.post(URL, json=BODY)
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"
    assert emulator.requests[0].body == BODY
    assert emulator.in_flight == 0


async def test_stream_arrives_one_event_per_chunk() -> None:
    emulator = Emulator()
    async with client(emulator) as http, http.stream("POST", URL, json=STREAM) as response:
        assert response.headers["content-type"] == "text/event-stream"
        pieces = [piece async for piece in response.aiter_raw()]
    assert len(pieces) >= 4
    assert all(p.startswith(b"data: ") and p.endswith(b"\n\n") for p in pieces)
    assert pieces[-1] == b"data: [DONE]\n\n"
    assert emulator.in_flight == 0


async def test_reset_before_response_raises_read_error() -> None:
    emulator = Emulator()
    async with client(emulator) as http:
        with pytest.raises(httpx.ReadError):
            await http.post(URL, json=BODY, headers={"x-emulator-fault": "reset"})
    assert emulator.in_flight == 0


async def collect(response: httpx.Response, into: list[bytes]) -> None:
    async for piece in response.aiter_raw():
        into.append(piece)


async def test_cut_stream_delivers_events_then_raises_read_error() -> None:
    emulator = Emulator()
    received: list[bytes] = []
    async with client(emulator) as http:
        headers = {"x-emulator-fault": "cut, cut-after=2"}
        async with http.stream("POST", URL, json=STREAM, headers=headers) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.ReadError):
                await collect(response, received)
    assert len(received) == 2
    assert emulator.in_flight == 0


async def test_cut_with_error_ends_with_bare_json_array() -> None:
    async with client(Emulator()) as http:
        headers = {"x-emulator-fault": "cut-with-error"}
        response = await http.post(URL, json=STREAM, headers=headers)
    tail = response.text.rsplit("\n\n", 1)[-1]
    assert json.loads(tail)[0]["error"]["status"] == "CANCELLED"
    assert "[DONE]" not in response.text


async def test_latency_really_waits() -> None:
    emulator = Emulator()
    async with client(emulator) as http:
        with anyio.move_on_after(0.02) as scope:
            await http.post(URL, json=BODY, headers={"x-emulator-fault": "latency=60"})
    assert scope.cancelled_caught
    assert emulator.in_flight == 0


async def test_slow_first_byte_sends_headers_then_waits() -> None:
    emulator = Emulator()
    async with client(emulator) as http:
        headers = {"x-emulator-fault": "slow-first-byte=60"}
        async with http.stream("POST", URL, json=STREAM, headers=headers) as response:
            assert response.status_code == 200
            with anyio.move_on_after(0.02) as scope:
                await response.aread()
    assert scope.cancelled_caught
    assert emulator.in_flight == 0


async def test_open_streams_count_against_max_concurrency() -> None:
    emulator = Emulator(faults=Faults(max_concurrency=2))
    async with client(emulator) as http, AsyncExitStack() as stack:
        held = [await stack.enter_async_context(http.stream("POST", URL, json=STREAM))
                for _ in range(2)]  # fmt: skip
        assert [r.status_code for r in held] == [200, 200]
        rejected = await http.post(URL, json=BODY)
        assert rejected.status_code == 429
        assert emulator.in_flight == 2
    assert (emulator.in_flight, emulator.peak_in_flight) == (0, 3)


async def test_leaving_a_stream_early_releases_it() -> None:
    emulator = Emulator()
    async with client(emulator) as http, http.stream("POST", URL, json=STREAM) as response:
        assert response.status_code == 200
        assert emulator.in_flight == 1
    assert emulator.in_flight == 0


async def test_concurrent_requests_are_tracked() -> None:
    emulator = Emulator()
    async with client(emulator) as http, anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(partial(http.post, URL, json=BODY))
    assert len(emulator.requests) == 5
    assert emulator.in_flight == 0
