"""``vertexchat batch``: run a JSONL file of requests, resumably, writing one line per request.

Edge module. The line formats and the resume rules are pure (``_jsonl``), the files are in
``_cli_files``, the progress line is drawn by ``_progress_view``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import anyio

from ._batch import BatchResult, record_result
from ._cli_common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STOPPED,
    default_model,
    open_client,
    positive,
    say,
)
from ._cli_dry_run import dry_run
from ._cli_files import STDIO, BatchInput, OutputFile, ResultWriter
from ._cli_progress import ProgressPrinter
from ._cli_shards import OutputDirectory, is_directory_output
from ._exceptions import AuthenticationError, CredentialsError, PermissionDeniedError
from ._jsonl import FailureWatch, InputLine, OutputIndex, UsageError, error_line, success_line
from ._progress import BatchStats, format_duration

__all__ = ["PROBE", "add_batch_command", "command_batch", "screen_line"]

_FATAL_ERRORS = (CredentialsError, AuthenticationError, PermissionDeniedError)
PROBE = 8  # requests sent before the first answer says the target works


@dataclass
class BatchJob:
    """What ``batch`` works on: the input, what is left to do, where results go, the tallies."""

    source: BatchInput
    output: OutputFile | OutputDirectory | None  # None: stdout
    skip: set[str]
    todo: int | None  # None: a stream, unknown until read
    model: str | None
    override: bool
    stats: BatchStats = field(default_factory=BatchStats)
    pending: dict[int, str] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=lambda: {"transient": 0, "permanent": 0})
    kept_failures: int = 0  # permanent failures from an earlier run, not retried
    watch: FailureWatch = field(default_factory=FailureWatch)
    opened: anyio.Event | None = None  # set once the target answered; made inside the loop
    stopped: str | None = None
    interrupted: bool = False
    problems_shown: int = 0

    def body(self, line: InputLine) -> dict[str, Any]:
        """The request of an input line, with ``--model`` / ``--default-model`` applied."""
        assert line.body is not None
        body = dict(line.body)
        if self.model and (self.override or not body.get("model")):
            body["model"] = self.model
        return body


def prepare_job(args: argparse.Namespace) -> BatchJob:
    """Check input and output before anything is sent; plan what a rerun redoes."""
    source = BatchInput.open(args.input)
    output = None if args.output == STDIO else open_output(args.output, source)
    source.check()
    index = OutputIndex()
    if output is not None:
        output.remove_stale_temporaries()
        index, repaired = output.scan()
        if repaired:
            say(args, f"{output.name}: removed a partial last line left by an interrupted run")
    finished = index.finished(retry_failed=args.retry_failed)
    ids = source.ids
    skip = finished & ids if not source.is_stream else finished
    model, override = (args.model, True) if args.model else (default_model(args), False)
    todo = None if source.total is None else source.total - len(skip)
    job = BatchJob(source, output, skip, todo, model, override)
    job.kept_failures = sum(1 for cid in skip if index.last[cid][1] == "permanent")
    redo = {cid for cid in index.last if cid not in finished and (source.is_stream or cid in ids)}
    if output is not None and not args.dry_run and (redo or index.duplicates):
        output.compact(index, redo)
        if redo:
            say(args, f"redoing {len(redo)} failed requests ({_redo_reason(args)})")
    return job


def open_output(name: str, source: BatchInput) -> OutputFile | OutputDirectory:
    """The output ``-o NAME`` names: a file, or a directory of shards (``DIR/`` or a directory)."""
    if is_directory_output(name):
        return OutputDirectory(name, source)
    return OutputFile(name, source)


def _redo_reason(args: argparse.Namespace) -> str:
    return "all failures: --retry-failed" if args.retry_failed else "transient failures"


def _problem(job: BatchJob, args: argparse.Namespace, message: str) -> None:
    job.problems_shown += 1
    if job.problems_shown <= 20:
        say(args, message, clear=True)
    elif job.problems_shown == 21:
        say(args, "(more problems are only written to the output)", clear=True)


async def job_requests(
    job: BatchJob, writer: ResultWriter, args: argparse.Namespace
) -> AsyncIterator[dict[str, Any]]:
    """Requests still to run; unusable lines become error lines on the way.

    The first ``PROBE`` requests go out alone: the rest wait until an answer shows the target
    works, so a wrong model or URL costs a handful of requests, not thousands.
    """
    seen: dict[str, int] = {}
    index = 0
    async for line in _lines(job.source):
        if not screen_line(job, writer, args, line, seen):
            continue
        if index == PROBE and job.opened is not None:
            await job.opened.wait()
        job.pending[index] = line.custom_id
        index += 1
        yield job.body(line)


def screen_line(
    job: BatchJob,
    writer: ResultWriter,
    args: argparse.Namespace,
    line: InputLine,
    seen: dict[str, int],
) -> bool:
    """Whether ``line`` is to be sent: finished ids are skipped, and an unusable line (or an id
    repeated on a stream, tracked in ``seen``) becomes its error line here."""
    if line.custom_id in job.skip:
        return False
    problem = line.problem
    if job.source.is_stream and line.custom_id in seen:
        problem = f"line {line.number}: duplicate custom_id (first on line {seen[line.custom_id]})"
    seen.setdefault(line.custom_id, line.number)
    if problem is None and line.body is not None:
        return True
    problem = problem or f"line {line.number}: unusable"
    _problem(job, args, problem)
    writer.write(error_line(line.custom_id, problem))
    job.stats.record(ok=False, latency=None, attempts=0)
    job.kinds["permanent"] += 1
    return False


async def _lines(source: BatchInput) -> AsyncIterator[InputLine]:
    lines: Iterator[InputLine] = source.lines()
    if not source.is_stream:
        for line in lines:
            yield line
        return
    while True:  # a pipe may block: read it in a worker thread, not in the event loop
        pulled: InputLine | None = await anyio.to_thread.run_sync(_next_or_none, lines)
        if pulled is None:
            return
        yield pulled


async def run_batch(args: argparse.Namespace, job: BatchJob) -> int:
    """Run what is left of the job; write every result as it arrives."""
    job.opened = anyio.Event()
    with _result_file(job) as file:
        writer = ResultWriter(file, fsync=args.fsync)
        try:
            await _run(args, job, writer)
        except BaseException:
            if writer.written == 0 and job.output is not None:
                file.close()  # credentials, TLS setup…: leave no empty output behind
                job.output.remove_if_new_and_empty()
            raise
    return finish(args, job)


@contextlib.contextmanager
def _result_file(job: BatchJob) -> Iterator[IO[bytes]]:
    if job.output is None:
        yield sys.stdout.buffer
        return
    with job.output.open_for_append() as file:
        yield file


async def _run(args: argparse.Namespace, job: BatchJob, writer: ResultWriter) -> None:
    limits = {"max_concurrency": args.concurrency}
    if args.rpm:
        limits["requests_per_minute"] = args.rpm
    if args.tpm:
        limits["tokens_per_minute"] = args.tpm
    async with open_client(args, **limits) as client, anyio.create_task_group() as tasks:
        run = client.batch(job_requests(job, writer, args), concurrency=args.concurrency)
        printer = ProgressPrinter(args, job, run)
        tasks.start_soon(_stop_on_sigint, job, tasks.cancel_scope)
        tasks.start_soon(printer.run)
        try:
            async with run:
                async for result in run:
                    if isinstance(result.error, _FATAL_ERRORS):
                        raise result.error  # every other request would fail the same way
                    _write_result(job, writer, result)
                    if job.stopped:
                        break
        finally:
            job.stats.finish()
            printer.close()
            tasks.cancel_scope.cancel()


def _write_result(job: BatchJob, writer: ResultWriter, result: BatchResult) -> None:
    custom_id = job.pending.pop(result.index)
    if result.response is not None:
        writer.write(success_line(custom_id, result.response))
        _open_gate(job)
    else:
        assert result.error is not None
        line = error_line(custom_id, result.error)
        writer.write(line)
        job.kinds[line["error"]["kind"]] += 1
    record_result(job.stats, result)
    job.stopped = job.watch.observe(result.error)
    if job.stopped is None and job.watch.seen >= PROBE:
        _open_gate(job)


def _open_gate(job: BatchJob) -> None:
    if job.opened is not None:
        job.opened.set()


async def _stop_on_sigint(job: BatchJob, scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                job.interrupted = True
                scope.cancel()
                return
    except (NotImplementedError, ValueError):  # no signals here (Windows, a worker thread)
        await anyio.sleep_forever()


def finish(args: argparse.Namespace, job: BatchJob, *, ran: bool = True) -> int:
    """Print the summary and the line saying what to do next; return the exit code."""
    code = _exit_code(job)
    if ran and not args.quiet:
        for line in summary_lines(job):
            print(line, file=sys.stderr)
    where = job.output.name if job.output is not None else "the output"
    if job.interrupted:
        say(args, f"interrupted: rerun the same command to finish {where}")
    elif job.stopped:
        say(args, f"stopped: {job.stopped}")
    elif code == EXIT_FAILED:
        transient, permanent = job.kinds["transient"], job.kinds["permanent"] + job.kept_failures
        advice = []
        if transient:
            advice.append(f"{transient} transient (rerun the same command to redo them)")
        if permanent:
            advice.append(f"{permanent} permanent (fix them, then rerun with --retry-failed)")
        say(args, "failed requests: " + ", ".join(advice) + f"; see their error lines in {where}")
    if args.summary_json:
        _write_summary(args, job, code)
    return code


def _exit_code(job: BatchJob) -> int:
    if job.interrupted:
        return EXIT_INTERRUPTED
    if job.stopped:
        return EXIT_STOPPED
    return EXIT_FAILED if job.stats.failed or job.kept_failures else EXIT_OK


def summary_lines(job: BatchJob) -> list[str]:
    """The end-of-run summary: counts by outcome, tokens, elapsed, rates and latency."""
    stats = job.stats
    p50, p95 = stats.latency_p50, stats.latency_p95
    latency = f", latency p50 {p50:.2f}s p95 {p95:.2f}s" if p50 is not None and p95 else ""
    skipped = f"; {len(job.skip)} already in the output, skipped" if job.skip else ""
    return [
        f"done {stats.done}: {stats.succeeded} ok, {stats.failed} failed "
        f"({job.kinds['transient']} transient, {job.kinds['permanent']} permanent){skipped}",
        f"tokens: {stats.prompt_tokens} prompt, {stats.completion_tokens} completion, "
        f"{stats.reasoning_tokens} thinking, {stats.total_tokens} total",
        f"elapsed {format_duration(stats.elapsed)}, {stats.throughput:.1f} requests/s, "
        f"{stats.tokens_per_second:.0f} tokens/s{latency}",
    ]


def _write_summary(args: argparse.Namespace, job: BatchJob, code: int) -> None:
    stats = job.stats
    summary = {
        "exit_code": code,
        "output": job.output.name if job.output is not None else STDIO,
        "done": stats.done,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "failed_transient": job.kinds["transient"],
        "failed_permanent": job.kinds["permanent"],
        "kept_permanent_failures": job.kept_failures,
        "skipped": len(job.skip),
        "not_run": max(0, (job.todo or 0) - stats.done) if job.todo is not None else None,
        "stopped": job.stopped,
        "interrupted": job.interrupted,
        "elapsed_seconds": round(stats.elapsed, 3),
        "requests_per_second": round(stats.throughput, 3),
        "attempts": stats.attempts,
        "tokens": {
            "prompt": stats.prompt_tokens,
            "completion": stats.completion_tokens,
            "reasoning": stats.reasoning_tokens,
            "total": stats.total_tokens,
        },
        "latency_p50_seconds": stats.latency_p50,
        "latency_p95_seconds": stats.latency_p95,
    }
    text = json.dumps(summary, indent=2) + "\n"
    if args.summary_json == STDIO:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    temporary = f"{args.summary_json}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, args.summary_json)


def _next_or_none(lines: Iterator[InputLine]) -> InputLine | None:
    return next(lines, None)


def command_batch(
    args: argparse.Namespace, run: Callable[[argparse.Namespace, BatchJob], int] | None = None
) -> int:
    """``vertexchat batch INPUT -o OUTPUT``; ``run`` runs the job elsewhere (another engine)."""
    if args.summary_json == STDIO and args.output == STDIO:
        raise UsageError("--summary-json - and -o - would both write to stdout; name a file")
    job = prepare_job(args)
    if args.dry_run:
        return dry_run(args, job)
    if job.todo == 0:
        where = job.output.name if job.output is not None else "the output"
        say(args, f"nothing to do: all {job.source.total} requests already have a line in {where}")
        return finish(args, job, ran=False)
    if job.skip:
        say(args, f"resuming: {len(job.skip)} of {job.source.total} already done")
    if run is not None:  # another engine (--engine ray)
        return run(args, job)
    return anyio.run(run_batch, args, job)


def add_batch_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``vertexchat batch``."""
    batch = commands.add_parser(
        "batch",
        parents=parents,
        help="run a JSONL file of requests, resumably",
        description="Run every request of INPUT (JSONL, or - for stdin) and append one result "
        "line per request to OUTPUT (or - for stdout). Rerun the same command to resume: "
        "successes are kept, transient failures (429, 5xx, timeouts) redone, permanent ones "
        "kept unless --retry-failed. Exit codes: 0 all succeeded, 1 some failed, 2 nothing run "
        "(usage, file or credentials error), 3 stopped early on a systematic error, "
        "130 interrupted.",
    )
    batch.add_argument("input", metavar="INPUT.jsonl")
    batch.add_argument("-o", "--output", required=True, metavar="OUTPUT.jsonl")
    models = batch.add_mutually_exclusive_group()
    models.add_argument("--model", help="use this model for every request, replacing theirs")
    models.add_argument(
        "--default-model",
        metavar="MODEL",
        help="model for requests that name none (default: google/gemini-2.5-flash on the "
        "shared endpoint)",
    )
    batch.add_argument(
        "--concurrency",
        type=positive(int),
        default=64,
        help="most requests in flight (default: %(default)s; cut automatically on 429s)",
    )
    batch.add_argument("--rpm", type=positive(float), help="requests per minute (default: no cap)")
    batch.add_argument("--tpm", type=positive(float), help="tokens per minute (default: no cap)")
    batch.add_argument(
        "--retry-failed", action="store_true", help="also redo permanent failures (4xx) on rerun"
    )
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="check every line offline and estimate tokens; send nothing, write nothing",
    )
    batch.add_argument(
        "--summary-json", metavar="FILE", help="write a JSON summary of the run to FILE (- stdout)"
    )
    batch.add_argument("--fsync", action="store_true", help="fsync after every result line")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    batch.add_argument("--progress-interval", type=float, help=argparse.SUPPRESS)
    batch.set_defaults(handler=command_batch)
