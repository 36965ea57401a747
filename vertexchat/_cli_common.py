"""What every ``vertexchat`` subcommand shares: exit codes, the target and model options, the
client they describe, and one-line messages on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ._auth import ADC, AuthLike
from ._client import Client
from ._jsonl import UsageError
from ._urls import DEFAULT_MODEL

__all__ = [
    "DEFAULT_MODEL",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "default_model",
    "open_client",
    "say",
    "target_options",
]

# 0: every request has a success line. 1: some requests failed (their error lines say why).
# 2: nothing was run — bad arguments, input, output file, OS error or credentials.
# 3: stopped early, every result so far being the same systematic error (wrong model, URL…).
# 130: interrupted (Ctrl-C / SIGINT); rerun the same command to finish.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def say(args: argparse.Namespace, message: str, *, clear: bool = False) -> None:
    """One ``vertexchat: …`` line on stderr (unless ``--quiet``)."""
    if not getattr(args, "quiet", False):
        prefix = "\r\x1b[K" if clear and sys.stderr.isatty() else ""
        print(f"{prefix}vertexchat: {message}", file=sys.stderr, flush=True)


def default_model(args: argparse.Namespace) -> str | None:
    """The model for requests without one: ``--default-model``, else Gemini 2.5 Flash on the
    shared endpoint (a self-deployed endpoint needs none)."""
    chosen = getattr(args, "default_model", None) or getattr(args, "model", None)
    if chosen:
        return str(chosen)
    return None if args.endpoint and not args.emulator else DEFAULT_MODEL


@asynccontextmanager
async def open_client(args: argparse.Namespace, **options: Any) -> AsyncIterator[Client]:
    """The client the target options describe; with ``--emulator`` a loopback emulator."""
    if args.emulator:
        from .testing import Emulator, Faults, serve

        emulator = Emulator(require_auth=False, faults=Faults(latency=args.emulator_latency))
        async with (
            serve(emulator, host="127.0.0.1", port=0) as server,
            _client(args, base_url=server.base_url(), auth=None, **options) as client,
        ):
            yield client
        return
    auth: AuthLike = None if args.no_auth else (args.token or ADC)
    async with _client(args, base_url=args.base_url, auth=auth, **options) as client:
        yield client


def _client(
    args: argparse.Namespace, *, base_url: str | None, auth: AuthLike, **options: Any
) -> Client:
    if args.timeout is not None:
        options["timeout"] = args.timeout
    try:
        return Client(
            args.project,
            args.location,
            endpoint=args.endpoint,
            api_version=args.api_version,
            base_url=base_url,
            auth=auth,
            max_retries=args.max_retries,
            **options,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number above zero."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def target_options(*, model: bool = False, timeout: bool = True) -> argparse.ArgumentParser:
    """The options every command shares: where to send, how to authenticate, retries.

    ``model`` adds a plain ``--model`` (commands with their own model options leave it out);
    ``timeout`` adds ``--timeout`` for commands that do not define their own.
    """
    parent = argparse.ArgumentParser(add_help=False)
    target = parent.add_argument_group("target")
    target.add_argument("--project", help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)")
    target.add_argument(
        "--location", help="region or 'global' (default: $GOOGLE_CLOUD_LOCATION, else global)"
    )
    target.add_argument(
        "--endpoint",
        help="endpoint id of a self-deployed model (default: openapi, the shared one)",
    )
    target.add_argument(
        "--api-version", default="v1", choices=["v1", "v1beta1"], help="(default: %(default)s)"
    )
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
    calls = parent.add_argument_group("calls")
    calls.add_argument(
        "--max-retries", type=int, metavar="N", help="retries per request (default: 3)"
    )
    if timeout:
        calls.add_argument(
            "--timeout",
            type=positive(float),
            metavar="SECONDS",
            help="give up on an attempt after this long (default: 600 s read, 10 s connect)",
        )
    if model:
        calls.add_argument("--model", help=f"model (default: {DEFAULT_MODEL})")
    return parent
