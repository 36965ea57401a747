"""Result shards: a directory of JSONL files in the batch CLI's output format.

Edge module (file I/O), engine-neutral: each worker of a job (a Ray actor, a Dask worker, a
plain process) appends the output line of every row it finishes to its own ``Journal`` file,
one unbuffered write per line, so a result is on disk the moment its call is done; anything
reads the directory back with ``read_index``/``shard_paths``.

Exactly-once, as a reader sees it:

* a kill costs at most each journal's last line, cut short; readers drop a last line that
  does not end in a newline, so what they see are whole results;
* a rerun skips the ids a shard already finished (``ShardIndex.finished``) before any call, so
  only the calls that were in flight at the kill are made again;
* and should an id still appear twice (an engine retrying work, two runs at once), readers
  keep one row per id: a response over an error, a permanent error over a transient one.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ._jsonl import OUTCOME_RANK, Outcome, encode_line, outcome_of, parse_output_line
from ._rows import row_from_line

__all__ = [
    "SHARD_SUFFIX",
    "Journal",
    "ShardIndex",
    "best_row",
    "better",
    "fsync_directory",
    "read_index",
    "row_outcome",
    "rows_of_lines",
    "shard_paths",
    "whole_lines",
]

SHARD_SUFFIX = ".jsonl"


class Journal:
    """One worker's append-only shard in ``directory`` (created on the first line)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"part-{uuid.uuid4().hex}{SHARD_SUFFIX}"
        self.lines = 0
        self._file: BinaryIO | None = None

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one result line; it is in the file (not in a buffer) when this returns."""
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("xb", buffering=0)
        data = memoryview(encode_line(dict(line)))
        while data:  # one write(2) per line in practice; a short write is finished here
            data = data[self._file.write(data) or 0 :]
        self.lines += 1

    def close(self) -> None:
        """Close the file (durable on disk after ``os.fsync``; a kill alone loses nothing)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                os.fsync(file.fileno())
            file.close()


def shard_paths(directory: str | os.PathLike[str]) -> list[Path]:
    """The finished shards of a directory, sorted (hidden files and leftovers excluded)."""
    folder = Path(directory)
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory of result shards")
    return sorted(
        path
        for path in folder.iterdir()
        if path.name.endswith(SHARD_SUFFIX) and not path.name.startswith(".") and path.is_file()
    )


@dataclass
class ShardIndex:
    """The outcome each ``custom_id`` reached across a directory's shards (ids only)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    lines: int = 0
    duplicates: int = 0
    foreign: int = 0

    def feed(self, raw: bytes) -> None:
        """Account for one line of a shard."""
        self.lines += 1
        parsed = parse_output_line(raw)
        if parsed is None:
            self.foreign += 1
            return
        custom_id, outcome = parsed
        known = self.outcomes.get(custom_id)
        if known is not None:
            self.duplicates += 1
            if OUTCOME_RANK[known] >= OUTCOME_RANK[outcome]:
                return
        self.outcomes[custom_id] = outcome

    def finished(self, *, retry_failed: bool = False) -> set[str]:
        """Ids a rerun skips: successes, and permanent failures unless ``retry_failed``."""
        keep: tuple[Outcome, ...] = ("ok",) if retry_failed else ("ok", "permanent")
        return {cid for cid, outcome in self.outcomes.items() if outcome in keep}

    def counts(self) -> dict[Outcome, int]:
        """How many ids ended in each outcome."""
        totals: dict[Outcome, int] = {"ok": 0, "transient": 0, "permanent": 0}
        for outcome in self.outcomes.values():
            totals[outcome] += 1
        return totals


def read_index(directory: str | os.PathLike[str]) -> ShardIndex:
    """Index every shard of ``directory`` (an absent directory is an empty index)."""
    index = ShardIndex()
    for path in shard_paths(directory):
        for raw in whole_lines(path):
            index.feed(raw)
    return index


def whole_lines(path: Path) -> Iterator[bytes]:
    """The lines of a shard, without a last line a kill cut short (no newline at its end)."""
    with path.open("rb") as file:
        for raw in file:
            if raw.endswith(b"\n"):
                yield raw


def better(new: Outcome, old: Outcome) -> bool:
    """Whether a row with outcome ``new`` replaces one with ``old`` for the same id."""
    return OUTCOME_RANK[new] > OUTCOME_RANK[old]


def rows_of_lines(texts: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The result rows (``_rows.RESULT_COLUMNS``) of shard lines read as text.

    A line that is not JSON (the last line a kill cut short) or not a result is skipped.
    """
    for text in texts:
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if outcome_of(record) is not None:
            yield row_from_line(record)


def best_row(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Of two rows of one id, the one a reader keeps (the first when they are as good)."""
    return second if better(row_outcome(second), row_outcome(first)) else first


def row_outcome(row: Mapping[str, Any]) -> Outcome:
    """What a result row says about its request (``ok``, ``transient``, ``permanent``)."""
    if row["response"] is not None:
        return "ok"
    error = json.loads(row["error"])
    outcome = outcome_of({"custom_id": row["custom_id"], "error": error})
    return "permanent" if outcome is None or outcome == "ok" else outcome


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the system allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open directories; the rename is still atomic
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
