"""The client: URLs, error mapping, retries, deadlines, event loops, secrecy."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

import vertexchat
from tests._wire import MESSAGES, client_for, completion, google_error

TOKEN = "ya29.secret-token-value"


def fixed(*responses: httpx.Response) -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


async def test_non_streaming_call_returns_typed_completion() -> None:
    handler, seen = fixed(httpx.Response(200, json=completion("Hi there")))
    async with client_for(handler) as client:
        result = await client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert result.choices[0].message.content == "Hi there"
    assert json.loads(seen[0].content)["model"] == "google/gemini-2.5-flash"
    assert seen[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "google_status", "cls"),
    [
        (400, "INVALID_ARGUMENT", vertexchat.BadRequestError),
        (401, "UNAUTHENTICATED", vertexchat.AuthenticationError),
        (403, "PERMISSION_DENIED", vertexchat.PermissionDeniedError),
        (404, "NOT_FOUND", vertexchat.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", vertexchat.RateLimitError),
        (499, "CANCELLED", vertexchat.CancelledByServerError),
        (500, "INTERNAL", vertexchat.InternalServerError),
        (503, "UNAVAILABLE", vertexchat.InternalServerError),
    ],
)
@pytest.mark.parametrize("array", [False, True])
async def test_google_error_bodies_map_to_exceptions(
    status: int, google_status: str, cls: type[vertexchat.APIStatusError], array: bool
) -> None:
    body: Any = google_error(status, google_status, "the message")
    handler, _ = fixed(httpx.Response(status, json=[body] if array else body))
    async with client_for(handler, max_retries=0) as client:
        with pytest.raises(cls) as info:
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
    error = info.value
    assert (error.status_code, error.status) == (status, google_status)
    assert "the message" in str(error)
    assert isinstance(error, vertexchat.APIStatusError)


async def test_field_violations_and_reason_are_exposed() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_INVALID"},
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "model", "description": "bad"}],
        },
    ]
    handler, _ = fixed(
        httpx.Response(403, json=google_error(403, "PERMISSION_DENIED", details=details))
    )
    async with client_for(handler) as client:
        with pytest.raises(vertexchat.PermissionDeniedError) as info:
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert info.value.error is not None
    assert info.value.error.reason == "CONSUMER_INVALID"
    assert info.value.details[1]["fieldViolations"][0]["field"] == "model"


async def test_non_json_error_body_still_gives_a_clear_message() -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    handler, _ = fixed(httpx.Response(502, text=html))
    async with client_for(handler, max_retries=0) as client:
        with pytest.raises(vertexchat.InternalServerError, match="HTTP 502 Bad Gateway: <html>"):
            await client.chat.completions.create(model="m/x", messages=MESSAGES)


async def test_retryable_statuses_are_retried_and_counted() -> None:
    handler, seen = fixed(
        httpx.Response(429, json=[google_error(429, "RESOURCE_EXHAUSTED")]),
        httpx.Response(503, json=google_error(503, "UNAVAILABLE")),
        httpx.Response(200, json=completion("finally")),
    )
    async with client_for(handler) as client:
        result = await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert result.choices[0].message.content == "finally"
    assert len(seen) == 3


async def test_final_error_reports_attempts() -> None:
    handler, seen = fixed(httpx.Response(500, json=google_error(500, "INTERNAL")))
    async with client_for(handler, max_retries=2) as client:
        with pytest.raises(vertexchat.InternalServerError) as info:
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert len(seen) == 3
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_errors_are_never_retried(status: int) -> None:
    handler, seen = fixed(httpx.Response(status, json=google_error(status, "X")))
    async with client_for(handler) as client:
        with pytest.raises(vertexchat.APIStatusError):
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert len(seen) == 1


async def test_per_call_max_retries_overrides_the_client() -> None:
    handler, seen = fixed(httpx.Response(503, json=google_error(503, "UNAVAILABLE")))
    async with client_for(handler) as client:
        with pytest.raises(vertexchat.InternalServerError):
            await client.chat.completions.create(model="m/x", messages=MESSAGES, max_retries=0)
    assert len(seen) == 1


async def test_connection_errors_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=completion())

    async with client_for(handler) as client:
        await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert calls == 2


async def test_timeouts_map_to_api_timeout_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with client_for(handler, max_retries=1) as client:
        with pytest.raises(vertexchat.APITimeoutError) as info:
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert info.value.attempts == 2
    assert isinstance(info.value, vertexchat.APIConnectionError)


async def test_server_delay_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio

    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    handler, _ = fixed(
        httpx.Response(429, json=google_error(429, "RESOURCE_EXHAUSTED", details=[retry_info])),
        httpx.Response(429, headers={"retry-after": "3"}, json=google_error(429, "X")),
        httpx.Response(200, json=completion()),
    )
    async with client_for(handler) as client:
        await client.chat.completions.create(model="m/x", messages=MESSAGES)
    assert slept == [7.0, 3.0]


async def test_deadline_bounds_the_whole_call() -> None:
    import anyio

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return httpx.Response(200, json=completion())

    async with client_for(handler) as client:
        with pytest.raises(vertexchat.APITimeoutError, match="deadline"):
            await client.chat.completions.create(model="m/x", messages=MESSAGES, deadline=0.05)


async def test_malformed_success_body_raises_typed_error() -> None:
    handler, _ = fixed(httpx.Response(200, text="not json"))
    async with client_for(handler) as client:
        with pytest.raises(vertexchat.ResponseValidationError, match="not json"):
            await client.chat.completions.create(model="m/x", messages=MESSAGES)


async def test_invalid_request_is_never_sent() -> None:
    handler, seen = fixed(httpx.Response(200, json=completion()))
    async with client_for(handler) as client:
        with pytest.raises(vertexchat.InvalidRequestError, match="temprature"):
            await client.chat.completions.create(model="m/x", messages=MESSAGES, temprature=1)
    assert seen == []


async def test_token_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = fixed(
        httpx.Response(503, json=google_error(503, "UNAVAILABLE")),
        httpx.Response(401, json=google_error(401, "UNAUTHENTICATED", "bad token")),
    )
    caplog.set_level(logging.DEBUG, logger="vertexchat")
    async with client_for(handler, auth=TOKEN) as client:
        with pytest.raises(vertexchat.AuthenticationError) as info:
            await client.chat.completions.create(model="m/x", messages=MESSAGES)
        texts = [str(info.value), repr(info.value), repr(client), caplog.text]
        texts += [repr(info.value.request), repr(info.value.response)]
    assert "retrying" in caplog.text
    for text in texts:
        assert TOKEN not in text


def test_urls_for_regional_global_and_self_deployed() -> None:
    regional = vertexchat.Client("p", "europe-west4", auth=None)
    assert regional.base_url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4"
        "/endpoints/openapi"
    )
    global_ = vertexchat.Client("p", "global", api_version="v1beta1", auth=None)
    assert global_.base_url == (
        "https://aiplatform.googleapis.com/v1beta1/projects/p/locations/global/endpoints/openapi"
    )
    dedicated = vertexchat.Client(
        "p", "us-central1", endpoint="123", host="123.us-central1-9.prediction.vertexai.goog"
    )
    assert dedicated.base_url == (
        "https://123.us-central1-9.prediction.vertexai.goog/v1/projects/p/locations/us-central1"
        "/endpoints/123"
    )
    local = vertexchat.Client(base_url="http://127.0.0.1:8000/v1/", auth=None)
    assert local.base_url == "http://127.0.0.1:8000/v1"


def test_project_and_location_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-northeast1")
    client = vertexchat.Client(auth=None)
    assert "projects/env-project/locations/asia-northeast1" in client.base_url
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        vertexchat.Client(auth=None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_version": "v2"}, "api_version"),
        ({"location": "us central"}, "location"),
        ({"endpoint": "a/b"}, "endpoint"),
    ],
)
def test_bad_target_names_the_argument(kwargs: dict[str, Any], message: str) -> None:
    options = {"project": "p", "location": "us-central1", **kwargs}
    with pytest.raises(ValueError, match=message):
        vertexchat.Client(auth=None, **options)


def test_model_optional_on_self_deployed_endpoint() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion())

    async def main() -> None:
        async with vertexchat.Client(
            "p",
            "us-central1",
            endpoint="987",
            auth=None,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        ) as client:
            await client.chat.completions.create(messages=MESSAGES)

    asyncio.run(main())
    assert json.loads(seen[0].content) == {"messages": MESSAGES}
    assert "authorization" not in seen[0].headers


def test_one_client_survives_repeated_asyncio_run() -> None:
    """The owned connection pool is remade per event loop ("Event loop is closed" otherwise)."""
    client = vertexchat.Client(base_url="http://127.0.0.1:9/v1", auth=None, max_retries=0)

    async def call() -> type[BaseException]:
        try:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        except vertexchat.APIConnectionError as exc:
            return type(exc)
        return type(None)  # pragma: no cover - nothing listens on port 9

    assert asyncio.run(call()) is vertexchat.APIConnectionError
    assert asyncio.run(call()) is vertexchat.APIConnectionError

    async def close() -> None:
        await client.aclose()

    asyncio.run(close())


def test_public_surface_is_sorted_complete_and_documented() -> None:
    names = vertexchat.__all__
    assert names == sorted(names, key=str.casefold)
    public = {n for n in dir(vertexchat) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(names)
    for name in names:
        if name != "__version__":
            obj = getattr(vertexchat, name)
            assert getattr(obj, "__doc__", None) or isinstance(obj, (str, httpx.Timeout)), name


def test_client_dropped_without_aclose_warns_instead_of_crashing() -> None:
    import gc

    clients = [vertexchat.Client(base_url="http://127.0.0.1:9/v1", auth=None, max_retries=0)]

    async def call() -> None:
        with pytest.raises(vertexchat.APIConnectionError):
            await clients[0].chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(call())
    clients.clear()
    with pytest.warns(ResourceWarning, match="was not closed"):
        gc.collect()


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:3128"])
async def test_owned_pool_is_the_fast_transport_unless_a_proxy_is_set(
    proxy: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertexchat._http_client import LoopBoundHTTPClient

    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
    holder = LoopBoundHTTPClient(None, timeout=5.0)
    http = await holder.get()
    fast = isinstance(http._transport, vertexchat.PooledHTTP11Transport)
    await holder.aclose()
    assert fast is (proxy is None)
