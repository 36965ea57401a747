"""``SyncClient``: the same calls, blocking, for scripts and notebooks.

Edge module. There is one implementation, the async ``Client``: ``SyncClient`` runs it on an
event loop in a background (daemon) thread through an anyio ``BlockingPortal`` and blocks the
calling thread on each call. Streams and batches are iterated one item per portal call;
context managers (``with client.chat.completions.stream(…)``) are held open inside the loop.

::

    with vertexchat.SyncClient("my-project", "global") as client:
        completion = client.chat.completions.create(model="google/gemini-2.5-flash",
                                                    messages=[{"role": "user", "content": "Hi"}])

Each blocking call costs a thread hop (tens of microseconds): fine for scripts; services
should use ``Client``.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._client import Client

__all__ = ["SyncClient", "SyncStream"]

_T = TypeVar("_T")


class _Loop:
    """An event loop in a daemon thread and the portal into it (stopped at close or exit)."""

    def __init__(self, backend: str) -> None:
        ready = threading.Event()
        box: list[BlockingPortal | BaseException] = []

        async def serve() -> None:
            try:
                async with BlockingPortal() as portal:
                    box.append(portal)
                    ready.set()
                    await portal.sleep_until_stopped()
            except BaseException as exc:  # pragma: no cover - the loop failed to start
                box.append(exc)
                ready.set()
                raise

        self.thread = threading.Thread(
            target=anyio.run, args=(serve,), kwargs={"backend": backend},
            name="vertexchat-sync", daemon=True,
        )  # fmt: skip
        self.thread.start()
        ready.wait()
        started = box[0]
        if isinstance(started, BaseException):  # pragma: no cover
            raise started
        self.portal = started
        self._stop = weakref.finalize(self, _stop, self.portal, self.thread)

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(func, *args)

    def stop(self) -> None:
        self._stop()


def _stop(portal: BlockingPortal, thread: threading.Thread) -> None:
    if thread.is_alive():
        with contextlib.suppress(RuntimeError):  # the loop is already gone
            portal.call(portal.stop, True)
        thread.join(timeout=5)


class SyncStream(Generic[_T]):
    """A blocking view of an async iterator (a stream, a batch run, stream events)."""

    def __init__(self, loop: _Loop, source: Any) -> None:
        self._loop = loop
        self._source = source
        self._iterator: AsyncIterator[_T] | None = None

    def __iter__(self) -> Iterator[_T]:
        return self

    def __next__(self) -> _T:
        if self._iterator is None:
            self._iterator = self._source.__aiter__()
        try:
            item: _T = self._loop.call(self._iterator.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None
        return item

    def __enter__(self) -> SyncStream[_T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection."""
        closer = getattr(self._source, "aclose", None) or getattr(self._source, "close", None)
        if closer is not None:
            self._loop.call(closer)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._source, name)
        if callable(value) and _is_coroutine_function(value):
            return lambda *args, **kwargs: self._loop.call(lambda: value(*args, **kwargs))
        return value


