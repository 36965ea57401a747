"""Streams: chunks until [DONE], errors inside the stream, early exits release the connection."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

import vertexchat
from tests._wire import MESSAGES, PieceStream, client_for, google_error, sse, text_chunk

BARE_ERROR = (
    b'[{\n  "error": {\n    "code": 499,\n    "message": "The operation was cancelled.",\n'
    b'    "status": "CANCELLED"\n  }\n}\n]\n'
)


def streaming(*bodies: PieceStream) -> tuple[list[PieceStream], list[httpx.Request]]:
    return list(bodies), []


def serve(bodies: list[PieceStream], seen: list[httpx.Request]) -> vertexchat.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = bodies[min(len(seen), len(bodies)) - 1]
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    return client_for(handler)


async def test_chunks_arrive_typed_until_done() -> None:
    body = PieceStream(sse(text_chunk("Hel"), text_chunk("lo", finish_reason="stop")))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(
            model="google/gemini-2.5-flash", messages=MESSAGES, stream=True
        )
        async with stream:
            texts = [chunk.choices[0].delta.content async for chunk in stream]
        final = await stream.get_final_completion()
    assert texts == ["Hel", "lo"]
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].finish_reason == "stop"
    assert body.closed


async def test_events_split_inside_a_line_and_a_utf8_character() -> None:
    whole = b"".join(sse(text_chunk("Grüße"), text_chunk(" ✓", finish_reason="stop")))
    cut = whole.index("ü".encode()) + 1
    body = PieceStream([whole[:7], whole[7:cut], whole[cut:]])
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Grüße ✓"


async def test_leaving_early_releases_the_connection() -> None:
    body = PieceStream(sse(*(text_chunk(str(i)) for i in range(50))))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        async with stream:
            async for _ in stream:
                break
    assert body.closed
    assert body.sent < 50


async def test_bare_json_error_array_raises_stream_error() -> None:
    body = PieceStream([*sse(text_chunk("partial"), done=False), BARE_ERROR])
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        seen = []
        with pytest.raises(vertexchat.StreamError) as info:
            async for chunk in stream:
                seen.append(chunk)
    assert len(seen) == 1
    assert info.value.status == "CANCELLED"
    assert info.value.code == info.value.type == "CANCELLED"  # as the OpenAI SDK's .code
    assert info.value.error is not None
    assert info.value.error.code == 499
    assert "The operation was cancelled." in str(info.value)


async def test_error_event_raises_stream_error() -> None:
    payload = google_error(503, "UNAVAILABLE", "overloaded")
    body = PieceStream(sse(text_chunk("a"), payload))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        with pytest.raises(vertexchat.StreamError, match="overloaded"):
            await stream.get_final_completion()


async def test_stream_without_done_is_an_error_not_a_truncation() -> None:
    body = PieceStream(sse(text_chunk("a"), done=False))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        with pytest.raises(vertexchat.StreamError, match=r"without \[DONE\]"):
            await stream.get_final_completion()


async def test_malformed_event_raises_typed_error() -> None:
    body = PieceStream(sse("{not json"))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        with pytest.raises(vertexchat.ResponseValidationError, match=r"not a chat\.completion"):
            await stream.get_final_completion()


async def test_failure_before_first_chunk_is_retried() -> None:
    first = PieceStream([], fail_with=httpx.ReadError("reset"))
    second = PieceStream(sse(text_chunk("ok", finish_reason="stop")))
    bodies, seen = streaming(first, second)
    async with serve(bodies, seen) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "ok"
    assert len(seen) == 2
    assert first.closed


async def test_failure_after_a_chunk_is_raised_never_replayed() -> None:
    first = PieceStream(sse(text_chunk("a"), done=False), fail_with=httpx.ReadError("reset"))
    second = PieceStream(sse(text_chunk("again", finish_reason="stop")))
    bodies, seen = streaming(first, second)
    async with serve(bodies, seen) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        received = []
        with pytest.raises(vertexchat.APIConnectionError) as info:
            async for chunk in stream:
                received.append(chunk)
    assert len(received) == 1
    assert len(seen) == 1
    assert info.value.attempts == 1


async def test_final_completion_replays_a_stream_nobody_has_read() -> None:
    first = PieceStream(sse(text_chunk("a"), done=False), fail_with=httpx.ReadError("reset"))
    second = PieceStream(sse(text_chunk("whole", finish_reason="stop")))
    bodies, seen = streaming(first, second)
    async with serve(bodies, seen) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "whole"
    assert len(seen) == 2


async def test_http_error_before_stream_raises_status_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json=[google_error(404, "NOT_FOUND", "no such model")])

    async with client_for(handler) as client:
        with pytest.raises(vertexchat.NotFoundError, match="no such model"):
            await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)


class HangingStream(PieceStream):
    """Sends its pieces, then never another byte."""

    async def __aiter__(self):  # type: ignore[override]
        for piece in self.pieces:
            yield piece
        await anyio.sleep_forever()


async def test_cancellation_while_waiting_releases_the_connection() -> None:
    body = HangingStream(sse(text_chunk("first"), done=False))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        received = []
        with anyio.move_on_after(0.05):
            async for chunk in stream:
                received.append(chunk)
    assert len(received) == 1
    assert body.closed


async def test_cancellation_inside_async_with_releases_the_connection() -> None:
    body = PieceStream(sse(*(text_chunk(str(i)) for i in range(10))))
    async with serve([body], []) as client:
        stream = await client.chat.completions.create(model="m/x", messages=MESSAGES, stream=True)
        with anyio.CancelScope() as scope:
            async with stream:
                async for _ in stream:
                    scope.cancel()
                    await anyio.lowlevel.checkpoint()
        assert body.closed
