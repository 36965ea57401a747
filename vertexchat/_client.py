"""``Client``: where requests are built, sent, retried and turned into typed results.

Edge module. One ``httpx.AsyncClient`` (the caller's, or one the client owns) is the only
injection point; auth is an ``httpx.Auth`` passed per request, so a borrowed client keeps
its own configuration.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

import anyio
import httpx
from pydantic import BaseModel

from . import __version__
from ._auth import ADC, resolve_auth
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    status_error_from_response,
)
from ._limiter import AdaptiveLimiter
from ._loop import LoopBoundHTTPClient
from ._replies import parse_completion
from ._request import build_request, encode_request
from ._response_models import ChatCompletion
from ._retry import RetryPolicy
from ._separate import separate_completion
from ._streaming import ChatCompletionStream
from ._urls import OPENAPI_ENDPOINT, build_base_url, chat_completions_url

if TYPE_CHECKING:
    from ._batch import BatchRun
    from ._structured import ParsedChatCompletion, ParsedChatCompletionStream
    from ._tools import FunctionTool

__all__ = ["DEFAULT_TIMEOUT", "USE_CLIENT_DEFAULT", "Client"]

logger = logging.getLogger("vertexchat")
_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)


class _UseClientDefault:
    """Per-call option value meaning "what the client was configured with"."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = _UseClientDefault()
"""Per-call option value meaning "what the client was configured with" (``None`` disables)."""

DEFAULT_TIMEOUT: Final = httpx.Timeout(600.0, connect=10.0, write=60.0, pool=60.0)
"""10 minutes to read (thinking models answer slowly), 10 s to connect, 60 s to write or queue."""

TimeoutLike = float | httpx.Timeout | None
_UNBOUNDED = 1_000_000  # the adaptive ceiling when only per-minute limits are set


class Client:
    """Async client for Vertex AI's OpenAI-compatible Chat Completions API.

    ::

        async with vertexchat.Client(project="my-project", location="global") as client:
            completion = await client.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=[{"role": "user", "content": "Hello"}],
            )
    """

    def __init__(
        self,
        project: str | None = None,
        location: str | None = None,
        *,
        endpoint: str | None = None,
        api_version: str = "v1",
        base_url: str | httpx.URL | None = None,
        host: str | None = None,
        auth: object = ADC,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> None:
        self.endpoint = endpoint or OPENAPI_ENDPOINT
        self.base_url = (
            str(base_url).rstrip("/")
            if base_url
            else self._default_base_url(project, location, api_version, host)
        )
        self._url = chat_completions_url(self.base_url)
        self._publisher_model = base_url is None and self.endpoint == OPENAPI_ENDPOINT
        self._auth = resolve_auth(auth)
        self.timeout = timeout
        self.deadline = deadline
        policy = retry_policy or RetryPolicy()
        self.retry_policy = policy if max_retries is None else policy.with_max_retries(max_retries)
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": f"vertexchat/{__version__}",
            **(headers or {}),
        }
        self._http = LoopBoundHTTPClient(http_client, timeout=timeout)
        self.limiter = _limiter_for(max_concurrency, requests_per_minute, tokens_per_minute)
        self.chat = _Chat(self)

    def _default_base_url(
        self, project: str | None, location: str | None, api_version: str, host: str | None
    ) -> str:
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            raise ValueError(
                "project is required: pass project=… or set GOOGLE_CLOUD_PROJECT "
                "(or pass base_url=… for another server)"
            )
        location = location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "global"
        return build_base_url(
            project=project,
            location=location,
            endpoint=self.endpoint,
            api_version=api_version,
            host=host,
        )

    def __repr__(self) -> str:
        return f"<vertexchat.Client {self.base_url}>"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this client owns (a borrowed ``http_client`` stays open)."""
        await self._http.aclose()
        closer = getattr(self._auth, "aclose", None)
        if closer is not None:
            await closer()

    def batch(
        self,
        requests: Any,
        *,
        concurrency: int = 64,
        **options: Any,
    ) -> BatchRun:
        """Run many requests concurrently; iterate the result for ``BatchResult``s as they end."""
        from ._batch import BatchRun

        return BatchRun(self, requests, concurrency=concurrency, **options)

    # --- sending ---------------------------------------------------------------------------

    def _build(self, body: bytes, extra_headers: Mapping[str, str] | None) -> httpx.Request:
        headers = {**self._headers, **extra_headers} if extra_headers else self._headers
        return httpx.Request("POST", self._url, headers=headers, content=body)

    def _timeout_extension(self, timeout: TimeoutLike | _UseClientDefault) -> dict[str, Any]:
        value = self.timeout if isinstance(timeout, _UseClientDefault) else timeout
        return httpx.Timeout(value).as_dict()

    async def _send_once(self, request: httpx.Request, timeout: dict[str, Any]) -> httpx.Response:
        """One attempt: a response with status < 400, or the mapped exception."""
        request.extensions["timeout"] = timeout
        client = await self._http.get()
        try:
            response = await client.send(request, auth=self._auth, stream=True)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"request timed out: {exc!r}", request=request) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(f"connection failed: {exc!r}", request=request) from exc
        if response.status_code >= 400:
            try:
                content = await response.aread()
            except httpx.TransportError:
                content = b""
            finally:
                await response.aclose()
            raise status_error_from_response(response, content)
        return response

    def _policy(self, max_retries: int | _UseClientDefault) -> RetryPolicy:
        if isinstance(max_retries, _UseClientDefault):
            return self.retry_policy
        return self.retry_policy.with_max_retries(max_retries)


def _limiter_for(
    max_concurrency: int | None, requests_per_minute: float | None, tokens_per_minute: float | None
) -> AdaptiveLimiter | None:
    """The client-wide adaptive limiter, when any limit is asked for."""
    if max_concurrency is None and requests_per_minute is None and tokens_per_minute is None:
        return None
    return AdaptiveLimiter(
        max_concurrency if max_concurrency is not None else _UNBOUNDED,
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
    )


def plan_retry(error: APIError, attempts: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before another attempt after ``error`` (logged), or None if it is final."""
    if attempts >= policy.max_attempts or not _is_retryable(error, policy):
        return None
    delay = policy.delay(attempts, server_delay=_server_delay(error), random=random.random)
    logger.info(
        "vertexchat: attempt %d/%d failed (%s); retrying in %.2fs",
        attempts,
        policy.max_attempts,
        _describe(error),
        delay,
    )
    return delay


