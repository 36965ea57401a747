"""The async stream of a ``stream=True`` call: bytes → SSE events → typed chunks.

Edge module: it moves bytes from ``response.aiter_bytes()`` into the pure ``SSEDecoder`` and
validates each ``data:`` payload into a ``ChatCompletionChunk``. Errors inside the stream (a
``data: {"error": …}`` event, or the bare JSON error array Vertex writes without ``data:``)
raise ``StreamError``; so does a stream that ends without ``data: [DONE]``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol

import anyio
import httpx

from ._accumulate import ChunkAccumulator
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ResponseTooLargeError,
    StreamError,
)
from ._replies import parse_chunk, stream_end_error
from ._response_models import ChatCompletion, ChatCompletionChunk
from ._separate import ChunkThoughtSeparator, separate_completion
from ._sse import ServerSentEvent, SSEDecoder, SSELimitError

__all__ = ["ChatCompletionStream"]


class StreamRetry(Protocol):
    """How a stream sends its request again, before the caller has seen any chunk."""

    attempts: int

    @property
    def max_attempts(self) -> int: ...

    async def reopen(self) -> httpx.Response: ...

    def release(self, error: BaseException | None = None, tokens: int = 0) -> None: ...


_DONE = "[DONE]"
_DRAIN_SECONDS = 1.0


class ChatCompletionStream:
    """``async for chunk in stream`` yields ``ChatCompletionChunk`` until ``[DONE]``.

    Use it as an async context manager (or call ``aclose()``): leaving the block, an exception
    or cancellation releases the connection. ``await get_final_completion()`` consumes what is
    left and returns the accumulated ``ChatCompletion``.
    """

    def __init__(
        self,
        response: httpx.Response,
        *,
        retry: StreamRetry | None = None,
        thought_marker: str | None = None,
    ) -> None:
        self.response = response
        self._retry = retry
        self._marker = thought_marker
        self._separator = ChunkThoughtSeparator(thought_marker) if thought_marker else None
        self._tail: ChatCompletionChunk | None = None
        self._accumulator = ChunkAccumulator()
        self._delivered = False
        self._finished = False
        self._closed = False
        self._holds_slot = True  # the limiter slot taken when this response was opened
        self._start_reading()

    def _start_reading(self) -> None:
        self._decoder = SSEDecoder()
        self._events: deque[ServerSentEvent] = deque()
        self._stray: list[str] = []
        self._bytes: AsyncIterator[bytes] | None = None
        self._eof = False

    def __repr__(self) -> str:
        return f"<ChatCompletionStream {self.response.request.url} finished={self._finished}>"

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
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
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
        if self._closed:
            return
        self._closed = True
        await self._close_response()

    async def _close_response(self) -> None:
        byte_iterator, self._bytes = self._bytes, None
        try:
            closer = getattr(byte_iterator, "aclose", None)
            if closer is not None:
                await closer()
            await self.response.aclose()
        finally:
            if self._holds_slot and self._retry is not None:
                self._holds_slot = False
                usage = self._accumulator.usage if self._finished else None
                self._retry.release(tokens=usage.total_tokens if usage is not None else 0)

    async def get_final_completion(self) -> ChatCompletion:
        """Consume the rest of the stream and return everything it carried as one completion.

        If the caller has not read any chunk itself, a stream that fails part-way is sent
        again from the start (within the retry policy): nobody has seen the partial answer.
        """
        replayable = not self._delivered
        while True:
            try:
                async for _ in self:
                    pass
            except (APIConnectionError, StreamError) as error:
                if not replayable or not await self._replay(error):
                    raise
            else:
                return self.completion

    @property
    def completion(self) -> ChatCompletion:
        """What the chunks received so far add up to (complete once the stream has finished)."""
        completion = self._accumulator.result()
        return separate_completion(completion, self._marker) if self._marker else completion

    async def _next_chunk(self) -> ChatCompletionChunk:
        while True:
            try:
                return await self._read_chunk()
            except APIError as error:
                if not await self._retry_before_first_chunk(error):
                    raise

    async def _read_chunk(self) -> ChatCompletionChunk:
        request = self.response.request
        while True:
            if self._finished or self._closed:
                raise StopAsyncIteration
            if self._events:
                data = self._events.popleft().data
                if data == _DONE:
                    self._finished = True
                    await self._drain()
                    self._tail = self._separator.flush() if self._separator else None
                    if self._tail is not None:
                        return self._tail
                    raise StopAsyncIteration
                return parse_chunk(data, request)
            if self._eof:
                raise stream_end_error(self._stray, request)
            await self._fill(request)

    async def _fill(self, request: httpx.Request) -> None:
        if self._bytes is None:
            self._bytes = self.response.aiter_bytes()
        try:
            data = await self._bytes.__anext__()
        except StopAsyncIteration:
            self._events.extend(self._decoder.close())
            self._eof = True
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"stream timed out: {exc!r}", request=request) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(
                f"stream connection failed: {exc!r}", request=request
            ) from exc
        else:
            try:
                self._events.extend(self._decoder.feed(data))
            except SSELimitError as exc:
                raise ResponseTooLargeError(str(exc), limit=exc.limit, request=request) from exc
        stray = self._decoder.take_stray_lines()
        if stray:
            self._stray.extend(stray)

    async def _drain(self) -> None:
        # Reading to the end returns the connection to the pool and exhausts httpx's chain of
        # async generators (which cannot be closed from outside, and trio warns about).
        if self._eof:
            return
        with anyio.move_on_after(_DRAIN_SECONDS):
            try:
                while not self._eof:
                    await self._fill(self.response.request)
            except APIError:
                pass  # the answer is complete; a failure after [DONE] changes nothing

    async def _retry_before_first_chunk(self, error: APIError) -> bool:
        # A stream is replayed only while the caller has seen nothing of it.
        if self._delivered or not isinstance(error, (APIConnectionError, StreamError)):
            if self._retry is not None:
                error.attempts = self._retry.attempts
            return False
        return await self._replay(error)

    async def _replay(self, error: APIError) -> bool:
        """Send the request again and start over, if the retry policy allows another attempt."""
        retry = self._retry
        if retry is None:
            return False
        error.attempts = retry.attempts
        if retry.attempts >= retry.max_attempts:
            return False
        await self._close_response()
        self.response = await retry.reopen()
        self._holds_slot = True
        self._closed = self._finished = self._delivered = False
        self._accumulator = ChunkAccumulator()
        if self._marker:
            self._separator = ChunkThoughtSeparator(self._marker)
        self._start_reading()
        return True