def _is_coroutine_function(func: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(func)


def _blocking(loop: _Loop, result: Any) -> Any:
    """A result as a blocking caller wants it: iterators become ``SyncStream``s."""
    if hasattr(result, "__aiter__"):
        return SyncStream(loop, result)
    return result


class _SyncContext(AbstractContextManager[Any]):
    """``with`` over an async context manager held open inside the loop."""

    def __init__(self, loop: _Loop, manager: Any) -> None:
        self._loop = loop
        self._inner = loop.portal.wrap_async_context_manager(manager)

    def __enter__(self) -> Any:
        return _blocking(self._loop, self._inner.__enter__())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._inner.__exit__(exc_type, exc, traceback)


class SyncCompletions:
    """``client.chat.completions``, blocking."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    def _run(self, method: str, kwargs: dict[str, Any]) -> Any:
        loop = self._client._loop
        bound = getattr(self._client._async.chat.completions, method)
        return _blocking(loop, loop.call(lambda: bound(**kwargs)))

    def create(self, **params: Any) -> Any:
        """``Client.chat.completions.create``, blocking; a stream is a plain iterator."""
        return self._run("create", params)

    def parse(self, **params: Any) -> Any:
        """``Client.chat.completions.parse``, blocking."""
        return self._run("parse", params)

    def run_tools(self, **params: Any) -> Any:
        """``Client.chat.completions.run_tools``, blocking (the tools run in the loop thread)."""
        return self._run("run_tools", params)

    def stream(self, **params: Any) -> AbstractContextManager[Any]:
        """``with client.chat.completions.stream(…) as stream: for event in stream: …``."""
        loop = self._client._loop
        return _SyncContext(loop, self._client._async.chat.completions.stream(**params))

    @property
    def with_raw_response(self) -> _SyncWrapped:
        """Like ``Client``'s: ``.create(…)`` returns the raw response; ``parse()`` blocks."""
        return _SyncWrapped(self._client, self._client._async.chat.completions.with_raw_response)


class _SyncWrapped:
    def __init__(self, client: SyncClient, target: Any) -> None:
        self._client = client
        self._target = target

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._target, name)
        loop = self._client._loop

        def call(**params: Any) -> Any:
            return _SyncResponse(loop, loop.call(lambda: method(**params)))

        return call


class _SyncResponse:
    """A raw response whose ``parse()`` (and reading methods) block."""

    def __init__(self, loop: _Loop, raw: Any) -> None:
        self._loop = loop
        self._raw = raw

    def parse(self) -> Any:
        return _blocking(self._loop, self._loop.call(self._raw.parse))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class _SyncChat:
    def __init__(self, client: SyncClient) -> None:
        self.completions = SyncCompletions(client)


class _SyncBeta:
    def __init__(self, client: SyncClient) -> None:
        self.chat = client.chat


class SyncClient:
    """Blocking client: ``Client``'s calls for scripts and notebooks (see the module doc).

    Takes ``Client``'s arguments, plus ``backend`` (``"asyncio"`` or ``"trio"``) for the
    background loop. ``close()`` (or a ``with`` block) closes the connections and stops the
    loop; a client that is never closed stops its loop when garbage-collected or at exit.
    """

    def __init__(self, *args: Any, backend: str = "asyncio", **kwargs: Any) -> None:
        self._loop = _Loop(backend)
        self._owns_loop = True
        self._async = Client(*args, **kwargs)
        self.chat = _SyncChat(self)
        self.beta = _SyncBeta(self)

    @classmethod
    def _sharing(cls, loop: _Loop, client: Client) -> SyncClient:
        self = cls.__new__(cls)
        self._loop = loop
        self._owns_loop = False
        self._async = client
        self.chat = _SyncChat(self)
        self.beta = _SyncBeta(self)
        return self

    def __repr__(self) -> str:
        return f"<vertexchat.SyncClient {self.base_url}>"

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this client owns and stop its loop."""
        if not self._owns_loop:
            return
        try:
            self._loop.call(self._async.aclose)
        finally:
            self._loop.stop()

    @property
    def async_client(self) -> Client:
        """The ``Client`` doing the work (use it only from inside the loop)."""
        return self._async

    @property
    def base_url(self) -> str:
        """Where requests go (``{base_url}/chat/completions``)."""
        return self._async.base_url

    @property
    def timeout(self) -> Any:
        """The client's timeout."""
        return self._async.timeout

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self._async.max_retries

    @property
    def api_key(self) -> str | None:
        """The static bearer token, if the client has one."""
        return self._async.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self._async.api_key = value

    def with_options(self, **options: Any) -> SyncClient:
        """A client with other options (``timeout``, ``max_retries``, …) sharing the pool."""
        return SyncClient._sharing(self._loop, self._async.with_options(**options))

    copy = with_options

    def batch(self, requests: Any, **options: Any) -> AbstractContextManager[Any]:
        """``with client.batch(requests) as results: for result in results: …``."""
        return _SyncContext(self._loop, self._async.batch(requests, **options))
