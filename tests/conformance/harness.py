"""The two pools side by side: build a client on either, run a case on both, keep verdicts."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import sniffio

from tests.conformance.servers import Servers
from vertexchat._transport import PooledHTTP11Transport

POOLS = ("owned", "httpcore")
TIMEOUT = httpx.Timeout(30.0)
verdicts: dict[str, dict[str, str]] = {}


def transport(pool: str, verify: ssl.SSLContext | bool = True) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    if pool == "owned":
        return PooledHTTP11Transport(verify=verify, limits=limits)
    return httpx.AsyncHTTPTransport(verify=verify, limits=limits)


@asynccontextmanager
async def http_client(
    pool: str, servers: Servers | None = None, timeout: httpx.Timeout = TIMEOUT
) -> AsyncIterator[httpx.AsyncClient]:
    verify: ssl.SSLContext | bool = True
    if servers is not None:
        verify = ssl.create_default_context(cafile=servers.ca_path)
    async with httpx.AsyncClient(transport=transport(pool, verify), timeout=timeout) as http:
        yield http


Case = Callable[[httpx.AsyncClient], Awaitable[None]]


@dataclass
class Verdict:
    pool: str
    error: BaseException | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        return "ok" if self.error is None else f"{type(self.error).__name__}: {self.error}"[:200]


async def compare(
    name: str,
    case: Case,
    servers: Servers | None = None,
    pools: tuple[str, ...] = POOLS,
    **client: object,
) -> dict[str, Verdict]:
    """Run ``case`` on both pools; fail unless the owned pool is correct (httpcore is recorded)."""
    name = f"{name} [{sniffio.current_async_library()}]"
    results: dict[str, Verdict] = {}
    for pool in pools:
        try:
            async with http_client(pool, servers, **client) as http:  # type: ignore[arg-type]
                await case(http)
        except (Exception, pytest.fail.Exception) as exc:  # any failure of the case is a verdict
            results[pool] = Verdict(pool, exc)
        else:
            results[pool] = Verdict(pool, None)
    verdicts[name] = {
        pool: results[pool].describe() if pool in results else "not run" for pool in POOLS
    }
    owned = results["owned"]
    if not owned.ok:
        raise AssertionError(f"owned pool failed {name}: {owned.describe()}") from owned.error
    return results
