"""The OpenAI SDK's call surface: options, raw responses, stream events, the names users catch."""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import vertexchat
from tests._wire import MESSAGES, client_for, completion, sse, text_chunk
from vertexchat.testing import Emulator, serve


def recording(responses: list[Any]) -> tuple[list[httpx.Request], Any]:
    """A handler answering ``responses`` in turn (the last one repeats), and what it saw."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = responses[min(len(seen), len(responses)) - 1]
        return reply() if callable(reply) else reply

    return seen, handler


# --- client options -----------------------------------------------------------------------------


async def test_with_options_shares_the_pool_and_changes_only_what_it_is_given() -> None:
    seen, handler = recording([httpx.Response(503), httpx.Response(200, json=completion("ok"))])
    async with client_for(handler, max_retries=5, timeout=50.0) as client:
        quick = client.with_options(max_retries=0, timeout=5.0, default_headers={"x-team": "a"})
        assert (quick.max_retries, quick.timeout) == (0, 5.0)
        assert (client.max_retries, client.timeout) == (5, 50.0)
        assert quick._http is client._http  # one connection pool
        with pytest.raises(vertexchat.InternalServerError):
            await quick.chat.completions.create(model="google/x", messages=MESSAGES)
        await quick.close()  # a copy leaves the shared pool open
        answer = await client.chat.completions.create(model="google/x", messages=MESSAGES)
        assert client.copy(timeout=1.0).timeout == 1.0
    assert answer.choices[0].message.content == "ok"
    assert seen[0].headers["x-team"] == "a"
    assert "x-team" not in seen[1].headers
    assert seen[0].extensions["timeout"]["read"] == 5.0


async def test_api_key_is_readable_and_settable_as_a_static_token() -> None:
    seen, handler = recording([httpx.Response(200, json=completion())])
    async with client_for(handler, auth="first-token") as client:
        assert client.api_key == "first-token"
        client.api_key = "second-token"
        await client.chat.completions.create(model="google/x", messages=MESSAGES)
        other = client.with_options(api_key="third-token")
        await other.chat.completions.create(model="google/x", messages=MESSAGES)
        with pytest.raises(TypeError):
            client.api_key = 42  # type: ignore[assignment]
    assert [r.headers["authorization"] for r in seen] == [
        "Bearer second-token",
        "Bearer third-token",
    ]
    assert "second-token" not in repr(client)
    assert client.base_url.startswith("https://")


async def test_close_is_aclose_for_clients_and_streams() -> None:
    _, handler = recording([httpx.Response(200, content=b"".join(sse(text_chunk("a"))))])
    client = client_for(handler)
    stream = await client.chat.completions.create(model="google/x", messages=MESSAGES, stream=True)
    await stream.close()
    assert stream.response.is_closed
    closed: list[str] = []
    auth_closer = type("Closer", (), {"close": lambda self: closed.append("auth")})()
    client._auth = auth_closer  # type: ignore[assignment]
    await client.close()  # the OpenAI SDK's spelling; close() alone works without a loop
    assert closed == ["auth"]


# --- raw responses ------------------------------------------------------------------------------


async def test_with_raw_response_has_headers_status_parse_and_retries() -> None:
    ok = httpx.Response(200, json=completion("raw"), headers={"x-request-id": "rid-1"})
    seen, handler = recording([httpx.Response(429), ok])
    async with client_for(handler) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="google/x", messages=MESSAGES, max_retries=2
        )
        streamed = await client.chat.completions.with_raw_response.create(
            model="google/x", messages=MESSAGES, stream=True
        )
    assert (raw.status_code, raw.retries_taken, raw.request_id) == (200, 1, "rid-1")
    assert raw.headers["x-request-id"] == "rid-1"
    assert raw.parse().choices[0].message.content == "raw"
    assert raw.parse()._request_id == "rid-1"
    assert json.loads(raw.content)["id"] == "r1"
    assert raw.elapsed.total_seconds() >= 0
    assert (raw.method, raw.url.path.endswith("/chat/completions")) == ("POST", True)
    assert isinstance(streamed.parse(), vertexchat.ChatCompletionStream)
    assert len(seen) == 3


async def test_with_streaming_response_reads_on_demand() -> None:
    chunks = b"".join(sse(text_chunk("Hel"), text_chunk("lo")))
    stream_reply = httpx.Response(200, content=chunks, headers={"x-request-id": "s-1"})
    _, handler = recording([httpx.Response(200, json=completion("whole")), stream_reply])
    async with client_for(handler) as client:
        respond = client.chat.completions.with_streaming_response
        async with respond.create(model="google/x", messages=MESSAGES) as response:
            assert response.status_code == 200
            parsed = await response.parse()
        async with respond.create(model="google/x", messages=MESSAGES, stream=True) as response:
            assert response.request_id == "s-1"
            lines = [line async for line in response.iter_lines() if line]
    assert parsed.choices[0].message.content == "whole"
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 3


# --- the stream helper --------------------------------------------------------------------------


async def test_stream_events_split_thoughts_and_tool_calls_by_id() -> None:
    call = {"id": "c-1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}
    more = {"id": "c-1", "index": 7, "function": {"name": "f", "arguments": "1}"}}
    events_sse = sse(
        text_chunk("<think>hm</think>Hi"),
        {**text_chunk(""), "choices": [{"delta": {"tool_calls": [call]}, "index": 0}]},
        {
            **text_chunk(""),
            "choices": [{"delta": {"tool_calls": [more]}, "finish_reason": "tool_calls"}],
        },
    )
    seen, handler = recording([httpx.Response(200, content=b"".join(events_sse))])
    think = {"google": {"thought_tag_marker": "think"}}
    async with (
        client_for(handler) as client,
        client.chat.completions.stream(
            model="google/x", messages=MESSAGES, extra_body=think
        ) as stream,
    ):
        events = [event async for event in stream]
        final = await stream.get_final_completion()
    kinds = [event.type for event in events]
    assert kinds.count("chunk") == 3
    by_type = {event.type: event for event in events}
    assert by_type["thoughts.delta"].delta == "hm"  # type: ignore[union-attr]
    assert by_type["content.done"].content == "Hi"  # type: ignore[union-attr]
    done = by_type["tool_calls.function.arguments.done"]
    assert (done.name, done.index, done.parsed_arguments) == ("f", 0, {"a": 1})  # type: ignore[union-attr]
    assert final.choices[0].message.content == "Hi"
    assert json.loads(seen[0].content)["stream"] is True


class Answer(BaseModel):
    text: str


async def test_stream_helper_parses_a_pydantic_response_format() -> None:
    emulator = Emulator()
    async with (
        serve(emulator) as server,
        vertexchat.Client(base_url=server.base_url(), auth="t") as c,
        c.chat.completions.stream(
            model="google/gemini-2.5-flash", messages=MESSAGES, response_format=Answer
        ) as stream,
    ):
        done = [e async for e in stream if e.type == "content.done"]
        final = await stream.get_final_completion()
    assert isinstance(done[0].parsed, Answer)  # type: ignore[union-attr]
    assert final.choices[0].message.parsed == done[0].parsed  # type: ignore[union-attr]
    assert emulator.requests[0].body["response_format"]["type"] == "json_schema"


# --- names users catch and pass -----------------------------------------------------------------


async def test_not_given_and_omit_count_as_not_given() -> None:
    seen, handler = recording([httpx.Response(200, json=completion())])
    async with client_for(handler) as client:
        await client.chat.completions.create(
            model="google/x",
            messages=MESSAGES,
            temperature=vertexchat.NOT_GIVEN,
            top_p=vertexchat.omit,
            timeout=vertexchat.NOT_GIVEN,
        )
    assert json.loads(seen[0].content) == {"model": "google/x", "messages": MESSAGES}
    assert isinstance(vertexchat.NOT_GIVEN, vertexchat.NotGiven)


@pytest.mark.parametrize(
    ("finish_reason", "error"),
    [
        ("length", vertexchat.LengthFinishReasonError),
        ("content_filter", vertexchat.ContentFilterFinishReasonError),
    ],
)
async def test_parse_finish_reason_errors(finish_reason: str, error: type[Exception]) -> None:
    body = completion('{"text": "cut')
    body["choices"][0]["finish_reason"] = finish_reason
    _, handler = recording([httpx.Response(200, json=body)])
    async with client_for(handler) as client:
        with pytest.raises(error) as info:
            await client.beta.chat.completions.parse(
                model="google/x", messages=MESSAGES, response_format=Answer
            )
    assert isinstance(info.value, vertexchat.OutputParseError)
    assert isinstance(info.value, vertexchat.OpenAIError)
    assert info.value.completion.choices[0].finish_reason == finish_reason  # type: ignore[attr-defined]


def test_pydantic_function_tool_gives_a_vertex_tool_definition() -> None:
    class GetWeather(BaseModel):
        """Weather in a city."""

        city: str

    tool = vertexchat.pydantic_function_tool(GetWeather, name="get_weather")
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "get_weather"
    assert tool["function"]["description"] == "Weather in a city."
    assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert vertexchat.OpenAIError is vertexchat.VertexChatError


# --- the synchronous facade ---------------------------------------------------------------------


def test_sync_client_streams_batches_and_stream_events() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=b"".join(sse(text_chunk("a"), text_chunk("b"))))
        return httpx.Response(200, json=completion("sync"))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = vertexchat.SyncClient(
            "p", "us-central1", auth="t",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        )  # fmt: skip
        with client:
            text = client.chat.completions.create(model="google/x", messages=MESSAGES)
            with client.chat.completions.create(
                model="google/x", messages=MESSAGES, stream=True
            ) as stream:
                pieces = [c.choices[0].delta.content for c in stream]
            with client.chat.completions.stream(model="google/x", messages=MESSAGES) as events:
                deltas = [e.delta for e in events if e.type == "content.delta"]
            requests = [{"model": "google/x", "messages": MESSAGES}] * 5
            with client.batch(requests, concurrency=2) as results:
                done = sorted(r.index for r in results if r.ok)
            quick = client.with_options(max_retries=0)
            assert quick.max_retries == 0
            assert quick.chat.completions.create(model="google/x", messages=MESSAGES)
    assert text.choices[0].message.content == "sync"
    assert pieces == deltas == ["a", "b"]
    assert done == [0, 1, 2, 3, 4]
    assert not client._loop.thread.is_alive()  # the loop stopped with close()