def _is_retryable(error: APIError, policy: RetryPolicy) -> bool:
    if isinstance(error, APIStatusError):
        return policy.should_retry_status(error.status_code)
    return isinstance(error, APIConnectionError)  # includes timeouts; no response was seen


def _server_delay(error: APIError) -> float | None:
    return error.retry_after if isinstance(error, APIStatusError) else None


def _describe(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}" + (f" {error.status}" if error.status else "")
    return type(error).__name__


class _Chat:
    """``client.chat``."""

    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class Completions:
    """``client.chat.completions``: ``create``, ``parse`` (structured output), ``run_tools``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        stream: Literal[True],
        timeout: TimeoutLike | _UseClientDefault = ...,
        deadline: float | _UseClientDefault | None = ...,
        max_retries: int | _UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Any,
    ) -> ChatCompletionStream: ...

    @overload
    async def create(
        self,
        *,
        stream: Literal[False] | None = ...,
        timeout: TimeoutLike | _UseClientDefault = ...,
        deadline: float | _UseClientDefault | None = ...,
        max_retries: int | _UseClientDefault = ...,
        extra_headers: Mapping[str, str] | None = ...,
        **params: Any,
    ) -> ChatCompletion: ...

    async def create(
        self,
        *,
        timeout: TimeoutLike | _UseClientDefault = USE_CLIENT_DEFAULT,
        deadline: float | _UseClientDefault | None = USE_CLIENT_DEFAULT,
        max_retries: int | _UseClientDefault = USE_CLIENT_DEFAULT,
        extra_headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> ChatCompletion | ChatCompletionStream:
        """Create a chat completion; with ``stream=True`` return a ``ChatCompletionStream``.

        ``params`` are the request fields (``model``, ``messages``, ``temperature``,
        ``tools``, ``response_format``, ``extra_body={"google": {…}}``, …), validated before
        anything is sent. ``None`` values count as not given.
        """
        client = self._client
        request = build_request(params, publisher_model=client._publisher_model)
        body = encode_request(request, params)
        call_deadline = client.deadline if isinstance(deadline, _UseClientDefault) else deadline
        policy = client._policy(max_retries)
        timeouts = client._timeout_extension(timeout)
        call = _Call(client, body, extra_headers, timeouts, policy, request.thought_tag_marker)
        if request.stream:
            return await _with_deadline(call.open_stream(), call_deadline)
        return await _with_deadline(call.complete(), call_deadline)

    @overload
    async def parse(
        self, *, response_format: type[_M], stream: Literal[True], **params: Any
    ) -> ParsedChatCompletionStream[_M]: ...

    @overload
    async def parse(
        self, *, response_format: type[_M], stream: Literal[False] | None = ..., **params: Any
    ) -> ParsedChatCompletion[_M]: ...

    async def parse(
        self, *, response_format: type[_M], stream: bool | None = None, **params: Any
    ) -> ParsedChatCompletion[_M] | ParsedChatCompletionStream[_M]:
        """Like ``create``, with ``message.parsed`` validated into the ``response_format`` model.

        The Pydantic model is sent as a ``json_schema`` response format in the subset Vertex
        accepts; output that does not validate raises ``OutputParseError``.
        """
        from ._structured import parse

        return await parse(self, response_format=response_format, stream=stream, **params)

    async def run_tools(
        self, *, messages: list[Any], tools: Sequence[FunctionTool[Any]], **params: Any
    ) -> ChatCompletion:
        """Call, run the requested tools, send their results, repeat; see ``run_tool_loop``."""
        from ._tools import run_tool_loop

        return await run_tool_loop(self, messages=messages, tools=tools, **params)


class _Call:
    """One logical call: the same body sent until it succeeds or the retry policy gives up."""

    def __init__(
        self,
        client: Client,
        body: bytes,
        extra_headers: Mapping[str, str] | None,
        timeouts: dict[str, Any],
        policy: RetryPolicy,
        thought_marker: str | None = None,
    ) -> None:
        self.client = client
        self.thought_marker = thought_marker
        self.body = body
        self.extra_headers = extra_headers
        self.timeouts = timeouts
        self.policy = policy
        self.attempts = 0

    @property
    def max_attempts(self) -> int:
        """How many attempts the policy allows in all."""
        return self.policy.max_attempts

    async def open(self) -> httpx.Response:
        """Send once; a response with status < 400 or the mapped exception.

        With a client limiter, each attempt holds a slot from here until ``release``: for a
        completion once its body is read, for a stream once it is closed.
        """
        self.attempts += 1
        limiter = self.client.limiter
        if limiter is not None:
            await limiter.acquire()
        request = self.client._build(self.body, self.extra_headers)
        try:
            return await self.client._send_once(request, self.timeouts)
        except BaseException as error:
            self.release(error)
            raise

    def release(self, error: BaseException | None = None, tokens: int = 0) -> None:
        """Give the attempt's limiter slot back; a 429 tells the limiter to slow down."""
        limiter = self.client.limiter
        if limiter is not None:
            limiter.release(throttled=isinstance(error, RateLimitError), tokens=tokens)

    async def retrying(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``attempt`` until it succeeds, sleeping between tries as the policy says."""
        while True:
            try:
                return await attempt()
            except APIError as error:
                error.attempts = self.attempts
                delay = plan_retry(error, self.attempts, self.policy)
                if delay is None:
                    raise
                await anyio.sleep(delay)

    async def _complete_once(self) -> ChatCompletion:
        response = await self.open()
        completion: ChatCompletion | None = None
        try:
            completion = parse_completion(await _read_body(response), response)
        finally:
            usage = completion.usage if completion is not None else None
            self.release(tokens=usage.total_tokens if usage is not None else 0)
        if self.thought_marker:
            separate_completion(completion, self.thought_marker)
        return completion

    async def complete(self) -> ChatCompletion:
        """The completion, after retries."""
        return await self.retrying(self._complete_once)

    async def reopen(self) -> httpx.Response:
        """Open the stream again (before any chunk reached the caller), with retries."""
        await anyio.sleep(
            self.policy.delay(self.attempts, server_delay=None, random=random.random)
        )
        return await self.retrying(self.open)

    async def open_stream(self) -> ChatCompletionStream:
        """The stream, once a response with a success status has arrived."""
        response = await self.retrying(self.open)
        return ChatCompletionStream(response, retry=self, thought_marker=self.thought_marker)


async def _read_body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"reading the response timed out: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise APIConnectionError(f"reading the response failed: {exc!r}") from exc
    finally:
        await response.aclose()


async def _with_deadline(call: Awaitable[_T], deadline: float | None) -> _T:
    if deadline is None:
        return await call
    try:
        with anyio.fail_after(deadline):
            return await call
    except TimeoutError as exc:
        raise APITimeoutError(f"call deadline of {deadline}s exceeded") from exc
