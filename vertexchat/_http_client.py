"""The ``httpx.AsyncClient`` a ``Client`` sends through, kept valid across event loops.

Connections belong to the event loop that opened them. Scripts and test suites often call
``asyncio.run()`` several times with one ``Client``; reusing the first loop's pool in the
second fails with "Event loop is closed". A client we own is therefore made per event loop
(on ``PooledHTTP11Transport``, or httpx's default transport when a proxy is configured),
and one left behind by a finished loop is dropped (its sockets are closed by the transport's
own finalizer, not awaited on a loop that no longer runs). A borrowed client is used as is.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

import httpx

from ._loop import LoopWatch

if TYPE_CHECKING:
    from ._tls import CertTypes, VerifyTypes

__all__ = ["LoopBoundHTTPClient"]

logger = logging.getLogger("vertexchat")


_PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")


def _proxy_configured() -> bool:
    """Whether httpx would route through a proxy taken from the environment."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


class LoopBoundHTTPClient:
    """Hands out the ``httpx.AsyncClient`` for the running loop; owns it unless borrowed."""

    def __init__(
        self,
        borrowed: httpx.AsyncClient | None,
        *,
        timeout: Any,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
    ) -> None:
        self._tls = (verify, cert)
        self._borrowed = borrowed
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.direct: httpx.AsyncBaseTransport | None = None
        self._loop = LoopWatch()
        self._closed = False
        if borrowed is not None and (verify is not True or cert is not None):
            raise ValueError(
                "verify= and cert= configure the connections a Client makes itself; "
                "with http_client=, give them to that httpx.AsyncClient (or its transport)"
            )
        if borrowed is None and _proxy_configured():
            logger.info(
                "vertexchat: a proxy is configured (HTTPS_PROXY/HTTP_PROXY/ALL_PROXY), so this "
                "client sends through httpx's default transport, not PooledHTTP11Transport"
            )

    async def get(self) -> httpx.AsyncClient:
        """The client to send through on the running loop.

        When it is ours and sends through our own pool, ``direct`` is that pool afterwards:
        the pipeline sends straight to it, skipping what ``AsyncClient.send`` does per request
        that an owned client never needs (cookie jar, event hooks, redirects, URL merging).
        """
        if self._borrowed is not None:
            return self._borrowed
        if self._closed:
            raise RuntimeError("this vertexchat.Client has been closed")
        if self._loop.moved() or self._client is None:
            self._client = self._new_client()
        return self._client

    @property
    def current(self) -> httpx.AsyncClient:
        """The client ``get()`` returned last (use within the same event loop)."""
        client = self._borrowed or self._client
        if client is None:
            raise RuntimeError("this vertexchat.Client has been closed")
        return client

    def _new_client(self) -> httpx.AsyncClient:
        from ._transport import DEFAULT_LIMITS, PooledHTTP11Transport

        verify, cert = self._tls
        self.direct = None
        if _proxy_configured():
            # Our pool speaks plain HTTP/1.1 only; httpx's own honours proxy settings.
            if verify is not True or cert is not None:
                from ._tls import tls_context

                verify = tls_context(verify, cert, trust_env=True)
            return httpx.AsyncClient(timeout=self._timeout, limits=DEFAULT_LIMITS, verify=verify)
        self.direct = PooledHTTP11Transport(verify=verify, cert=cert, limits=DEFAULT_LIMITS)
        return httpx.AsyncClient(timeout=self._timeout, transport=self.direct)

    async def aclose(self) -> None:
        """Close the owned client (on the loop that made it); a borrowed one stays open."""
        self._closed = True
        client, self._client, self.direct = self._client, None, None
        if client is not None and self._loop.on_current():
            await client.aclose()

    def close(self) -> None:
        """Close without an event loop: forget the owned client; a borrowed one stays open.

        Nothing is awaited, so this works in ``__del__``, ``atexit`` or after the loop has
        ended; the owned connections' sockets are closed by their own finalizers, as when a
        finished loop's pool is dropped. Further requests raise ``RuntimeError``.
        """
        self._closed = True
        self._client = self.direct = None

    def __del__(self) -> None:
        if self._client is None or self._closed or sys.is_finalizing():
            return  # at interpreter exit there is nothing left to warn, and no one to read it
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.warn(
                    "vertexchat.Client was not closed; use 'async with', 'await aclose()' "
                    "or, without an event loop, 'close()'",
                    ResourceWarning,
                    stacklevel=1,
                )
        except Exception:  # a finalizer must not raise; the warning is best effort
            pass
