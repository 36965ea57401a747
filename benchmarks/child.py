"""One measured run in a fresh process: ``python -m benchmarks.child '<json spec>'``.

The spec names a contender, an operation and its sizes. The child opens the client, warms it up
(connections opened, lazy imports done), then times only the measured loop: process CPU time
(``time.process_time``: every thread of this process), wall time, and RSS before and at peak.
It prints one JSON object on stdout; a failed validation or any exception is reported as
``{"ok": false, "error": …}`` and never as a number.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import canned
from benchmarks.contenders import CONTENDERS, ValidationFailed, Vertexchat, check_completion

Operation = Callable[[], Awaitable[None]]


def current_rss_kb() -> int:
    """Resident set size now, in KiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return peak_rss_kb()


def peak_rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def run_requests(operation: Operation, total: int, concurrency: int) -> None:
    """Run ``operation`` ``total`` times with ``concurrency`` workers sharing one counter."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await operation()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, total))))


async def run_batch(contender: Vertexchat, total: int, concurrency: int) -> None:
    """Fan out through ``client.batch`` and validate every result."""
    requests = ({"model": canned.MODEL, "messages": canned.REQUEST_MESSAGES} for _ in range(total))
    seen = 0
    async for result in contender.client.batch(requests, concurrency=concurrency):
        if result.error is not None:
            raise ValidationFailed(f"batch item failed: {result.error!r}")
        choice = result.response.choices[0]
        usage = result.response.usage
        check_completion(choice.message.content, choice.finish_reason, usage.total_tokens)
        seen += 1
    if seen != total:
        raise ValidationFailed(f"batch yielded {seen} results for {total} requests")


def measured_call(spec: dict[str, Any], contender: Any) -> Callable[[int], Awaitable[None]]:
    """The loop the spec asks for, as a function of the request count."""
    concurrency = int(spec["concurrency"])
    if spec["operation"] == "batch":
        return lambda total: run_batch(contender, total, concurrency)
    operation = contender.stream if spec["operation"] == "stream" else contender.complete
    return lambda total: run_requests(operation, total, concurrency)


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Open, warm up, time the loop, close; return the numbers."""
    if spec.get("telemetry"):
        from benchmarks.observability import setup

        setup(spec["telemetry"])  # before the client exists, as an application would
    contender = CONTENDERS[spec["contender"]]()
    await contender.open(spec["base_url"], spec.get("max_connections"))
    try:
        call = measured_call(spec, contender)
        if spec["warmup"]:
            await call(int(spec["warmup"]))
        rss_before = current_rss_kb()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await call(int(spec["requests"]))
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    finally:
        await contender.close()
    return {
        "ok": True,
        "cpu_s": cpu,
        "wall_s": wall,
        "requests": int(spec["requests"]),
        "rss_before_kb": rss_before,
        "peak_rss_kb": peak_rss_kb(),
    }


def main(argv: list[str]) -> int:
    """Run the spec in argv[1]; print the JSON result."""
    spec = json.loads(argv[1])
    try:
        result = asyncio.run(measure(spec))
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result = {"ok": False, "error": detail, "traceback": traceback.format_exc()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
