"""Workload 2: client CPU to consume one 200-chunk stream as typed chunks."""

from __future__ import annotations

import functools
from typing import Any

from benchmarks import canned
from benchmarks.report import (
    COMPARISON_HEADER,
    comparison_rows,
    cpu_medians,
    headline_row,
    ratio_target,
)
from benchmarks.runner import Context, Section, alternate

CONCURRENCIES = (1, 16)
STREAMS = {"full": 60, "quick": 10}


def spec(ctx: Context, contender: str, concurrency: int) -> dict[str, Any]:
    """The child spec for one run."""
    return {
        "contender": contender,
        "operation": "stream",
        "base_url": ctx.server.base_url("sse"),
        "concurrency": concurrency,
        "requests": STREAMS["quick" if ctx.quick else "full"],
        "warmup": concurrency + 4,
    }


def targets(medians: dict[str, float | None], concurrency: int) -> list[Any]:
    """Streaming targets: ≤ 0.2x the OpenAI SDK and ≤ 1.5x the raw httpx floor."""
    mine = medians.get("vertexchat")
    return [
        ratio_target(
            f"streaming CPU at concurrency {concurrency} ≤ 0.2x OpenAI SDK",
            mine,
            medians.get("openai"),
            0.2,
            "vertexchat or OpenAI SDK",
        ),
        ratio_target(
            f"streaming CPU at concurrency {concurrency} ≤ 1.5x raw httpx",
            mine,
            medians.get("httpx"),
            1.5,
            "vertexchat or raw httpx",
        ),
    ]


def run(ctx: Context) -> Section:
    """Measure every contender consuming whole streams, alternating contenders."""
    title = f"2. Streaming: client CPU per {canned.STREAM_CHUNK_COUNT}-chunk stream"
    section = Section(title, COMPARISON_HEADER)
    for concurrency in CONCURRENCIES:
        ctx.log(f"  streaming, concurrency {concurrency}")
        results = alternate(
            ctx.contenders,
            ctx.rounds,
            functools.partial(spec, ctx, concurrency=concurrency),
            ctx.log,
        )
        section.rows += comparison_rows(f"concurrency {concurrency}", results)
        medians = cpu_medians(results)
        section.targets += targets(medians, concurrency)
        metric = f"CPU per {canned.STREAM_CHUNK_COUNT}-chunk stream, concurrency {concurrency}"
        section.headline.append(headline_row(metric, medians, " ms", 2))
    streams = STREAMS["quick" if ctx.quick else "full"]
    section.notes += [
        f"{streams} validated streams per run (the row's unit is one whole stream of "
        f"{canned.STREAM_CHUNK_COUNT} chunks, {len(canned.stream_body()):,} bytes); "
        f"median of {ctx.rounds} runs.",
        "SDKs iterate their typed chunk objects; the raw httpx floor is `aiter_lines()` + "
        "`json.loads` of each `data:` line. Every run checks chunk count, joined text, "
        "finish_reason and final usage.",
    ]
    return section
