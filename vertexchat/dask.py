"""Chat completions over a Dask Bag (``pip install 'vertexchat[dask]'``).

Edge module; ``import vertexchat`` never imports it (or Dask). ``complete`` turns a Bag of
requests (dicts with ``custom_id`` and ``request``, the JSON of ``create()`` parameters) into a
lazy Bag of result rows: dicts with the columns of ``RESULT_COLUMNS``, the response or error as
JSON, attempts, latency and tokens. Errors are rows; a credential, 401 or 403 error stops the
job with ``JobStoppedError`` (raised by ``compute()`` as it is).

Each worker process keeps one ``Client`` per recipe, on one event loop running in a thread of
its own: Dask tasks are synchronous, so a partition's task hands ``run_rows`` to that loop and
waits. Every task thread of the process shares the client's connections, credentials and
limiter, and the worker's own event loop (heartbeats, data transfer) never runs our calls.
The clients are closed on that loop when the worker closes (a worker plugin's teardown) or at
process exit.

Quota: Vertex counts it per project and model, not per worker. ``quota="split"`` gives each
worker process an even share of ``max_concurrency``/rpm/tpm (each adapting to 429s within its
share). ``quota="semaphore"`` keeps the job's ``max_concurrency`` in a
``distributed.Semaphore`` of leases worth a few calls each: a partition takes leases for the
calls it keeps in flight (about four scheduler round trips per partition, not one per request)
and returns them when done, so the cap holds however many workers join (rpm and tpm are split
as with ``"split"``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

import dask
import dask.bag
from distributed import Semaphore, WorkerPlugin, get_client

from ._client import Client
from ._rows import (
    FATAL_ERRORS,
    RESULT_COLUMNS,
    ClientRecipe,
    JobStoppedError,
    output_line,
    run_rows,
)
from ._shards import Journal, best_row, read_index, rows_of_lines, shard_paths

__all__ = [
    "RESULT_COLUMNS",
    "ClientRecipe",
    "ClientsPlugin",
    "JobStoppedError",
    "complete",
    "complete_partition",
    "output_line",
    "read_results",
]

Quota = Literal["split", "semaphore"]
_CLOSE_TIMEOUT = 10.0
_PLUGIN_NAME = "vertexchat-clients"


class _ProcessClients:
    """This process's clients, one per recipe, all on one event loop in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[ClientRecipe, Client] = {}
        self._journals: dict[str, Journal] = {}

    def run(
        self, recipe: ClientRecipe, ids: list[str], requests: list[Any], **options: Any
    ) -> list[dict[str, Any]]:
        """``run_rows`` on this process's client for ``recipe``; blocks the calling thread."""
        with self._lock:
            loop = self._start()
            client = self._clients.get(recipe)
            if client is None:
                client = self._clients[recipe] = recipe.client()
        job = run_rows(client, ids, requests, **options)
        return asyncio.run_coroutine_threadsafe(job, loop).result()

    def journal(self, directory: str) -> Journal:
        """This process's shard in ``directory`` (written from its event loop only)."""
        with self._lock:
            journal = self._journals.get(directory)
            if journal is None:
                journal = self._journals[directory] = Journal(directory)
            return journal

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="vertexchat-dask-loop", daemon=True
            )
            self._thread.start()
        return self._loop

    def close(self) -> None:
        """Cancel what still runs, close every client on its loop, then end the loop."""
        with self._lock:
            loop, thread, clients = self._loop, self._thread, list(self._clients.values())
            journals = list(self._journals.values())
            self._loop = self._thread = None
            self._clients.clear()
            self._journals.clear()
        for journal in journals:
            journal.close()
        if loop is None or thread is None:
            return
        closing = asyncio.run_coroutine_threadsafe(_close_all(clients), loop)
        try:
            closing.result(timeout=_CLOSE_TIMEOUT)
        except Exception:
            for client in clients:  # the loop is stuck: close without it
                client.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()

    def __len__(self) -> int:
        return len(self._clients)


async def _close_all(clients: list[Client]) -> None:
    current = asyncio.current_task()
    running = [task for task in asyncio.all_tasks() if task is not current]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for client in clients:
        await client.aclose()


_clients = _ProcessClients()
atexit.register(_clients.close)


class ClientsPlugin(WorkerPlugin):  # type: ignore[misc]
    """Closes the worker's vertexchat clients when the worker closes (``complete`` adds it)."""

    idempotent = True  # registering it again (every complete()) keeps the running one
    name = _PLUGIN_NAME

    def teardown(self, worker: Any) -> None:
        _clients.close()


