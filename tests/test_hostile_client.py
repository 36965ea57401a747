"""The client against hostile servers: redirects, clear text, limits, non-answers, clipping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

import vertexchat
from vertexchat import ResponseLimits

MODEL = "google/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "Hi"}]
BASE = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/openapi"
COMPLETION = {"choices": [{"index": 0, "message": {"content": "ok"}}], "object": "chat.completion"}


def _client(
    handler: Callable[[httpx.Request], httpx.Response], **options: object
) -> vertexchat.Client:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), **options.pop("http", {}))  # type: ignore[arg-type]
    return vertexchat.Client(base_url=BASE, auth="ya29.secret-token", http_client=http, **options)  # type: ignore[arg-type]


class Counter:
    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)


# --- redirects ---------------------------------------------------------------------------------


def _redirect(status: int) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.host == "evil.example":
            return httpx.Response(200, json=COMPLETION)
        return httpx.Response(status, headers={"location": "https://evil.example/steal"})

    return reply


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_redirect_is_one_clear_error_never_retried_never_followed(
    status: int, stream: bool
) -> None:
    server = Counter(_redirect(status))
    # A borrowed client that follows redirects by itself must not follow ours either.
    async with _client(server, http={"follow_redirects": True}, max_retries=3) as client:
        with pytest.raises(vertexchat.RedirectError) as caught:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream)
    assert [request.url.host for request in server.requests] == [
        "us-central1-aiplatform.googleapis.com"
    ]
    error = caught.value
    assert isinstance(error, vertexchat.APIStatusError)
    assert error.status_code == status
    assert error.location == "https://evil.example/steal"
    assert "redirect" in str(error)
    assert "evil.example" in str(error)
    assert error.attempts == 1


# --- clear text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["http://vertex.internal:8080/v1", "http://10.0.0.7/v1", "HTTP://example.com/v1"]
)
def test_plain_http_to_another_host_with_credentials_is_refused(base_url: str) -> None:
    with pytest.raises(vertexchat.InvalidRequestError, match="clear text") as caught:
        vertexchat.Client(base_url=base_url, auth="ya29.secret-token")
    assert "ya29.secret-token" not in str(caught.value)
    with pytest.raises(vertexchat.InvalidRequestError):
        vertexchat.Client(base_url=base_url, auth=None, headers={"Authorization": "Bearer x"})


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost/v1",
        "http://[::1]:9/v1",
        "http://127.9.9.9/v1",
    ],
)
def test_plain_http_to_loopback_is_allowed(base_url: str) -> None:
    vertexchat.Client(base_url=base_url, auth="ya29.secret-token")


async def test_plain_http_with_a_borrowed_clients_own_credentials_is_refused() -> None:
    async with httpx.AsyncClient(auth=httpx.BasicAuth("user", "pass")) as http:
        with pytest.raises(vertexchat.InvalidRequestError, match="clear text"):
            vertexchat.Client(base_url="http://vertex.internal/v1", auth=None, http_client=http)
    async with httpx.AsyncClient(headers={"x-goog-api-key": "k"}) as http:
        with pytest.raises(vertexchat.InvalidRequestError, match="clear text"):
            vertexchat.Client(base_url="http://vertex.internal/v1", auth=None, http_client=http)


def test_credentials_added_later_to_a_plain_http_client_are_refused() -> None:
    client = vertexchat.Client(base_url="http://vertex.internal/v1", auth=None)
    with pytest.raises(vertexchat.InvalidRequestError, match="clear text"):
        client.api_key = "ya29.secret-token"
    with pytest.raises(vertexchat.InvalidRequestError, match="clear text"):
        client.with_options(api_key="ya29.secret-token")
    opted = vertexchat.Client(
        base_url="http://vertex.internal/v1", auth=None, allow_insecure_http=True
    )
    opted.api_key = "ya29.secret-token"


def test_plain_http_without_credentials_or_with_the_opt_in_is_allowed() -> None:
    vertexchat.Client(base_url="http://vertex.internal/v1", auth=None)
    vertexchat.Client(
        base_url="http://vertex.internal/v1", auth="ya29.secret-token", allow_insecure_http=True
    )
    vertexchat.Client(base_url="https://vertex.internal/v1", auth="ya29.secret-token")


# --- limits through the client -----------------------------------------------------------------


async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def test_a_body_over_the_configured_limit_is_refused_typed() -> None:
    content = json.dumps({**COMPLETION, "id": "x" * 5000}).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_pieces(content[:3000], content[3000:]))

    limits = ResponseLimits(max_body_bytes=4096)
    async with _client(reply, response_limits=limits, max_retries=0) as client:
        with pytest.raises(vertexchat.ResponseTooLargeError) as caught:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.limit == "max_body_bytes"
    assert isinstance(caught.value, vertexchat.ResponseValidationError)
    assert client.response_limits is limits


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({**COMPLETION, "id": "x" * 5000}).encode())

    async with _client(reply, response_limits=ResponseLimits(max_body_bytes=100)) as client:
        with pytest.raises(vertexchat.ResponseTooLargeError, match="max_body_bytes"):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)


async def test_a_body_under_the_limit_is_read_whole() -> None:
    content = json.dumps(COMPLETION).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_pieces(content[:5], content[5:]))

    async with _client(
        reply, response_limits=ResponseLimits(max_body_bytes=len(content))
    ) as client:
        completion = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == "ok"


@pytest.mark.parametrize(
    ("limits", "pieces", "name"),
    [
        (
            ResponseLimits(max_sse_line_bytes=1000),
            [b"data: " + b"x" * 600, b"y" * 600],
            "max_sse_line_bytes",
        ),
        (
            ResponseLimits(max_sse_event_chars=1000),
            [b"data: xxxxxxxxxx\n"] * 200,
            "max_sse_event_chars",
        ),
    ],
)
async def test_a_stream_over_the_configured_limits_is_refused_typed_and_not_replayed(
    limits: ResponseLimits, pieces: list[bytes], name: str
) -> None:
    server = Counter(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=_pieces(*pieces)
        )
    )
    async with _client(server, response_limits=limits, max_retries=3) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(vertexchat.ResponseTooLargeError) as caught:
            async for _ in stream:
                pass
    assert caught.value.limit == name
    assert len(server.requests) == 1


async def test_a_long_error_message_is_clipped_in_str_to_the_configured_limit() -> None:
    message = "m" * 100_000

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": 400, "message": message}})

    limits = ResponseLimits(max_error_message_chars=300)
    async with _client(reply, response_limits=limits) as client:
        with pytest.raises(vertexchat.BadRequestError) as caught:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    text = str(caught.value)
    assert len(text) < 400
    assert "more characters" in text


# --- non-answers through the client ------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{}", b'{"id": "x"}', b"[]"])
async def test_a_2xx_non_answer_is_a_validation_error(content: bytes) -> None:
    async with _client(lambda request: httpx.Response(200, content=content)) as client:
        with pytest.raises(vertexchat.ResponseValidationError):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)


async def test_a_2xx_carrying_a_retryable_error_is_that_error_and_retried() -> None:
    replies = [
        httpx.Response(
            200, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
        ),
        httpx.Response(200, json=COMPLETION),
    ]
    server = Counter(lambda request: replies.pop(0))
    policy = vertexchat.RetryPolicy(initial_delay=0.0, max_delay=0.0)
    async with _client(server, retry_policy=policy) as client:
        completion = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == "ok"
    assert len(server.requests) == 2


async def test_a_string_error_event_in_a_stream_is_raised() -> None:
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
        b'data: {"error": "model overloaded"}\n\n'
    )
    server = Counter(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=_pieces(body)
        )
    )
    async with _client(server, max_retries=0) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(vertexchat.StreamError, match="model overloaded"):
            async for _ in stream:
                pass
