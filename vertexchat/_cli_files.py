"""The files of ``vertexchat batch``: input (a file or stdin), output (checks, resume, atomic
compaction, appending) — every OS error surfaces as an ``OSError`` the CLI turns into one line.

Edge module: the line formats themselves are pure functions in ``_jsonl``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._jsonl import InputLine, OutputIndex, UsageError, decode_input_line, encode_line
from ._shards import fsync_directory

__all__ = [
    "BatchInput",
    "OutputFile",
    "ResultWriter",
    "compact_file",
    "describe_os_error",
    "scan_into",
    "shard_files",
]

STDIO = "-"


@dataclass
class BatchInput:
    """The input: a regular file or a directory of ``*.jsonl`` shards (read twice: a check
    pass, then the run), or a stream (read once).

    ``-``, ``/dev/stdin``, pipes and other special files are streams: ids are checked as they
    come (a repeated id becomes an error line) and the total is unknown until the end. A
    directory is its ``*.jsonl`` files (not hidden ones) in name order, as one input: ids are
    unique across all of them.
    """

    name: str
    path: Path | None
    ids: set[str] = field(default_factory=set)
    total: int | None = None
    shards: list[Path] | None = None  # a directory input

    @classmethod
    def open(cls, name: str) -> BatchInput:
        """Check that the input exists and is readable (``-`` is stdin)."""
        if name == STDIO:
            return cls(name, None)
        path = Path(name)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise UsageError(f"input file not found: {name}") from None
        if stat.S_ISDIR(mode):
            shards = shard_files(path, f"input directory {name}")
            if not shards:
                raise UsageError(f"input directory {name} holds no *.jsonl files")
            return cls(name, path, shards=shards)
        with path.open("rb"):  # permission problems show up now, as one line
            pass
        return cls(name, path if stat.S_ISREG(mode) else None)

    @property
    def is_stream(self) -> bool:
        """Whether the input can be read only once (stdin, a pipe, a device)."""
        return self.path is None

    def check(self) -> None:
        """Read a regular file once: count ids, reject duplicates and text that is not UTF-8."""
        if self.path is None:
            return
        first_seen: dict[str, str] = {}
        duplicates: list[str] = []
        for shard, line in self._placed_lines():
            if line.problem and "not UTF-8" in line.problem:
                raise UsageError(
                    f"{self.name}: {line.problem}; the input must be UTF-8 JSONL "
                    "(convert it first, e.g. iconv -f latin1 -t utf-8)"
                )
            place = f"{shard} line {line.number}" if shard else str(line.number)
            if line.custom_id in first_seen:
                seen = first_seen[line.custom_id]
                where = f"{seen} and {place}" if shard else f"lines {seen} and {place}"
                duplicates.append(f"{line.custom_id!r} on {where}")
            first_seen.setdefault(line.custom_id, place)
        if duplicates:
            more = f" (+{len(duplicates) - 3} more)" if len(duplicates) > 3 else ""
            raise UsageError("duplicate custom_id " + "; ".join(duplicates[:3]) + more)
        self.ids = set(first_seen)
        self.total = len(first_seen)

    def lines(self) -> Iterator[InputLine]:
        """The non-blank lines, parsed lazily (split on ``\\n`` only)."""
        for _, line in self._placed_lines():
            yield line

    def _placed_lines(self) -> Iterator[tuple[str | None, InputLine]]:
        """Each line with the name of its shard (None: not a directory)."""
        files: list[Path | None] = list(self.shards) if self.shards is not None else [self.path]
        for path in files:
            shard = path.name if self.shards is not None and path is not None else None
            with _open_input(path) as raw_lines:
                for number, raw in enumerate(raw_lines, start=1):
                    line = decode_input_line(raw, number, shard)
                    if line is not None:
                        yield shard, line


def shard_files(directory: Path, what: str) -> list[Path]:
    """The ``*.jsonl`` files of a directory in name order, each checked readable (hidden files
    — a compaction's temporaries — are not shards)."""
    shards = sorted(p for p in directory.glob("*.jsonl") if not p.name.startswith("."))
    for shard in shards:
        if not shard.is_file():
            raise UsageError(f"{what}: {shard.name} is not a regular file")
        with shard.open("rb"):  # an unreadable shard is one line, now
            pass
    return shards


@contextlib.contextmanager
def _open_input(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdin.buffer
        return
    with path.open("rb") as file:
        yield file


class OutputFile:
    """The output file of a resumable run: checked, scanned, compacted, then appended to."""

    def __init__(self, name: str, source: BatchInput) -> None:
        self.name = name
        self.path = Path(name)
        self.existed = False
        self._check(source)

    def _check(self, source: BatchInput) -> None:
        parent = self.path.parent
        if not parent.is_dir():
            what = "is not a directory" if parent.exists() else "does not exist"
            raise UsageError(f"output directory {parent} {what} (create it first)")
        if source.shards is not None and os.path.samefile(source.path or ".", parent):
            raise UsageError(
                f"output {self.name} is in the input directory (its *.jsonl files are input "
                "shards); write it elsewhere"
            )
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return
        self.existed = True
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                f"output {self.name} is not a regular file (a device or a pipe cannot be "
                "resumed); use -o - to write to stdout"
            )
        if source.path is not None and os.path.samefile(source.path, self.path):
            raise UsageError(
                f"output {self.name} is the input file (or a link to it); "
                "name another file, the output is appended to"
            )
        with self.path.open("r+b"):  # read-only file or permission problem: one line, now
            pass

    def scan(self) -> tuple[OutputIndex, bool]:
        """Index the finished lines; cut a partial last line left by a kill (True if cut)."""
        index = OutputIndex()
        if not self.existed:
            return index, False
        return index, scan_into(self.path, index)

    def compact(self, index: OutputIndex, redo: set[str]) -> None:
        """Rewrite the file without the lines of ``redo`` and superseded duplicates, atomically."""
        compact_file(self.path, index, redo, first_line=0)

    def remove_stale_temporaries(self) -> None:
        """Delete what a compaction killed mid-way left behind (never the output itself)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.compacting.*"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def open_for_append(self) -> IO[bytes]:
        """The file results are appended to (created now if it did not exist)."""
        return self.path.open("ab")

    def remove_if_new_and_empty(self) -> None:
        """Undo the creation of an output nothing was written to (a credentials error)."""
        if not self.existed:
            with contextlib.suppress(OSError):
                if self.path.stat().st_size == 0:
                    self.path.unlink()


def scan_into(path: Path, index: OutputIndex) -> bool:
    """Feed ``path``'s complete lines to ``index``; cut a partial last line (True if cut)."""
    end = 0
    with path.open("rb") as file:
        for raw in file:
            if not raw.endswith(b"\n"):
                break
            index.feed(raw)
            end += len(raw)
        size = file.seek(0, os.SEEK_END)
    if end < size:
        with path.open("r+b") as file:
            file.truncate(end)
    return end < size


def compact_file(path: Path, index: OutputIndex, redo: set[str], *, first_line: int) -> bool:
    """Rewrite ``path`` without the lines ``index`` does not keep, atomically (True if done).

    ``first_line`` is the number the index gave the file's first line. The new content goes to
    a temporary file in the same directory, is fsynced, then renamed over the file: a kill at
    any moment leaves either the old or the new file. A file that loses no line is left alone.
    """
    temporary = path.with_name(f".{path.name}.compacting.{os.getpid()}")
    dropped = False
    try:
        with path.open("rb") as source, temporary.open("xb") as target:
            os.chmod(temporary, stat.S_IMODE(os.fstat(source.fileno()).st_mode))
            for number, raw in enumerate(source, start=first_line):
                if index.keeps(number, raw, redo):
                    target.write(raw)
                else:
                    dropped = True
            target.flush()
            if dropped:
                os.fsync(target.fileno())
        if not dropped:
            temporary.unlink()
            return False
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_directory(path.parent)
    return True


class ResultWriter:
    """Writes result lines, each flushed (and optionally fsynced) as soon as it is written."""

    def __init__(self, file: IO[bytes], *, fsync: bool) -> None:
        self._file = file
        self._fsync = fsync
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        """Write one whole line."""
        self._file.write(encode_line(record))
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self.written += 1


def describe_os_error(exc: OSError) -> str:
    """One line for an OS error: what failed, on which file, and the system's reason."""
    reason = exc.strerror or str(exc)
    certificates = os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
    tls = isinstance(exc, (ssl.SSLError, FileNotFoundError))
    if exc.filename is None and certificates and tls:
        return (
            "cannot load the CA certificates named by SSL_CERT_FILE/SSL_CERT_DIR "
            f"({certificates}): {reason}"
        )
    where = f" {exc.filename}" if exc.filename else ""
    code = f" [errno {exc.errno}]" if exc.errno else ""
    return f"{reason}:{where}{code}" if where else f"{reason}{code}"
