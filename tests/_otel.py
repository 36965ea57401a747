"""OpenTelemetry SDK providers with in-memory exporters, set as the global ones for one test.

OpenTelemetry lets a process set its global providers once; the fixture undoes that after each
test the way OpenTelemetry's own test utilities do, so each test starts with no provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


@dataclass
class Telemetry:
    """What the code under test exported."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self) -> dict[str, list[Any]]:
        """Histogram data points by metric name, since the last call (delta temporality)."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


def reset_globals() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


def install(*, tracing: bool = True, metering: bool = True) -> Telemetry:
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    if tracing:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    if metering:
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader], shutdown_on_exit=False))
    return Telemetry(exporter, reader)


def installed() -> Iterator[Telemetry]:
    """For a fixture: ``yield from installed()`` (global providers for one test, then none)."""
    reset_globals()
    try:
        yield install()
    finally:
        reset_globals()
