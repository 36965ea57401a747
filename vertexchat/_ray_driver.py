"""The driver of ``vertexchat batch --engine ray``: feeds Ray actors bounded batches, writes.

Edge module, imported only when the Ray engine runs (it imports Ray). The driver reads the
pending requests lazily and keeps at most ``2 * actors`` batches out at a time, so a large
input never sits in the driver at once. Each actor is a ``vertexchat.ray.ChatCompletions``
(one ``Client``, its share of the job's quota). Results are written by the driver alone, as
each batch arrives, and fed to the same ``FailureWatch`` and progress display as the local
run: the first ``PROBE`` requests go out as one batch of their own, so a wrong URL or model
stops the job (exit 3) after a handful of requests, not thousands. When a run stops (exit 3,
Ctrl-C), the actors start no new call and hand back every row they finished, which is
written: what was paid for is not paid again by the rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import ray

from ._cli_batch import PROBE, BatchJob
from ._cli_files import ResultWriter
from ._cli_progress import ProgressPrinter
from ._exceptions import CredentialsError
from ._rows import ClientRecipe, output_line
from .ray import ChatCompletions, JobStoppedError, QuotaCoordinator, stopping_error

__all__ = ["ActorPool", "write_results"]

_BATCHES_PER_ACTOR = 2  # one running, one queued: an actor never waits for the driver
_DRAIN_TIMEOUT = 10.0  # seconds the actors get to hand back finished rows when a run stops


class _Batcher(ChatCompletions):
    """``ChatCompletions`` that also reports its limiter, for the progress line."""

    def gauges(self) -> tuple[int, int, int]:
        """In flight, current limit and 429 cuts of this actor's client."""
        limiter = self._client.limiter
        if limiter is None:
            return 0, 0, 0
        return limiter.in_flight, limiter.limit, limiter.decreases


class ActorPool:
    """The actors of one job and the batches they hold; its gauges feed the progress line."""

    def __init__(self, recipe: ClientRecipe, args: argparse.Namespace) -> None:
        actors: int = args.ray_actors
        share = recipe.share(actors)
        options: dict[str, Any] = {"concurrency": share.max_concurrency}
        if args.quota == "lease":
            coordinator = ray.remote(num_cpus=0)(QuotaCoordinator)
            options["coordinator"] = coordinator.remote(recipe.max_concurrency)
        # An actor that dies (a node lost) is restarted and its batch retried; nothing of that
        # batch was written yet, so its rows are written once.
        remote = ray.remote(num_cpus=0.25, max_restarts=2, max_task_retries=2)(_Batcher)
        self._actors = [remote.remote(share, **options) for _ in range(actors)]
        self._out: dict[Any, tuple[Any, int]] = {}  # batch ref -> (actor, rows)
        per_actor = share.max_concurrency or 1
        self._ceiling: int = per_actor * actors
        self._gauges: list[tuple[int, int, int]] = [(0, per_actor, 0)] * actors
        self._asked: list[Any] = []
        self.limiter = self  # the display reads .limiter.limit, .stats.in_flight
        self.stats = self

    @property
    def capacity(self) -> int:
        """Batches the actors may hold at once."""
        return _BATCHES_PER_ACTOR * len(self._actors)

    @property
    def busy(self) -> int:
        """Batches sent and not yet collected."""
        return len(self._out)

    def submit(self, rows: list[dict[str, str]]) -> None:
        """Send one batch to the actor holding the fewest."""
        held = {id(actor): 0 for actor in self._actors}
        for actor, _ in self._out.values():
            held[id(actor)] += 1
        actor = min(self._actors, key=lambda a: held[id(a)])
        ids, requests = [row["custom_id"] for row in rows], [row["request"] for row in rows]
        table = pa.table({"custom_id": ids, "request": requests})
        self._out[actor.__call__.remote(table)] = (actor, len(rows))

    def collect(self, timeout: float | None) -> list[pa.Table]:
        """The batches finished within ``timeout`` seconds (at least one if any, unless late)."""
        if not self._out:
            return []
        ready, _ = ray.wait(list(self._out), num_returns=1, timeout=timeout)
        if ready:  # take every other batch already back as well
            more, _ = ray.wait(list(self._out), num_returns=len(self._out), timeout=0)
            ready = list(dict.fromkeys([*ready, *more]))
        tables = []
        for ref in ready:
            del self._out[ref]
            tables.append(ray.get(ref))
        return tables

    def drain(self, timeout: float) -> list[pa.Table]:
        """Ask every actor to end its batches now; the rows they had finished, as tables.

        A batch that does not answer within ``timeout`` seconds, or that failed, is left to
        ``cancel`` (its rows are not written, so a rerun runs them).
        """
        if not self._out:
            return []
        for actor in self._actors:
            actor.stop.remote()
        ready, _ = ray.wait(list(self._out), num_returns=len(self._out), timeout=timeout)
        tables = []
        for ref in ready:
            del self._out[ref]
            with contextlib.suppress(Exception):  # a batch that failed: its rows are redone
                tables.append(ray.get(ref))
        return tables

    def cancel(self) -> None:
        """Stop every batch still out (its calls are cancelled; its rows were never written)."""
        for ref in self._out:
            with contextlib.suppress(Exception):  # already finished, or its actor is gone
                ray.cancel(ref)
        self._out.clear()

    # --- what the progress line reads -----------------------------------------------------

    def refresh(self) -> None:
        """Ask the actors for their gauges; the answers are read at the next refresh."""
        if self._asked:
            ready, _ = ray.wait(self._asked, num_returns=len(self._asked), timeout=0)
            if len(ready) < len(self._asked):
                return
            self._gauges = ray.get(self._asked)
        self._asked = [actor.gauges.remote() for actor in self._actors]

    @property
    def in_flight(self) -> int:
        """Calls in flight in every actor (as of the last refresh)."""
        return sum(g[0] for g in self._gauges)

    @property
    def limit(self) -> int:
        """The job's current concurrency limit: the sum of the actors' (cut after 429s)."""
        return sum(g[1] for g in self._gauges)

    @property
    def ceiling(self) -> int:
        """The job's concurrency ceiling (every actor's share)."""
        return self._ceiling

    @property
    def decreases(self) -> int:
        """How often an actor cut its limit after 429s."""
        return sum(g[2] for g in self._gauges)


