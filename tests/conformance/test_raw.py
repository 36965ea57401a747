"""A raw socket server for what real servers will not send: RFC 9112 corners, malformed and
adversarial replies, HTTP/1.0, 1xx, and resets and stalls at every phase of an exchange.

Each case states the correct outcome (a body, or a typed httpx error); the owned pool must
reach it, and httpcore's verdict is recorded beside it.
"""

from __future__ import annotations

import socket
import struct

import anyio
import anyio.abc
import httpx
import pytest

from tests._loopback import Peer, serving
from tests.conformance.harness import compare

pytestmark = pytest.mark.conformance

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
# name: (response bytes, the expected body or error type)
CORNERS: dict[str, tuple[bytes, bytes | type[Exception]]] = {
    "content-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    "equal repeated content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    "conflicting content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        httpx.RemoteProtocolError,
    ),
    "negative content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "hex content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "chunked with extensions and trailers": (
        CHUNKED + b"\r\n5;name=value\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        b"hello",
    ),
    "chunked wins over content-length": (
        CHUNKED + b"Content-Length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    "two transfer-encoding lines": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        httpx.RemoteProtocolError,
    ),
    "transfer-encoding gzip only": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "invalid chunk size": (CHUNKED + b"\r\nzz\r\nhello\r\n0\r\n\r\n", httpx.RemoteProtocolError),
    "chunk longer than its size": (
        CHUNKED + b"\r\n3\r\nhello\r\n0\r\n\r\n",
        httpx.RemoteProtocolError,
    ),
    "huge chunk size line": (
        CHUNKED + b"\r\n" + b"1" * 20 + b"\r\nhello\r\n0\r\n\r\n",
        httpx.RemoteProtocolError,
    ),
    "NUL in a header value": (
        b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "bare CR in a header value": (
        b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "space in a header name": (
        b"HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "space before the colon": (
        b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
        httpx.RemoteProtocolError,
    ),
    "malformed status line": (b"HTTP/1.1 2xx OK\r\n\r\n", httpx.RemoteProtocolError),
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", httpx.RemoteProtocolError),
    "bare LF line endings": (b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", b"hello"),
    "no reason phrase": (b"HTTP/1.1 200\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    "HTTP/1.0 until close": (b"HTTP/1.0 200 OK\r\n\r\nhello", b"hello"),
    "HTTP/1.1 until close": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", b"hello"),
    "100 and 103 before the answer": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    "101 without asking": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        httpx.RemoteProtocolError,
    ),
    "204": (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    "many headers": (
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 100) for n in range(400))
        + b"Content-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    "endless head": (
        b"HTTP/1.1 200 OK\r\n" + b"X: " + b"v" * 200_000 + b"\r\n\r\n",
        httpx.RemoteProtocolError,
    ),
}


async def answer(peer: Peer, response: bytes) -> None:
    while await peer.read_request() is not None:
        await peer.send(response)
        if b"Connection: close" in response or response.startswith(b"HTTP/1.0"):
            return


@pytest.mark.parametrize("name", CORNERS)
async def test_rfc9112_corners(name: str) -> None:
    response, expected = CORNERS[name]
    async with serving(lambda peer: answer(peer, response)) as server:

        async def case(http: httpx.AsyncClient) -> None:
            for _ in range(2):  # a second request shows the connection was left sound
                if isinstance(expected, bytes):
                    assert (await http.get(server.url)).content == expected
                else:
                    with pytest.raises(expected):
                        await http.get(server.url)

        await compare(f"raw {name}", case, timeout=httpx.Timeout(5.0))


# -- resets and stalls at every phase --------------------------------------------------------


async def rst(peer: Peer) -> None:
    raw = peer.stream.extra(anyio.abc.SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await peer.stream.aclose()


async def forever() -> None:
    await anyio.sleep_forever()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
PHASES = {
    # phase: (what the server does, what the client must see)
    "reset on accept": ("rst-now", httpx.TransportError),
    "reset after the request": ("read,rst", httpx.TransportError),
    "reset in the head": ("read,half-head,rst", httpx.TransportError),
    "reset in the body": ("read,head,half-body,rst", httpx.TransportError),
    "reset in a chunked body": ("read,chunk-head,chunk,rst", httpx.TransportError),
    "close in the body": ("read,head,half-body,close", httpx.RemoteProtocolError),
    "stall before reading": ("stall", httpx.TimeoutException),
    "stall before answering": ("read,stall", httpx.ReadTimeout),
    "stall in the head": ("read,half-head,stall", httpx.ReadTimeout),
    "stall in the body": ("read,head,half-body,stall", httpx.ReadTimeout),
}


def scripted(script: str) -> object:
    async def handler(peer: Peer) -> None:
        for step in script.split(","):
            if step == "rst-now":
                await rst(peer)
                return
            if step == "read":
                await peer.read_request()
            elif step == "half-head":
                await peer.send(HEAD[:20])
            elif step == "head":
                await peer.send(HEAD)
            elif step == "half-body":
                await peer.send(b"hello")
            elif step == "chunk-head":
                await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            elif step == "chunk":
                await peer.send(b"5\r\nhello\r\n")
            elif step == "rst":
                await anyio.wait_all_tasks_blocked()
                await rst(peer)
                return
            elif step == "close":
                await peer.stream.aclose()
                return
            elif step == "stall":
                await forever()

    return handler


@pytest.mark.parametrize("phase", PHASES)
async def test_resets_and_stalls_at_every_phase(phase: str) -> None:
    script, error = PHASES[phase]
    body = b"x" * (8 * 1024 * 1024) if script == "stall" else b"x"  # fills the socket buffers
    async with serving(scripted(script)) as server:  # type: ignore[arg-type]

        async def case(http: httpx.AsyncClient) -> None:
            with pytest.raises(error):
                response = await http.post(server.url, content=body)
                await response.aread()
            assert server.connections == 1 + case_runs.count(1)  # never resent
            case_runs.append(1)

        case_runs: list[int] = []
        await compare(f"raw {phase}", case, timeout=httpx.Timeout(5.0, read=0.5, write=0.5))
