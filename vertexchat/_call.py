"""The call pipeline: every request vertexchat sends goes through ``Call``.

Edge module. One attempt is: take a limiter slot → send (auth inside) → map lower-layer errors
→ turn an error status into its exception → hand the response to the caller, who reads it and
``finish``es the attempt, which gives the slot back. ``Call.run`` is the one retry loop: plain
calls, streams (before the caller has seen a chunk) and ``client.batch`` items all retry
through it, so ``error.attempts`` and the limiter see every attempt the same way.

``lower_layer_error`` is the one place an httpx, transport or google-auth exception becomes a
vertexchat error. ``CallObserver`` is the seam for instrumentation: ``Pipeline.observe`` makes
one per call, which hears each attempt start, respond or fail (with the retry delay), a
stream's first chunk, and the call's end.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import httpx

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    CredentialsError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    StreamError,
    VertexChatError,
    status_error_from_response,
)
from ._http_client import LoopBoundHTTPClient
from ._limiter import AdaptiveLimiter
from ._limits import DEFAULT_LIMITS, ResponseLimits
from ._replies import parse_completion
from ._response_models import ChatCompletion, attach_response_headers
from ._retry import RetryPolicy
from ._separate import separate_completion

if TYPE_CHECKING:
    from ._request_models import ChatCompletionRequest

__all__ = ["Attempt", "Call", "CallObserver", "Pipeline", "lower_layer_error", "plan_retry"]

_T = TypeVar("_T")


class CallObserver(Protocol):
    """What one call tells its observer, in order (``_observe.CallRecord`` implements it).

    ``attempt_started`` before each attempt; ``response_received`` when its head arrived with
    a success status; ``attempt_failed`` when it failed (``retry_in``: the wait before the next
    attempt, None if final); ``first_chunk`` for a stream's first chunk; ``finished`` once at
    the end (a stream ends when exhausted or closed). Called synchronously: keep them cheap.
    """

    def attempt_started(self) -> None: ...

    def response_received(
        self, status: int, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None: ...

    def attempt_failed(self, error: BaseException, *, retry_in: float | None = None) -> None: ...

    def first_chunk(self) -> None: ...

    def finished(
        self, completion: ChatCompletion | None = None, error: BaseException | None = None
    ) -> None: ...


EventHook = Callable[[Any], Awaitable[object]]
"""A user's async hook, given the ``httpx.Request`` or the ``httpx.Response``."""

ObserverFactory = Callable[["ChatCompletionRequest", "Call"], "CallObserver | None"]
"""Makes the observer of one call (or None); set as ``Pipeline.observe``."""


class Pipeline:
    """What every call of one client shares: the parsed URL, headers, auth and HTTP client."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        http: LoopBoundHTTPClient,
        auth: httpx.Auth | None,
        limits: ResponseLimits = DEFAULT_LIMITS,
    ) -> None:
        self.url = httpx.URL(url)  # parsed once; httpx.Request reuses a parsed URL as is
        self.headers = httpx.Headers(headers)  # normalised once; each request copies the list
        self._host = self.url.netloc.decode("ascii")
        self.http = http
        self.auth = auth
        self.limits = limits
        self.observe: ObserverFactory | None = None
        self.request_hooks: tuple[EventHook, ...] = ()
        self.response_hooks: tuple[EventHook, ...] = ()

    async def build(
        self, headers: httpx.Headers, body: bytes, timeouts: dict[str, Any]
    ) -> httpx.Request:
        """The request for one attempt, on the HTTP client of the running event loop.

        A borrowed ``http_client``'s default headers apply under ours (and its cookies and
        params, through its own ``build_request``, when it has any). The request is made
        from headers normalised once and the body as it is (bytes: the pool may send it
        again on a stale connection).
        """
        client = await self.http.get()
        if self.http.direct is None:
            if client.cookies or client.params:
                request = client.build_request("POST", self.url, headers=headers, content=body)
                request.extensions["timeout"] = timeouts
                return request
            merged = httpx.Headers(client.headers)
            merged.update(headers)
            headers = merged
        framing = httpx.Headers(headers)
        framing["Host"] = self._host
        framing["Content-Length"] = str(len(body))
        request = httpx.Request("POST", self.url, headers=framing, stream=httpx.ByteStream(body))
        request.read()
        request.extensions["timeout"] = timeouts
        return request

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``build``'s request (on the same event loop); the body is left unread.

        The user's event hooks run here, httpx's way: request hooks before sending (auth is
        applied after them), response hooks once the head arrived, before the body is read.
        """
        for hook in self.request_hooks:
            await hook(request)
        response = await self._transmit(request)
        if self.response_hooks:
            try:
                for hook in self.response_hooks:
                    await hook(response)
            except BaseException:
                await response.aclose()
                raise
        return response

    async def _transmit(self, request: httpx.Request) -> httpx.Response:
        """A borrowed ``http_client`` gets the full ``AsyncClient.send`` (its hooks, its cookie
        jar and, when this client has no ``auth``, its own auth). A client we own sends
        straight to its pool, driving the auth flow itself.
        """
        transport = self.http.direct
        if transport is None:
            auth = httpx.USE_CLIENT_DEFAULT if self.auth is None else self.auth
            # Never follow a redirect, even when the borrowed client is configured to: the
            # credentials would go along to wherever it points.
            return await self.http.current.send(
                request, auth=auth, stream=True, follow_redirects=False
            )
        if self.auth is None:
            return await _send_direct(transport, request)
        return await _send_with_auth(transport, request, self.auth)


