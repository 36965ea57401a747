"""How one Google token refresh runs: the flight its callers wait on, the HTTP it sends.

Edge module for ``_auth``: ``Flight`` lets callers on any event loop wait for a refresh running
in a worker thread (each wait is cancellable; the refresh is not); ``TokenTransport`` is the
``google.auth.transport.Request`` google-auth sends token requests through, on a sync
``httpx.Client``, never following a redirect.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import httpx

__all__ = ["Flight", "TokenTransport"]

_TOKEN_REQUEST_TIMEOUT = 30.0
_MAX_TOKEN_REPLY = 1024 * 1024  # a token reply is a few hundred bytes


class Flight:
    """One refresh running in a worker thread; callers on any event loop wait for its end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[anyio.lowlevel.EventLoopToken, list[anyio.Event]] = {}
        self.done = False
        self.failure: BaseException | None = None

    async def wait(self) -> None:
        """Until the refresh ends; cancelling the waiter leaves the refresh running."""
        event = anyio.Event()
        with self._lock:
            if self.done:
                return
            self._waiters.setdefault(anyio.lowlevel.current_token(), []).append(event)
        await event.wait()

    def finish(self, failure: BaseException | None) -> None:
        """Called by the worker thread: record the outcome and wake every waiter."""
        with self._lock:
            self.done = True
            self.failure = failure
            waiters, self._waiters = self._waiters, {}
        for token, events in waiters.items():
            # RuntimeError: that event loop has ended, and nobody is left waiting on it.
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(_set_all, events, token=token)


def _set_all(events: list[anyio.Event]) -> None:
    for event in events:
        event.set()


class _TokenResponse:
    """``google.auth.transport.Response``: what google-auth reads from an HTTP response."""

    __slots__ = ("data", "headers", "status")

    def __init__(self, response: httpx.Response, data: bytes) -> None:
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.data = data


class TokenTransport:
    """``google.auth.transport.Request`` on a sync ``httpx.Client``, used from worker threads."""

    def __init__(self, client: httpx.Client | None) -> None:
        self._client = client
        self._owns_client = client is None

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _TokenResponse:
        """Send one request for google-auth; httpx failures become google-auth TransportErrors."""
        from google.auth.exceptions import TransportError

        client = self._get_client()
        request_timeout = _TOKEN_REQUEST_TIMEOUT if timeout is None else timeout
        request = client.build_request(
            method, url, content=body, headers=headers, timeout=request_timeout
        )
        try:
            # Never follow a redirect: it would re-send an assertion or secret elsewhere.
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                data = b"" if response.is_redirect else _read_capped(response, request_timeout)
            finally:
                response.close()
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TransportError(message) from exc  # type: ignore[no-untyped-call]
        except _TokenReplyError as exc:
            raise TransportError(str(exc)) from None  # type: ignore[no-untyped-call]
        if response.is_redirect:
            raise TransportError(  # type: ignore[no-untyped-call]
                f"the token endpoint answered HTTP {response.status_code}, a redirect; "
                "token requests never follow redirects"
            )
        return _TokenResponse(response, data)

    def _get_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None


class _TokenReplyError(Exception):
    """A token endpoint's reply was too large or too slow to read."""


def _read_capped(response: httpx.Response, timeout: float) -> bytes:
    """The body, at most ``_MAX_TOKEN_REPLY`` bytes, read within twice ``timeout`` in all.

    httpx's timeouts bound each socket operation; a server trickling bytes would otherwise keep
    the refresh (and every caller waiting for it) alive forever.
    """
    give_up_at = time.monotonic() + 2 * timeout
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > _MAX_TOKEN_REPLY:
            raise _TokenReplyError(
                f"the token endpoint's reply is larger than {_MAX_TOKEN_REPLY} bytes"
            )
        if time.monotonic() > give_up_at:
            raise _TokenReplyError(f"the token endpoint's reply took longer than {2 * timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)
