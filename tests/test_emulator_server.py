"""The loopback server, driven by plain httpx (not vertexchat's client): the wire as Vertex's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from vertexchat.testing import Emulator, EmulatorServer, serve

MODEL = "google/gemini-2.5-flash"
BODY: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
TOOL = {
    "type": "function",
    "function": {
        "name": "book_table",
        "parameters": {
            "type": "object",
            "properties": {
                "guests": {"type": "integer", "minimum": 1, "maximum": 8},
                "when": {"type": "string", "format": "date-time"},
                "seating": {"type": "string", "enum": ["inside", "terrace"]},
            },
            "required": ["guests", "when", "seating"],
        },
    },
}


@asynccontextmanager
async def running(
    emulator: Emulator | None = None,
) -> AsyncIterator[tuple[EmulatorServer, httpx.AsyncClient, str]]:
    async with serve(emulator) as server:
        headers = {"authorization": "Bearer anything"}
        # verify=False: plain http on loopback, and it skips loading the CA bundle (slow).
        async with httpx.AsyncClient(headers=headers, timeout=5, verify=False) as http:
            yield server, http, server.base_url() + "/chat/completions"


def sse_data(text: str) -> list[str]:
    blocks = text.split("\n\n")
    assert blocks[-1] == ""
    assert all(b.startswith("data: ") for b in blocks[:-1]), blocks
    return [b[len("data: ") :] for b in blocks[:-1]]


async def test_server_url_and_base_url() -> None:
    async with serve() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.base_url(project="proj", location="global", api_version="v1beta1") == (
            f"{server.url}/v1beta1/projects/proj/locations/global/endpoints/openapi"
        )
        assert server.base_url(endpoint="123").endswith("/locations/us-central1/endpoints/123")


async def test_non_streaming_wire_shape() -> None:
    async with running() as (server, http, url):
        response = await http.post(url, json=BODY)
        again = await http.post(url, json=BODY)  # same keep-alive connection
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert response.text == json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert body["system_fingerprint"] == ""
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert not body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["logprobs"] is None
    assert body["usage"]["extra_properties"]["google"]["traffic_type"] == "ON_DEMAND"
    assert again.json()["choices"] == body["choices"]
    assert len(server.emulator.requests) == 2


async def test_streaming_wire_shape() -> None:
    async with (
        running() as (_, http, url),
        http.stream("POST", url, json={**BODY, "stream": True}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        text = (await response.aread()).decode()
    *data, done = sse_data(text)
    assert done == "[DONE]"
    chunks = [json.loads(d) for d in data]
    assert len(chunks) >= 3
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["system_fingerprint"] == "" for c in chunks)
    assert all(c["choices"][0]["logprobs"] is None for c in chunks)
    assert all("finish_reason" not in c["choices"][0] for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert set(chunks[-1]["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert all(d == json.dumps(json.loads(d), sort_keys=True, separators=(",", ":")) for d in data)


async def test_bare_model_gets_the_array_400() -> None:
    async with running() as (_, http, url):
        response = await http.post(url, json={**BODY, "model": "gemini-2.5-flash"})
    assert response.status_code == 400
    (item,) = response.json()
    assert item["error"]["message"].startswith("Malformed publisher model (`model`:")


async def test_missing_token_is_401() -> None:
    async with running() as (_, _, url), httpx.AsyncClient(verify=False) as bare:
        response = await bare.post(url, json=BODY)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_unknown_path_is_404() -> None:
    async with running() as (server, http, _):
        response = await http.post(server.url + "/v1/models")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


async def test_429_fault_with_retry_after() -> None:
    async with running() as (_, http, url):
        headers = {"x-emulator-fault": "429 retry-after=7"}
        response = await http.post(url, json=BODY, headers=headers)
        follow_up = await http.post(url, json=BODY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert follow_up.status_code == 200


async def test_reset_before_response_breaks_the_connection() -> None:
    async with running() as (_, http, url):
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await http.post(url, json=BODY, headers={"x-emulator-fault": "reset"})
        assert (await http.post(url, json=BODY)).status_code == 200


async def read_events(response: httpx.Response, into: list[bytes]) -> None:
    async for piece in response.aiter_bytes():
        into.append(piece)


async def test_cut_stream_fails_mid_body() -> None:
    received: list[bytes] = []
    async with running() as (_, http, url):
        headers = {"x-emulator-fault": "cut, cut-after=2"}
        async with http.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as r:
            assert r.status_code == 200
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await read_events(r, received)
    assert b"".join(received).count(b"data: ") <= 2


@pytest.mark.parametrize("fault", ["cut-with-error", "no-done"])
async def test_streams_that_end_without_done(fault: str) -> None:
    async with running() as (_, http, url):
        headers = {"x-emulator-fault": fault}
        response = await http.post(url, json={**BODY, "stream": True}, headers=headers)
    assert response.status_code == 200
    assert "[DONE]" not in response.text
    if fault == "cut-with-error":
        tail = response.text.rsplit("\n\n", 1)[-1]
        assert tail.startswith("[{\n")
        assert json.loads(tail)[0]["error"]["code"] == 499
    else:
        assert response.text.endswith("\n\n")


async def test_tool_call_arguments_match_the_schema() -> None:
    async with running() as (_, http, url):
        response = await http.post(url, json={**BODY, "tools": [TOOL]})
    message = response.json()["choices"][0]["message"]
    (call,) = message["tool_calls"]
    arguments = json.loads(call["function"]["arguments"])
    assert set(arguments) == {"guests", "when", "seating"}
    assert isinstance(arguments["guests"], int)
    assert 1 <= arguments["guests"] <= 8
    assert arguments["seating"] in ("inside", "terrace")
    assert call["extra_content"]["google"]["thought_signature"]


async def test_thought_tags_stream_split_across_chunks() -> None:
    google = {"thinking_config": {"include_thoughts": True}, "thought_tag_marker": "thought"}
    body = {**BODY, "stream": True, "extra_body": {"google": google}}
    async with running() as (_, http, url):
        response = await http.post(url, json=body)
    *data, _ = sse_data(response.text)
    pieces = [json.loads(d)["choices"][0]["delta"]["content"] for d in data]
    assert "<thought>" not in pieces[0]
    assert "".join(pieces).startswith("<thought>**Planning the answer**")
    usage = json.loads(data[-1])["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0


async def test_concurrent_connections() -> None:
    async with running() as (server, _, url):
        limits = httpx.Limits(max_connections=20)
        headers = {"authorization": "Bearer t"}
        async with httpx.AsyncClient(limits=limits, headers=headers, verify=False) as http:
            results: list[int] = []

            async def one() -> None:
                results.append((await http.post(url, json={**BODY, "stream": True})).status_code)

            async with anyio.create_task_group() as tasks:
                for _ in range(20):
                    tasks.start_soon(one)
    assert results == [200] * 20
    assert server.emulator.in_flight == 0
    assert len(server.emulator.requests) == 20


async def test_malformed_json_is_400() -> None:
    async with running() as (_, http, url):
        response = await http.post(
            url, content=b"{oops", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_request_log_over_the_wire() -> None:
    async with running() as (server, http, url):
        await http.post(url + "?alt=sse", json=BODY, headers={"x-goog-user-project": "billing"})
    (recorded,) = server.emulator.requests
    assert recorded.body == BODY
    assert recorded.headers["authorization"] == "Bearer <redacted>"
    assert recorded.headers["x-goog-user-project"] == "billing"
    assert recorded.path.endswith("/chat/completions?alt=sse")


async def test_status_without_a_standard_reason_phrase() -> None:
    async with running() as (_, http, url):
        response = await http.post(url, json=BODY, headers={"x-emulator-fault": "499"})
    assert response.status_code == 499
    assert response.json()["error"]["status"] == "CANCELLED"


async def test_an_emulator_bug_fails_one_request_not_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = Emulator()
    async with running(emulator) as (_, http, url):
        with monkeypatch.context() as patch:
            patch.setattr(emulator, "_answer", lambda *args: 1 / 0)
            broken = await http.post(url, json=BODY)
        healthy = await http.post(url, json=BODY)
    assert broken.status_code == 500
    assert "ZeroDivisionError" in broken.json()["error"]["message"]
    assert healthy.status_code == 200
    assert emulator.in_flight == 0
