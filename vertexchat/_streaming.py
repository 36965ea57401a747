"""The async stream of a ``stream=True`` call: bytes → SSE events → typed chunks.

Edge module: it moves the response's bytes (``_call.body_chunks``) into the pure ``SSEDecoder`` and
validates each ``data:`` payload into a ``ChatCompletionChunk``. Errors inside the stream (a
``data: {"error": …}`` event, or the bare JSON error array Vertex writes without ``data:``)
raise ``StreamError``; so does a stream that ends without ``data: [DONE]``.

Time: the call's ``deadline`` bounds the stream until ``[DONE]``, and the read timeout bounds
each wait for the next event (comments, keep-alives and trickled bytes do not reset it).
Retries go through the call's one retry loop (``Call.run``) while the caller has seen nothing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import anyio
import httpx

from ._accumulate import ChunkAccumulator
from ._call import Attempt, Call, body_chunks, lower_layer_error
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ResponseTooLargeError,
    StreamError,
)
from ._replies import parse_chunk, stream_end_error
from ._request_ids import request_id
from ._response_models import ChatCompletion, ChatCompletionChunk, attach_response_headers
from ._separate import ChunkThoughtSeparator, separate_completion
from ._sse import ServerSentEvent, SSEDecoder, SSELimitError

__all__ = ["ChatCompletionStream", "final_completion", "open_stream"]

_DONE = "[DONE]"
_DRAIN_SECONDS = 1.0


async def open_stream(call: Call) -> ChatCompletionStream:
    """The stream, once a response with a success status has arrived (after retries)."""
    try:
        attempt = await call.run(call.open)
    except BaseException as exc:
        call.end(error=exc)
        raise
    return ChatCompletionStream(call, attempt)


async def final_completion(call: Call) -> ChatCompletion:
    """Stream the call to its end and return the accumulated completion (after retries)."""
    stream = ChatCompletionStream(call, None)
    try:
        await call.run(stream._open_and_consume)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await stream._end(exc)
        raise
    await stream.aclose()
    return stream.completion


class ChatCompletionStream:
    """``async for chunk in stream`` yields ``ChatCompletionChunk`` until ``[DONE]``.

    Use it as an async context manager (or call ``aclose()``): leaving the block, an exception
    or cancellation releases the connection. ``await get_final_completion()`` consumes what is
    left and returns the accumulated ``ChatCompletion``.
    """

    def __init__(self, call: Call, attempt: Attempt | None) -> None:
        self._call = call
        self._marker = call.thought_marker
        self._idle: float | None = call.timeouts.get("read")
        self._max_message = call.pipeline.limits.max_error_message_chars
        self._delivered = False
        self._closed = False
        self._start_reading(attempt)

    def _start_reading(self, attempt: Attempt | None) -> None:
        self._attempt = attempt
        limits = self._call.pipeline.limits
        self._decoder = SSEDecoder(
            max_line_bytes=limits.max_sse_line_bytes, max_event_chars=limits.max_sse_event_chars
        )
        self._events: deque[ServerSentEvent] = deque()
        self._stray: list[str] = []
        self._bytes: AsyncIterator[bytes] | None = None
        self._eof = False
        self._finished = False
        self._peeked: ChatCompletionChunk | None = None
        self._tail: ChatCompletionChunk | None = None
        self._accumulator = ChunkAccumulator()
        self._separator = ChunkThoughtSeparator(self._marker) if self._marker else None
        self._event_at = anyio.current_time() if self._idle is not None else 0.0
        self._first = True

    @property
    def response(self) -> httpx.Response:
        """The HTTP response of the current attempt."""
        assert self._attempt is not None
        return self._attempt.response

    @property
    def request_id(self) -> str | None:
        """The request id from the response headers (see ``vertexchat._request_ids``)."""
        return request_id(self._attempt.response.headers.raw) if self._attempt else None

    def _with_request_id(self, error: BaseException) -> None:
        if isinstance(error, APIError) and error.request_id is None:
            error.request_id = self.request_id

    def __repr__(self) -> str:
        url = self._call.pipeline.url
        return f"<ChatCompletionStream {url} finished={self._finished}>"

    async def __aenter__(self) -> ChatCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> ChatCompletionStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            chunk = await self._next_chunk()
        except BaseException as exc:
            self._with_request_id(exc)
            with anyio.CancelScope(shield=True):
                await self._end(None if isinstance(exc, StopAsyncIteration) else exc)
            raise
        if chunk is self._tail:
            return chunk  # text the thought splitter held back until the end
        self._delivered = True
        self._accumulator.add(chunk)  # the raw chunk: final thoughts are split from the whole
        if self._separator is not None:
            self._separator.apply(chunk)
        return chunk

    async def aclose(self) -> None:
        """Release the connection; safe to call more than once."""
        await self._end(None)

    async def close(self) -> None:
        """``aclose()``, under the OpenAI SDK's name."""
        await self._end(None)

    async def _end(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._finish_attempt()
        finally:
            self._call.end(self.completion if self._finished else None, error)

    async def _finish_attempt(self) -> None:
        byte_iterator, self._bytes = self._bytes, None
        try:
            closer = getattr(byte_iterator, "aclose", None)
            if closer is not None:
                await closer()
        finally:
            if self._attempt is not None:
                usage = self._accumulator.usage if self._finished else None
                await self._attempt.finish(tokens=usage.total_tokens if usage is not None else 0)

    async def get_final_completion(self) -> ChatCompletion:
        """Consume the rest of the stream and return everything it carried as one completion.

        If the caller has not read any chunk itself, a stream that fails part-way is sent
        again from the start (within the retry policy): nobody has seen the partial answer.
        """
        try:
            try:
                await self._consume()
            except APIError as error:
                if self._delivered or not _replayable(error):
                    self._call.failed(error)
                    raise
                await self._replay(error, self._open_and_consume)
        except BaseException as exc:
            self._with_request_id(exc)
            with anyio.CancelScope(shield=True):
                await self._end(exc)
            raise
        await self.aclose()
        return self.completion

    @property
    def completion(self) -> ChatCompletion:
        """What the chunks received so far add up to (complete once the stream has finished)."""
        completion = self._accumulator.result()
        if self._attempt is not None:
            attach_response_headers(completion, self._attempt.response.headers)
        return separate_completion(completion, self._marker) if self._marker else completion

    # --- attempts: what the call's retry loop runs --------------------------------------------

    async def _replay(self, error: APIError, attempt: Callable[[], Awaitable[None]]) -> None:
        """Send the request again through the call's retry loop, starting over."""
        with anyio.CancelScope(shield=True):
            await self._finish_attempt()
        await self._call.run(attempt, after=error)

    async def _open_and_peek(self) -> None:
        self._start_reading(await self._call.open())
        try:
            self._peeked = await self._read_chunk()
        except StopAsyncIteration:
            pass
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._finish_attempt()
            raise

    async def _open_and_consume(self) -> None:
        self._start_reading(await self._call.open())
        try:
            await self._consume()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._finish_attempt()
            raise

    async def _consume(self) -> None:
        """Read to the end into the accumulator, without delivering anything to the caller."""
        peeked, self._peeked = self._peeked, None
        if peeked is not None and peeked is not self._tail:
            self._accumulator.add(peeked)
        while True:
            try:
                chunk = await self._read_chunk()
            except StopAsyncIteration:
                return
            if chunk is not self._tail:
                self._accumulator.add(chunk)

    # --- reading --------------------------------------------------------------------------

    async def _next_chunk(self) -> ChatCompletionChunk:
        peeked = self._peeked
        if peeked is not None:
            self._peeked = None
            return peeked
        try:
            return await self._read_chunk()
        except APIError as error:
            if self._delivered or not _replayable(error):
                self._call.failed(error)
                raise
            await self._replay(error, self._open_and_peek)
        return await self._next_chunk()

    async def _read_chunk(self) -> ChatCompletionChunk:
        while True:
            if self._finished or self._closed:
                raise StopAsyncIteration
            if self._events:
                data = self._events.popleft().data
                if data == _DONE:
                    return await self._done()
                chunk = parse_chunk(data, self.response.request, max_message=self._max_message)
                if self._first:
                    self._first = False
                    if self._call.observer is not None:
                        self._call.observer.first_chunk()
                return chunk
            if self._eof:
                raise stream_end_error(
                    self._stray, self.response.request, max_message=self._max_message
                )
            await self._fill()

    async def _done(self) -> ChatCompletionChunk:
        self._finished = True
        await self._drain()
        self._tail = self._separator.flush() if self._separator else None
        if self._tail is not None:
            return self._tail
        raise StopAsyncIteration

    async def _fill(self) -> None:
        try:
            data = await self._receive()
        except StopAsyncIteration:
            self._events.extend(self._decoder.close())
            self._eof = True
        else:
            events = self._feed(data)
            if events:
                self._events.extend(events)
                if self._idle is not None:
                    self._event_at = anyio.current_time()
        stray = self._decoder.take_stray_lines()
        if stray:
            self._stray.extend(stray)

    def _feed(self, data: bytes) -> list[ServerSentEvent]:
        try:
            return self._decoder.feed(data)
        except SSELimitError as exc:
            request = self.response.request
            raise ResponseTooLargeError(str(exc), limit=exc.limit, request=request) from exc

    async def _receive(self) -> bytes:
        """The next piece of the body, within the idle bound and the call's deadline."""
        if self._bytes is None:
            self._bytes = body_chunks(self.response)
        idle_until = math.inf if self._idle is None else self._event_at + self._idle
        until = min(idle_until, self._call.expires_at)
        if until == math.inf:
            return await self._next_bytes(self._bytes)
        with anyio.CancelScope(deadline=until):
            return await self._next_bytes(self._bytes)
        self._bytes = None  # cancelled inside httpx's generators: they are finished
        if until == self._call.expires_at:
            message = f"call deadline of {self._call.deadline}s exceeded"
        else:
            message = f"no stream event for {self._idle:g}s (the read timeout)"
        raise APITimeoutError(message, request=self.response.request)

    async def _next_bytes(self, byte_iterator: AsyncIterator[bytes]) -> bytes:
        try:
            return await byte_iterator.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            mapped = lower_layer_error(exc, self.response.request, "reading the stream")
            if mapped is None:
                raise
            raise mapped from exc

    async def _drain(self) -> None:
        # Reading to the end returns the connection to the pool and exhausts httpx's chain of
        # async generators (which cannot be closed from outside, and trio warns about).
        if self._eof:
            return
        with anyio.move_on_after(_DRAIN_SECONDS):
            try:
                while not self._eof:
                    await self._fill()
            except APIError:
                pass  # the answer is complete; a failure after [DONE] changes nothing
        with anyio.CancelScope(shield=True):
            await self._finish_attempt()


def _replayable(error: APIError) -> bool:
    """Whether a stream failure may be sent again (if nobody has seen a chunk yet)."""
    return isinstance(error, (APIConnectionError, StreamError))
