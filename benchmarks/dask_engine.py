"""Dask contender: rows/s and client CPU per row, against the emulator at a fixed latency.

``uv sync --extra dask`` then ``uv run python -m benchmarks.dask_engine`` (``--rows``,
``--latency``, ``--max-concurrency`` for the quota modes). Shares the emulator, the
one-process contender and the output format with ``benchmarks.ray_engine``.

* one process: ``client.batch`` at concurrency 128, CPU of this process;
* vertexchat on Dask (``vertexchat.dask.complete``): a LocalCluster of 2 worker processes (1
  thread each), ``quota="split"`` and ``quota="semaphore"``; CPU of the worker processes
  (``getrusage`` inside each, so it includes the worker's own heartbeats and transfers) and,
  apart, of the driver (which hosts the scheduler);
* what one ``distributed.Semaphore`` lease costs (acquire + release from a task): the price a
  lease per request would pay, against the per-partition leases ``quota="semaphore"`` takes.

With ``--max-concurrency N`` the emulator answers 429 above N requests in flight and the run
compares the 429s of: one process, Dask with each worker given the whole quota (independent),
``quota="split"`` and ``quota="semaphore"``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

from benchmarks.ray_engine import RETRIES, _numbers, _show, body, emulator, one_process

PARTITIONS = 8


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def on_dask(cluster: Any, base_url: str, rows: int, quota: str, job_concurrency: int) -> Any:
    import dask.bag

    from vertexchat.dask import ClientRecipe, complete

    items = [{"custom_id": f"r{n}", "request": json.dumps(body(n))} for n in range(rows)]
    bag = dask.bag.from_sequence(items, npartitions=PARTITIONS).persist()
    recipe = ClientRecipe(
        base_url=base_url, auth="none", retry_policy=RETRIES, max_concurrency=job_concurrency
    )
    workers, driver, started = cluster.run(_cpu), _cpu(), time.perf_counter()
    results = complete(bag, recipe, quota=quota).compute()
    elapsed = time.perf_counter() - started
    driver = _cpu() - driver
    spent = sum(after - workers[name] for name, after in cluster.run(_cpu).items())
    assert len(results) == rows
    assert all(row["response"] is not None for row in results), "an error row"
    throttled = sum(row["attempts"] - 1 for row in results)
    numbers: dict[str, Any] = _numbers(rows, elapsed, spent, throttled)
    numbers["driver_and_scheduler_cpu_ms_per_row"] = 1000 * driver / rows
    return numbers


def _lease_round_trips(count: int) -> float:
    from distributed import Semaphore

    semaphore = Semaphore(max_leases=1, name="vertexchat-benchmark")
    semaphore.acquire()
    semaphore.release()  # registered
    started = time.perf_counter()
    for _ in range(count):
        semaphore.acquire()
        semaphore.release()
    return (time.perf_counter() - started) / count


def semaphore_cost(cluster: Any) -> dict[str, float]:
    seconds = cluster.submit(_lease_round_trips, 200, pure=False).result()
    return {"ms_per_lease": 1000 * seconds}


def _start(workers: int = 2) -> Any:
    from distributed import Client, LocalCluster

    local = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    return Client(local)


def throughput(args: argparse.Namespace) -> None:
    with emulator("--latency", str(args.latency)) as base_url:
        _show("one process (client.batch)", one_process(base_url, args.rows, None))
        cluster = _start()
        try:
            for quota in ("split", "semaphore"):
                numbers = on_dask(cluster, base_url, args.rows, quota, 256)
                _show(f"Dask, 2 workers, {quota}", numbers)
            _show("one Semaphore lease (from a task)", semaphore_cost(cluster))
        finally:
            cluster.close()
            cluster.cluster.close()


def quota(args: argparse.Namespace) -> None:
    limit = args.max_concurrency
    options = ("--latency", str(args.latency), "--max-concurrency", str(limit))
    runs = [
        (f"Dask, independent (2 x {limit})", "split", 2 * limit),
        (f"Dask, quota=split ({limit})", "split", limit),
        (f"Dask, quota=semaphore ({limit})", "semaphore", limit),
    ]
    with emulator(*options) as base_url:
        _show(f"one process ({limit})", one_process(base_url, args.rows, limit))
    cluster = _start()
    try:
        for name, mode, job in runs:
            with emulator(*options) as base_url:
                _show(name, on_dask(cluster, base_url, args.rows, mode, job))
    finally:
        cluster.close()
        cluster.cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--max-concurrency", type=int, help="capacity-429 mode: compare quotas")
    args = parser.parse_args()
    quota(args) if args.max_concurrency else throughput(args)


if __name__ == "__main__":
    main()
