"""Chat completions over a Ray Data ``Dataset`` (``pip install 'vertexchat[ray]'``).

Edge module; ``import vertexchat`` never imports it (or Ray). ``complete`` turns a Dataset of
requests (``custom_id`` + ``request``, the JSON of ``create()`` parameters) into a Dataset of
result rows (``RESULT_COLUMNS``: the response or error as JSON, attempts, latency, tokens).
Each of ``actors`` actors builds one ``Client`` from a picklable ``ClientRecipe`` and runs
large batches through it with ``client.batch``, so every actor keeps up to its share of
``max_concurrency`` calls in flight. Errors are rows; a credential, 401 or 403 error stops the
job (Ray raises it, wrapped; ``stopping_error`` finds it).

Quota: Vertex counts it per project and model, not per actor. ``quota="split"`` gives each
actor an even share of ``max_concurrency``/rpm/tpm, each adapting (AIMD) within its share.
``quota="lease"`` adds one small coordinator actor holding a job-wide AIMD limit: every actor
renews a lease of in-flight calls a few times a second (not once per request), so a 429 seen
by one actor slows the whole job at the next renewal.

Exactly-once output: ``complete(..., output=DIR)`` skips the ids already finished in ``DIR``
and has every actor append each finished row there at once; ``read_results(DIR)`` reads one
row per id (see ``_ray_output``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any, Literal

import pyarrow as pa
import ray

from ._limiter import AdaptiveLimiter
from ._quota import SharedQuota
from ._ray_output import RESULT_SCHEMA, pending, read_results, result_table
from ._rows import FATAL_ERRORS, ClientRecipe, JobStoppedError, run_rows
from ._shards import Journal

__all__ = [
    "RESULT_SCHEMA",
    "ChatCompletions",
    "ClientRecipe",
    "JobStoppedError",
    "QuotaCoordinator",
    "complete",
    "pending",
    "read_results",
    "run",
    "stopping_error",
]

logger = logging.getLogger("vertexchat")


Quota = Literal["split", "lease"]
_CLOSE_TIMEOUT = 5.0


class QuotaCoordinator:
    """The job-wide concurrency limit behind ``quota="lease"`` (run it as a Ray actor)."""

    def __init__(self, ceiling: int, period: float = 0.25) -> None:
        self._quota = SharedQuota(ceiling, period=period)

    def renew(self, worker: str, successes: int, throttled: int) -> int:
        """A worker's report since its last renewal; returns its new lease."""
        return self._quota.renew(
            worker, successes=successes, throttled=throttled, now=time.monotonic()
        )

    def leave(self, worker: str) -> None:
        """The worker is done; its share goes to the others."""
        self._quota.leave(worker)

    def stats(self) -> dict[str, float]:
        """The job-wide limit, the 429s reported and how often the limit was cut."""
        quota = self._quota
        return {"limit": quota.limit, "throttled": quota.throttled, "decreases": quota.decreases}


class _CountingLimiter(AdaptiveLimiter):
    """The actor's limiter, counting outcomes for its next lease renewal."""

    successes = 0
    throttled = 0

    def release(self, *, throttled: bool = False, tokens: int = 0) -> None:
        super().release(throttled=throttled, tokens=tokens)
        if throttled:
            self.throttled += 1
        else:
            self.successes += 1

    def take_counts(self) -> tuple[int, int]:
        counts = self.successes, self.throttled
        self.successes = self.throttled = 0
        return counts


