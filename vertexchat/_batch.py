"""Fan-out: run many chat completions concurrently and hand back results as they finish.

Edge module. ``concurrency`` workers pull from the (sync or async) input through an
unbuffered memory object stream, so only in-flight items are held however long the input is,
and push results into a bounded stream, so a slow consumer slows the workers down.

Each attempt holds a slot of an ``AdaptiveLimiter``: 429s shrink the number of calls in flight,
successes grow it back. When the client has its own limiter (``client.limiter``) every call on
the client shares it; otherwise the batch makes one (ceiling ``concurrency``, or the
``limiter=`` passed in). Each item is one ``Call`` run through the pipeline's one retry loop
(``_call``) with that limiter, so the limiter sees every 429 and ``BatchResult.attempts`` is
the call's exact attempt count; a streamed item is replayed like ``get_final_completion()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._call import Call
from ._exceptions import InvalidRequestError, VertexChatError
from ._limiter import AdaptiveLimiter
from ._logs import BATCH_LOG, batch_milestone
from ._observe import BATCH_USAGE
from ._progress import BatchStats, format_duration
from ._request_models import ChatCompletionRequest
from ._resources import prepare_call
from ._response_models import ChatCompletion
from ._retry import RetryPolicy
from ._streaming import final_completion
from ._usage import UsageTotals

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["BatchResult", "BatchRun"]

_CALL_OPTIONS = ("timeout", "deadline", "extra_headers")


@dataclass(frozen=True)
class BatchResult:
    """One finished input item: ``response`` or ``error`` (after retries), never both.

    ``index`` is the item's position in the input; ``request`` the item as given;
    ``attempts`` counts HTTP attempts (0 when the request was invalid and never sent);
    ``latency`` is seconds from the first attempt to the end, retry waits included.
    """

    index: int
    request: Any
    response: ChatCompletion | None = None
    error: VertexChatError | None = None
    attempts: int = 0
    latency: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the item ended with a response."""
        return self.error is None


ProgressCallback = Callable[[BatchStats], None]


