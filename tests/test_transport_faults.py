"""The six faults of issue 12, each pinned by a test against a loopback server.

1. file descriptors >= 1024 (readiness checks) and the RLIMIT_NOFILE fit;
2. the transparent resend never repeats a request the server may have started;
3. framing that must be refused;
5. TLS options (verify=, cert=) for the owned pool;
6. the proxy fallback says so.
(4, Accept-Encoding, is measured and decided in tests/test_accept_encoding.py.)
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import resource
import socket
import ssl
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest
import trustme

import vertexchat
from tests._loopback import OK, Handler, Peer, answer_each, answering, client, pool, serving
from tests._wire import completion, text_chunk
from vertexchat._transport import RESENDS_EXTENSION, PooledHTTP11Transport

# -- 1. no fd ceiling ----------------------------------------------------------------------


@pytest.fixture
def fds_above_1024() -> Iterator[None]:
    """Hold enough spare descriptors open that every new socket gets a number >= 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4096 + 1200
    if soft < needed:  # the test needs room for 1,000 client and 1,000 server sockets too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(spare) >= 1024
        yield
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.usefixtures("fds_above_1024")
async def test_connection_with_fd_above_1024_is_reused() -> None:
    async with serving(answer_each) as server, client() as http:
        for _ in range(3):
            assert (await http.get(server.url)).text == "hello"
        assert server.connections == 1
        assert pool(http).open_connections == 1


@pytest.mark.usefixtures("fds_above_1024")
async def test_thousand_concurrent_calls_with_fds_above_1024() -> None:
    before = open_fd_count()
    async with serving(answer_each) as server:
        # No timeout: on a loaded machine 1,000 calls may queue longer than httpx's 5 s default.
        transport = PooledHTTP11Transport()
        async with httpx.AsyncClient(transport=transport, timeout=None) as http:
            for _ in range(2):  # the second round reuses the first round's connections
                results: list[str] = []

                async def call(
                    http: httpx.AsyncClient = http, results: list[str] = results
                ) -> None:
                    results.append((await http.post(server.url, content=b"x")).text)

                async with anyio.create_task_group() as group:
                    for _ in range(1000):
                        group.start_soon(call)
                assert results == ["hello"] * 1000
                transport = pool(http)
                assert transport.open_connections == transport.idle_connections <= 1000
        assert transport.open_connections == 0
    assert open_fd_count() <= before  # no socket leaked


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout + result.stderr


