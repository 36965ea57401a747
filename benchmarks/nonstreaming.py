"""Workload 1: client CPU per non-streaming request at concurrency 1, 64 and 256."""

from __future__ import annotations

import functools
from typing import Any

from benchmarks.report import (
    COMPARISON_HEADER,
    comparison_rows,
    cpu_medians,
    headline_row,
    ratio_target,
)
from benchmarks.runner import Context, Section, alternate

CONCURRENCIES = (1, 64, 256)
REQUESTS = {"full": 600, "quick": 100}
TARGET_RATIO_VS_OPENAI = 0.5
TARGET_RATIO_VS_AIOHTTP = 1.5


def spec(ctx: Context, contender: str, concurrency: int) -> dict[str, Any]:
    """The child spec for one run: the warm-up opens every connection the run will use."""
    return {
        "contender": contender,
        "operation": "complete",
        "base_url": ctx.server.base_url("json"),
        "concurrency": concurrency,
        "requests": REQUESTS["quick" if ctx.quick else "full"],
        "warmup": concurrency + 20,
    }


def run(ctx: Context) -> Section:
    """Measure every contender at every concurrency, alternating contenders within each."""
    section = Section("1. Non-streaming: client CPU per request", COMPARISON_HEADER)
    for concurrency in CONCURRENCIES:
        ctx.log(f"  non-streaming, concurrency {concurrency}")
        results = alternate(
            ctx.contenders,
            ctx.rounds,
            functools.partial(spec, ctx, concurrency=concurrency),
            ctx.log,
        )
        section.rows += comparison_rows(f"concurrency {concurrency}", results)
        medians = cpu_medians(results)
        metric = f"non-streaming CPU per request, concurrency {concurrency}"
        section.headline.append(headline_row(metric, medians, " ms", 2))
        section.targets.append(
            ratio_target(
                f"non-streaming CPU/request at concurrency {concurrency} ≤ 0.5x OpenAI SDK",
                medians.get("vertexchat"),
                medians.get("openai"),
                TARGET_RATIO_VS_OPENAI,
                "vertexchat or OpenAI SDK",
            )
        )
        if "aiohttp" in ctx.contenders:
            section.targets.append(
                ratio_target(
                    f"non-streaming CPU/request at concurrency {concurrency} ≤ 1.5x raw aiohttp",
                    medians.get("vertexchat"),
                    medians.get("aiohttp"),
                    TARGET_RATIO_VS_AIOHTTP,
                    "vertexchat or raw aiohttp",
                )
            )
    requests = REQUESTS["quick" if ctx.quick else "full"]
    section.notes += [
        f"{requests} validated requests per run after a warm-up of concurrency + 20; "
        f"median of {ctx.rounds} runs, each in a fresh process, contenders alternating.",
        "CPU = `time.process_time()` of the client process (all threads) around the measured "
        "loop; every library uses its default connection pool (httpx: 100 connections).",
    ]
    return section
