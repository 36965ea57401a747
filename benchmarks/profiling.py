"""Profile one contender on one workload: where does its client CPU go?

``uv run --group bench python -m benchmarks.profiling vertexchat complete 64 [requests]``
starts the private nginx, warms the client up like a measured run, then runs the loop under
cProfile and prints the top functions by own time and by cumulative time. The full stats go to
benchmarks/.work/profile-<contender>-<operation>-<concurrency>.pstats (open with ``pstats``).
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
from typing import Any

from benchmarks.child import measured_call
from benchmarks.contenders import CONTENDERS
from benchmarks.server import WORK_DIR, benchmark_server

PREFIXES = {"complete": "json", "stream": "sse", "batch": "json"}
TOP = 25


async def profile_loop(spec: dict[str, Any], profiler: cProfile.Profile) -> None:
    """Open and warm up the contender, then run the measured loop with the profiler on."""
    contender = CONTENDERS[spec["contender"]]()
    await contender.open(spec["base_url"], None)
    try:
        call = measured_call(spec, contender)
        await call(int(spec["warmup"]))
        profiler.enable()
        await call(int(spec["requests"]))
        profiler.disable()
    finally:
        await contender.close()


def main(argv: list[str]) -> int:
    """Parse ``contender operation concurrency [requests]``, profile, print the top functions."""
    if len(argv) < 3 or argv[0] not in CONTENDERS or argv[1] not in PREFIXES:
        print(__doc__, file=sys.stderr)
        return 2
    contender, operation, concurrency = argv[0], argv[1], int(argv[2])
    requests = int(argv[3]) if len(argv) > 3 else 1000
    profiler = cProfile.Profile()
    with benchmark_server() as server:
        spec = {
            "contender": contender,
            "operation": operation,
            "base_url": server.base_url(PREFIXES[operation]),
            "concurrency": concurrency,
            "requests": requests,
            "warmup": max(2 * concurrency, 20),
        }
        asyncio.run(profile_loop(spec, profiler))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"profile-{contender}-{operation}-{concurrency}.pstats"
    profiler.dump_stats(path)
    for order in ("tottime", "cumulative"):
        pstats.Stats(profiler).sort_stats(order).print_stats(TOP)
    print(f"full stats: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