FIT_SCRIPT = """
import logging, resource, sys
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
from vertexchat._transport import PooledHTTP11Transport
transport = PooledHTTP11Transport()
print("max_connections", transport.max_connections)
print("soft_now", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_pool_fits_itself_under_a_low_hard_limit() -> None:
    output = run_python(FIT_SCRIPT.format(soft=512, hard=512))
    assert "soft_now 512" in output
    limit = int(output.split("max_connections ")[1].split()[0])
    assert 0 < limit <= 512 - 64
    assert "RLIMIT_NOFILE" in output
    assert f"at most {limit} connections" in output


def test_pool_raises_the_soft_limit_within_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048:
        pytest.fail(f"this machine's hard RLIMIT_NOFILE is {hard}; the test needs 2048")
    output = run_python(FIT_SCRIPT.format(soft=1024, hard=hard))
    assert "max_connections 1000" in output
    soft = int(output.split("soft_now ")[1].split()[0])
    assert 1000 < soft <= hard
    assert "raised the soft RLIMIT_NOFILE from 1024" in output


def test_pool_leaves_a_high_enough_limit_alone() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    output = run_python(FIT_SCRIPT.format(soft=min(hard, 8192), hard=hard))
    assert "max_connections 1000" in output
    assert "RLIMIT_NOFILE" not in output


# -- 2. no duplicate billed generation ---------------------------------------------------


async def reset(peer: Peer) -> None:
    """Close with an RST (SO_LINGER 0), as a crashing or load-shedding server does."""
    raw = peer.stream.extra(anyio.abc.SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await peer.stream.aclose()


async def hang_up(peer: Peer) -> None:
    await peer.stream.aclose()


def held_then(ending: str) -> Handler:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(OK)
        if peer.server.connections > 1:
            await answer_each(peer)
            return
        await peer.read_request()  # the whole request arrives; the server "works" on it
        await anyio.wait_all_tasks_blocked()  # until the client sits waiting for an answer
        await (reset if ending == "reset" else hang_up)(peer)

    return handler


@pytest.mark.parametrize("ending", ["reset", "close"])
async def test_request_that_sat_unanswered_is_never_resent(ending: str) -> None:
    async with serving(held_then(ending)) as server, client() as http:
        await http.get(server.url)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.post(server.url, content=b"generate")
        assert [r.endswith(b"generate") for r in server.requests] == [False, True]
        assert server.connections == 1


@pytest.mark.parametrize("ending", ["reset", "close"])
async def test_client_with_no_retries_sends_a_held_request_once(ending: str) -> None:
    async with serving(held_then(ending)) as server:
        async with vertexchat.Client(base_url=server.url, auth=None, max_retries=0) as chat:
            http = await chat._http.get()
            await http.get(server.url)  # leaves one idle connection for the call to reuse
            with pytest.raises(vertexchat.APIConnectionError):
                await chat.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
        posts = [r for r in server.requests if r.startswith(b"POST")]
        assert len(posts) == 1


async def test_write_failure_on_an_idle_connection_is_resent_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = b"x" * (16 * 1024 * 1024)  # more than the socket buffers hold: the send blocks

    async def handler(peer: Peer) -> None:
        if peer.server.connections == 1:
            await peer.read_request()
            await peer.send(OK)
            await anyio.wait_all_tasks_blocked()  # the second request is stuck in send()
            await reset(peer)  # the server never read it
            return
        await answer_each(peer)

    caplog.set_level(logging.INFO, logger="vertexchat")
    async with serving(handler) as server, client() as http:
        first = await http.get(server.url)
        assert first.request.extensions.get(RESENDS_EXTENSION, 0) == 0
        response = await http.post(server.url, content=body)
        assert response.text == "hello"
        assert response.request.extensions[RESENDS_EXTENSION] == 1
        assert server.connections == 2
        assert len(server.requests) == 2  # the reset connection's request was never read
    assert "resent" in caplog.text


class Attempts:
    """A minimal call observer: what the attempt log records."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def observe(self, request: object, call: object) -> Attempts:
        return self

    def attempt_started(self) -> None:
        self.log.append("start")

    def response_received(self, status: int, request_id: str | None = None) -> None:
        self.log.append(str(status))

    def attempt_failed(self, error: BaseException, *, retry_in: float | None = None) -> None:
        self.log.append(f"failed {type(error).__name__} retry_in={retry_in}")

    def first_chunk(self) -> None:
        pass

    def finished(self, completion: object = None, error: BaseException | None = None) -> None:
        self.log.append("end")


def test_the_pipeline_reads_the_key_the_pool_writes() -> None:
    from vertexchat import _call

    assert _call.RESENDS_EXTENSION == RESENDS_EXTENSION


async def test_a_resend_is_counted_in_the_attempt_log() -> None:
    answer = json.dumps(completion("resent")).encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)

    async def handler(peer: Peer) -> None:
        if peer.server.connections == 1:
            await peer.read_request()
            await peer.send(OK)
            await anyio.wait_all_tasks_blocked()  # the call is stuck sending 16 MB
            await reset(peer)  # unread: the server cannot have started on it
            return
        await answer_each(peer, reply)

    attempts = Attempts()
    async with (
        serving(handler) as server,
        vertexchat.Client(base_url=server.url, auth=None, max_retries=0) as chat,
    ):
        chat._pipeline.observe = attempts.observe
        await (await chat._http.get()).get(server.url)  # one idle connection to reuse
        result = await chat.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x" * (16 * 1024 * 1024)}]
        )
    assert result.choices[0].message.content == "resent"
    assert attempts.log == [
        "start",
        "failed APIConnectionError retry_in=0.0",
        "start",
        "200",
        "end",
    ]


# -- 3. framing that must be refused -----------------------------------------------------

REFUSED = {
    "two transfer-encoding lines": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "NUL in a value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
    "bare CR in a value": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\nhello",
    "space in a name": b"HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 5\r\n\r\nhello",
    "space before a name": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n Y: b\r\n\r\nhello",
}


@pytest.mark.parametrize("response", REFUSED.values(), ids=REFUSED.keys())
async def test_framing_that_must_be_refused(response: bytes) -> None:
    async with serving(answering(response)) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url)
        assert pool(http).open_connections == 0


# -- 4. Accept-Encoding: not asked by default (measured: benchmarks/accept_encoding.py), opt-in --


