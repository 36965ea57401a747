"""Workload 5: fan-out throughput and memory.

(a) 10,000 requests at concurrency 256: vertexchat through ``client.batch`` (a lazy generator of
    requests in, results validated and dropped), the others through the equivalent 256 workers
    sharing one counter. Throughput, client CPU per request, peak RSS and its growth over the
    warmed-up process.
(b) Bounded by in-flight work, not input size: the same batch with 5x fewer requests must peak
    at about the same RSS growth.
(c) RSS per 1,000 in-flight requests: nginx's ``/slow/`` location sends the body at 512 bytes/s,
    so each request stays in flight about 2 s; concurrency 500 and 1,000 with as many requests,
    and twice the difference in peak RSS growth is the cost of 1,000 more.
"""

from __future__ import annotations

import functools
from typing import Any

from benchmarks import stats
from benchmarks.contenders import LABELS
from benchmarks.report import headline_row
from benchmarks.runner import Context, Section, Target, alternate, failure

REQUESTS = {"full": 10_000, "quick": 1_000}
# The other clients are reference points; fewer requests keep the run inside its time budget
# (raw httpx's pool gets slower per request the longer 256 workers queue for 100 connections).
REFERENCE_REQUESTS = {"full": 2_000, "quick": 500}
CONCURRENCY = 256
INPUT_SIZE_FACTOR = 5
BOUNDED_TOLERANCE_MIB = 5.0
# Both levels fit the default pools of vertexchat and the OpenAI SDK (1,000 connections each);
# raw httpx (default 100) gets a pool as large as the level.
IN_FLIGHT_LEVELS = (500, 1_000)
ROUNDS = 1


def fanout_spec(ctx: Context, contender: str, requests: int) -> dict[str, Any]:
    """One fan-out run: batch for vertexchat, a worker pool for the others."""
    return {
        "contender": contender,
        "operation": "batch" if contender == "vertexchat" else "complete",
        "base_url": ctx.server.base_url("json"),
        "concurrency": CONCURRENCY,
        "requests": requests,
        "warmup": 2 * CONCURRENCY,
    }


def in_flight_spec(ctx: Context, contender: str, level: int) -> dict[str, Any]:
    """One in-flight memory run: ``level`` slow requests at once, all of them on the wire."""
    return {
        "contender": contender,
        "operation": "complete",
        "base_url": ctx.server.base_url("slow"),
        "concurrency": level,
        "requests": level,
        "warmup": 10,
        "max_connections": level if contender in ("httpx", "aiohttp") else None,
    }


def growth_mib(result: dict[str, Any]) -> float:
    """Peak RSS during the run over RSS after warm-up, in MiB."""
    return float(result["peak_rss_kb"] - result["rss_before_kb"]) / 1024


def run(ctx: Context) -> Section:
    """All three parts; rows share one table keyed by the part's name."""
    header = ["part", "client", "requests/s", "CPU ms/request", "peak RSS MiB", "RSS growth MiB"]
    section = Section("5. Fan-out: throughput and memory", header)
    preset = "quick" if ctx.quick else "full"
    requests, reference = REQUESTS[preset], REFERENCE_REQUESTS[preset]
    ctx.log(f"  fan-out at concurrency {CONCURRENCY}: {requests} / {reference} requests")
    results = alternate(
        ctx.contenders,
        ROUNDS,
        lambda name: fanout_spec(ctx, name, requests if name == "vertexchat" else reference),
        ctx.log,
    )
    how = dict.fromkeys(ctx.contenders, f" ({CONCURRENCY} workers, {reference:,} requests)")
    how["vertexchat"] = f" (client.batch, {requests:,} requests)"
    section.rows += _rows(f"fan-out, concurrency {CONCURRENCY}", results, how)
    section.targets.append(_bounded_target(ctx, results.get("vertexchat", []), requests))
    metric = f"fan-out requests/s (concurrency {CONCURRENCY})"
    section.headline.append(headline_row(metric, _throughputs(results), "", 0))
    per_thousand = _in_flight(ctx, section)
    section.notes += _notes(requests, reference, per_thousand)
    metric = "RSS per 1,000 more in-flight requests"
    section.headline.append(headline_row(metric, per_thousand, " MiB", 1))
    return section