class BatchRun:
    """Iterate for ``BatchResult``s in completion order; ``stats`` are live totals.

    ::

        async with client.batch(requests, concurrency=64) as results:
            async for result in results:
                print(result.index, result.response or result.error)

    Leaving the ``async with`` block (a ``break``, an exception, cancellation) cancels the work
    still in flight. A bare ``async for`` (no ``async with``) also works when it runs to the
    end or its task is cancelled, but to ``break`` out early use ``async with``: an abandoned
    async generator is closed later by the garbage collector, in another task. An exception
    that is not a ``VertexChatError`` (a bug in a callback or in the input iterator) stops the
    batch and is raised to the consumer.
    """

    def __init__(
        self,
        client: Client,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        max_retries: int | None = None,
        limiter: AdaptiveLimiter | None = None,
        on_progress: ProgressCallback | None = None,
        buffer: int | None = None,
        **call_options: Any,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError("concurrency must be an int >= 1")
        unknown = set(call_options) - set(_CALL_OPTIONS)
        if unknown:
            raise TypeError(f"unexpected batch option(s): {', '.join(sorted(unknown))}")
        self._client = client
        self._requests = requests
        self._concurrency = concurrency
        self._policy = _policy(client, max_retries)
        self._on_progress = on_progress
        self._buffer = concurrency if buffer is None else buffer
        self._call_options = call_options
        shared: AdaptiveLimiter | None = getattr(client, "limiter", None)
        if shared is not None and limiter is not None:
            raise ValueError("the client already has a limiter; do not pass limiter=")
        self.limiter: AdaptiveLimiter = shared or limiter or AdaptiveLimiter(concurrency)
        self.stats = BatchStats()
        self.usage = UsageTotals()
        """This batch's running totals by model (the client's ``usage`` counts them too)."""
        self._task_group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[BatchResult] | None = None
        self._failure: BaseException | None = None

    def __repr__(self) -> str:
        return f"<BatchRun concurrency={self._concurrency} {self.stats!r}>"

    # --- consumer side ---------------------------------------------------------------------

    async def __aenter__(self) -> BatchRun:
        if self._task_group is not None:
            raise RuntimeError("a BatchRun runs once; call client.batch() again")
        send, self._receive = anyio.create_memory_object_stream[BatchResult](self._buffer)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._run, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        assert self._task_group is not None
        assert self._receive is not None
        self._task_group.cancel_scope.cancel()  # what is still in flight is not wanted
        self._receive.close()
        try:
            swallowed = await self._task_group.__aexit__(exc_type, exc, traceback)
        finally:
            self.stats.finish()
            if BATCH_LOG.isEnabledFor(logging.INFO):
                BATCH_LOG.info("batch finished: %s", _summary(self.stats))
        if self._failure is not None:
            raise self._failure
        return bool(swallowed)

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        if self._receive is not None:
            return self._receive
        return self._run_and_iterate()

    async def _run_and_iterate(self) -> AsyncIterator[BatchResult]:
        async with self:
            assert self._receive is not None
            async for result in self._receive:
                yield result

    # --- worker side -----------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        """A programming error: stop everything and raise it to the consumer."""
        if self._failure is None:
            self._failure = exc
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()

    async def _run(self, results: MemoryObjectSendStream[BatchResult]) -> None:
        BATCH_LOG.info("batch started: concurrency %d", self._concurrency)
        source = _Source(self._requests)
        try:
            async with results, anyio.create_task_group() as workers:
                for _ in range(self._concurrency):
                    workers.start_soon(self._work, source, results.clone())
        finally:
            await source.aclose()

    async def _work(self, source: _Source, results: MemoryObjectSendStream[BatchResult]) -> None:
        """Pull an item, run it, hand the result over; so only in-flight items are held."""
        BATCH_USAGE.set(self.usage)  # this worker task's calls count in this batch's totals
        async with results:
            while True:
                try:
                    pulled = await source.next()
                    if pulled is None:
                        return
                    self.stats.record_submitted()
                    result = await self._execute(*pulled)
                    self._record(result)
                except Exception as exc:
                    self._fail(exc)
                    return
                try:
                    await results.send(result)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the consumer has gone

    def _record(self, result: BatchResult) -> None:
        record_result(self.stats, result)
        if batch_milestone(self.stats.done) and BATCH_LOG.isEnabledFor(logging.INFO):
            BATCH_LOG.info("batch progress: %s", _summary(self.stats))
        if self._on_progress is not None:
            self._on_progress(self.stats)

    async def _execute(self, index: int, item: Any) -> BatchResult:
        started = time.monotonic()
        call: Call | None = None
        try:
            params, options, policy = self._prepare(item)
            call, stream = prepare_call(
                self._client, params, policy=policy, limiter=self.limiter, **options
            )
            response = await (final_completion(call) if stream else call.complete())
        except VertexChatError as error:
            attempts = 0 if call is None else call.attempts  # 0: refused before sending
            return BatchResult(index, item, None, error, attempts, time.monotonic() - started)
        return BatchResult(index, item, response, None, call.attempts, time.monotonic() - started)

    def _prepare(self, item: Any) -> tuple[dict[str, Any], dict[str, Any], RetryPolicy]:
        """``create()`` parameters, per-call options and the retry policy for one item."""
        if isinstance(item, ChatCompletionRequest):
            return item.to_create_params(), {}, self._policy
        if not isinstance(item, Mapping):
            raise InvalidRequestError(
                f"batch item is a {type(item).__name__}; expected a ChatCompletionRequest "
                "or a dict of create() parameters"
            )
        params = dict(item)
        options = dict(self._call_options)
        options.update({key: params.pop(key) for key in _CALL_OPTIONS if key in params})
        retries = params.pop("max_retries", None)
        policy = self._policy if retries is None else self._policy.with_max_retries(retries)
        return params, options, policy


class _Source:
    """The input, shared by the workers: each ``next()`` pulls one item and numbers it."""

    def __init__(self, requests: Iterable[Any] | AsyncIterable[Any]) -> None:
        self._index = 0
        self._done = False
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(requests, AsyncIterable):
            self._async = aiter(requests)
            self._lock = anyio.Lock()  # an async generator cannot be advanced twice at once
        else:
            self._sync = iter(requests)

    async def next(self) -> tuple[int, Any] | None:
        """The next ``(index, item)``, or None once the input is exhausted."""
        if self._done:
            return None
        if self._sync is not None:
            item = next(self._sync, _END)  # no await: workers cannot interleave here
        else:
            assert self._async is not None
            async with self._lock:
                item = _END if self._done else await anext(self._async, _END)
        if item is _END:
            self._done = True
            return None
        index, self._index = self._index, self._index + 1
        return index, item

    async def aclose(self) -> None:
        """Close the caller's async generator in this task, even while being cancelled."""
        closer = getattr(self._async, "aclose", None)
        if closer is not None:
            with anyio.CancelScope(shield=True):
                await closer()


_END: Any = object()


def _policy(client: Client, max_retries: int | None) -> RetryPolicy:
    policy: RetryPolicy = getattr(client, "retry_policy", None) or RetryPolicy()
    return policy if max_retries is None else policy.with_max_retries(max_retries)


def _summary(stats: BatchStats) -> str:
    return (
        f"{stats.done} done, {stats.succeeded} ok, {stats.failed} failed in "
        f"{format_duration(stats.elapsed)} ({stats.throughput:.1f} requests/s, "
        f"{stats.total_tokens} tokens)"
    )


def record_result(stats: BatchStats, result: BatchResult) -> None:
    """Count one finished item (outcome, latency, attempts, tokens) into ``stats``."""
    usage = result.response.usage if result.response is not None else None
    tokens = (
        (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens, usage.total_tokens)
        if usage is not None
        else (0, 0, 0, 0)
    )
    stats.record(ok=result.ok, latency=result.latency, attempts=result.attempts, usage=tokens)
