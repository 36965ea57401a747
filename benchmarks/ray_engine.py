"""Ray contender: rows/s and client CPU per row, against the emulator at a fixed latency.

``uv sync --extra ray --group bench`` then ``uv run python -m benchmarks.ray_engine``
(``--rows``, ``--latency``, ``--http-rows``, ``--max-concurrency`` for the quota modes).

* one process: ``client.batch`` at concurrency 128, CPU of this process; and the same rows
  through ``run_rows`` in this process (JSON requests in, flat result rows out, in chunks of
  ``--batch-size``: the work an actor does, without Ray);
* vertexchat on Ray, 2 actors (``vertexchat.ray.complete``), CPU of the actor processes (and,
  apart, of the driver and Ray's own processes), at ``--rows / 4`` and ``--rows`` rows: the
  difference gives the CPU each further row costs once the actors are up (an actor's start-up,
  mostly importing Ray Data, is a fixed cost of several CPU seconds);
* Ray Data LLM's ``HttpRequestProcessor`` (2 actors, its defaults), where it installs (it needs
  ``aiohttp``), on fewer rows: it sends one request at a time per actor.

With ``--max-concurrency N`` the emulator answers 429 above N requests in flight and the run
compares the 429s of: one process, Ray with each actor given the whole quota (independent),
Ray with ``quota="split"`` and Ray with ``quota="lease"``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio

import vertexchat

MODEL = "google/gemini-2.5-flash"
RETRIES = vertexchat.RetryPolicy(max_attempts=12, initial_delay=0.02, max_delay=0.5)


def body(n: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}]}


@contextmanager
def emulator(*options: str) -> Iterator[str]:
    command = [sys.executable, "-m", "vertexchat", "emulator", "--port", "0", "--no-auth"]
    process = subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.strip().startswith("base URL:"):
                yield line.split()[-1]
                return
        raise RuntimeError("the emulator did not start")
    finally:
        process.terminate()
        process.wait()
        process.stdout.close()


def one_process(base_url: str, rows: int, max_concurrency: int | None) -> dict[str, float]:
    """``client.batch`` in this process: rows/s, CPU ms per row, 429s (extra attempts)."""

    async def run() -> int:
        limit = max_concurrency or 128
        client = vertexchat.Client(
            base_url=base_url, auth=None, retry_policy=RETRIES, max_concurrency=limit
        )
        extra = 0
        async with client, client.batch([body(n) for n in range(rows)], concurrency=128) as run:
            async for result in run:
                assert result.ok, result.error
                extra += result.attempts - 1
        return extra

    cpu, started = _cpu_self(), time.perf_counter()
    throttled = anyio.run(run)
    elapsed = time.perf_counter() - started
    return _numbers(rows, elapsed, _cpu_self() - cpu, throttled)


def one_process_rows(base_url: str, rows: int, batch_size: int) -> dict[str, float]:
    """``run_rows`` in this process on JSON requests, ``batch_size`` rows at a time."""
    from vertexchat._rows import run_rows

    ids = [f"r{n}" for n in range(rows)]
    requests = [json.dumps(body(n)) for n in range(rows)]

    async def run() -> int:
        client = vertexchat.Client(
            base_url=base_url, auth=None, retry_policy=RETRIES, max_concurrency=128
        )
        extra = 0
        async with client:
            for start in range(0, rows, batch_size):
                chunk = slice(start, start + batch_size)
                results = await run_rows(client, ids[chunk], requests[chunk], concurrency=128)
                assert all(row["response"] is not None for row in results)
                extra += sum(row["attempts"] - 1 for row in results)
        return extra

    cpu, started = _cpu_self(), time.perf_counter()
    throttled = anyio.run(run)
    elapsed = time.perf_counter() - started
    return _numbers(rows, elapsed, _cpu_self() - cpu, throttled)


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _numbers(rows: int, elapsed: float, cpu: float, throttled: int) -> dict[str, float]:
    return {
        "rows_per_s": rows / elapsed,
        "cpu_ms_per_row": 1000 * cpu / rows,
        "seconds": elapsed,
        "throttled": throttled,
    }


class ProcessCPU:
    """CPU seconds of this process's descendants, by kind, sampled until ``stop``."""

    def __init__(self) -> None:
        import psutil  # Ray ships it (ray/thirdparty_files), importable once ray is

        self._psutil = psutil
        self._me = psutil.Process()
        self._baseline = self._sample()
        self._peak = dict(self._baseline)
        self._kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _sample(self) -> dict[int, float]:
        seen = {}
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system
                if getattr(self, "_kinds", {}).get(process.pid) != "actors":
                    self._kind(process)  # an idle worker becomes an actor later
            except self._psutil.Error:
                continue
        return seen

    def _kind(self, process: Any) -> None:
        if not hasattr(self, "_kinds"):
            return
        line = " ".join(process.cmdline())
        self._kinds[process.pid] = (
            "driver" if process.pid == self._me.pid else "actors" if "MapWorker" in line else "ray"
        )

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for pid, cpu in self._sample().items():
                self._peak[pid] = max(cpu, self._peak.get(pid, 0.0))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        totals = {"driver": 0.0, "actors": 0.0, "ray": 0.0}
        for pid, cpu in self._peak.items():
            totals[self._kinds.get(pid, "ray")] += cpu - self._baseline.get(pid, 0.0)
        return totals


