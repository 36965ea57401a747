"""Request ids from response headers, and the OpenAI SDK's attributes on errors."""

from __future__ import annotations

import httpx
import pytest

import vertexchat
from tests._wire import MESSAGES, client_for
from vertexchat._request_ids import request_id, request_ids

GFE_HEADERS = [
    ("Content-Type", "application/json; charset=UTF-8"),
    ("Vary", "Origin"),
    ("Server", "scaffolding on HTTPServer2"),
    ("Server-Timing", "gfet4t7; dur=773"),
    ("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1"),
    ("X-Vertex-AI-Endpoint-Id", "1234567890"),
]


def test_google_front_end_headers() -> None:
    assert request_ids(GFE_HEADERS) == {
        "x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/1;o=1",
        "x-vertex-ai-endpoint-id": "1234567890",
    }
    assert request_id(GFE_HEADERS) == "105445aa7843bc8bf206b12000100000/1;o=1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("x-request-id", "req-1"), ("x-goog-request-id", "g-1")], "req-1"),
        ([("traceparent", "00-abc-def-01"), ("X-Goog-Request-Id", "g-1")], "g-1"),
        ([("X-Amzn-RequestId", "amzn-1")], "amzn-1"),
        ([("x-vertex-ai-deployed-model-id", "42")], None),  # names the model, not the request
        ([("content-type", "text/plain"), ("x-request-id", "")], None),
        ([], None),
    ],
)
def test_preferred_id(headers: list[tuple[str, str]], expected: str | None) -> None:
    assert request_id(headers) == expected


def test_raw_bytes_headers_as_httpx_keeps_them() -> None:
    headers = httpx.Headers({"X-Request-ID": "abc", "Server": "ESF"})
    assert request_ids(headers.raw) == {"x-request-id": "abc"}
    assert request_id(headers.raw) == request_id(headers.multi_items()) == "abc"


async def test_status_error_carries_what_openai_sdk_users_read() -> None:
    violation = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "messages[0].content", "description": "empty"}],
    }
    error = {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT", "details": [violation]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=[{"error": error}], headers={"x-request-id": "req-9"})

    async with client_for(handler) as client:
        with pytest.raises(vertexchat.BadRequestError) as info:
            await client.chat.completions.create(model="google/x", messages=MESSAGES)
    err = info.value
    assert err.status_code == 400
    assert err.body == error  # Google's error object, out of the array form
    assert err.code == err.type == "INVALID_ARGUMENT"
    assert err.param == "messages[0].content"
    assert err.request_id == "req-9"
    assert err.message.endswith("bad")
    assert err.response.status_code == 400
    assert err.request is not None
    assert err.request.url.path.endswith("/chat/completions")


async def test_non_google_error_body_leaves_the_google_fields_empty() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    async with client_for(handler, max_retries=0) as client:
        with pytest.raises(vertexchat.InternalServerError) as info:
            await client.chat.completions.create(model="google/x", messages=MESSAGES)
    assert (info.value.code, info.value.type, info.value.param) == (None, None, None)
    assert info.value.request_id is None


def test_connection_errors_have_the_attributes_too() -> None:
    error = vertexchat.APIConnectionError("refused")
    assert (error.body, error.code, error.type, error.param, error.request_id) == (None,) * 5


async def test_completions_streams_and_stream_errors_carry_the_request_id() -> None:
    from tests._wire import completion, sse, text_chunk

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"x-goog-request-id": "g-42"}
        if b'"stream":true' in request.content:
            if b"fail" in request.content:
                cut = sse(text_chunk("partial"), done=False)
                return httpx.Response(200, content=b"".join(cut), headers=headers)
            return httpx.Response(200, content=b"".join(sse(text_chunk("hi"))), headers=headers)
        return httpx.Response(200, json=completion("hi"), headers=headers)

    async with client_for(handler, max_retries=0) as client:
        plain = await client.chat.completions.create(model="google/x", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="google/x", messages=MESSAGES, stream=True
        )
        async with stream:
            assert stream.request_id == "g-42"
            final = await stream.get_final_completion()
        failing = await client.chat.completions.create(
            model="google/x", messages=[{"role": "user", "content": "fail"}], stream=True
        )
        with pytest.raises(vertexchat.StreamError) as info:
            async with failing:
                async for _ in failing:
                    pass
    assert plain._request_id == final._request_id == "g-42"
    assert plain.id == "r1"  # Vertex's response id stays the body's id
    assert info.value.request_id == "g-42"
    assert "_request_id" not in plain.model_dump()
