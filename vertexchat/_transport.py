"""A lean HTTP/1.1 connection pool for httpx, on anyio streams (asyncio and trio).

httpx's default pool (httpcore) scans every pooled connection on each request, so its CPU cost
per request grows with concurrency. :class:`PooledHTTP11Transport` keeps a LIFO stack of idle
connections per origin and a counter of in-flight requests, so checkout and return are O(1).
It speaks only plain HTTP/1.1 over TCP or TLS: no proxies, no HTTP/2, no upgrades.

Stale connections: a server may close an idle keep-alive connection at any moment. Before
reuse the socket is polled (readable means closed or garbage, so it is dropped). If a request
on a *reused* connection still fails before a single response byte arrives, and its body is
bytes we can send again, it is resent once on a fresh connection. Browsers apply the same rule
to every method; a server that closed the connection before answering did not see a complete
request on it, except in the rare case of a crash after processing, which the caller's retry
policy would face anyway.
"""

from __future__ import annotations

import select
import ssl
import sys
import time
from collections import deque
from collections.abc import Mapping

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
from vertexchat._loop import LoopWatch

__all__ = ["DEFAULT_LIMITS", "PooledHTTP11Transport"]

DEFAULT_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=15.0
)
"""Sized for fan-out: one connection per in-flight call, kept warm between bursts."""

Origin = tuple[bytes, str, int]
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_NETWORK_ERRORS = (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError)
_SINGLE_SEND_LIMIT = 64 * 1024


class _StaleConnection(Exception):
    """A reused connection died before answering; the request may be sent again."""


class _Connection:
    __slots__ = (
        "answered",
        "buffer",
        "fileno",
        "idle_since",
        "origin",
        "reused",
        "stream",
    )

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
        if self.fileno < 0:
            return False
        readable, _, _ = select.select((self.fileno,), (), (), 0)
        return bool(readable)

    async def close(self) -> None:
        await anyio.aclose_forcefully(self.stream)


