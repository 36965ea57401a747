"""Cases against uvicorn (h11 and httptools), hypercorn and nginx, on both pools."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from tests.conformance import app
from tests.conformance.harness import compare, http_client
from tests.conformance.servers import IDLE_TIMEOUT, KEEPALIVE_REQUESTS, Servers

pytestmark = pytest.mark.conformance

ASGI = ["uvicorn-h11", "uvicorn-httptools", "hypercorn"]


def port(response: httpx.Response) -> str:
    return response.headers["x-client-port"]


@pytest.mark.parametrize("server", ASGI)
async def test_keep_alive_reuses_one_connection(servers: Servers, server: str) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        ports = set()
        for n in range(5):
            response = await http.post(base + "/echo", content=b"x" * n)
            assert response.json()["length"] == n
            ports.add(port(response))
        assert len(ports) == 1

    await compare(f"{server} keep-alive", case)


@pytest.mark.parametrize("server", ASGI)
async def test_sse_in_pieces_of_1_to_255_bytes(servers: Servers, server: str) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        for _ in range(2):
            async with http.stream("GET", base + "/sse") as response:
                assert response.headers.get("transfer-encoding") == "chunked"
                body = b"".join([piece async for piece in response.aiter_raw()])
            assert body == app.sse_body()

    await compare(f"{server} chunked SSE", case)


@pytest.mark.parametrize("server", [*ASGI, "nginx"])
async def test_gzip_body(servers: Servers, server: str) -> None:
    base = servers.url(server)
    path = "/gzip/completion.json" if server == "nginx" else "/gzip"

    async def case(http: httpx.AsyncClient) -> None:
        response = await http.get(base + path, headers={"accept-encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == app.GZIP_PLAIN
        assert gzip.decompress(await _raw(http, base + path)) == app.GZIP_PLAIN

    await compare(f"{server} gzip", case)


async def _raw(http: httpx.AsyncClient, url: str) -> bytes:
    async with http.stream("GET", url, headers={"accept-encoding": "gzip"}) as response:
        return b"".join([piece async for piece in response.aiter_raw()])


@pytest.mark.parametrize("server", [*ASGI, "nginx"])
async def test_connection_close_from_either_side(servers: Servers, server: str) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        first = await http.get(base + "/close")
        assert (first.text, first.headers["connection"]) == ("bye", "close")
        second = await http.get(base + "/big", headers={"connection": "close"})
        assert len(second.content) == app.BIG_SIZE
        third = await http.get(base + "/close")
        assert third.text == "bye"

    await compare(f"{server} Connection: close", case)


@pytest.mark.parametrize("server", [*ASGI, "nginx"])
async def test_no_body_statuses_keep_the_connection(servers: Servers, server: str) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        for status in (204, 304, 204):
            if server == "nginx" and status == 304:
                etag = (await http.head(base + "/big")).headers["etag"]
                response = await http.get(base + "/big", headers={"if-none-match": etag})
            else:
                response = await http.get(base + f"/status/{status}")
            assert (response.status_code, response.content) == (status, b"")
        head = await http.head(base + "/big")
        assert (head.headers["content-length"], head.content) == (str(app.BIG_SIZE), b"")
        assert (await http.get(base + "/status/204")).status_code == 204

    await compare(f"{server} 204/304/HEAD", case)


@pytest.mark.parametrize("server", ASGI)
@pytest.mark.parametrize(("count", "size"), [(100, 100), (1, 16 * 1024), (200, 200)])
async def test_many_and_large_headers(
    servers: Servers, server: str, count: int, size: int
) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        response = await http.get(base + f"/headers?n={count}&size={size}")
        assert response.text == "ok"
        assert [response.headers[f"x-h-{i}"] for i in range(count)] == ["v" * size] * count
        request_headers = {f"x-r-{i}": "r" * 50 for i in range(60)}
        assert (await http.post(base + "/echo", headers=request_headers)).status_code == 200

    await compare(f"{server} {count} headers of {size} bytes", case)


@pytest.mark.parametrize("server", ASGI)
async def test_ten_megabytes_both_ways(servers: Servers, server: str) -> None:
    base = servers.url(server)
    body = os.urandom(app.BIG_SIZE)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    async def case(http: httpx.AsyncClient) -> None:
        expected = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        assert (await http.post(base + "/echo", content=body)).json() == expected
        assert (await http.post(base + "/echo", content=pieces())).json() == expected
        download = await http.get(base + "/big")
        assert download.content == app.big_body()

    await compare(f"{server} 10 MB both ways", case)


async def test_nginx_ten_megabytes_both_ways(servers: Servers) -> None:
    base = servers.url("nginx")

    async def case(http: httpx.AsyncClient) -> None:
        upload = await http.post(base + "/echo", content=os.urandom(app.BIG_SIZE))
        assert upload.content == b"static"  # nginx read and discarded the 10 MB body
        assert (await http.get(base + "/big")).content == app.big_body()

    await compare("nginx 10 MB both ways", case)


@pytest.mark.parametrize("server", [*ASGI, "nginx"])
async def test_expect_100_continue(servers: Servers, server: str) -> None:
    base = servers.url(server)

    async def case(http: httpx.AsyncClient) -> None:
        response = await http.post(
            base + "/echo", content=b"hello", headers={"expect": "100-continue"}
        )
        assert response.status_code == 200
        if server != "nginx":
            assert response.json()["length"] == 5

    await compare(f"{server} 1xx (100-continue)", case)


async def test_nginx_keepalive_requests_closes(servers: Servers) -> None:
    base = servers.url("nginx")

    async def case(http: httpx.AsyncClient) -> None:
        for _ in range(KEEPALIVE_REQUESTS * 3 + 1):
            assert (await http.post(base + "/keepalive3/ok", content=b"x")).text == "ok"

    await compare("nginx keepalive_requests", case)


@pytest.mark.parametrize("server", ["nginx/tls", "uvicorn-h11/tls"])
async def test_tls_with_a_test_ca(servers: Servers, server: str) -> None:
    base = servers.url(server)
    path = "/echo" if server.startswith("uvicorn") else "/keepalive3/ok"

    async def case(http: httpx.AsyncClient) -> None:
        for _ in range(3):
            assert (await http.post(base + path, content=b"abc")).status_code == 200

    await compare(f"{server} TLS", case, servers)
    async with http_client("owned") as http:  # without the test CA: refused
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(base + path)


@pytest.mark.parametrize(
    "server", ["uvicorn-h11/race", "uvicorn-httptools/race", "hypercorn/race", "nginx/race"]
)
async def test_idle_close_races_at_the_keep_alive_timeout(servers: Servers, server: str) -> None:
    """Requests just before, at and after the server closes idle connections.

    Whatever the timing, every request either succeeds or fails with a transport error (the
    caller's retry policy then decides), and the server never runs one request twice.
    """
    base = servers.url(server)
    path = "/echo" if "nginx" not in server else "/big"
    offsets = (-0.02, -0.005, 0.0, 0.005, 0.02)
    ids: list[str] = []
    outcomes: dict[str, list[str]] = {}

    async def run(pool: str) -> None:
        outcomes[pool] = []
        async with http_client(pool) as http:
            await http.post(base + path, content=b"warm")
            for offset in offsets:
                await anyio.sleep(IDLE_TIMEOUT + offset)
                request_id = str(uuid.uuid4())
                ids.append(request_id)
                try:
                    response = await http.post(
                        base + path, content=b"x", headers={"x-request-id": request_id}
                    )
                    outcomes[pool].append(str(response.status_code))
                except httpx.TransportError as exc:
                    outcomes[pool].append(type(exc).__name__)

    async with anyio.create_task_group() as group:  # both pools at once: half the waiting
        for pool in ("owned", "httpcore"):
            group.start_soon(run, pool)
    assert all(o == "200" or o.endswith("Error") for o in outcomes["owned"]), outcomes
    if "nginx" not in server:
        async with http_client("owned") as http:
            seen = (await http.get(base + "/seen")).json()
        assert all(seen.get(request_id, 0) <= 1 for request_id in ids), "a request ran twice"
    owned_ok = outcomes["owned"].count("200")
    assert owned_ok >= len(offsets) - 1, outcomes  # at most one lost race per run
    print(server, json.dumps(outcomes))