def _throughputs(results: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    return {
        name: None if failure(runs) or not runs else runs[0]["requests"] / runs[0]["wall_s"]
        for name, runs in results.items()
    }


def _rows(
    part: str, results: dict[str, list[dict[str, Any]]], how: dict[str, str]
) -> list[list[str]]:
    rows = []
    for name, runs in results.items():
        error = failure(runs)
        if error is not None or not runs:
            rows.append([part, LABELS[name], f"FAILED: {(error or 'not run')[:200]}", "", "", ""])
            continue
        run = runs[0]
        rows.append(
            [
                part,
                LABELS[name] + how.get(name, ""),
                stats.fmt(run["requests"] / run["wall_s"], "", 0),
                stats.fmt(1000 * run["cpu_s"] / run["requests"], "", 3),
                stats.fmt(run["peak_rss_kb"] / 1024, "", 1),
                stats.fmt(growth_mib(run), "", 1),
            ]
        )
    return rows


def _bounded_target(ctx: Context, large: list[dict[str, Any]], requests: int) -> Target:
    """Peak RSS growth of the full batch vs one with 5x fewer requests (vertexchat only)."""
    name = f"fan-out memory bounded by in-flight work (RSS growth at {requests:,} vs "
    name += f"{requests // INPUT_SIZE_FACTOR:,} requests within {BOUNDED_TOLERANCE_MIB:g} MiB)"
    if "vertexchat" not in ctx.contenders or not large or failure(large):
        return Target(name, None, "not measured (vertexchat batch missing or failed)")
    ctx.log(f"  fan-out, {requests // INPUT_SIZE_FACTOR} requests (input-size check)")
    small = alternate(
        ["vertexchat"],
        ROUNDS,
        lambda contender: fanout_spec(ctx, contender, requests // INPUT_SIZE_FACTOR),
        ctx.log,
    )["vertexchat"]
    error = failure(small)
    if error is not None:
        return Target(name, None, f"not measured: {error[:200]}")
    big, little = growth_mib(large[0]), growth_mib(small[0])
    detail = f"growth {big:.1f} MiB at {requests:,} vs {little:.1f} MiB at "
    detail += f"{requests // INPUT_SIZE_FACTOR:,} requests"
    return Target(name, big - little <= BOUNDED_TOLERANCE_MIB, detail)


def _in_flight(ctx: Context, section: Section) -> dict[str, float | None]:
    """Rows for both in-flight levels; returns MiB per 1,000 more in-flight requests."""
    growth: dict[str, list[float | None]] = {name: [] for name in ctx.contenders}
    for level in IN_FLIGHT_LEVELS:
        ctx.log(f"  in-flight memory, {level} requests at once")
        spec_for = functools.partial(in_flight_spec, ctx, level=level)
        results = alternate(ctx.contenders, ROUNDS, spec_for, ctx.log)
        section.rows += _rows(f"{level:,} in flight (slow server)", results, {})
        for name, runs in results.items():
            ok = runs and failure(runs) is None
            growth[name].append(growth_mib(runs[0]) if ok else None)
    low, high = IN_FLIGHT_LEVELS
    per_thousand: dict[str, float | None] = {}
    for name, (small, large) in growth.items():
        if small is None or large is None:
            per_thousand[name] = None
        else:
            per_thousand[name] = (large - small) * 1000 / (high - low)
    return per_thousand


def _notes(requests: int, reference: int, per_thousand: dict[str, float | None]) -> list[str]:
    low, high = IN_FLIGHT_LEVELS
    costs = ", ".join(
        f"{LABELS[name]} {stats.fmt(value, ' MiB', 1)}" for name, value in per_thousand.items()
    )
    return [
        f"One run per contender in a fresh process: {requests:,} validated requests through "
        f"vertexchat's `client.batch` (a lazy generator in), {reference:,} through 256 workers "
        "for the reference clients; each after a warm-up of 512 requests. RSS growth = peak RSS "
        "(ru_maxrss) minus VmRSS after the warm-up.",
        f"RSS per 1,000 more in-flight requests, from the growth at {high:,} minus the growth "
        f"at {low:,} in flight: {costs}.",
        "In-flight runs: the slow location keeps each response body arriving for about 2 s. "
        "vertexchat and the OpenAI SDK keep their default pools (1,000 connections); raw httpx "
        "(default 100) gets a pool as large as the concurrency, so every request is on the wire.",
    ]
