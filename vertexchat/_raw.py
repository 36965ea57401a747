"""``with_raw_response`` and ``with_streaming_response``: the HTTP response next to the result.

Edge module, as in the OpenAI SDK::

    raw = await client.chat.completions.with_raw_response.create(model=…, messages=…)
    raw.headers, raw.status_code, raw.request_id, raw.retries_taken, raw.elapsed
    completion = raw.parse()

    async with client.chat.completions.with_streaming_response.create(…) as response:
        response.headers                      # before the body is read
        completion = await response.parse()   # or: async for line in response.iter_lines()

Both run through the one call pipeline (``_call``): same validation, retries, limiter and
instrumentation as ``create()``; only what is handed back differs.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from ._call import Attempt, Call
from ._options import USE_CLIENT_DEFAULT
from ._replies import parse_completion
from ._request_ids import request_id
from ._response_models import ChatCompletion, attach_response_headers
from ._separate import separate_completion

if TYPE_CHECKING:
    from ._client import Client

PrepareCall = Callable[..., tuple[Call, bool]]
"""``_resources.prepare_call``, handed in (importing it here would make an import circle)."""

__all__ = ["AsyncStreamedResponse", "RawResponse", "RawResponses", "StreamingResponses"]

_T = TypeVar("_T")
_OPTIONS = ("timeout", "deadline", "max_retries", "extra_headers")


def _prepare(prepare: PrepareCall, client: Client, params: Mapping[str, Any]) -> tuple[Call, bool]:
    request = dict(params)
    options = {name: request.pop(name) for name in _OPTIONS if name in request}
    options.setdefault("extra_headers", None)
    for name in ("timeout", "deadline", "max_retries"):
        options.setdefault(name, USE_CLIENT_DEFAULT)
    return prepare(client, request, **options)


class _HTTPView:
    """What both kinds of raw response say about the HTTP exchange."""

    http_response: httpx.Response
    retries_taken: int
    _started: float

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        """The HTTP status (always < 400: errors raise)."""
        return self.http_response.status_code

    @property
    def url(self) -> httpx.URL:
        """The URL the request went to."""
        return self.http_response.request.url

    @property
    def method(self) -> str:
        """``POST``."""
        return self.http_response.request.method

    @property
    def http_version(self) -> str:
        """``HTTP/1.1``."""
        return self.http_response.http_version

    @property
    def request_id(self) -> str | None:
        """The request id from the response headers."""
        return request_id(self.http_response.headers.raw)

    @property
    def elapsed(self) -> datetime.timedelta:
        """Time from sending the last attempt to its end (so far, while a body streams)."""
        try:
            return self.http_response.elapsed
        except RuntimeError:  # still open: httpx sets elapsed when the response closes
            return datetime.timedelta(seconds=time.monotonic() - self._started)


class RawResponse(_HTTPView, Generic[_T]):
    """``with_raw_response``: the HTTP response of the successful attempt and ``parse()``."""

    def __init__(self, response: httpx.Response, parsed: _T, *, retries_taken: int) -> None:
        self.http_response = response
        self.retries_taken = retries_taken
        self._parsed = parsed
        self._started = time.monotonic()

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {self.url}>"

    def parse(self) -> _T:
        """The result ``create()`` would have returned (a completion, or the open stream)."""
        return self._parsed

    @property
    def content(self) -> bytes:
        """The body (empty for a stream: its bytes go to the parsed stream)."""
        return self.http_response.content if self.http_response.is_closed else b""

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")


class RawResponses:
    """``client.chat.completions.with_raw_response``."""

    def __init__(self, client: Client, prepare: PrepareCall) -> None:
        self._client = client
        self._prepare = prepare

    async def create(self, **params: Any) -> RawResponse[Any]:
        """``create()``, returning a ``RawResponse`` whose ``parse()`` gives the result."""
        call, stream = _prepare(self._prepare, self._client, params)
        if stream:
            from ._streaming import open_stream

            opened = await open_stream(call)
            return RawResponse(opened.response, opened, retries_taken=call.attempts - 1)
        completion = await call.complete()
        response = call.last_response
        assert response is not None
        return RawResponse(response, completion, retries_taken=call.attempts - 1)


class AsyncStreamedResponse(_HTTPView):
    """``with_streaming_response``: the response head is here; the body is read on demand."""

    def __init__(self, call: Call, attempt: Attempt, stream: bool) -> None:
        self._call = call
        self._attempt = attempt
        self._stream = stream
        self._handed_over: Any = None
        self.http_response = attempt.response
        self.retries_taken = call.attempts - 1
        self._started = time.monotonic()

    async def parse(self) -> Any:
        """The result ``create()`` would have returned (reads the body of a completion)."""
        if self._handed_over is not None:
            return self._handed_over
        if self._stream:
            from ._streaming import ChatCompletionStream

            self._handed_over = ChatCompletionStream(self._call, self._attempt)
            return self._handed_over
        self._handed_over = await self._complete()
        return self._handed_over

    async def _complete(self) -> ChatCompletion:
        completion: ChatCompletion | None = None
        try:
            completion = parse_completion(await self._attempt.read(), self.http_response)
        except BaseException as exc:
            self._call.end(error=exc)
            raise
        finally:
            usage = completion.usage if completion is not None else None
            await self._attempt.finish(tokens=usage.total_tokens if usage is not None else 0)
        attach_response_headers(completion, self.http_response.headers)
        if self._call.thought_marker:
            separate_completion(completion, self._call.thought_marker)
        self._call.end(completion)
        return completion

    async def read(self) -> bytes:
        """The whole body."""
        return await self.http_response.aread()

    async def text(self) -> str:
        """The whole body as text."""
        await self.read()
        return self.http_response.text

    async def json(self) -> Any:
        """The whole body, decoded."""
        await self.read()
        return self.http_response.json()

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        return self.http_response.aiter_bytes()

    def iter_text(self) -> AsyncIterator[str]:
        """The body as it arrives, decoded."""
        return self.http_response.aiter_text()

    def iter_lines(self) -> AsyncIterator[str]:
        """The body line by line (``data: …`` lines of a stream)."""
        return self.http_response.aiter_lines()

    async def close(self) -> None:
        """Release the connection (a handed-over stream closes itself)."""
        handed = self._handed_over
        if handed is not None and hasattr(handed, "aclose"):
            await handed.aclose()
            return
        await self._attempt.finish()
        self._call.end()


class _StreamingCreate:
    def __init__(self, client: Client, prepare: PrepareCall, params: Mapping[str, Any]) -> None:
        self._client = client
        self._prepare = prepare
        self._params = params
        self._response: AsyncStreamedResponse | None = None

    async def __aenter__(self) -> AsyncStreamedResponse:
        call, stream = _prepare(self._prepare, self._client, self._params)
        try:
            attempt = await call.run(call.open)
        except BaseException as exc:
            call.end(error=exc)
            raise
        self._response = AsyncStreamedResponse(call, attempt, stream)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.close()


class StreamingResponses:
    """``client.chat.completions.with_streaming_response``."""

    def __init__(self, client: Client, prepare: PrepareCall) -> None:
        self._client = client
        self._prepare = prepare

    def create(self, **params: Any) -> _StreamingCreate:
        """``async with ….create(…) as response``: headers first, body on demand."""
        return _StreamingCreate(self._client, self._prepare, params)
