"""OpenTelemetry GenAI spans and metrics for chat calls (imported only once OpenTelemetry is).

Follows the OpenTelemetry GenAI semantic conventions for an inference client span: span
``chat {model}`` (kind CLIENT) with ``gen_ai.operation.name``, ``gen_ai.provider.name``
(``gcp.vertex_ai``), the request's sampling parameters, ``gen_ai.response.*``,
``gen_ai.usage.*`` (thinking tokens are output tokens, as Vertex bills them), ``server.*`` and
``error.type``; the ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and
(streams) ``gen_ai.client.operation.time_to_first_chunk`` histograms with the conventions'
bucket advice. Each failed attempt that is retried adds a ``vertexchat.retry`` span event.

Message content is recorded (``gen_ai.input.messages``/``gen_ai.output.messages``, as JSON)
only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``, ``SPAN_ONLY`` or
``SPAN_AND_EVENT``. Nothing is recorded while the global providers are OpenTelemetry's
defaults (proxy or no-op).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.environment_variables import (
    OTEL_PYTHON_METER_PROVIDER,
    OTEL_PYTHON_TRACER_PROVIDER,
)
from opentelemetry.metrics import _internal as _metrics_api
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from ._genai_content import input_messages, output_messages

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._request_models import ChatCompletionRequest
    from ._response_models import ChatCompletion

__all__ = ["CAPTURE_CONTENT_ENV", "PROVIDER_NAME", "CallTelemetry", "Instruments", "current"]

PROVIDER_NAME = "gcp.vertex_ai"
OPERATION = "chat"
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})
_SCOPE = "vertexchat"
_ERROR_TYPES = {
    "APITimeoutError": "timeout",
    "CancelledError": "cancelled",
    "Cancelled": "cancelled",
}
_SECONDS_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)  # fmt: skip
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)  # fmt: skip


class Instruments:
    """The tracer and histograms of one pair of global providers (either may be a default)."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.tracer: Tracer | None = None
        self.duration: Histogram | None = None
        self.tokens: Histogram | None = None
        self.first_chunk: Histogram | None = None
        if not _is_default_tracer_provider(tracer_provider):
            self.tracer = tracer_provider.get_tracer(_SCOPE, __version__)
        if not _is_default_meter_provider(meter_provider):
            self._create_histograms(meter_provider.get_meter(_SCOPE, __version__))

    def _create_histograms(self, meter: metrics.Meter) -> None:
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )

    @property
    def active(self) -> bool:
        """Whether anything would be recorded."""
        return self.tracer is not None or self.duration is not None


_cache: tuple[object, object, Instruments | None] | None = None
# Providers named in the environment are loaded by the API on first use (read once, here).
_PROVIDERS_FROM_ENV = (
    OTEL_PYTHON_TRACER_PROVIDER in os.environ or OTEL_PYTHON_METER_PROVIDER in os.environ
)


def current() -> Instruments | None:
    """The instruments for the global providers now set, or None if both are defaults.

    Providers are looked up on every call (an application may set them after creating its
    client); instruments are built once per pair of providers.
    """
    global _cache
    if _nothing_set():
        return None
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    cached = _cache
    if cached is not None and cached[0] is tracer_provider and cached[1] is meter_provider:
        return cached[2]
    instruments = Instruments(tracer_provider, meter_provider)
    result = instruments if instruments.active else None
    _cache = (tracer_provider, meter_provider, result)
    return result


def _nothing_set() -> bool:
    """Whether neither global provider has been set: the common case, answered cheaply.

    When unset, ``get_tracer_provider()`` and ``get_meter_provider()`` look the environment up
    on every call (several microseconds each); the API's own globals say the same for the
    price of two attribute reads. Should those private names ever go, this answers False
    and the public functions decide.
    """
    return (
        not _PROVIDERS_FROM_ENV
        and getattr(trace, "_TRACER_PROVIDER", False) is None
        and getattr(_metrics_api, "_METER_PROVIDER", False) is None
    )


def _is_default_tracer_provider(provider: object) -> bool:
    return isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _is_default_meter_provider(provider: object) -> bool:
    if isinstance(provider, metrics.NoOpMeterProvider):
        return True
    # The API's stand-in before a provider is set is private; recognise it by its class.
    return type(provider).__name__ == "_ProxyMeterProvider"


