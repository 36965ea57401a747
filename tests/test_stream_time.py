"""Time bounds a stream: ``deadline`` until [DONE], the read timeout between events.

Hostile servers written with raw sockets (not our emulator): endless data, endless comments,
a data line trickled a byte at a time, and a response head trickled a byte at a time. Each
must end in ``APITimeoutError`` within the configured bounds; ``anyio.fail_after`` guards
against a hang far above them (no timing is asserted).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

import vertexchat

MESSAGES = [{"role": "user", "content": "hi"}]
HANG_GUARD = 20.0
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
Behaviour = Callable[[anyio.abc.SocketStream], Awaitable[None]]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(text: str) -> bytes:
    payload = {
        "id": "r",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


async def _read_request(stream: anyio.abc.SocketStream) -> None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive()
    head, _, body = buffer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += await stream.receive()


async def endless_data(stream: anyio.abc.SocketStream) -> None:
    await stream.send(SSE_HEAD)
    while True:
        await stream.send(_chunk(_event("more")))
        await anyio.sleep(0.01)


async def endless_comments(stream: anyio.abc.SocketStream) -> None:
    await stream.send(SSE_HEAD + _chunk(_event("first")))
    while True:
        await stream.send(_chunk(b": keep-alive\n\n"))
        await anyio.sleep(0.01)


async def trickled_event(stream: anyio.abc.SocketStream) -> None:
    await stream.send(SSE_HEAD + _chunk(_event("first")))
    for byte in b"data: " + b"x" * 10_000:
        await stream.send(_chunk(bytes([byte])))
        await anyio.sleep(0.01)


async def trickled_head(stream: anyio.abc.SocketStream) -> None:
    for byte in SSE_HEAD[:-2] + b"x-padding: " + b"y" * 10_000:
        await stream.send(bytes([byte]))
        await anyio.sleep(0.01)


@asynccontextmanager
async def hostile_server(behaviour: Behaviour) -> AsyncIterator[str]:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await _read_request(stream)
                await behaviour(stream)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # the client gave up: that is the point

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/v1"
        tasks.cancel_scope.cancel()


def _client(base_url: str, timeout: float | httpx.Timeout) -> vertexchat.Client:
    return vertexchat.Client(base_url=base_url, auth=None, max_retries=0, timeout=timeout)


async def _stream_until_error(base_url: str, **options: object) -> tuple[int, BaseException]:
    received = 0
    timeout = options.pop("timeout", 30.0)
    async with _client(base_url, timeout) as client:  # type: ignore[arg-type]
        with anyio.fail_after(HANG_GUARD):
            try:
                stream = await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True, **options
                )
                async with stream:
                    async for _ in stream:
                        received += 1
            except vertexchat.APIError as error:
                return received, error
    raise AssertionError("the stream ended without an error")


async def test_deadline_bounds_an_endless_stream() -> None:
    async with hostile_server(endless_data) as base_url:
        received, error = await _stream_until_error(base_url, deadline=0.5)
    assert received > 0  # it was streaming when the deadline struck
    assert isinstance(error, vertexchat.APITimeoutError)
    assert "deadline of 0.5s" in str(error)
    assert error.attempts == 1


async def test_deadline_bounds_get_final_completion_of_an_endless_stream() -> None:
    async with hostile_server(endless_data) as base_url, _client(base_url, 30.0) as client:
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, deadline=0.5
        )
        with (
            anyio.fail_after(HANG_GUARD),
            pytest.raises(vertexchat.APITimeoutError, match="deadline"),
        ):
            await stream.get_final_completion()


async def test_comments_do_not_keep_a_stream_alive_past_the_read_timeout() -> None:
    async with hostile_server(endless_comments) as base_url:
        received, error = await _stream_until_error(base_url, timeout=0.5)
    assert received == 1
    assert isinstance(error, vertexchat.APITimeoutError)
    assert "no stream event for 0.5s" in str(error)


async def test_a_trickled_event_does_not_keep_a_stream_alive() -> None:
    async with hostile_server(trickled_event) as base_url:
        received, error = await _stream_until_error(base_url, timeout=0.5)
    assert received == 1
    assert isinstance(error, vertexchat.APITimeoutError)


async def test_a_trickled_response_head_times_out() -> None:
    timeout = httpx.Timeout(0.3, connect=0.1, write=0.1, pool=0.1)
    async with hostile_server(trickled_head) as base_url:
        received, error = await _stream_until_error(base_url, timeout=timeout)
    assert received == 0
    assert isinstance(error, vertexchat.APITimeoutError)
    assert "no response head within 0.6s" in str(error)


async def test_a_trickled_response_head_times_out_a_plain_call_too() -> None:
    timeout = httpx.Timeout(0.3, connect=0.1, write=0.1, pool=0.1)
    async with hostile_server(trickled_head) as base_url, _client(base_url, timeout) as client:
        with anyio.fail_after(HANG_GUARD), pytest.raises(vertexchat.APITimeoutError, match="head"):
            await client.chat.completions.create(model="m", messages=MESSAGES)


async def test_idle_timeout_before_the_first_event_is_retried_like_a_read_timeout() -> None:
    # The first attempt only sends comments; nobody has seen anything, so it is sent again.
    attempts = 0

    async def comments_then_answer(stream: anyio.abc.SocketStream) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await stream.send(SSE_HEAD)
            while True:
                await stream.send(_chunk(b": still thinking\n\n"))
                await anyio.sleep(0.01)
        await stream.send(SSE_HEAD + _chunk(_event("hi") + b"data: [DONE]\n\n") + b"0\r\n\r\n")

    async with hostile_server(comments_then_answer) as base_url:
        client = vertexchat.Client(
            base_url=base_url,
            auth=None,
            timeout=0.5,
            retry_policy=vertexchat.RetryPolicy(initial_delay=0, max_delay=0),
        )
        async with client:
            stream = await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            )
            with anyio.fail_after(HANG_GUARD):
                final = await stream.get_final_completion()
    assert final.choices[0].message.content == "hi"
    assert attempts == 2
