"""PooledHTTP11Transport against tiny loopback servers written in each test."""

from __future__ import annotations

import gc
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests._loopback import (
    CERTIFICATE,
    FOREVER,
    OK,
    PRIVATE_KEY,
    Peer,
    answer_each,
    answering,
    client,
    pool,
    serving,
)
from vertexchat._transport import PooledHTTP11Transport


async def test_content_length_responses_reuse_one_connection() -> None:
    async with serving(answer_each) as server, client() as http:
        for _ in range(3):
            # Bytes, not json=: httpx 0.27 (our lower bound) and 0.28 encode json= differently.
            response = await http.post(server.url + "/chat?x=1", content=b'{"a":1}')
            assert (response.status_code, response.text) == (200, "hello")
        assert server.connections == 1
        assert pool(http).idle_connections == 1
        assert response.http_version == "HTTP/1.1"
        assert response.reason_phrase == "OK"
    first = server.requests[0]
    assert first.startswith(b"POST /chat?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first
    assert first.endswith(b'\r\n\r\n{"a":1}')


async def test_https_reuses_connection_and_checks_certificate(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text(CERTIFICATE)
    (tmp_path / "key.pem").write_text(PRIVATE_KEY)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_context.set_alpn_protocols(["http/1.1"])
    client_context = ssl.create_default_context(cadata=CERTIFICATE)
    async with serving(answer_each, tls=server_context) as server:
        async with client(verify=client_context) as http:
            assert (await http.post(server.url, content=b"x")).text == "hello"
            assert (await http.post(server.url, content=b"y")).text == "hello"
        assert server.connections == 1
        async with client() as http:  # the default context does not trust this certificate
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url)


async def test_chunked_body_streams_chunks_as_they_arrive() -> None:
    first_seen = anyio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel")
        await peer.send(b"lo\r\n")
        await first_seen.wait()  # the client saw chunk one before chunk two exists
        await peer.send(b"6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
        await answer_each(peer)

    async with serving(handler) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            pieces = []
            async for piece in response.aiter_raw():
                pieces.append(piece)
                first_seen.set()
        assert b"".join(pieces) == b"hello world"
        assert len(pieces) >= 2  # "world" was only sent after a piece reached us
        assert (await http.get(server.url)).text == "hello"
        assert server.connections == 1


async def test_read_until_close_body() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
        await peer.send(b"part two")

    async with serving(handler) as server, client() as http:
        response = await http.get(server.url)
        assert response.text == "part one, part two"
        assert pool(http).open_connections == 0


async def test_connection_close_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(closing)

    async with serving(handler) as server, client() as http:
        assert (await http.get(server.url)).text == "ok"
        assert (await http.get(server.url)).text == "ok"
        assert server.connections == 2
        assert pool(http).open_connections == 0


async def test_request_connection_close_is_honoured() -> None:
    async with serving(answer_each) as server, client() as http:
        await http.get(server.url, headers={"Connection": "close"})
        assert pool(http).open_connections == 0


async def test_no_body_statuses_and_head_keep_the_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
        await answer_each(peer)

    async with serving(handler) as server, client() as http:
        assert (await http.delete(server.url)).status_code == 204
        assert (await http.head(server.url)).headers["content-length"] == "99"
        assert (await http.get(server.url)).text == "hello"
        assert server.connections == 1


async def test_informational_responses_are_skipped() -> None:
    informational = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    async with serving(answering(informational + OK)) as server, client() as http:
        assert (await http.get(server.url)).text == "hello"


async def test_server_closing_idle_connection_is_noticed() -> None:
    closed = anyio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        if server.connections == 1:
            await peer.stream.aclose()
            closed.set()
            return
        await answer_each(peer)

    async with serving(handler) as server, client() as http:
        assert (await http.get(server.url)).text == "hello"
        await closed.wait()
        assert (await http.post(server.url, content=b"again")).text == "hello"
        assert server.connections == 2


async def test_disconnect_on_fresh_connection_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()

    async with serving(handler) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get(server.url)
        assert server.connections == 1


async def test_stale_connection_with_streamed_body_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        server.requests.append(await peer.read_until(b"\r\n0\r\n\r\n"))

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    async with serving(handler) as server, client() as http:
        await http.get(server.url)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.post(server.url, content=body())
        assert server.connections == 1
        assert server.requests[-1].endswith(
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nonce\r\n0\r\n\r\n"
        )


async def test_early_close_of_streamed_response_discards_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
        await anyio.sleep(FOREVER)  # the other five bytes never come

    async with serving(handler) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            async for piece in response.aiter_raw():
                assert piece == b"hello"
                break
        assert pool(http).open_connections == 0


async def test_truncated_body_is_a_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")

    async with serving(handler) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="before the body was complete"):
            await http.get(server.url)
        assert pool(http).open_connections == 0


async def test_malformed_response_is_a_protocol_error() -> None:
    async with serving(answering(b"HTTP/9 200 OK\r\n\r\n")) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="status line"):
            await http.get(server.url)


