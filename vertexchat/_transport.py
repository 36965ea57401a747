"""A lean HTTP/1.1 connection pool for httpx, on anyio streams (asyncio and trio).

httpx's default pool (httpcore) scans every pooled connection on each request, so its CPU cost
per request grows with concurrency. :class:`PooledHTTP11Transport` keeps a LIFO stack of idle
connections per origin and a counter of in-flight requests, so checkout and return are O(1).
It speaks only plain HTTP/1.1 over TCP or TLS: no proxies, no HTTP/2, no upgrades. One
connection's exchange lives in :mod:`vertexchat._connection`; this module is the pool.

Stale connections: a server may close an idle keep-alive connection at any moment. Before
reuse the socket is polled (readable means closed or garbage, so it is dropped). A request is
sent again, once, on a fresh connection only when the failure proves the server cannot have
started on it (see :mod:`vertexchat._connection`); the resend is logged and counted in the
request's ``extensions["vertexchat.resends"]``.
"""

from __future__ import annotations

import logging
import ssl
import sys
import time
from collections import deque
from collections.abc import Mapping

import anyio
import httpx

from vertexchat._connection import (
    NETWORK_ERRORS,
    Connection,
    Origin,
    OutgoingRequest,
    ResponseBody,
    StaleConnection,
    describe,
    open_stream,
    write_and_read_head,
)
from vertexchat._fdlimit import fit_connection_limit
from vertexchat._loop import LoopWatch
from vertexchat._tls import CertTypes, VerifyTypes, tls_context

__all__ = ["DEFAULT_LIMITS", "RESENDS_EXTENSION", "PooledHTTP11Transport"]

logger = logging.getLogger("vertexchat")

DEFAULT_LIMITS = httpx.Limits(
    max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=15.0
)
"""Sized for fan-out: one connection per in-flight call, kept warm between bursts."""

RESENDS_EXTENSION = "vertexchat.resends"
"""Key in ``request.extensions``: how many times the pool sent the request again (absent: 0)."""

_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class PooledHTTP11Transport(httpx.AsyncBaseTransport):
    """An httpx async transport with an O(1) HTTP/1.1 keep-alive pool; pass as ``transport=``.

    ``verify``, ``cert`` and ``trust_env`` mean what they mean for ``httpx.AsyncHTTPTransport``
    (a CA bundle path or an ``ssl.SSLContext`` for a corporate CA; a client certificate).
    ``limits.max_connections`` is lowered, with a log line, when the process's descriptor limit
    cannot hold that many connections (see :mod:`vertexchat._fdlimit`).
    """

    def __init__(
        self,
        *,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        wanted = limits.max_connections
        self._max_active = sys.maxsize if wanted is None else fit_connection_limit(wanted)
        max_idle = limits.max_keepalive_connections
        self._max_idle = sys.maxsize if max_idle is None else max_idle
        self._expiry = limits.keepalive_expiry
        self._tls_options = (verify, cert, trust_env)
        # Built now when configured, so a wrong path fails here; the default waits for https.
        self._ssl_context: ssl.SSLContext | None = None
        if verify is not True or cert is not None:
            self._ssl_context = tls_context(verify, cert, trust_env)
        self._idle: dict[Origin, deque[Connection]] = {}
        self._idle_count = 0
        self._busy: set[Connection] = set()  # checked out: closed by aclose() too
        self._open_count = 0
        self._active = 0
        self._waiters: deque[anyio.Event] = deque()
        self._closed = False
        self._loop = LoopWatch()

    @property
    def max_connections(self) -> int:
        """How many connections may be open at once (``limits``, fitted to RLIMIT_NOFILE)."""
        return self._max_active

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
        message = OutgoingRequest(request)
        conn = await self._checkout(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, message, timeouts)
            except StaleConnection as exc:
                _count_resend(request, exc)
        conn = await self._connect(request, origin, timeouts.get("connect"))
        return await self._exchange(conn, message, timeouts)

    async def _checkout(self, origin: Origin) -> Connection | None:
        stack = self._idle.get(origin)
        if not stack:
            return None
        now = time.monotonic()
        while stack:
            conn = stack.pop()
            self._idle_count -= 1
            # Any failure of the check counts as closed: the connection is dropped, not leaked.
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

    def _is_expired(self, conn: Connection, now: float) -> bool:
        return self._expiry is not None and now - conn.idle_since >= self._expiry

    async def _discard(self, conn: Connection) -> None:
        self._busy.discard(conn)
        self._open_count = max(0, self._open_count - 1)
        await conn.close()

    async def _connect(
        self, request: httpx.Request, origin: Origin, timeout: float | None
    ) -> Connection:
        if self._open_count >= self._max_active:
            await self._evict_oldest_idle()
        scheme, host, port = origin
        sni = request.extensions.get("sni_hostname")
        tls_context = self._tls_context() if scheme == b"https" else None
        with anyio.move_on_after(timeout) as scope:
            try:
                stream: anyio.abc.ByteStream = await open_stream(host, port, tls_context, sni)
            except (*NETWORK_ERRORS, anyio.EndOfStream) as exc:
                raise httpx.ConnectError(describe(exc), request=request) from exc
        if scope.cancelled_caught:
            raise httpx.ConnectTimeout("timed out connecting", request=request)
        self._open_count += 1
        conn = Connection(stream, origin)
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
            self._ssl_context = tls_context(*self._tls_options)
        return self._ssl_context

    async def _exchange(
        self, conn: Connection, message: OutgoingRequest, timeouts: Mapping[str, float | None]
    ) -> httpx.Response:
        request = message.request
        try:
            head, framing = await write_and_read_head(conn, message, timeouts)
        except BaseException:  # includes StaleConnection and cancellation
            await self._discard(conn)
            raise
        body = ResponseBody(self._release, conn, framing, timeouts.get("read"), request)
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=body,
            request=request,
            extensions={"http_version": head.http_version, "reason_phrase": head.reason},
        )

    async def _release(self, conn: Connection, reusable: bool) -> None:
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


def _origin(url: httpx.URL) -> Origin:
    scheme = url.raw_scheme
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
    if not url.raw_host:
        raise httpx.UnsupportedProtocol(f"request URL has no host: {url!r}")
    return scheme, url.raw_host.decode("ascii"), url.port or default_port


def _count_resend(request: httpx.Request, reason: StaleConnection) -> None:
    request.extensions[RESENDS_EXTENSION] = request.extensions.get(RESENDS_EXTENSION, 0) + 1
    logger.info(
        "vertexchat: resent %s %s on a new connection: the idle one failed before the server "
        "could have read the request (%s)",
        request.method,
        request.url.copy_with(query=None),
        describe(reason.__cause__ or reason),
    )
