"""One HTTP/1.1 connection of the pool: send a request, read its head, stream its body.

Edge module under :mod:`vertexchat._transport` (the pool); the framing itself is the pure
:mod:`vertexchat._http11`. Nothing here knows about other connections.

When may a request be sent again? Only when the failure proves the server cannot have started
on it, because a server may bill a generation for a request it received whole and then lost the
connection over (a thinking model may work for minutes before its first byte). Two failures
prove it, and only on a connection that sat idle in the pool (its peer may have closed it at its
keep-alive timeout while we picked it):

* the write failed: the server did not receive the whole request;
* the end of the stream (or a reset) was already waiting the moment our write completed: the
  server closed before it could have read the request, let alone answered it.

A request that was written and then sat unanswered until the connection died is never resent
here: the caller's retry policy decides, and counts it. Go's net/http draws the same line for
non-idempotent requests.
"""

from __future__ import annotations

import select
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

import anyio
import anyio.abc
import httpx

from vertexchat._http11 import (
    BodyFraming,
    ChunkedDecoder,
    ProtocolError,
    ResponseHead,
    encode_chunk,
    encode_request_head,
    find_head_end,
    parse_response_head,
    response_framing,
)

Origin = tuple[bytes, str, int]
Framing = tuple[BodyFraming, int, bool]
NETWORK_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
_SINGLE_SEND_LIMIT = 64 * 1024
_HAS_POLL = hasattr(select, "poll")


class StaleConnection(Exception):
    """An idle connection died before the server could have read the request: send it again."""