class PooledHTTP11Transport(httpx.AsyncBaseTransport):
    """An httpx async transport with an O(1) HTTP/1.1 keep-alive pool; pass as ``transport=``."""

    def __init__(
        self,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_active = limits.max_connections or sys.maxsize
        max_idle = limits.max_keepalive_connections
        self._max_idle = sys.maxsize if max_idle is None else max_idle
        self._expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._busy: set[_Connection] = set()  # checked out: closed by aclose() too
        self._open_count = 0
        self._active = 0
        self._waiters: deque[anyio.Event] = deque()
        self._closed = False
        self._loop = LoopWatch()

    @property
    def open_connections(self) -> int:
        """How many connections are open now, idle or busy."""
        return self._open_count

    @property
    def idle_connections(self) -> int:
        """How many open connections wait in the pool for reuse."""
        return self._idle_count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a pooled or new connection; the body streams from the socket."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        origin = _origin(request.url)
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        if self._loop.moved():
            self._adopt_current_loop()
        await self._acquire_slot(timeouts.get("pool"))
        try:
            return await self._send(request, origin, timeouts)
        except BaseException:
            self._release_slot()
            raise

    async def aclose(self) -> None:
        """Close every connection: idle ones, and busy ones, whose requests then fail."""
        self._closed = True
        idle = [conn for stack in self._idle.values() for conn in stack]
        self._idle.clear()
        self._idle_count = 0
        for conn in idle:
            self._open_count -= 1
            await conn.close()
        for conn in list(self._busy):  # their readers see a closed socket, then release it
            await conn.close()

    # -- in-flight limit: a counter and a FIFO of waiters, handed over on release --

    async def _acquire_slot(self, timeout: float | None) -> None:
        if self._active < self._max_active:
            self._active += 1
            return
        event = anyio.Event()
        self._waiters.append(event)
        with anyio.move_on_after(timeout) as scope:
            try:
                await event.wait()
            except BaseException:
                self._abandon_wait(event)
                raise
        if scope.cancelled_caught:
            raise httpx.PoolTimeout("timed out waiting for a free connection slot")

    def _abandon_wait(self, event: anyio.Event) -> None:
        if event.is_set():
            self._release_slot()  # the slot was handed to us as we gave up
        else:
            self._waiters.remove(event)

    def _release_slot(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()
        elif self._active > 0:  # a response from a forgotten loop may still be closed here
            self._active -= 1

    # -- connections --

    async def _send(
        self, request: httpx.Request, origin: Origin, timeouts: Mapping[str, float | None]
    ) -> httpx.Response:
        message = _OutgoingRequest(request)
        conn = await self._checkout(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, message, timeouts)
            except _StaleConnection:
                pass
        conn = await self._connect(request, origin, timeouts.get("connect"))
        return await self._exchange(conn, message, timeouts)

    async def _checkout(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        if not stack:
            return None
        now = time.monotonic()
        while stack:
            conn = stack.pop()
            self._idle_count -= 1
            if self._is_expired(conn, now) or conn.looks_closed():
                await self._discard(conn)
                continue
            conn.reused = True
            self._busy.add(conn)
            return conn
        return None

    def _adopt_current_loop(self) -> None:
        """Start afresh in a new event loop (repeated ``asyncio.run()``, a new trio run).

        Sockets and waiters of a finished loop cannot be used or even closed from this one,
        so they are forgotten; a request still running there could never complete anyway.
        """
        self._idle.clear()
        self._idle_count = 0
        self._open_count = 0
        self._active = 0
        self._waiters.clear()
        self._busy.clear()

    def _is_expired(self, conn: _Connection, now: float) -> bool:
        return self._expiry is not None and now - conn.idle_since >= self._expiry

    async def _discard(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        self._open_count = max(0, self._open_count - 1)
        await conn.close()

    async def _connect(
        self, request: httpx.Request, origin: Origin, timeout: float | None
    ) -> _Connection:
        if self._open_count >= self._max_active:
            await self._evict_oldest_idle()
        scheme, host, port = origin
        sni = request.extensions.get("sni_hostname")
        tls_context = self._tls_context() if scheme == b"https" else None
        with anyio.move_on_after(timeout) as scope:
            try:
                stream: anyio.abc.ByteStream = await _open_stream(host, port, tls_context, sni)
            except (*_NETWORK_ERRORS, anyio.EndOfStream) as exc:
                raise httpx.ConnectError(_describe(exc), request=request) from exc
        if scope.cancelled_caught:
            raise httpx.ConnectTimeout("timed out connecting", request=request)
        self._open_count += 1
        conn = _Connection(stream, origin)
        self._busy.add(conn)
        return conn

    async def _evict_oldest_idle(self) -> None:
        # Only reached when idle connections (to other hosts, or left behind by a stale
        # retry) hold the places a new connection needs.
        for stack in self._idle.values():
            if stack:
                self._idle_count -= 1
                await self._discard(stack.popleft())
                return

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    async def _exchange(
        self, conn: _Connection, message: _OutgoingRequest, timeouts: Mapping[str, float | None]
    ) -> httpx.Response:
        request = message.request
        try:
            head, framing = await _write_and_read_head(conn, message, timeouts)
        except BaseException:  # includes _StaleConnection and cancellation
            await self._discard(conn)
            raise
        body = _ResponseBody(self, conn, framing, timeouts.get("read"), request)
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=body,
            request=request,
            extensions={"http_version": head.http_version, "reason_phrase": head.reason},
        )

    async def _release(self, conn: _Connection, reusable: bool) -> None:
        self._busy.discard(conn)
        try:
            if reusable and not self._closed and self._idle_count < self._max_idle:
                now = time.monotonic()
                conn.idle_since = now
                stack = self._idle.setdefault(conn.origin, deque())
                stack.append(conn)
                self._idle_count += 1
                if self._is_expired(stack[0], now):
                    # LIFO reuse never reaches the bottom under load: expire it from there.
                    self._idle_count -= 1
                    await self._discard(stack.popleft())
            else:
                await self._discard(conn)
        finally:
            self._release_slot()


class _OutgoingRequest:
    """A request serialized once, so a stale-connection retry does not redo the work."""

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

    async def send_body(self, stream: anyio.abc.ByteStream) -> None:
        """Send the body when it did not fit into the head's send."""
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


async def _open_stream(
    host: str, port: int, tls_context: ssl.SSLContext | None, sni: str | None
) -> anyio.abc.ByteStream:
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


def _origin(url: httpx.URL) -> Origin:
    scheme = url.raw_scheme
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
    if not url.raw_host:
        raise httpx.UnsupportedProtocol(f"request URL has no host: {url!r}")
    return scheme, url.raw_host.decode("ascii"), url.port or default_port


async def _write_and_read_head(
    conn: _Connection, message: _OutgoingRequest, timeouts: Mapping[str, float | None]
) -> tuple[ResponseHead, tuple[BodyFraming, int, bool]]:
    """Send the request and read the final response head under one cancel scope."""
    request = message.request
    conn.answered = False
    scope = anyio.CancelScope(deadline=_deadline(timeouts.get("write")))
    reading = False
    try:
        with scope:
            await conn.stream.send(message.payload)
            await message.send_body(conn.stream)
            reading = True
            scope.deadline = _deadline(timeouts.get("read"))
            head = await _read_head(conn, scope, timeouts.get("read"))
    except anyio.EndOfStream as exc:
        if conn.reused and not conn.answered and message.replayable:
            raise _StaleConnection from exc
        raise httpx.RemoteProtocolError(
            "server disconnected without sending a response", request=request
        ) from exc
    except _NETWORK_ERRORS as exc:
        if conn.reused and not conn.answered and message.replayable:
            raise _StaleConnection from exc
        error = httpx.ReadError if reading else httpx.WriteError
        raise error(_describe(exc), request=request) from exc
    except ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    if scope.cancelled_caught:
        if reading:
            raise httpx.ReadTimeout("timed out reading the response", request=request)
        raise httpx.WriteTimeout("timed out sending the request", request=request)
    try:
        framing, length, keep_alive = response_framing(message.method, head)
    except ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    return head, (framing, length, keep_alive and not message.close)


async def _read_head(
    conn: _Connection, scope: anyio.CancelScope, read_timeout: float | None
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


class _ResponseBody(httpx.AsyncByteStream):
    """Yields body bytes as they arrive; returns the connection to the pool once complete.

    An explicit iterator rather than an async generator: a generator abandoned by an early
    ``break`` would be finalized by the garbage collector, which trio reports as a leak.
    """

    def __init__(
        self,
        pool: PooledHTTP11Transport,
        conn: _Connection,
        framing: tuple[BodyFraming, int, bool],
        read_timeout: float | None,
        request: httpx.Request,
    ) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._kind, self._remaining, self._keep_alive = framing
        self._read_timeout = read_timeout
        self._request = request
        self._pending: deque[bytes] = deque()
        self._decoder = ChunkedDecoder() if self._kind is BodyFraming.CHUNKED else None
        self._complete = self._kind is BodyFraming.NONE or self._remaining == 0

    def __aiter__(self) -> _ResponseBody:
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
            await self._pool._release(conn, self._keep_alive and self._complete)

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

    async def _receive(self, conn: _Connection) -> bytes:
        request = self._request
        with anyio.move_on_after(self._read_timeout) as scope:
            try:
                return await conn.stream.receive()
            except anyio.EndOfStream as exc:
                if self._kind is BodyFraming.UNTIL_CLOSE:
                    return b""
                message = "server closed the connection before the body was complete"
                raise httpx.RemoteProtocolError(message, request=request) from exc
            except _NETWORK_ERRORS as exc:
                raise httpx.ReadError(_describe(exc), request=request) from exc
        assert scope.cancelled_caught
        raise httpx.ReadTimeout("timed out reading the response body", request=request)


def _describe(exc: BaseException) -> str:
    """A message for a network error; anyio's wrappers carry the OS error as their cause."""
    return str(exc) or str(exc.__cause__ or "") or type(exc).__name__
