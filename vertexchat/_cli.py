"""The ``vertexchat`` command line: ``batch`` (resumable JSONL jobs), ``chat`` and ``emulator``.

Edge module, stdlib argparse only. ``batch`` reads one request per line, either
``{"custom_id": …, "body": {create() parameters}}`` (``method``/``url`` keys, as in OpenAI batch
files, are accepted and ignored) or a bare request with ``messages``, and appends one result
line per input, flushed as it arrives: ``{"custom_id": …, "response": {ChatCompletion}}`` or
``{"custom_id": …, "error": {"type", "message", "status_code"}}``. Rerunning skips the
``custom_id``s already in the output, after cutting off a partial last line left by a kill.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio

from . import _media as media
from ._auth import ADC
from ._batch import BatchResult, record_result
from ._client import Client
from ._exceptions import (
    AuthenticationError,
    CredentialsError,
    PermissionDeniedError,
    VertexChatError,
)
from ._jsonl import (
    UsageError,
    error_line,
    finished_ids,
    read_input,
    success_line,
)
from ._progress import BatchStats, progress_line, summary_lines

__all__ = ["build_parser", "main"]

DEFAULT_MODEL = "google/gemini-2.5-flash"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_CREDENTIALS_HINT = (
    "To fix: run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service account key file (or pass --token TOKEN, or --emulator to try it locally)."
)
_CLI_CREDENTIALS_HINT = "(On the command line: --token TOKEN, or --emulator to try it locally.)"
_FATAL_ERRORS = (CredentialsError, AuthenticationError, PermissionDeniedError)


@dataclass
class BatchJob:
    """What ``batch`` works on: the input, what is left to do, and where results go."""

    input: Path
    output: Path
    done: set[str]
    total: int
    model: str | None
    stats: BatchStats = field(default_factory=BatchStats)
    pending: dict[int, str] = field(default_factory=dict)
    invalid: int = 0
    interrupted: bool = False
    problems_shown: int = 0

    @property
    def todo(self) -> int:
        """Inputs without a line in the output yet."""
        return self.total - len(self.done)


def prepare_job(args: argparse.Namespace) -> BatchJob:
    """Check the input (duplicate ids are fatal) and the output (resume, repair)."""
    source, output = Path(args.input), Path(args.output)
    if not source.is_file():
        raise UsageError(f"input file not found: {source}")
    first_seen: dict[str, int] = {}
    duplicates: list[str] = []
    for line in read_input(source):
        if line.custom_id in first_seen:
            duplicates.append(
                f"{line.custom_id!r} on lines {first_seen[line.custom_id]} and {line.number}"
            )
        first_seen.setdefault(line.custom_id, line.number)
    if duplicates:
        more = f" (+{len(duplicates) - 3} more)" if len(duplicates) > 3 else ""
        raise UsageError("duplicate custom_id " + "; ".join(duplicates[:3]) + more)
    done, repaired = finished_ids(output)
    if repaired:
        _say(args, f"{output}: removed a partial last line left by an interrupted run")
    return BatchJob(source, output, done & first_seen.keys(), len(first_seen), default_model(args))


class ResultWriter:
    """Appends result lines, each flushed (and optionally fsynced) as soon as it is written."""

    def __init__(self, file: IO[bytes], *, fsync: bool) -> None:
        self._file = file
        self._fsync = fsync

    def write(self, record: dict[str, Any]) -> None:
        """Write one whole line."""
        self._file.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())


def job_requests(job: BatchJob, writer: ResultWriter, args: argparse.Namespace) -> Iterator[Any]:
    """Requests still to run; unusable lines are written as errors on the way."""
    index = 0
    for line in read_input(job.input):
        if line.custom_id in job.done:
            continue
        if line.body is None:
            job.invalid += 1
            _problem(job, args, line.problem or f"line {line.number}: unusable")
            writer.write(error_line(line.custom_id, line.problem or "unusable line"))
            job.stats.record(ok=False, latency=None, attempts=0)
            continue
        body = dict(line.body)
        if job.model and not body.get("model"):
            body["model"] = job.model
        job.pending[index] = line.custom_id
        index += 1
        yield body


def _problem(job: BatchJob, args: argparse.Namespace, message: str) -> None:
    job.problems_shown += 1
    if job.problems_shown <= 20:
        _say(args, message, clear=True)
    elif job.problems_shown == 21:
        _say(args, "(more problems are only written to the output)", clear=True)


async def run_batch(args: argparse.Namespace, job: BatchJob) -> int:
    """Run what is left of the job; write every result as it arrives."""
    with job.output.open("ab") as file:
        writer = ResultWriter(file, fsync=args.fsync)
        async with open_client(args) as client, anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_sigint, job, tasks.cancel_scope)
            tasks.start_soon(_show_progress, job, args)
            await _consume(client, job, writer, args)
            tasks.cancel_scope.cancel()
    job.stats.finish()
    _finish_progress(job, args)
    if job.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if job.stats.failed else EXIT_OK


async def _consume(
    client: Client, job: BatchJob, writer: ResultWriter, args: argparse.Namespace
) -> None:
    requests = job_requests(job, writer, args)
    options: dict[str, Any] = {"concurrency": args.concurrency}
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    run = client.batch(requests, **options)
    async with run:
        async for result in run:
            if isinstance(result.error, _FATAL_ERRORS):
                raise result.error  # every other request would fail the same way
            _write_result(job, writer, result)


def _write_result(job: BatchJob, writer: ResultWriter, result: BatchResult) -> None:
    custom_id = job.pending.pop(result.index)
    if result.response is not None:
        writer.write(success_line(custom_id, result.response))
    else:
        assert result.error is not None
        writer.write(error_line(custom_id, result.error))
    record_result(job.stats, result)


async def _stop_on_sigint(job: BatchJob, scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                job.interrupted = True
                scope.cancel()
                return
    except (NotImplementedError, ValueError):  # no signals here (Windows, a worker thread)
        await anyio.sleep_forever()


async def _show_progress(job: BatchJob, args: argparse.Namespace) -> None:
    if args.quiet:
        return
    tty = sys.stderr.isatty()
    interval = args.progress_interval or (0.2 if tty else 10.0)
    while True:
        await anyio.sleep(interval)
        line = progress_line(job.stats, job.todo)
        sys.stderr.write(f"\r{line}\x1b[K" if tty else line + "\n")
        sys.stderr.flush()


def _finish_progress(job: BatchJob, args: argparse.Namespace) -> None:
    if args.quiet:
        return
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{progress_line(job.stats, job.todo)}\x1b[K\n")
    for line in summary_lines(job.stats, skipped=len(job.done)):
        print(line, file=sys.stderr)
    if job.interrupted:
        print(f"interrupted: rerun the same command to finish {job.output}", file=sys.stderr)
    elif job.stats.failed:
        print(
            f"{job.stats.failed} requests failed: see their error lines in {job.output}",
            file=sys.stderr,
        )


def _say(args: argparse.Namespace, message: str, *, clear: bool = False) -> None:
    if not getattr(args, "quiet", False):
        prefix = "\r\x1b[K" if clear and sys.stderr.isatty() else ""
        print(f"{prefix}vertexchat: {message}", file=sys.stderr)


def command_batch(args: argparse.Namespace) -> int:
    """``vertexchat batch INPUT -o OUTPUT``."""
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    job = prepare_job(args)
    if job.todo == 0:
        _say(args, f"nothing to do: all {job.total} requests already have a line in {job.output}")
        return EXIT_OK
    if job.done:
        _say(args, f"resuming: {len(job.done)} of {job.total} already done")
    return anyio.run(run_batch, args, job)


# --- chat ---------------------------------------------------------------------------------------


def default_model(args: argparse.Namespace) -> str | None:
    """``--model``, else Gemini 2.5 Flash on the shared endpoint (a deployed one needs none)."""
    if args.model:
        return str(args.model)
    return None if args.endpoint and not args.emulator else DEFAULT_MODEL


def image_part(path: str) -> dict[str, Any]:
    """An ``image_url`` content part holding the file inline (``vertexchat.image_part``)."""
    try:
        return media.image_part(Path(path))
    except (OSError, ValueError) as exc:  # missing file, unknown type, over the inline limit
        raise UsageError(f"--image {path}: {exc}") from None


def chat_params(args: argparse.Namespace) -> dict[str, Any]:
    """The ``create()`` parameters the ``chat`` command line describes."""
    content: Any = args.prompt
    if args.image:
        content = [{"type": "text", "text": args.prompt}, *map(image_part, args.image)]
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    params: dict[str, Any] = {"model": default_model(args), "messages": messages}
    if args.think is not None:
        thinking = {"include_thoughts": True, "thinking_budget": args.think}
        google = {"thinking_config": thinking, "thought_tag_marker": "thought"}
        params["extra_body"] = {"google": google}
    return params


def _write_thoughts(text: str) -> None:
    # Thoughts go to stderr, dimmed on a terminal, so stdout holds only the answer.
    sys.stderr.write(f"\x1b[2m{text}\x1b[0m" if sys.stderr.isatty() else text)
    sys.stderr.flush()


def _write_answer(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def run_chat(args: argparse.Namespace) -> int:
    """Send one prompt; stream the answer to stdout (the client splits thoughts off)."""
    params = chat_params(args)
    async with open_client(args) as client:
        if args.no_stream:
            completion = await client.chat.completions.create(**params)
            for choice in completion.choices[:1]:
                thoughts = getattr(choice.message, "thoughts", None)
                if thoughts:
                    _write_thoughts(thoughts + "\n\n")
                _write_answer(choice.message.content or "")
        else:
            thinking = False
            stream = await client.chat.completions.create(stream=True, **params)
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices[:1]:
                        thoughts = getattr(choice.delta, "thoughts", None)
                        if thoughts:
                            thinking = True
                            _write_thoughts(thoughts)
                        if choice.delta.content:
                            if thinking:  # the answer starts below the thoughts
                                thinking = False
                                _write_thoughts("\n\n")
                            _write_answer(choice.delta.content)
    _write_answer("\n")
    return EXIT_OK


def command_chat(args: argparse.Namespace) -> int:
    """``vertexchat chat PROMPT``."""
    chat_params(args)  # report a bad --image before connecting
    return anyio.run(run_chat, args)


# --- target selection and main ------------------------------------------------------------------


@asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    """The client the target options describe; with ``--emulator`` a loopback emulator."""
    if args.emulator:
        from .testing import Emulator, Faults, serve

        emulator = Emulator(require_auth=False, faults=Faults(latency=args.emulator_latency))
        async with (
            serve(emulator, host="127.0.0.1", port=0) as server,
            _client(args, base_url=server.base_url(), auth=None) as client,
        ):
            yield client
        return
    auth: object = None if args.no_auth else (args.token or ADC)
    async with _client(args, base_url=args.base_url, auth=auth) as client:
        yield client


def _client(args: argparse.Namespace, *, base_url: str | None, auth: object) -> Client:
    try:
        return Client(
            args.project,
            args.location,
            endpoint=args.endpoint,
            api_version=args.api_version,
            base_url=base_url,
            auth=auth,
            max_retries=args.max_retries,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _target_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    target = parent.add_argument_group("target")
    target.add_argument("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT)")
    target.add_argument("--location", help="region or 'global' (default: global)")
    target.add_argument(
        "--endpoint", help="endpoint id for self-deployed models (default: openapi)"
    )
    target.add_argument("--api-version", default="v1", choices=["v1", "v1beta1"])
    where = target.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="send to this base URL instead (…/endpoints/openapi)")
    where.add_argument(
        "--emulator", action="store_true", help="use the built-in emulator on 127.0.0.1"
    )
    target.add_argument(
        "--emulator-latency", type=float, default=0.0, metavar="SECONDS", help=argparse.SUPPRESS
    )
    auth = parent.add_argument_group("authentication (default: Application Default Credentials)")
    how = auth.add_mutually_exclusive_group()
    how.add_argument(
        "--token", help="a static bearer token (e.g. `gcloud auth print-access-token`)"
    )
    how.add_argument("--no-auth", action="store_true", help="send no Authorization header")
    parent.add_argument(
        "--model", help=f"model for requests without one (default {DEFAULT_MODEL})"
    )
    parent.add_argument("--max-retries", type=int, help="retries per request (default 3)")
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``vertexchat`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="vertexchat", description="Chat completions on Vertex AI, one or many at a time."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    target = _target_options()
    batch = commands.add_parser(
        "batch",
        parents=[target],
        help="run a JSONL file of requests, resumably",
        description="Run every request of INPUT (JSONL) and append one result line per request "
        "to OUTPUT. Rerun the same command to resume: finished custom_ids are skipped.",
    )
    batch.add_argument("input", metavar="INPUT.jsonl")
    batch.add_argument("-o", "--output", required=True, metavar="OUTPUT.jsonl")
    batch.add_argument("--concurrency", type=int, default=64, help="most requests in flight")
    batch.add_argument("--fsync", action="store_true", help="fsync after every result line")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    batch.add_argument("--progress-interval", type=float, help=argparse.SUPPRESS)
    batch.set_defaults(handler=command_batch)
    chat = commands.add_parser(
        "chat", parents=[target], help="ask one question, stream the answer"
    )
    chat.add_argument("prompt")
    chat.add_argument("--system", help="a system instruction")
    chat.add_argument("--image", action="append", metavar="PATH", help="attach an image file")
    chat.add_argument("--think", type=int, metavar="BUDGET", help="think with this token budget")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.set_defaults(handler=command_chat)
    from ._cli_doctor import add_doctor_parser
    from .testing._command import add_emulator_parser, run_emulator

    add_doctor_parser(commands, target)

    add_emulator_parser(commands)
    commands.choices["emulator"].set_defaults(handler=run_emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("vertexchat: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as exc:
        return _report(_single(exc))
    return code


def _report(exc: BaseException) -> int:
    if isinstance(exc, UsageError):
        print(f"vertexchat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, CredentialsError):
        text = str(exc).rstrip()
        hint = _CREDENTIALS_HINT if "gcloud auth" not in text else _CLI_CREDENTIALS_HINT
        print(f"vertexchat: {text} {hint}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, VertexChatError):
        print(f"vertexchat: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, KeyboardInterrupt):
        print("vertexchat: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    raise exc


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups, else ``exc``."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
