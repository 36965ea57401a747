"""What a call reports as it runs: usage totals, log lines, OpenTelemetry, the user's hooks.

The call pipeline holds one ``CallRecord`` per logical call and tells it, in order:
``attempt_started()`` before each HTTP attempt; ``response_received(status, headers)`` when
an attempt got a success status (``headers`` as raw pairs, read only if needed);
``attempt_failed(error, retry_in=…)`` when one failed (``retry_in`` is the delay before the
next attempt, None if it is final); ``first_chunk()`` for a stream's first chunk; and
``finished(completion, error)`` once at the end (a stream ends when it is exhausted or
closed). Each method is cheap; with no OpenTelemetry provider and
logging at WARNING, a call costs a few attribute updates and one ``sys.modules`` look-up.

OpenTelemetry is used only if the application has imported it (so ``import vertexchat``
never does) and set a global provider; ``VERTEXCHAT_OTEL=off`` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._logs import REQUEST_LOG, RETRY_LOG, attempt_line, configure_from_env, retry_line
from ._usage import UsageTotals

if TYPE_CHECKING:
    from ._request_models import ChatCompletionRequest
    from ._response_models import ChatCompletion
    from ._telemetry import CallTelemetry

__all__ = ["BATCH_USAGE", "OTEL_ENV", "CallRecord", "EventHook", "Observability"]

OTEL_ENV = "VERTEXCHAT_OTEL"
_OFF = frozenset({"off", "0", "false", "no", "none", "disabled"})
_HOOK_EVENTS = ("request", "response")

BATCH_USAGE: ContextVar[UsageTotals | None] = ContextVar("vertexchat_batch_usage", default=None)
"""The totals of the batch whose worker task is making the call (set by the batch's workers)."""

Header = tuple[bytes, bytes] | tuple[str, str]

EventHook = Callable[[Any], Awaitable[object]]
"""An async callable given the ``httpx.Request`` (``"request"``) or ``httpx.Response``."""


class Observability:
    """A client's observers: usage totals, event hooks and whether to use OpenTelemetry."""

    def __init__(
        self,
        *,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        configure_from_env()
        self.usage = UsageTotals()
        self.request_hooks, self.response_hooks = _hooks(event_hooks)
        self.otel = environ.get(OTEL_ENV, "").strip().lower() not in _OFF

    def start(
        self,
        request: ChatCompletionRequest,
        *,
        url: str,
        max_attempts: int,
        model: str,
        usage: Sequence[UsageTotals] = (),
    ) -> CallRecord:
        """The observer of one call of ``request`` to ``url``, counted under ``model``."""
        batch = BATCH_USAGE.get()
        totals = (self.usage, *usage) if batch is None else (self.usage, batch, *usage)
        return CallRecord(request, url, max_attempts, model, totals, self._telemetry(request, url))

    def _telemetry(self, request: ChatCompletionRequest, url: str) -> CallTelemetry | None:
        if not self.otel or "opentelemetry" not in sys.modules:
            return None  # the one check a call pays when the application has no OpenTelemetry
        try:
            from . import _telemetry
        except ImportError:  # a partial install: an opentelemetry package without the API
            self.otel = False
            return None
        instruments = _telemetry.current()
        return None if instruments is None else _telemetry.CallTelemetry(instruments, request, url)

    async def on_request(self, request: Any) -> None:
        """Run the ``"request"`` hooks (before each attempt is sent)."""
        for hook in self.request_hooks:
            await hook(request)

    async def on_response(self, response: Any) -> None:
        """Run the ``"response"`` hooks (each attempt's response, before its body is read)."""
        for hook in self.response_hooks:
            await hook(response)


def _hooks(
    event_hooks: Mapping[str, Sequence[EventHook]] | None,
) -> tuple[tuple[EventHook, ...], tuple[EventHook, ...]]:
    if event_hooks is None:
        return (), ()
    if not isinstance(event_hooks, Mapping):
        raise TypeError("event_hooks must be a dict like {'request': [...], 'response': [...]}")
    unknown = set(event_hooks) - set(_HOOK_EVENTS)
    if unknown:
        raise ValueError(
            f"event_hooks: unknown event(s) {', '.join(sorted(map(str, unknown)))}; "
            "use 'request' and 'response'"
        )
    found = []
    for event in _HOOK_EVENTS:
        hooks = tuple(event_hooks.get(event) or ())
        for hook in hooks:
            if not callable(hook):
                raise TypeError(f"event_hooks[{event!r}]: {hook!r} is not callable")
        found.append(hooks)
    return found[0], found[1]


class CallRecord:
    """One logical call's observer (see the module docstring for the order of calls)."""

    __slots__ = (
        "_attempt_start",
        "_done",
        "_first_chunk",
        "_headers",
        "_ids",
        "_max_attempts",
        "_reported",
        "_start",
        "_status",
        "_telemetry",
        "_totals",
        "_uncounted",
        "_url",
        "attempts",
        "model",
    )

    def __init__(
        self,
        request: ChatCompletionRequest,
        url: str,
        max_attempts: int,
        model: str,
        totals: Sequence[UsageTotals],
        telemetry: CallTelemetry | None,
    ) -> None:
        self._start = self._attempt_start = time.perf_counter()
        self._url = url
        self._max_attempts = max_attempts
        self._totals = totals
        self._telemetry = telemetry
        self.model = model
        self.attempts = 0
        self._status: int | None = None
        self._headers: Iterable[Header] = ()  # the latest response's, read only when needed
        self._ids: dict[str, str] | None = None
        self._uncounted = False  # an attempt was sent and not yet counted in the totals
        self._reported: BaseException | None = None
        self._first_chunk = False
        self._done = False

    @property
    def request_ids(self) -> dict[str, str]:
        """The identifying headers of the latest response (``x-request-id``, trace ids …)."""
        if self._ids is None:
            from ._request_ids import request_ids

            self._ids = request_ids(self._headers)
        return self._ids

    @property
    def request_id(self) -> str | None:
        """The one id of the latest response worth showing, if it had any."""
        ids = self.request_ids
        if not ids:
            return None
        from ._request_ids import request_id

        return request_id(ids.items())

    def attempt_started(self) -> None:
        """An HTTP attempt is about to be sent."""
        self.attempts += 1
        self._attempt_start = time.perf_counter()
        self._uncounted = True
        self._status = None
        self._headers, self._ids = (), None

    def response_received(self, status: int, headers: Iterable[Header] = ()) -> None:
        """The attempt's response head arrived with a success status (``headers``: raw pairs)."""
        self._status = status
        self._headers, self._ids = headers, None

    def attempt_failed(self, error: BaseException, *, retry_in: float | None = None) -> None:
        """The attempt failed with ``error``; another follows after ``retry_in`` seconds."""
        self._reported = error
        self._take_headers(error)
        if self._uncounted:
            self._uncounted = False
            for totals in self._totals:
                totals.record_attempt_error(self.model, error)
        if REQUEST_LOG.isEnabledFor(logging.DEBUG):
            REQUEST_LOG.debug(self._attempt_line(_outcome(error)))
        if retry_in is None:
            return
        if RETRY_LOG.isEnabledFor(logging.INFO):
            RETRY_LOG.info(
                retry_line(
                    attempt=self.attempts,
                    max_attempts=self._max_attempts,
                    reason=_outcome(error),
                    delay=retry_in,
                    request_id=self.request_id,
                )
            )
        if self._telemetry is not None:
            self._telemetry.retry(self.attempts, error, retry_in, self.request_id)

    def _take_headers(self, error: BaseException) -> None:
        response = getattr(error, "response", None)
        headers = getattr(getattr(response, "headers", None), "raw", None)
        if headers is not None:
            self._headers, self._ids = headers, None

    def first_chunk(self) -> None:
        """A stream's first chunk arrived (only the first call counts)."""
        if self._first_chunk:
            return
        self._first_chunk = True
        if self._telemetry is not None:
            self._telemetry.first_chunk(time.perf_counter() - self._start)

    def finished(
        self, completion: ChatCompletion | None = None, error: BaseException | None = None
    ) -> None:
        """The call ended, with ``completion`` or ``error`` (only the first call counts)."""
        if self._done:
            return
        self._done = True
        usage = completion.usage if completion is not None else None
        new_error = error if error is not None and error is not self._reported else None
        for totals in self._totals:
            totals.record_call(
                self.model, usage, ok=error is None, sent=self._uncounted, error=new_error
            )
        if REQUEST_LOG.isEnabledFor(logging.DEBUG) and (error is None or new_error is not None):
            outcome = str(self._status) if error is None else _outcome(error)
            tokens = (usage.prompt_tokens, usage.output_tokens) if usage is not None else None
            REQUEST_LOG.debug(self._attempt_line(outcome, tokens))
        if self._telemetry is not None:
            self._telemetry.finish(
                completion,
                error,
                seconds=time.perf_counter() - self._start,
                attempts=self.attempts,
                request_ids=self.request_ids,
                request_id=self.request_id,
            )

    def _attempt_line(self, outcome: str, tokens: tuple[int, int] | None = None) -> str:
        return attempt_line(
            method="POST",
            url=self._url,
            outcome=outcome,
            attempt=self.attempts,
            max_attempts=self._max_attempts,
            latency=time.perf_counter() - self._attempt_start,
            request_id=self.request_id,
            model=self.model,
            tokens=tokens,
        )


def _outcome(error: BaseException) -> str:
    """``HTTP 429 RESOURCE_EXHAUSTED`` for a status error, else the exception's class name."""
    code = getattr(error, "status_code", None)
    if isinstance(code, int):
        status = getattr(error, "status", None)
        return f"HTTP {code} {status}" if isinstance(status, str) and status else f"HTTP {code}"
    return type(error).__name__