def complete_partition(
    rows: Iterable[Mapping[str, Any]],
    recipe: ClientRecipe,
    *,
    concurrency: int,
    model: str | None = None,
    semaphore: Any = None,
    lease_size: int = 1,
    output_dir: str | None = None,
    finished: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Result rows for one partition of ``custom_id`` + ``request`` dicts, in its order.

    Runs on this process's client for ``recipe``. With ``semaphore`` (a
    ``distributed.Semaphore`` whose every lease is worth ``lease_size`` calls in flight), the
    partition keeps as many calls in flight as its leases are worth: at least one lease
    (waiting for it), at most enough for ``concurrency`` calls. With ``output_dir``,
    rows whose id is in ``finished`` are dropped and each finished row is appended at once to
    this process's shard there.
    """
    rows = [row for row in rows if _field(row, "custom_id") not in finished]
    if not rows:
        return []
    options: dict[str, Any] = {}
    if output_dir is not None:
        options["on_line"] = _clients.journal(output_dir).write
    ids = [_field(row, "custom_id") for row in rows]
    requests = [_field(row, "request") for row in rows]
    wanted = min(concurrency, len(rows))
    leases = 0
    if semaphore is not None:
        leases = _acquire(semaphore, -(-wanted // lease_size))
        wanted = min(wanted, leases * lease_size)
    try:
        return _clients.run(recipe, ids, requests, concurrency=wanted, model=model, **options)
    except FATAL_ERRORS as exc:
        raise JobStoppedError.from_error(exc) from None
    finally:
        for _ in range(leases):
            semaphore.release()


def _field(row: Mapping[str, Any], name: str) -> Any:
    try:
        return row[name]
    except (KeyError, TypeError):
        raise KeyError(
            f"each element needs a {name!r} key (custom_id, request), got {type(row).__name__}"
        ) from None


def _acquire(semaphore: Any, wanted: int) -> int:
    """Take one lease (waiting for it), then as many more as are free now, up to ``wanted``."""
    semaphore.acquire()
    held = 1
    while held < wanted and semaphore.acquire(timeout=0):
        held += 1
    return held


def complete(
    bag: dask.bag.Bag,
    recipe: ClientRecipe,
    *,
    workers: int | None = None,
    concurrency: int | None = None,
    quota: Quota = "split",
    model: str | None = None,
    output: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
) -> dask.bag.Bag:
    """A lazy Bag of result rows for a Bag of ``custom_id`` + ``request`` dicts.

    ``recipe.max_concurrency`` (default 64 per worker) and its rpm/tpm are the whole job's;
    ``quota`` says how worker processes share them (see the module docstring). ``workers``
    is how many worker processes share the quota (default: the connected cluster's workers,
    or 1 without one). ``concurrency`` caps the calls one partition keeps in flight (default:
    one worker's share). Partitions keep their order and their rows'.

    ``output`` (a directory the workers share) makes the job exactly-once, as
    ``vertexchat.ray.complete(..., output=)``: ids must be unique across the bag (checked
    here, computing that field once), those already finished in ``output`` are dropped before
    any call, and every worker process appends each finished row there at once; rerun the
    same call after a kill, and read the rows with ``read_results``.
    """
    if not isinstance(bag, dask.bag.Bag):
        raise TypeError(
            f"complete() takes a dask.bag.Bag of custom_id + request dicts, not "
            f"{type(bag).__name__} (a Dask DataFrame: ddf.to_bag(format='dict'))"
        )
    if quota not in ("split", "semaphore"):
        raise ValueError(f"quota must be 'split' or 'semaphore', not {quota!r}")
    cluster = _cluster_client()
    parts = workers if workers is not None else _worker_count(cluster)
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError("workers must be an int >= 1")
    total = recipe.max_concurrency or 64 * parts
    recipe.client().close()  # a bad recipe fails here, on the driver, not in every task
    whole = replace(recipe, max_concurrency=total)
    share = whole.share(parts)
    assert share.max_concurrency is not None
    options: dict[str, Any] = {"model": model, "concurrency": concurrency or share.max_concurrency}
    if quota == "semaphore":
        if cluster is None:
            raise ValueError("quota='semaphore' needs a distributed.Client (a Dask cluster)")
        # A lease is worth several calls, so that a partition takes a few (one scheduler
        # round trip each), not one per call: about four per worker's share.
        lease_size = max(1, total // (4 * parts))
        options["semaphore"] = Semaphore(max_leases=total // lease_size)
        options["lease_size"] = lease_size
        # The leases cap the job's calls in flight (a partition asks for one worker's share);
        # rpm and tpm stay split.
        share = replace(share, max_concurrency=total)
    if output is not None:
        _check_ids(bag)
        # (not "output": dask's map_partitions has a keyword of that name)
        options["output_dir"] = os.path.abspath(os.fspath(output))
        done = frozenset(read_index(options["output_dir"]).finished(retry_failed=retry_failed))
        options["finished"] = dask.delayed(done, pure=True)  # shipped once, not per partition
    if cluster is not None:
        cluster.register_plugin(ClientsPlugin(), name=_PLUGIN_NAME)
    return bag.map_partitions(complete_partition, share, **options)


def _check_ids(bag: dask.bag.Bag) -> None:
    seen: set[str] = set()
    for custom_id in bag.map(_field, "custom_id").compute():
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"custom_id must be a non-empty string, not {custom_id!r}")
        if custom_id in seen:
            raise ValueError(f"duplicate custom_id {custom_id!r}: each row needs its own")
        seen.add(custom_id)


def read_results(output: str | os.PathLike[str]) -> dask.bag.Bag:
    """A Bag of the result rows in ``output``: exactly one per ``custom_id`` (lazy).

    The rule of ``vertexchat.ray.read_results``: an answer over an error, a permanent error
    over a transient one; ``attempts`` and ``latency`` read as None (shards do not keep them).
    """
    paths = [str(path) for path in shard_paths(output)]
    if not paths:
        return dask.bag.from_sequence([], npartitions=1)
    rows = dask.bag.read_text(paths).map_partitions(_parse_lines)
    pairs = rows.foldby(_row_id, best_row, combine=best_row)
    return pairs.map(_second)


def _parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    return list(rows_of_lines(lines))


def _row_id(row: Mapping[str, Any]) -> str:
    return str(row["custom_id"])


def _second(pair: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return pair[1]


def _cluster_client() -> Any:
    """The ``distributed.Client`` in use, or None (the local threaded scheduler)."""
    try:
        return get_client()
    except ValueError:
        return None


def _worker_count(cluster: Any) -> int:
    return 1 if cluster is None else max(1, len(cluster.nthreads()))