class ChatCompletions:
    """An async callable class for ``Dataset.map_batches``: one ``Client`` per actor.

    ``recipe`` describes this actor's client (pass the share of a job's recipe); batches need
    ``custom_id`` and ``request`` columns and come back as ``RESULT_SCHEMA`` tables.
    ``coordinator`` (a ``QuotaCoordinator`` actor handle) switches on leased quota;
    ``output`` (a directory) journals every finished row there, in the batch CLI's format.
    """

    def __init__(
        self,
        recipe: ClientRecipe,
        *,
        concurrency: int = 64,
        model: str | None = None,
        coordinator: Any = None,
        lease_period: float = 0.25,
        output: str | None = None,
    ) -> None:
        if recipe.max_concurrency is None:
            recipe = replace(recipe, max_concurrency=concurrency)
        self._client = recipe.client()
        self._concurrency = concurrency
        self._model = model
        self._coordinator = coordinator
        self._lease_period = lease_period
        self._name = uuid.uuid4().hex
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._journal = Journal(output) if output is not None else None
        self._stop = threading.Event()
        if coordinator is not None:
            limiter = self._client.limiter
            assert limiter is not None
            self._client.limiter = _CountingLimiter(limiter.ceiling)

    async def __call__(self, batch: Any) -> pa.Table:
        """Run one batch; the result rows, in the batch's order."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            if self._coordinator is not None:
                await self._renew()
                self._lease_task = self._loop.create_task(self._keep_lease())
        try:
            rows = await run_rows(
                self._client,
                _column(batch, "custom_id"),
                _column(batch, "request"),
                concurrency=self._concurrency,
                model=self._model,
                on_line=None if self._journal is None else self._journal.write,
                stop=self._stop,
            )
        except FATAL_ERRORS as exc:
            raise JobStoppedError.from_error(exc) from None
        return result_table(rows)

    async def stop(self) -> None:
        """Start no more calls: every batch ends once its calls in flight are done.

        Each batch returns only its finished rows (the others are left out; a resume runs
        them). For a driver that stops a job early (the CLI's exit 3, Ctrl-C): what was paid
        for is handed back and written, not lost with a cancelled batch and paid for again by
        the rerun. Later batches return no rows.
        """
        self._stop.set()

    async def _renew(self) -> None:
        limiter = self._client.limiter
        assert isinstance(limiter, _CountingLimiter)
        successes, throttled = limiter.take_counts()
        lease = await self._coordinator.renew.remote(self._name, successes, throttled)
        limiter.resize(int(lease))

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self._lease_period)
            try:
                await self._renew()
            except Exception as exc:  # the coordinator is gone: keep the last lease
                logger.warning("vertexchat: quota lease not renewed (%s)", type(exc).__name__)

    async def _aclose(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        await self._client.aclose()

    def close(self) -> None:
        """Close the client: on the loop it ran on if that still runs, else without a loop.

        Ray Data deletes the instance when the actor exits (``__del__``); the loop thread
        may already be gone at interpreter exit, hence ``Client.close()`` as the fallback.
        """
        loop, self._loop = self._loop, None
        if self._journal is not None:
            self._journal.close()
        if self._coordinator is not None:
            with contextlib.suppress(Exception):
                self._coordinator.leave.remote(self._name)
        if loop is not None and loop.is_running() and _run_on(loop, self._aclose):
            return
        self._client.close()

    def __del__(self) -> None:
        # ray.remote() derives its ActorClass from this class without running __init__: only
        # an instance that built a client has one to close.
        if "_client" in vars(self):
            self.close()


def _run_on(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], Coroutine[Any, Any, None]]
) -> bool:
    """Run a coroutine on ``loop`` (running in another thread); whether it finished in time."""
    future = asyncio.run_coroutine_threadsafe(factory(), loop)
    try:
        future.result(timeout=_CLOSE_TIMEOUT)
    except Exception:
        future.cancel()
        return False
    return True


def _column(batch: Any, name: str) -> list[Any]:
    """One column of a pyarrow, pandas or numpy-dict batch, as a Python list."""
    try:
        column = batch[name]
    except (KeyError, TypeError):
        raise KeyError(f"the dataset needs a {name!r} column (custom_id, request)") from None
    if hasattr(column, "to_pylist"):
        return list(column.to_pylist())
    return list(column.tolist())


def complete(
    dataset: Any,
    recipe: ClientRecipe,
    *,
    actors: int = 2,
    concurrency: int | None = None,
    quota: Quota = "split",
    model: str | None = None,
    batch_size: int = 512,
    num_cpus: float = 0.25,
    output: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
) -> Any:
    """A Dataset of result rows for a Dataset of ``custom_id`` + ``request`` rows (lazy).

    ``recipe.max_concurrency`` (default 64 per actor) and its rpm/tpm are the whole job's;
    ``quota`` says how actors share them (see the module docstring). ``concurrency`` is the
    number of calls each actor's batch keeps going (default: its share of the quota).

    ``output`` (a directory; on a cluster of several nodes, one they share) makes the job
    exactly-once: the ids already finished there are dropped first (``pending``, which checks
    that ids are unique), and every actor appends each row it finishes there at once, in the
    batch CLI's format. Rerun the same call after a kill; ``read_results`` reads the rows.
    """
    if actors < 1:
        raise ValueError("actors must be at least 1")
    if quota not in ("split", "lease"):
        raise ValueError(f"quota must be 'split' or 'lease', not {quota!r}")
    total = recipe.max_concurrency or 64 * actors
    share = replace(recipe, max_concurrency=total).share(actors)
    recipe.client().close()  # a bad recipe fails here, on the driver, not in every actor
    options: dict[str, Any] = {"concurrency": concurrency or share.max_concurrency, "model": model}
    if output is not None:
        dataset = pending(dataset, output, retry_failed=retry_failed)
        options["output"] = os.path.abspath(os.fspath(output))
    if quota == "lease":
        coordinator = ray.remote(num_cpus=0)(QuotaCoordinator)
        options["coordinator"] = coordinator.remote(total)
    results = dataset.map_batches(
        ChatCompletions,
        fn_constructor_args=(share,),
        fn_constructor_kwargs=options,
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=num_cpus,
    )
    # Raise JobStoppedError itself, not Ray Data's UserCodeException that loses its cause.
    results.context.raise_original_map_exception = True
    return results


def run(
    dataset: Any, recipe: ClientRecipe, output: str | os.PathLike[str], **options: Any
) -> dict[str, int]:
    """Run ``complete(dataset, recipe, output=output, **options)`` to the end; its totals.

    Returns how many rows this run finished (``rows``), answered (``ok``) and failed
    (``failed``); rows finished by earlier runs are not counted again.
    """
    results = complete(dataset, recipe, output=output, **options)
    totals = {"rows": 0, "ok": 0, "failed": 0}
    for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
        answered = batch.num_rows - batch.column("response").null_count
        totals["rows"] += batch.num_rows
        totals["ok"] += answered
        totals["failed"] += batch.num_rows - answered
    return totals


def stopping_error(exc: BaseException) -> JobStoppedError | None:
    """The ``JobStoppedError`` inside what Ray raised (its ``RayTaskError`` wrapper), if any."""
    for cause in _causes(exc):
        if type(cause) is JobStoppedError:
            return cause
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for attribute in ("cause", "__cause__", "__context__"):
            inner = getattr(current, attribute, None)
            if isinstance(inner, BaseException):
                todo.append(inner)
        todo.extend(getattr(current, "exceptions", ()))
