"""1,000 concurrent streams with more than 1,024 descriptors open, and a real forward proxy."""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Iterator

import anyio
import httpx
import pytest

import vertexchat
from tests.conformance import app
from tests.conformance.harness import compare
from tests.conformance.servers import Servers
from vertexchat._transport import PooledHTTP11Transport

pytestmark = pytest.mark.conformance


@pytest.fixture
def fds_above_1024() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("fds_above_1024")
async def test_thousand_concurrent_streams_with_fds_above_1024(
    servers: Servers, anyio_backend: str
) -> None:
    """Two rounds of 1,000 concurrent SSE streams from nginx, the second on reused sockets.

    httpcore runs the case once, on asyncio: its pool scans every connection per request, so a
    1,000-stream round costs it about 17 s of CPU (70 s on the shared 2-core machine) against
    the owned pool's 1 s, and the suite must stay within a few minutes.
    """
    url = servers.url("nginx") + "/sse"
    expected = app.sse_body()

    async def case(http: httpx.AsyncClient) -> None:
        owned = isinstance(http._transport, PooledHTTP11Transport)
        done: list[bool] = []

        async def one() -> None:
            async with http.stream("GET", url) as response:
                body = b"".join([piece async for piece in response.aiter_bytes()])
            done.append(body == expected)

        rounds = 2 if owned else 1
        for _ in range(rounds):  # the second round reuses sockets numbered above 1,024
            async with anyio.create_task_group() as group:
                for _ in range(1000):
                    group.start_soon(one)
        assert done == [True] * 1000 * rounds

    pools = ("owned", "httpcore") if anyio_backend == "asyncio" else ("owned",)
    await compare("nginx 1,000 concurrent streams, fds > 1,024", case, pools=pools)


async def test_forward_proxy(
    servers: Servers, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A client with HTTP_PROXY set says it falls back to httpx's transport, and goes through."""
    target = servers.url("uvicorn-h11")
    proxy = servers.url("tinyproxy")
    async with httpx.AsyncClient(proxy=proxy) as http:  # httpcore through the proxy
        response = await http.post(target + "/echo", content=b"hello")
        assert "tinyproxy" in response.headers["x-via"]
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    caplog.set_level(logging.INFO, logger="vertexchat")
    async with vertexchat.Client(base_url=target, auth=None) as client:
        assert "a proxy is configured" in caplog.text
        http = await client._http.get()
        assert not isinstance(http._transport, PooledHTTP11Transport)
        response = await http.post(target + "/echo", content=b"hello")
        assert "tinyproxy" in response.headers["x-via"]
        assert response.json()["length"] == 5