def capture_content(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the user opted in to message content on spans."""
    return environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CAPTURE_ON_SPANS


class CallTelemetry:
    """The span and measurements of one logical call (all its attempts)."""

    __slots__ = ("_attributes", "_capture", "_instruments", "_span", "_stream")

    def __init__(self, instruments: Instruments, request: ChatCompletionRequest, url: str) -> None:
        self._instruments = instruments
        self._stream = bool(request.stream)
        self._attributes = _base_attributes(request, url)  # metrics' attributes
        self._span: Span | None = None
        self._capture = False
        tracer = instruments.tracer
        if tracer is not None:
            model = request.model
            self._span = tracer.start_span(
                f"{OPERATION} {model}" if model else OPERATION,
                kind=SpanKind.CLIENT,
                attributes={**self._attributes, **_request_attributes(request)},
            )
            self._capture = capture_content()
            if self._capture:
                self._span.set_attribute("gen_ai.input.messages", input_messages(request))

    def retry(
        self, attempt: int, error: BaseException, delay: float, request_id: str | None
    ) -> None:
        """A failed attempt that will be retried after ``delay`` seconds."""
        if self._span is None:
            return
        attributes: dict[str, Any] = {
            "vertexchat.attempt": attempt,
            "error.type": error_type(error),
            "vertexchat.retry.delay": delay,
        }
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            attributes["http.response.status_code"] = status
        if request_id:
            attributes["vertexchat.request_id"] = request_id
        self._span.add_event("vertexchat.retry", attributes)

    def first_chunk(self, seconds: float) -> None:
        """The first chunk of a stream arrived ``seconds`` after the call started."""
        if self._span is not None:
            self._span.set_attribute("gen_ai.response.time_to_first_chunk", seconds)
        if self._instruments.first_chunk is not None:
            self._instruments.first_chunk.record(seconds, self._attributes)

    def finish(
        self,
        completion: ChatCompletion | None,
        error: BaseException | None,
        *,
        seconds: float,
        attempts: int,
        request_ids: Mapping[str, str],
        request_id: str | None,
    ) -> None:
        """The call ended: with ``completion`` (possibly partial) or ``error``.

        ``request_ids`` are the identifying headers of the last response (recorded as the HTTP
        conventions' ``http.response.header.<name>``), ``request_id`` the one to show.
        """
        attributes = self._attributes
        if completion is not None and completion.model:
            attributes = {**attributes, "gen_ai.response.model": completion.model}
        if error is not None:
            attributes = {**attributes, "error.type": error_type(error)}
        self._record_metrics(attributes, completion, seconds)
        span = self._span
        if span is None:
            return
        self._span = None
        span.set_attributes(attributes)
        span.set_attribute("vertexchat.attempts", attempts)
        if request_id:
            span.set_attribute("vertexchat.request_id", request_id)
        for name, value in request_ids.items():
            span.set_attribute(f"http.response.header.{name}", (value,))
        if completion is not None:
            span.set_attributes(_response_attributes(completion))
            if self._capture:
                span.set_attribute("gen_ai.output.messages", output_messages(completion))
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _record_metrics(
        self, attributes: dict[str, Any], completion: ChatCompletion | None, seconds: float
    ) -> None:
        instruments = self._instruments
        if instruments.duration is not None:
            instruments.duration.record(seconds, attributes)
        usage = completion.usage if completion is not None else None
        if instruments.tokens is not None and usage is not None:
            instruments.tokens.record(
                usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"}
            )
            instruments.tokens.record(
                usage.output_tokens, {**attributes, "gen_ai.token.type": "output"}
            )


def error_type(error: BaseException) -> str:
    """``error.type``: the HTTP status of a status error (``"429"``), ``"timeout"``,
    ``"cancelled"``, or else the exception's class name (``"APIConnectionError"``)."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return str(status)
    name = type(error).__name__
    return _ERROR_TYPES.get(name, name)


def _base_attributes(request: ChatCompletionRequest, url: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": PROVIDER_NAME,
    }
    if request.model:
        attributes["gen_ai.request.model"] = request.model
    address, port = _server(url)
    if address:
        attributes["server.address"] = address
        attributes["server.port"] = port
    return attributes


@functools.lru_cache(maxsize=64)  # a client has one URL: parse it once, not per call
def _server(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", parts.port or default


def _request_attributes(request: ChatCompletionRequest) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    _put(attributes, "gen_ai.request.temperature", request.temperature)
    _put(attributes, "gen_ai.request.top_p", request.top_p)
    _put(attributes, "gen_ai.request.max_tokens", request.max_completion_tokens)
    _put(attributes, "gen_ai.request.max_tokens", request.max_tokens)
    _put(attributes, "gen_ai.request.frequency_penalty", request.frequency_penalty)
    _put(attributes, "gen_ai.request.presence_penalty", request.presence_penalty)
    _put(attributes, "gen_ai.request.seed", request.seed)
    if request.stop is not None:
        stop = [request.stop] if isinstance(request.stop, str) else list(request.stop)
        attributes["gen_ai.request.stop_sequences"] = stop
    if request.n is not None and request.n != 1:
        attributes["gen_ai.request.choice.count"] = request.n
    if request.stream:
        attributes["gen_ai.request.stream"] = True
    output_type = _output_type(request)
    if output_type is not None:
        attributes["gen_ai.output.type"] = output_type
    return attributes


def _put(attributes: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        attributes[key] = value


def _output_type(request: ChatCompletionRequest) -> str | None:
    response_format = request.response_format
    kind = getattr(response_format, "type", None)
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def _response_attributes(completion: ChatCompletion) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if completion.id:
        attributes["gen_ai.response.id"] = completion.id
    reasons: Sequence[str] = [c.finish_reason for c in completion.choices if c.finish_reason]
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = list(reasons)
    usage = completion.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if usage.reasoning_tokens:
            attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        details = usage.prompt_tokens_details
        if details is not None and details.cached_tokens is not None:
            attributes["gen_ai.usage.cache_read.input_tokens"] = details.cached_tokens
    return attributes