async def _send_direct(
    transport: httpx.AsyncBaseTransport, request: httpx.Request
) -> httpx.Response:
    response = await transport.handle_async_request(request)
    response.request = request
    return response


async def _send_with_auth(
    transport: httpx.AsyncBaseTransport, request: httpx.Request, auth: httpx.Auth
) -> httpx.Response:
    """httpx's auth flow (token, then one more send after a 401 if the auth asks for it)."""
    flow = auth.async_auth_flow(request)
    try:
        request = await flow.__anext__()
        while True:
            response = await _send_direct(transport, request)
            try:
                request = await flow.asend(response)
            except StopAsyncIteration:
                return response
            try:
                await response.aread()  # done with it: its connection goes back to the pool
            finally:
                await response.aclose()
    finally:
        await flow.aclose()


class Attempt:
    """One sent request whose response head arrived; holds its limiter slot until ``finish``."""

    __slots__ = ("_held", "call", "response")

    def __init__(self, call: Call, response: httpx.Response) -> None:
        self.call = call
        self.response = response
        self._held = True

    async def read(self) -> bytes:
        """The whole body, up to ``ResponseLimits.max_body_bytes`` (then closed)."""
        return await read_body(self.response, self.call.pipeline.limits.max_body_bytes)

    async def finish(self, tokens: int = 0) -> None:
        """Close the response and give the slot back (``tokens`` used, for the TPM budget)."""
        if not self._held:
            return
        self._held = False
        try:
            await self.response.aclose()
        finally:
            self.call.release(tokens=tokens)