def socket_is_readable(fileno: int) -> bool:
    """Whether a read would return at once (data, EOF or an error); True when unsure.

    ``poll`` has no ceiling on descriptor numbers, unlike ``select.select`` (FD_SETSIZE is
    1,024); Windows has no ``poll`` but no ceiling either. Any failure counts as readable, so
    the caller drops the connection instead of trusting it.
    """
    if fileno < 0:
        return True
    try:
        if _HAS_POLL:
            poller = select.poll()
            poller.register(fileno, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select((fileno,), (), (), 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class Connection:
    """A socket stream to one origin, plus what is buffered past the last response head."""

    __slots__ = ("answered", "buffer", "fileno", "idle_since", "origin", "reused", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        raw_socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        self.fileno = -1 if raw_socket is None else raw_socket.fileno()
        self.buffer = b""
        self.answered = False  # some response byte arrived in the current exchange
        self.idle_since = 0.0
        self.reused = False

    def looks_closed(self) -> bool:
        """Poll the idle socket: readable means EOF, a reset, or bytes nobody asked for."""
        return socket_is_readable(self.fileno)

    async def close(self) -> None:
        await anyio.aclose_forcefully(self.stream)


class OutgoingRequest:
    """A request serialized once, so a resend does not redo the work."""

    __slots__ = ("body", "chunked", "close", "method", "payload", "request")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.method = request.method.encode("ascii")
        raw = request.headers.raw
        self.close = False
        self.chunked = False
        for name, value in raw:
            lower = name.lower()
            if lower == b"connection":
                self.close = b"close" in value.lower()
            elif lower == b"transfer-encoding":
                self.chunked = True
        try:
            head = encode_request_head(self.method, request.url.raw_path, raw)
        except ValueError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        try:
            self.body: bytes | None = request.content
        except httpx.RequestNotRead:
            self.body = None
        small = self.body is not None and len(self.body) <= _SINGLE_SEND_LIMIT
        self.payload = head + self.body if small and self.body is not None else head

    @property
    def replayable(self) -> bool:
        """Whether the body can be sent again (it is bytes, not a one-shot stream)."""
        return self.body is not None

    async def send(self, stream: anyio.abc.ByteStream) -> None:
        """Send the head and the body."""
        await stream.send(self.payload)
        if self.body is not None:
            if len(self.body) > _SINGLE_SEND_LIMIT:
                await stream.send(self.body)
            return
        async for piece in self.request.stream:  # type: ignore[union-attr]
            data = encode_chunk(piece) if self.chunked else piece
            if data:
                await stream.send(data)
        if self.chunked:
            await stream.send(b"0\r\n\r\n")


async def open_stream(
    host: str, port: int, tls_context: ssl.SSLContext | None, sni: str | None
) -> anyio.abc.ByteStream:
    """A TCP (or TLS over TCP) stream to ``host:port``."""
    if tls_context is None:
        return await anyio.connect_tcp(host, port)
    # Like httpcore: no close_notify required, HTTP framing says where bodies end.
    return await anyio.connect_tcp(
        host,
        port,
        ssl_context=tls_context,
        tls_hostname=sni or host,
        tls_standard_compatible=False,
    )


async def write_and_read_head(
    conn: Connection, message: OutgoingRequest, timeouts: Mapping[str, float | None]
) -> tuple[ResponseHead, Framing]:
    """Send the request and read the final response head under one cancel scope.

    Raises :class:`StaleConnection` only in the two cases the module docstring names.
    """
    request = message.request
    conn.answered = False
    scope = anyio.CancelScope(deadline=_deadline(timeouts.get("write")))
    written = False
    closed_at_write_end = False
    try:
        with scope:
            await message.send(conn.stream)
            written = True
            closed_at_write_end = conn.reused and conn.looks_closed()
            scope.deadline = _deadline(timeouts.get("read"))
            head = await _read_head(conn, scope, timeouts.get("read"))
    except (anyio.EndOfStream, *NETWORK_ERRORS) as exc:
        unread = not written or (closed_at_write_end and not conn.answered)
        if conn.reused and unread and message.replayable:
            raise StaleConnection from exc
        raise _network_error(exc, written, request) from exc
    except ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    if scope.cancelled_caught:
        if written:
            raise httpx.ReadTimeout("timed out reading the response", request=request)
        raise httpx.WriteTimeout("timed out sending the request", request=request)
    try:
        framing, length, keep_alive = response_framing(message.method, head)
    except ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    return head, (framing, length, keep_alive and not message.close)


def _network_error(exc: BaseException, written: bool, request: httpx.Request) -> Exception:
    if isinstance(exc, anyio.EndOfStream):
        message = "server disconnected without sending a response"
        return httpx.RemoteProtocolError(message, request=request)
    error = httpx.ReadError if written else httpx.WriteError
    return error(describe(exc), request=request)


async def _read_head(
    conn: Connection, scope: anyio.CancelScope, read_timeout: float | None
) -> ResponseHead:
    """Read until a final (non-1xx) response head is complete; leftovers stay in the buffer."""
    buffer = b""
    while True:
        end, body_start = find_head_end(buffer)
        if end < 0:
            buffer += await conn.stream.receive()
            conn.answered = True
            scope.deadline = _deadline(read_timeout)
            continue
        head = parse_response_head(buffer[:end])
        buffer = buffer[body_start:]
        if head.status == 101:
            raise ProtocolError("protocol upgrades (101) are not supported")
        if head.status >= 200:
            conn.buffer = buffer
            return head
        # Other 1xx responses are informational; RFC 9110 says to skip them.


def _deadline(timeout: float | None) -> float:
    return anyio.current_time() + timeout if timeout is not None else float("inf")


Release = Callable[[Connection, bool], Awaitable[None]]


class ResponseBody(httpx.AsyncByteStream):
    """Yields body bytes as they arrive; hands the connection to ``release`` once complete.

    An explicit iterator rather than an async generator: a generator abandoned by an early
    ``break`` would be finalized by the garbage collector, which trio reports as a leak.
    """

    def __init__(
        self,
        release: Release,
        conn: Connection,
        framing: Framing,
        read_timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._release = release
        self._conn: Connection | None = conn
        self._kind, self._remaining, self._keep_alive = framing
        self._read_timeout = read_timeout
        self._request = request
        self._pending: deque[bytes] = deque()
        self._decoder = ChunkedDecoder() if self._kind is BodyFraming.CHUNKED else None
        self._complete = self._kind is BodyFraming.NONE or self._remaining == 0

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._pending:
            conn = self._conn
            if conn is None:
                raise StopAsyncIteration
            if self._complete:
                await self._finish()
                continue
            data, conn.buffer = conn.buffer, b""
            self._consume(data or await self._receive(conn))
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Return the connection if the body was read to its end, else close it."""
        await self._finish()

    async def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._release(conn, self._keep_alive and self._complete)

    def _consume(self, data: bytes) -> None:
        if self._kind is BodyFraming.LENGTH:
            if len(data) > self._remaining:
                self._keep_alive = False  # bytes beyond the body: the framing is not trusted
                data = data[: self._remaining]
            self._remaining -= len(data)
            self._complete = self._remaining == 0
            self._pending.append(data)
        elif self._decoder is not None:
            try:
                body = self._decoder.feed(data)
            except ProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
            if body:
                self._pending.append(body)
            self._complete = self._decoder.done
            self._keep_alive = self._keep_alive and not self._decoder.unused
        elif data:  # until close: the empty read at EOF ends the body
            self._pending.append(data)
        else:
            self._complete = True

    async def _receive(self, conn: Connection) -> bytes:
        request = self._request
        with anyio.move_on_after(self._read_timeout) as scope:
            try:
                return await conn.stream.receive()
            except anyio.EndOfStream as exc:
                if self._kind is BodyFraming.UNTIL_CLOSE:
                    return b""
                message = "server closed the connection before the body was complete"
                raise httpx.RemoteProtocolError(message, request=request) from exc
            except NETWORK_ERRORS as exc:
                raise httpx.ReadError(describe(exc), request=request) from exc
        assert scope.cancelled_caught
        raise httpx.ReadTimeout("timed out reading the response body", request=request)


def describe(exc: BaseException) -> str:
    """A message for a network error; anyio's wrappers carry the OS error as their cause."""
    return str(exc) or str(exc.__cause__ or "") or type(exc).__name__
