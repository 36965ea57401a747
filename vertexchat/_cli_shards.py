"""An output directory of JSONL shards for ``vertexchat batch`` (``-o DIR/`` or an existing
directory): each run appends to one new shard, resuming reads them all.

Edge module. The directory is one output: its ``*.jsonl`` files (not hidden ones) in name
order, each line a result as in an output file — the format of ``vertexchat.ray``'s result
directories, and an id found more than once counts by its best line, as their readers choose.
A run writes ``part-NNNNN.jsonl``, numbered after the shards already there, and creates it
only when it writes (a run that writes nothing leaves nothing). Resuming indexes every shard;
compaction rewrites, oldest first, only the shards that lose a line, each atomically, so a
kill between two shards still leaves the best line of every id that is not being redone.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import IO

from ._cli_files import BatchInput, compact_file, scan_into, shard_files
from ._jsonl import OutputIndex, UsageError

__all__ = ["OutputDirectory", "is_directory_output"]

_PART = re.compile(r"part-(\d+)\.jsonl")


def is_directory_output(name: str) -> bool:
    """Whether ``-o NAME`` means a directory of shards: it is one, or it ends with ``/``."""
    return name.endswith(("/", os.sep)) or Path(name).is_dir()


class OutputDirectory:
    """The output of a resumable run as a directory of shards; ``OutputFile``'s interface."""

    def __init__(self, name: str, source: BatchInput) -> None:
        self.name = name
        self.path = Path(name)
        self.existed = self.path.is_dir()
        self._shards: list[tuple[Path, int]] = []  # each shard and the index of its first line
        self._created: Path | None = None
        self._check(source)

    def _check(self, source: BatchInput) -> None:
        if not self.existed:
            if self.path.exists():
                raise UsageError(f"output {self.name} is not a directory")
            parent = self.path.parent
            if not parent.is_dir():
                raise UsageError(f"output directory {parent} does not exist (create it first)")
            return
        if source.path is None:
            return
        inside = source.path.parent if source.shards is None else source.path
        if os.path.samefile(inside, self.path):
            what = "is the input directory" if source.shards else "holds the input file"
            raise UsageError(f"output directory {self.name} {what}; name another directory")

    @property
    def new_shard(self) -> Path:
        """The shard this run appends to: numbered after every ``part-N.jsonl`` already there."""
        numbers = [-1]
        if self.existed:
            numbers += [int(m[1]) for p in self.path.iterdir() if (m := _PART.fullmatch(p.name))]
        return self.path / f"part-{max(numbers) + 1:05d}.jsonl"

    def scan(self) -> tuple[OutputIndex, bool]:
        """Index every shard in name order; cut partial last lines (True if any was cut)."""
        index = OutputIndex(best_wins=True)
        repaired = False
        if not self.existed:
            return index, False
        for shard in shard_files(self.path, f"output directory {self.name}"):
            self._shards.append((shard, index.lines))
            repaired = scan_into(shard, index) or repaired
        return index, repaired

    def compact(self, index: OutputIndex, redo: set[str]) -> None:
        """Drop the lines of ``redo`` and superseded duplicates, oldest shard first."""
        for shard, first_line in self._shards:
            compact_file(shard, index, redo, first_line=first_line)

    def remove_stale_temporaries(self) -> None:
        """Delete what a compaction killed mid-way left behind (never a shard)."""
        if self.existed:
            for leftover in self.path.glob(".*.jsonl.compacting.*"):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def open_for_append(self) -> IO[bytes]:
        """This run's new shard (and the directory, if it did not exist)."""
        if not self.existed:
            self.path.mkdir()
        shard = self.new_shard
        file = shard.open("xb")
        self._created = shard
        return file

    def remove_if_new_and_empty(self) -> None:
        """Undo what this run created if nothing was written to it."""
        if self._created is not None:
            with contextlib.suppress(OSError):
                if self._created.stat().st_size == 0:
                    self._created.unlink()
        if not self.existed:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty
