"""Tiny loopback servers for transport tests: a handler per accepted connection, raw bytes."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
from anyio.streams.tls import TLSListener

from vertexchat._transport import PooledHTTP11Transport

Handler = Callable[["Peer"], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
FOREVER = 3600.0
# A self-signed certificate for 127.0.0.1, valid until 2126, made for these tests only.
CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBjzCCATagAwIBAgIUd3t4AKjtVzQVh0DFg2/a5F2bp/YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMjAwNDc0M1oYDzIxMjYxMDI5
MDA0NzQzWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS5BlhLXYPKj1c+azXdaw42pq1i2qAoc3vew5p7qgJOV/aSgIQ8RDK4
cLulbvrVxWpITaCNbNGViJZ2zWodlUK4o2QwYjAdBgNVHQ4EFgQUCKjC+ye2Er9v
dbIqxWLp1wb2W2YwHwYDVR0jBBgwFoAUCKjC+ye2Er9vdbIqxWLp1wb2W2YwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0cAMEQC
ID/2bXyem0iOTwhJJrWrDsJmbT755boIrmUoNh8IU2FzAiBkf7zCDEkxuwFh1/cr
cbCV8XQk9gugGJOTv919vcj/1Q==
-----END CERTIFICATE-----
"""
PRIVATE_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQu6YStRgxpN7iSb5
cnDmCqNLKZl5ptCH4wIZYqRj8LShRANCAAS5BlhLXYPKj1c+azXdaw42pq1i2qAo
c3vew5p7qgJOV/aSgIQ8RDK4cLulbvrVxWpITaCNbNGViJZ2zWodlUK4
-----END PRIVATE KEY-----
"""


class Peer:
    """The server side of one accepted connection, with a request reader."""

    def __init__(self, stream: anyio.abc.ByteStream, server: Server) -> None:
        self.stream = stream
        self.server = server
        self._buffer = b""

    async def read_request(self) -> bytes | None:
        """Read one request (head and Content-Length body); None when the client hung up."""
        while b"\r\n\r\n" not in self._buffer:
            try:
                self._buffer += await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += await self.stream.receive()
        self._buffer = rest[length:]
        self.server.requests.append(head + b"\r\n\r\n" + rest[:length])
        return head

    async def read_until(self, marker: bytes) -> bytes:
        """Read raw bytes up to and including ``marker`` (for chunked request bodies)."""
        while marker not in self._buffer:
            self._buffer += await self.stream.receive()
        data, _, self._buffer = self._buffer.partition(marker)
        return data + marker

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)


class Server:
    """Counts connections and requests; ``url`` points at it."""

    def __init__(self, port: int, scheme: str = "http") -> None:
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.connections = 0
        self.open_now = 0
        self.max_open = 0
        self.requests: list[bytes] = []


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Run ``handler`` for every connection accepted on a loopback port."""
    tcp_listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp_listener.extra(anyio.abc.SocketAttribute.local_port)
    server = Server(port, "http" if tls is None else "https")
    listener: anyio.abc.Listener[Any] = tcp_listener
    if tls is not None:
        listener = TLSListener(tcp_listener, tls, standard_compatible=False)

    async def accept(stream: Any) -> None:
        server.connections += 1
        server.open_now += 1
        server.max_open = max(server.max_open, server.open_now)
        try:
            async with stream:
                await handler(Peer(stream, server))
        except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        finally:
            server.open_now -= 1

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, accept)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()


async def answer_each(peer: Peer, response: bytes = OK) -> None:
    while await peer.read_request() is not None:
        await peer.send(response)


def answering(response: bytes) -> Handler:
    return lambda peer: answer_each(peer, response)


def client(**kwargs: object) -> httpx.AsyncClient:
    transport = PooledHTTP11Transport(**kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport)


def pool(http: httpx.AsyncClient) -> PooledHTTP11Transport:
    transport = http._transport
    assert isinstance(transport, PooledHTTP11Transport)
    return transport
