"""Workload: what observability costs a call, in client CPU per request.

vertexchat's client, the same canned responses, four set-ups of OpenTelemetry, each in its own
process and alternating like the other workloads:

* ``off``: OpenTelemetry never imported (usage totals and log checks still run: always on);
* ``proxy``: ``opentelemetry-api`` imported, no provider set (OpenTelemetry's default);
* ``noop``: the API's no-op tracer and meter providers set;
* ``sdk``: the SDK's real providers: spans through a ``BatchSpanProcessor`` into an exporter
  that drops them, the three histograms aggregated for an in-memory reader.

Targets: ``proxy`` and ``noop`` within 10 % of ``off``; ``sdk`` is reported.

Run just this workload: ``uv run --group bench python -m benchmarks --only observability
--output benchmarks/RESULTS-observability.md``.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import stats
from benchmarks.runner import (
    Context,
    Section,
    Target,
    alternate,
    failure,
    per_request_ms,
    run_child,
)

MODES = ("off", "proxy", "noop", "sdk")
SETTINGS = (("complete", "json", 1), ("complete", "json", 64), ("stream", "sse", 16))
REQUESTS = {"complete": {"full": 1000, "quick": 100}, "stream": {"full": 100, "quick": 10}}
LIMIT = 1.10
HEADER = [
    "setting",
    "OpenTelemetry",
    "CPU ms/request (median)",
    "runs min-max",
    "median vs off",
    "best run vs off",
]
ROUNDS = {"full": 5, "quick": 1}  # more than other workloads: the differences are small


def setup(mode: str) -> None:
    """Install the OpenTelemetry set-up ``mode`` in this (child) process."""
    if mode == "off":
        return
    from opentelemetry import metrics, trace

    if mode == "noop":
        trace.set_tracer_provider(trace.NoOpTracerProvider())
        metrics.set_meter_provider(metrics.NoOpMeterProvider())
    elif mode == "sdk":
        _install_sdk()
    elif mode != "proxy":
        raise ValueError(f"unknown telemetry mode {mode!r}")


def _install_sdk() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def spec(ctx: Context, mode: str, operation: str, path: str, concurrency: int) -> dict[str, Any]:
    """The child spec for one run in ``mode``."""
    return {
        "contender": "vertexchat",
        "telemetry": mode,
        "operation": operation,
        "base_url": ctx.server.base_url(path),
        "concurrency": concurrency,
        "requests": REQUESTS[operation]["quick" if ctx.quick else "full"],
        "warmup": concurrency + 20,
    }


def run(ctx: Context) -> Section:
    """Every mode at every setting, alternating modes within each setting."""
    section = Section("Observability: client CPU per request by OpenTelemetry set-up", HEADER)
    for operation, path, concurrency in SETTINGS:
        setting = f"{operation}, concurrency {concurrency}"
        ctx.log(f"  observability: {setting}")
        make = functools.partial(
            spec, ctx, operation=operation, path=path, concurrency=concurrency
        )
        rounds = max(ctx.rounds, ROUNDS["quick" if ctx.quick else "full"])
        results = alternate(MODES, rounds, lambda mode, make=make: make(mode), ctx.log)
        medians = _summarise(results, stats.median)
        bests = _summarise(results, min)
        for mode, runs in results.items():
            section.rows.append(_row(setting, mode, runs, medians, bests))
        for mode in ("proxy", "noop"):
            section.targets.append(_target(setting, mode, bests))
    section.rows += _observer_rows(ctx)
    section.notes += [
        "`observer` rows: CPU microseconds one call's observer costs (usage totals, log-level "
        "checks and, per set-up, the OpenTelemetry check, span and histograms), measured in a "
        "fresh process per set-up over 20,000 simulated calls; the end-to-end rows above carry "
        "the machine's noise, these do not.",
        "Targets compare each set-up's best run (the least disturbed by the other processes on "
        "this shared machine: contention only adds CPU time) with `off`'s best run; medians "
        "are shown too. The observer rows bound the real difference.",
        "CPU is the client process's CPU time over the measured loop; "
        "`sdk` spans go through a BatchSpanProcessor (its export thread included) to an "
        "exporter that drops them, so export I/O is not counted.",
    ]
    return section


def _summarise(
    results: dict[str, list[dict[str, Any]]], pick: Callable[[list[float]], float | None]
) -> dict[str, float | None]:
    return {
        mode: None if failure(runs) else pick(per_request_ms(runs))
        for mode, runs in results.items()
    }


def _row(
    setting: str,
    mode: str,
    runs: list[dict[str, Any]],
    medians: dict[str, float | None],
    bests: dict[str, float | None],
) -> list[str]:
    error = failure(runs)
    if error is not None:
        return [setting, mode, f"FAILED: {error[:150]}", "", "", ""]
    cpu = medians[mode]
    return [
        setting,
        mode,
        stats.fmt(cpu, " ms", 3),
        stats.spread(per_request_ms(runs)),
        stats.fmt_ratio(stats.ratio(cpu, medians.get("off"))),
        stats.fmt_ratio(stats.ratio(bests[mode], bests.get("off"))),
    ]


def _target(setting: str, mode: str, bests: dict[str, float | None]) -> Target:
    name = f"{setting}: OpenTelemetry {mode} within {LIMIT - 1:.0%} of off (best runs)"
    ratio = stats.ratio(bests.get(mode), bests.get("off"))
    if ratio is None:
        return Target(name, None, "not measured")
    return Target(name, ratio <= LIMIT, f"{ratio:.3f}x (needs ≤ {LIMIT:g}x)")


def _observer_rows(ctx: Context) -> list[list[str]]:
    rows = []
    for mode in MODES:
        result = run_child({"module": "benchmarks.observability", "telemetry": mode})
        cell = f"{result['us']:.1f} µs" if result["ok"] else f"FAILED: {result['error'][:150]}"
        rows.append(["observer only, per call", mode, cell, "", "", ""])
        ctx.log(f"  observer only, {mode}: {cell}")
    return rows


def observer_microseconds(calls: int = 20_000) -> float:
    """CPU microseconds for one call's observer lifecycle, no OpenTelemetry, logs off."""
    from benchmarks import canned
    from vertexchat._observe import Observability
    from vertexchat._request import build_request
    from vertexchat._response_models import ChatCompletion

    observability = Observability(environ={})
    request = build_request(
        {"model": canned.MODEL, "messages": canned.REQUEST_MESSAGES}, publisher_model=False
    )
    completion = ChatCompletion.model_validate_json(canned.completion_body())
    started = time.process_time()
    for _ in range(calls):
        record = observability.start(request, url="http://h/v1/chat/completions",
                                     max_attempts=3, model=canned.MODEL)  # fmt: skip
        record.attempt_started()
        record.response_received(200, [(b"content-type", b"application/json")])
        record.finished(completion)
    return (time.process_time() - started) / calls * 1e6


def main(argv: list[str]) -> int:
    """Child entry point: set up ``telemetry``, time the observer, print one JSON line."""
    spec = json.loads(argv[1])
    try:
        setup(spec["telemetry"])
        print(json.dumps({"ok": True, "us": observer_microseconds()}))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": repr(exc)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