def on_ray(
    ray: Any, base_url: str, rows: int, quota: str, job_concurrency: int, batch_size: int = 0
) -> dict[str, Any]:
    from vertexchat.ray import ClientRecipe, complete

    items = [{"custom_id": f"r{n}", "request": json.dumps(body(n))} for n in range(rows)]
    dataset = ray.data.from_items(items).materialize()
    recipe = ClientRecipe(
        base_url=base_url, auth="none", retry_policy=RETRIES, max_concurrency=job_concurrency
    )
    cpu, started = ProcessCPU(), time.perf_counter()
    done = throttled = 0
    batch_size = batch_size or max(64, rows // 8)
    results = complete(dataset, recipe, actors=2, quota=quota, batch_size=batch_size)
    for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
        for row in batch.to_pylist():
            assert row["response"] is not None, row["error"]
            done += 1
            throttled += row["attempts"] - 1
    elapsed = time.perf_counter() - started
    spent = cpu.stop()
    assert done == rows
    numbers: dict[str, Any] = _numbers(rows, elapsed, spent["actors"], throttled)
    numbers["driver_cpu_ms_per_row"] = 1000 * spent["driver"] / rows
    numbers["ray_system_cpu_ms_per_row"] = 1000 * spent["ray"] / rows
    numbers["actor_cpu_s"] = spent["actors"]
    numbers["all_cpu_s"] = sum(spent.values())
    return numbers


def http_processor(ray: Any, base_url: str, rows: int) -> dict[str, Any]:
    """Ray Data LLM's HttpRequestProcessor with its defaults and 2 actors."""
    try:
        from ray.data.llm import HttpRequestProcessorConfig, build_processor
    except ImportError as exc:
        return {"skipped": f"ray.data.llm does not import here: {exc}"}
    config = HttpRequestProcessorConfig(
        url=f"{base_url}/chat/completions", concurrency=2, batch_size=64
    )
    processor = build_processor(
        config,
        preprocess=lambda row: {"payload": body(row["n"])},
        postprocess=lambda row: {"ok": "choices" in (row.get("http_response") or {})},
    )
    dataset = ray.data.from_items([{"n": n} for n in range(rows)]).materialize()
    cpu, started = ProcessCPU(), time.perf_counter()
    done = sum(bool(row["ok"]) for row in processor(dataset).take_all())
    elapsed = time.perf_counter() - started
    spent = cpu.stop()
    numbers: dict[str, Any] = _numbers(rows, elapsed, spent["actors"], 0)
    numbers["succeeded"] = done
    numbers["driver_cpu_ms_per_row"] = 1000 * spent["driver"] / rows
    numbers["ray_system_cpu_ms_per_row"] = 1000 * spent["ray"] / rows
    return numbers


def _start_ray() -> Any:
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def _show(name: str, numbers: dict[str, Any]) -> None:
    shown = ", ".join(
        f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
        for key, value in numbers.items()
    )
    print(f"{name:<34} {shown}", flush=True)


def throughput(args: argparse.Namespace) -> None:
    rows, small, batch = args.rows, args.rows // 4, args.batch_size
    with emulator("--latency", str(args.latency)) as base_url:
        single = one_process(base_url, rows, None)
        _show("one process (client.batch)", single)
        _show("one process (run_rows)", one_process_rows(base_url, rows, batch))
        ray = _start_ray()
        try:
            few = on_ray(ray, base_url, small, "split", 256, batch)
            _show(f"vertexchat on Ray, 2 actors, {small}", few)
            many = on_ray(ray, base_url, rows, "split", 256, batch)
            _show(f"vertexchat on Ray, 2 actors, {rows}", many)
            http = http_processor(ray, base_url, args.http_rows)
            _show("Ray Data LLM HttpRequestProcessor", http)
        finally:
            ray.shutdown()
    base = single["cpu_ms_per_row"]
    marginal = 1000 * (many["actor_cpu_s"] - few["actor_cpu_s"]) / (rows - small)
    marginal_all = 1000 * (many["all_cpu_s"] - few["all_cpu_s"]) / (rows - small)
    print(f"\nCPU per row against one process ({base:.2f} ms, client.batch):")
    print(f"  actors, all-in at {rows} rows:   {many['cpu_ms_per_row'] / base:.2f}x")
    print(f"  actors, each further row:        {marginal / base:.2f}x ({marginal:.2f} ms)")
    print(f"  every process, each further row: {marginal_all / base:.2f}x ({marginal_all:.2f} ms)")
    if "rows_per_s" in http:
        ratio = many["rows_per_s"] / http["rows_per_s"]
        print(f"rows/s against HttpRequestProcessor: {ratio:.1f}x")


def quota(args: argparse.Namespace) -> None:
    limit = args.max_concurrency
    options = ("--latency", str(args.latency), "--max-concurrency", str(limit))
    runs: list[tuple[str, Callable[[Any, str], dict[str, Any]]]] = [
        ("Ray, independent (2 x 64)", lambda ray, url: on_ray(ray, url, args.rows, "split", 128)),
        ("Ray, quota=split (64)", lambda ray, url: on_ray(ray, url, args.rows, "split", 64)),
        ("Ray, quota=lease (64)", lambda ray, url: on_ray(ray, url, args.rows, "lease", 64)),
    ]
    with emulator(*options) as base_url:
        _show("one process (64)", one_process(base_url, args.rows, 64))
    ray = _start_ray()
    try:
        for name, run in runs:
            with emulator(*options) as base_url:
                _show(name, run(ray, base_url))
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=512, help="rows per actor batch")
    parser.add_argument("--http-rows", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--max-concurrency", type=int, help="capacity-429 mode: compare quotas")
    args = parser.parse_args()
    quota(args) if args.max_concurrency else throughput(args)


if __name__ == "__main__":
    main()
