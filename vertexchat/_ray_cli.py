"""``vertexchat batch --engine ray``: the batch command's job, with the calls made on Ray.

Edge module; Ray is imported only when the engine is used. Resuming, invalid lines, the
summary and the exit codes are the single-process command's (``_cli``): this module only
swaps how results are produced. The driver reads the pending requests lazily (the
``custom_id``\\ s already in the output are skipped before any call), Ray actors make the
calls (``_ray_driver``: ``vertexchat.ray.ChatCompletions`` actors fed bounded batches), and
the driver alone appends each result line as its batch arrives, flushed, so a killed job
leaves every finished row once and at most a partial last line, which the next run cuts off.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import _cli_batch
from ._cli_files import ResultWriter
from ._jsonl import UsageError

if TYPE_CHECKING:
    from ._cli_batch import BatchJob
    from ._rows import ClientRecipe

__all__ = ["add_engine_options", "command_batch", "run_on_ray"]


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray options of ``vertexchat batch`` (whose handler this becomes)."""
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="where the calls run: this process, or Ray actors (needs vertexchat[ray])",
    )
    engine.add_argument(
        "--ray-address", metavar="ADDR", help="Ray cluster to join (default: start a local one)"
    )
    engine.add_argument("--ray-actors", type=int, default=2, help="actors making calls")
    engine.add_argument(
        "--quota",
        choices=["split", "lease"],
        default="split",
        help="share --concurrency between actors evenly, or lease it from one job-wide limit",
    )
    engine.add_argument("--ray-batch-size", type=int, default=512, help=argparse.SUPPRESS)
    parser.set_defaults(handler=command_batch)


def command_batch(args: argparse.Namespace) -> int:
    """``vertexchat batch``, on the engine ``--engine`` names."""
    if args.engine == "ray":
        return _cli_batch.command_batch(args, run=run_on_ray)
    return _cli_batch.command_batch(args)


def recipe_from_args(args: argparse.Namespace) -> ClientRecipe:
    """The client every actor builds, from the target options."""
    from ._rows import ClientRecipe

    if args.emulator:
        raise UsageError(
            "--emulator runs inside this process; with --engine ray start `vertexchat "
            "emulator` and pass its --base-url"
        )
    auth = "token" if args.token else "none" if args.no_auth else "adc"
    try:
        return ClientRecipe(
            args.project,
            args.location,
            endpoint=args.endpoint,
            api_version=args.api_version,
            base_url=args.base_url,
            auth=auth,  # type: ignore[arg-type]
            token=args.token,
            max_concurrency=args.concurrency,
            requests_per_minute=getattr(args, "rpm", None),
            tokens_per_minute=getattr(args, "tpm", None),
            max_retries=args.max_retries,
            timeout=args.timeout,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_on_ray(args: argparse.Namespace, job: BatchJob) -> int:
    """Run what is left of ``job`` on Ray; same summary and exit codes as the local run."""
    if args.ray_actors < 1:
        raise UsageError("--ray-actors must be at least 1")
    recipe = recipe_from_args(args)
    recipe.client()  # a bad target fails here, once
    with _cli_batch._result_file(job) as file:
        writer = ResultWriter(file, fsync=args.fsync)
        try:
            _run(args, job, writer, recipe)
        except BaseException:
            if writer.written == 0 and job.output is not None:
                file.close()  # credentials, a rejected token…: leave no empty output behind
                job.output.remove_if_new_and_empty()
            raise
    job.stats.finish()
    return _cli_batch.finish(args, job)


def _run(
    args: argparse.Namespace, job: BatchJob, writer: ResultWriter, recipe: ClientRecipe
) -> None:
    rows = _pending_rows(job, writer, args)
    first = next(rows, None)  # unusable lines before it are written; none left: no Ray
    if first is None:
        return
    ray = _start_ray(args.ray_address)
    try:
        from ._ray_driver import write_results

        write_results(itertools.chain([first], rows), recipe, args, job, writer)
    except KeyboardInterrupt:
        job.interrupted = True
    finally:
        ray.shutdown()


def _pending_rows(
    job: BatchJob, writer: ResultWriter, args: argparse.Namespace
) -> Iterator[dict[str, str]]:
    """Rows still to run, read lazily; unusable lines become error lines on the way."""
    seen: dict[str, int] = {}
    for line in job.source.lines():
        if _cli_batch.screen_line(job, writer, args, line, seen):
            yield {"custom_id": line.custom_id, "request": json.dumps(job.body(line))}


def _start_ray(address: str | None) -> Any:
    # Under `uv run` Ray would rebuild the driver's environment for each worker from the uv
    # command line; a local cluster shares this interpreter, and a remote one has its own.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'vertexchat[ray]'") from None
    # Ray Data is not used here: the driver feeds actors itself (importing it costs ≈65 MiB).
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    return ray