class Call:
    """One logical call: the same body sent until it succeeds or the retry policy gives up."""

    def __init__(
        self,
        pipeline: Pipeline,
        body: bytes,
        *,
        policy: RetryPolicy,
        timeouts: dict[str, Any],
        deadline: float | None,
        limiter: AdaptiveLimiter | None,
        extra_headers: Mapping[str, str] | None = None,
        thought_marker: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.body = body
        self.policy = policy
        self.timeouts = timeouts
        self.deadline = deadline
        self.expires_at = math.inf if deadline is None else anyio.current_time() + deadline
        self.limiter = limiter
        self.headers = pipeline.headers
        if extra_headers:
            self.headers = httpx.Headers(pipeline.headers)
            self.headers.update(extra_headers)
        self.thought_marker = thought_marker
        self.attempts = 0
        self.last_response: httpx.Response | None = None  # with_raw_response reads it
        self.observer: CallObserver | None = None
        self._ended = False

    # --- the retry loop ---------------------------------------------------------------------

    async def run(
        self, attempt: Callable[[], Awaitable[_T]], *, after: APIError | None = None
    ) -> _T:
        """Run ``attempt`` until it succeeds or the policy gives up: the one retry loop.

        ``after`` is the failure of an attempt already made (a stream cut before the caller
        saw anything), which is planned like any other before ``attempt`` runs again.
        """
        if self.expires_at == math.inf:
            return await self._retrying(attempt, after)
        with anyio.CancelScope(deadline=self.expires_at):
            return await self._retrying(attempt, after)
        raise self.failed(APITimeoutError(f"call deadline of {self.deadline}s exceeded"))

    async def _retrying(self, attempt: Callable[[], Awaitable[_T]], error: APIError | None) -> _T:
        while True:
            if error is not None:
                delay = self._plan(error)
                if delay is None:
                    raise error
                await anyio.sleep(delay)
            self.attempts += 1
            try:
                return await attempt()
            except APIError as exc:
                error = exc

    def _plan(self, error: APIError) -> float | None:
        if self.expires_at != math.inf and anyio.current_time() >= self.expires_at:
            delay = None
        else:
            delay = plan_retry(error, self.attempts, self.policy)
        self.failed(error, delay)
        return delay

    def failed(self, error: _E, delay: float | None = None) -> _E:
        """Record that the latest attempt ended in ``error`` (``delay``: None if final)."""
        error.attempts = self.attempts
        if self.observer is not None:
            self.observer.attempt_failed(error, retry_in=delay)
        return error

    def end(
        self, completion: ChatCompletion | None = None, error: BaseException | None = None
    ) -> None:
        """The call is over (told once): its ``completion``, or the ``error`` it ended with."""
        if self._ended:
            return
        self._ended = True
        if self.observer is not None:
            self.observer.finished(completion, error)

    # --- one attempt ------------------------------------------------------------------------

    async def open(self) -> Attempt:
        """Take a slot and send; an ``Attempt`` whose status is < 400, or the mapped error."""
        if self.observer is not None:
            self.observer.attempt_started()
        limiter = self.limiter
        if limiter is not None:
            await limiter.acquire()
        try:
            response = await self._send()
        except BaseException as exc:
            self.release(exc)
            raise
        self.last_response = response
        if self.observer is not None:
            self.observer.response_received(response.status_code, response.headers.raw)
        return Attempt(self, response)

    def release(self, error: BaseException | None = None, tokens: int = 0) -> None:
        """Give an attempt's limiter slot back; a 429 tells the limiter to slow down."""
        limiter = self.limiter
        if limiter is not None:
            limiter.release(throttled=isinstance(error, RateLimitError), tokens=tokens)

    async def _send(self) -> httpx.Response:
        request = await self.pipeline.build(self.headers, self.body, self.timeouts)
        bound = _head_bound(self.timeouts)
        try:
            if bound is None:
                response = await self.pipeline.send(request)
            else:
                with anyio.move_on_after(bound) as scope:
                    response = await self.pipeline.send(request)
                if scope.cancelled_caught:
                    raise APITimeoutError(
                        f"no response head within {bound:g}s (the sum of the timeouts)",
                        request=request,
                    )
        except Exception as exc:
            self._count_resends(request)
            mapped = lower_layer_error(exc, request, "sending the request")
            if mapped is None:
                raise
            raise mapped from exc
        self._count_resends(request)
        if response.status_code >= 300:  # a redirect is refused, not followed: see _exceptions
            raise await _status_error(response, self.pipeline.limits)
        return response

    def _count_resends(self, request: httpx.Request) -> None:
        """Count the pool's own resends as attempts: each one went on the wire.

        ``PooledHTTP11Transport`` resends only what the server cannot have started on (see
        ``_connection``), at once; the log shows it as a failed attempt retried after 0 s.
        """
        for _ in range(request.extensions.get(RESENDS_EXTENSION, 0)):
            error = APIConnectionError(
                "the pooled connection failed before the server could read the request; "
                "resent on a new connection",
                request=request,
            )
            self.failed(error, 0.0)
            self.attempts += 1
            if self.observer is not None:
                self.observer.attempt_started()

    # --- plain (non-streaming) calls ----------------------------------------------------------

    async def complete(self) -> ChatCompletion:
        """The completion, after retries."""
        try:
            completion = await self.run(self._complete_once)
        except BaseException as exc:
            self.end(error=exc)
            raise
        self.end(completion)
        return completion

    async def _complete_once(self) -> ChatCompletion:
        attempt = await self.open()
        completion: ChatCompletion | None = None
        try:
            completion = parse_completion(
                await attempt.read(),
                attempt.response,
                max_message=self.pipeline.limits.max_error_message_chars,
            )
        finally:
            usage = completion.usage if completion is not None else None
            await attempt.finish(tokens=usage.total_tokens if usage is not None else 0)
        attach_response_headers(completion, attempt.response.headers)
        if self.thought_marker:
            separate_completion(completion, self.thought_marker)
        return completion


RESENDS_EXTENSION = "vertexchat.resends"
"""``_transport.RESENDS_EXTENSION``, spelled here so that importing this module does not load
the transport (a test checks the two agree)."""

_E = TypeVar("_E", bound=APIError)


def lower_layer_error(
    exc: BaseException, request: httpx.Request | None, during: str
) -> VertexChatError | None:
    """The vertexchat error for an httpx, transport or google-auth exception (None otherwise).

    The one place lower-layer exceptions are mapped, most specific first; callers raise the
    result ``from exc``.
    """
    if isinstance(exc, VertexChatError):
        return None  # already ours
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{during} timed out: {exc!r}", request=request)
    if isinstance(exc, httpx.TransportError):
        return APIConnectionError(f"{during} failed: {exc!r}", request=request)
    if isinstance(exc, httpx.DecodingError):
        return ResponseValidationError(f"{during}: undecodable body: {exc!r}", request=request)
    if type(exc).__module__.startswith("google.auth"):
        # A user's own google-auth based httpx.Auth; the message may carry secrets, so only
        # the type is kept here (the cause chain has the rest).
        return CredentialsError(f"Google authentication failed: {type(exc).__name__}")
    return None


def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive; straight from the transport when nothing is encoded.

    httpx's ``aiter_bytes`` runs each piece through a content decoder and a re-chunker,
    which for an identity body (what Vertex sends: we ask for no compression) only cost CPU.
    """
    encoding = response.headers.get("content-encoding")
    if response.is_stream_consumed or (encoding is not None and encoding.lower() != "identity"):
        return response.aiter_bytes()  # decoded, or what a response hook has read already
    return aiter(response.stream)  # type: ignore[arg-type]


async def read_body(
    response: httpx.Response, limit: int | None = None, *, truncate: bool = False
) -> bytes:
    """The body of a response, which is closed afterwards (errors mapped).

    Past ``limit`` bytes (decoded) reading stops: ``ResponseTooLargeError``, or with
    ``truncate`` the first ``limit`` bytes. Never more than the limit is held in memory.
    """
    try:
        if limit is None:
            return b"".join([chunk async for chunk in body_chunks(response)])
        return await _read_at_most(response, limit, truncate=truncate)
    except Exception as exc:
        mapped = lower_layer_error(exc, response.request, "reading the response")
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        await response.aclose()


async def _read_at_most(response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(response, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in body_chunks(response):
        size += len(chunk)
        if size > limit:
            if not truncate:
                raise _too_large(response, limit)
            chunks.append(chunk[: len(chunk) - (size - limit)])
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(response: httpx.Response, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the response body is larger than {limit} bytes (ResponseLimits.max_body_bytes)",
        limit="max_body_bytes",
        request=response.request,
    )


async def _status_error(response: httpx.Response, limits: ResponseLimits) -> APIStatusError:
    try:
        content = await read_body(response, limits.max_error_body_bytes, truncate=True)
    except APIError:
        content = b""
    return status_error_from_response(
        response, content, max_message=limits.max_error_message_chars
    )


def _head_bound(timeouts: Mapping[str, float | None]) -> float | None:
    """The longest an attempt waits for its response head: all four timeouts added up.

    httpx's timeouts bound each socket operation; a server trickling its head a byte at a
    time would otherwise never time out.
    """
    read = timeouts.get("read")
    if read is None:
        return None
    return read + sum(timeouts.get(name) or 0.0 for name in ("connect", "write", "pool"))


def plan_retry(error: APIError, attempts: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before another attempt after ``error``, or None if it is final.

    (The call's observer logs the retry: ``vertexchat.retry``.)
    """
    if attempts >= policy.max_attempts or not _is_retryable(error, policy):
        return None
    return policy.delay(attempts, server_delay=_server_delay(error), random=random.random)


def _is_retryable(error: APIError, policy: RetryPolicy) -> bool:
    if isinstance(error, APIStatusError):
        return policy.should_retry_status(error.status_code)
    # No response, or a stream that failed before anyone saw a chunk: nothing was delivered.
    return isinstance(error, (APIConnectionError, StreamError))


def _server_delay(error: APIError) -> float | None:
    return error.retry_after if isinstance(error, APIStatusError) else None