async def test_no_accept_encoding_by_default_and_gzip_on_request() -> None:
    answer = gzip.compress(json.dumps(completion("squeezed")).encode())
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(answer),
        answer,
    )
    messages = [{"role": "user", "content": "hi"}]
    async with serving(answering(reply)) as server:
        async with vertexchat.Client(base_url=server.url, auth=None) as chat:
            await chat.chat.completions.create(model="m", messages=messages)
        assert b"accept-encoding" not in server.requests[-1].lower()
        headers = {"accept-encoding": "gzip"}
        async with vertexchat.Client(base_url=server.url, auth=None, headers=headers) as chat:
            result = await chat.chat.completions.create(model="m", messages=messages)
        assert b"accept-encoding: gzip" in server.requests[-1].lower()
        assert result.choices[0].message.content == "squeezed"


async def test_gzip_stream_decodes_event_by_event() -> None:
    events = [f"data: {json.dumps(text_chunk(word))}\n\n".encode() for word in ("a", "b")]
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    pieces = [compressor.compress(e) + compressor.flush(zlib.Z_SYNC_FLUSH) for e in events]
    pieces.append(compressor.compress(b"data: [DONE]\n\n") + compressor.flush())
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    reply = head + b"Transfer-Encoding: chunked\r\n\r\n" + body
    headers = {"accept-encoding": "gzip"}
    async with (
        serving(answering(reply)) as server,
        vertexchat.Client(base_url=server.url, auth=None, headers=headers) as chat,
    ):
        stream = await chat.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            words = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert words == ["a", "b"]


# -- 5. TLS options ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def server_context(authority: trustme.CA, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        authority.configure_trust(context)
    return context


async def test_verify_takes_a_ca_bundle_path(authority: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    async with serving(answer_each, tls=server_context(authority)) as server:
        async with client(verify=str(bundle)) as http:
            assert (await http.get(server.url)).text == "hello"
        async with client() as http:  # the default trust store does not know the test CA
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url)
        async with client(verify=False) as http:
            assert (await http.get(server.url)).text == "hello"


async def test_verify_takes_a_context_and_cert_a_client_certificate(
    authority: trustme.CA, tmp_path: Path
) -> None:
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)
    identity = authority.issue_cert("client.example")
    chain = tmp_path / "client.pem"
    identity.private_key_and_cert_chain_pem.write_to_path(str(chain))
    tls = server_context(authority, require_client_cert=True)
    async with serving(answer_each, tls=tls) as server:
        async with client(verify=trusted, cert=str(chain)) as http:
            assert (await http.get(server.url)).text == "hello"
        anonymous = ssl.create_default_context()
        authority.configure_trust(anonymous)
        async with client(verify=anonymous) as http:  # no client certificate: refused
            with pytest.raises(httpx.TransportError):
                await http.get(server.url)


async def test_client_passes_verify_and_cert_to_its_pool(
    authority: trustme.CA, tmp_path: Path
) -> None:
    answer = json.dumps(completion("over TLS")).encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    chain = tmp_path / "client.pem"
    authority.issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(str(chain))
    tls = server_context(authority, require_client_cert=True)
    messages = [{"role": "user", "content": "hi"}]
    async with serving(answering(reply), tls=tls) as server:
        options = {"base_url": server.url, "auth": None, "max_retries": 0}
        async with vertexchat.Client(**options, verify=str(bundle), cert=str(chain)) as chat:
            result = await chat.chat.completions.create(model="m", messages=messages)
            assert result.choices[0].message.content == "over TLS"
        async with vertexchat.Client(**options) as chat:  # the default trust store: refused
            with pytest.raises(vertexchat.APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                await chat.chat.completions.create(model="m", messages=messages)


def test_verify_with_a_borrowed_client_is_refused() -> None:
    with pytest.raises(ValueError, match="http_client"):
        vertexchat.Client(
            base_url="http://x", auth=None, http_client=httpx.AsyncClient(), verify=False
        )


def test_transport_options_follow_httpx_names() -> None:
    ours = PooledHTTP11Transport.__init__.__kwdefaults__ or {}
    for name in ("verify", "cert", "trust_env", "limits"):
        assert name in ours


# -- 6. the proxy fallback says so --------------------------------------------------------


async def test_proxy_fallback_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    caplog.set_level(logging.INFO, logger="vertexchat")
    async with vertexchat.Client(base_url="https://example.invalid", auth=None) as chat:
        assert "httpx's default transport" in caplog.text  # said at construction
        http = await chat._http.get()
        assert not isinstance(http._transport, PooledHTTP11Transport)
    assert "proxy" in caplog.text
    assert "httpx's default transport" in caplog.text
