"""Exactly-once output for Ray Data jobs: skip what is finished, journal each row, read once.

Edge module of ``vertexchat.ray`` (imports Ray). The output is a directory of result shards
(``_shards``: the batch CLI's output lines; every actor appends each row it finishes to its
own shard at once). ``pending`` drops the requests whose id already finished there (what
``complete(..., output=)`` does first); ``read_results`` gives one row per ``custom_id``
whatever happened before. Killed at any point and rerun, the job sends no finished id again
and a reader sees every id once; only the calls in flight at the kill are made again.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray

from ._shards import best_row, read_index, rows_of_lines, shard_paths

__all__ = ["RESULT_SCHEMA", "pending", "read_results", "result_table"]

RESULT_SCHEMA = pa.schema(
    [
        ("custom_id", pa.string()),
        ("response", pa.string()),
        ("error", pa.string()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("error_kind", pa.string()),
        ("status_code", pa.int64()),
        ("attempts", pa.int64()),
        ("latency", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("total_tokens", pa.int64()),
    ]
)
"""The Arrow schema of result rows (the columns of ``vertexchat._rows.RESULT_COLUMNS``)."""


def result_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Result rows as a ``RESULT_SCHEMA`` table."""
    columns = {name: [row[name] for row in rows] for name in RESULT_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=RESULT_SCHEMA)


def pending(requests: Any, output: str | os.PathLike[str], *, retry_failed: bool = False) -> Any:
    """The rows of ``requests`` whose ``custom_id`` has no finished result in ``output`` yet.

    Finished: a response, or a permanent error unless ``retry_failed`` (transient errors are
    always redone), as in ``vertexchat batch``. ``custom_id``\\ s must be non-empty strings,
    unique across the whole dataset: checked here, in the driver, by reading that column once
    (a duplicate raises ``ValueError`` naming it) — a second row with a finished row's id would
    otherwise be skipped unseen. The driver holds the ids, not the requests.
    """
    _check_ids(requests)
    finished = read_index(output).finished(retry_failed=retry_failed)
    if not finished:
        return requests
    reference = ray.put(pa.array(sorted(finished), type=pa.string()))
    return requests.map_batches(
        _drop_finished, fn_kwargs={"finished": reference}, batch_format="pyarrow"
    )


def _check_ids(requests: Any) -> None:
    seen: set[str] = set()
    ids = requests.select_columns(["custom_id"])
    for batch in ids.iter_batches(batch_format="pyarrow", batch_size=None):
        for custom_id in batch.column("custom_id").to_pylist():
            if not isinstance(custom_id, str) or not custom_id:
                raise ValueError(f"custom_id must be a non-empty string, not {custom_id!r}")
            if custom_id in seen:
                raise ValueError(f"duplicate custom_id {custom_id!r}: each row needs its own")
            seen.add(custom_id)


_finished_cache: dict[str, pa.Array] = {}


def _drop_finished(batch: pa.Table, finished: Any) -> pa.Table:
    key = finished.hex()
    values = _finished_cache.get(key)
    if values is None:
        _finished_cache.clear()  # one job's set at a time per worker process
        values = _finished_cache[key] = ray.get(finished)
    keep = pc.invert(pc.is_in(batch.column("custom_id"), value_set=values))
    return batch.filter(keep)


def read_results(output: str | os.PathLike[str]) -> Any:
    """A Dataset of the result rows in ``output``: exactly one row per ``custom_id``.

    Should an id appear more than once (a transient error then a rerun's answer, or two runs
    at once), the row kept is a response over an error, a permanent error over a transient.
    ``attempts`` and ``latency`` are not stored in shards: they read as null.
    """
    paths = [str(path) for path in shard_paths(output)]
    if not paths:
        return ray.data.from_arrow(RESULT_SCHEMA.empty_table())
    lines = ray.data.read_text(paths)
    rows = lines.map_batches(_parse_lines, batch_format="pyarrow")
    partitions = max(1, min(64, len(paths)))  # Ray's default of 200 is slow for a few shards
    grouped = rows.groupby("custom_id", num_partitions=partitions)
    return grouped.map_groups(_best_row, batch_format="pyarrow")


def _parse_lines(batch: pa.Table) -> pa.Table:
    return result_table(list(rows_of_lines(batch.column("text").to_pylist())))


def _best_row(group: pa.Table) -> pa.Table:
    if group.num_rows == 1:
        return group
    return result_table([functools.reduce(best_row, group.to_pylist())])