async def test_conflicting_content_lengths_are_a_protocol_error() -> None:
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    async with serving(answering(bad)) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="content-length"):
            await http.get(server.url)
        assert pool(http).open_connections == 0


async def test_header_injection_is_refused_before_sending() -> None:
    async with serving(answer_each) as server, client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(server.url, headers={"X-A": "b\r\nEvil: 1"})
    assert server.requests == []


@pytest.mark.parametrize(
    "limits",
    [
        httpx.Limits(keepalive_expiry=0),
        httpx.Limits(max_keepalive_connections=0),
    ],
)
async def test_limits_can_turn_keep_alive_off(limits: httpx.Limits) -> None:
    async with serving(answer_each) as server, client(limits=limits) as http:
        await http.get(server.url)
        assert pool(http).open_connections == 0
        await http.get(server.url)
        assert server.connections == 2


async def silent(peer: Peer) -> None:
    await peer.read_request()
    await anyio.sleep(FOREVER)


async def test_read_timeout() -> None:
    async with serving(silent) as server, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url, timeout=httpx.Timeout(FOREVER, read=0.01))
        assert pool(http).open_connections == 0


async def test_read_timeout_while_streaming_body() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
        await anyio.sleep(FOREVER)

    async with serving(handler) as server, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url, timeout=httpx.Timeout(FOREVER, read=0.01))


async def test_write_timeout() -> None:
    async def never_reads(peer: Peer) -> None:
        await anyio.sleep(FOREVER)

    async with serving(never_reads) as server, client() as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(
                server.url, content=b"x" * 64_000_000, timeout=httpx.Timeout(FOREVER, write=0.01)
            )


async def test_connect_timeout() -> None:
    async with serving(silent) as server, client() as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(server.url, timeout=httpx.Timeout(FOREVER, connect=0))


async def test_pool_timeout_when_all_slots_are_busy() -> None:
    limits = httpx.Limits(max_connections=1)
    async with serving(answer_each) as server, client(limits=limits) as http:
        async with http.stream("GET", server.url):
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url, timeout=httpx.Timeout(FOREVER, pool=0.01))
        assert (await http.get(server.url)).text == "hello"


async def test_connection_refused_is_connect_error() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_unsupported_scheme() -> None:
    async with client() as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/")


async def test_pool_limit_bounds_open_connections() -> None:
    limits = httpx.Limits(max_connections=2)

    async def slow_answer(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await anyio.sleep(0.001)  # keeps requests overlapping; not a timing assertion
            await peer.send(OK)

    async with serving(slow_answer) as server, client(limits=limits) as http:
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(http.get, server.url)
        assert server.max_open <= 2
        assert len(server.requests) == 10


async def test_many_concurrent_requests() -> None:
    texts: list[str] = []

    async def one(http: httpx.AsyncClient, url: str) -> None:
        texts.append((await http.get(url)).text)

    async with serving(answer_each) as server, client() as http:
        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(one, http, server.url)
        assert texts == ["hello"] * 100
        assert pool(http).idle_connections == server.connections
    assert pool(http).open_connections == 0


async def test_cancelled_request_releases_its_slot() -> None:
    limits = httpx.Limits(max_connections=1)
    async with serving(silent) as server, client(limits=limits) as http:
        with anyio.move_on_after(0.01):
            await http.get(server.url)
        assert pool(http).open_connections == 0
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url, timeout=httpx.Timeout(FOREVER, pool=0, read=0.01))


def test_one_transport_across_event_loops() -> None:
    transport = PooledHTTP11Transport()

    async def one_run(transport: PooledHTTP11Transport) -> str:
        async with serving(answer_each) as server:
            http = httpx.AsyncClient(transport=transport)
            return (await http.get(server.url)).text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # sockets left behind by a dead loop
        assert anyio.run(one_run, transport) == "hello"
        assert anyio.run(one_run, transport) == "hello"
        assert transport.open_connections == 1
        del transport  # its last socket belongs to a finished loop too
        gc.collect()