def write_results(
    rows: Iterator[dict[str, str]],
    recipe: ClientRecipe,
    args: argparse.Namespace,
    job: BatchJob,
    writer: ResultWriter,
) -> None:
    """Run ``rows`` on a new pool of actors; append each result line as its batch arrives."""
    pool = ActorPool(recipe, args)
    printer = ProgressPrinter(args, job, pool)
    try:
        try:
            _drive(pool, printer, rows, args, job, writer)
        except KeyboardInterrupt:
            _write(pool.drain(_DRAIN_TIMEOUT), job, writer)
            raise
        # Stopped early: keep what the actors already have, so the rerun does not pay for it.
        _write(pool.drain(_DRAIN_TIMEOUT), job, writer)
    except JobStoppedError as exc:
        stop = stopping_error(exc) or exc
        if stop.error_type == "CredentialsError":
            raise CredentialsError(str(stop)) from None  # exit code 2 and the login hint
        raise JobStoppedError(str(stop), stop.error_type, stop.status_code) from None
    finally:
        pool.cancel()
        job.stats.finish()
        printer.close()


def _drive(
    pool: ActorPool,
    printer: ProgressPrinter,
    rows: Iterator[dict[str, str]],
    args: argparse.Namespace,
    job: BatchJob,
    writer: ResultWriter,
) -> None:
    probe = list(itertools.islice(rows, PROBE))
    if not probe:
        return
    pool.submit(probe)  # alone: a wrong target costs PROBE requests
    while pool.busy and not job.stopped:
        _write(pool.collect(printer.interval), job, writer)
        _tick(pool, printer)
    batches = _batches(rows, args.ray_batch_size)
    while not job.stopped:
        while pool.busy < pool.capacity and (batch := next(batches, None)) is not None:
            pool.submit(batch)
        if not pool.busy:
            return
        _write(pool.collect(printer.interval), job, writer)
        _tick(pool, printer)


def _tick(pool: ActorPool, printer: ProgressPrinter) -> None:
    pool.refresh()
    printer.tick()


def _batches(rows: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _write(tables: list[pa.Table], job: BatchJob, writer: ResultWriter) -> None:
    """Write every row that arrived (also past a stop), recording and watching each."""
    for table in tables:
        for row in table.to_pylist():
            line = output_line(row)
            writer.write(line)
            _record(job, row, line)
            stop = job.watch.observe_line(line)
            job.stopped = job.stopped or stop


def _record(job: BatchJob, row: dict[str, Any], line: dict[str, Any]) -> None:
    usage = (
        row["prompt_tokens"],
        row["completion_tokens"],
        row["reasoning_tokens"],
        row["total_tokens"],
    )
    ok = row["response"] is not None
    job.stats.record(ok=ok, latency=row["latency"], attempts=row["attempts"], usage=usage)
    if not ok:
        job.kinds[line["error"].get("kind", "permanent")] += 1
