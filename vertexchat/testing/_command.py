"""Adapter: ``vertexchat emulator`` — serve the emulator on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio

from ._emulator import Emulator, RecordedRequest
from ._faults import Faults
from ._server import serve


def add_emulator_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``emulator`` sub-command (its handler is ``run_emulator``)."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a credential-free Vertex AI emulator on 127.0.0.1",
        description="Serve an emulated Vertex AI OpenAI-compatible endpoint until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any)")
    parser.add_argument(
        "--token", action="append", help="accepted bearer token (repeatable; default: any)"
    )
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a token")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fraction of faulty answers")
    parser.add_argument(
        "--fault", action="append", help="fault drawn at --fault-rate (grammar; default 429)"
    )
    parser.add_argument(
        "--schedule", action="append", default=[], help="fault for the next request, in order"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--slow-first-byte", type=float, default=0.0, help="seconds before body")
    parser.add_argument("--max-concurrency", type=int, help="answer 429 above this many in flight")
    parser.add_argument("--retry-after", type=float, help="Retry-After seconds on every 429")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--remote-media", action="store_true", help="accept https:// media URLs")
    parser.add_argument(
        "--request-log",
        metavar="FILE",
        help="append each request received to FILE as a JSON line (time, method, path, body)",
    )


def emulator_from_args(
    args: argparse.Namespace, on_request: Callable[[RecordedRequest], None] | None = None
) -> Emulator:
    """The Emulator the parsed command line describes."""
    faults = Faults(
        rate=args.fault_rate,
        kinds=tuple(args.fault or ("429",)),
        schedule=tuple(args.schedule),
        latency=args.latency,
        slow_first_byte=args.slow_first_byte,
        max_concurrency=args.max_concurrency,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    return Emulator(
        tokens=args.token,
        require_auth=not args.no_auth,
        faults=faults,
        remote_media=args.remote_media,
        on_request=on_request,
    )


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; print the URLs to use. Returns the process exit code."""
    try:
        with _request_log(args.request_log) as log:
            emulator = emulator_from_args(args, log)
            return _serve(emulator, args.host, args.port)
    except (ValueError, OSError) as exc:  # a bad option or an unwritable --request-log
        print(f"vertexchat emulator: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _request_log(name: str | None) -> Iterator[Callable[[RecordedRequest], None] | None]:
    if name is None:
        yield None
        return
    with open(name, "a", encoding="utf-8") as file:

        def write(request: RecordedRequest) -> None:
            entry = {"time": request.time, "method": request.method, "path": request.path}
            file.write(json.dumps({**entry, "body": request.body}) + "\n")
            file.flush()

        yield write


def _serve(emulator: Emulator, host: str, port: int) -> int:
    try:
        anyio.run(_serve_forever, emulator, host, port)
    except KeyboardInterrupt:
        print("\nemulator stopped", file=sys.stderr)
    except OSError as exc:
        print(
            f"vertexchat emulator: cannot listen on {host}:{port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _serve_forever(emulator: Emulator, host: str, port: int) -> None:
    async with serve(emulator, host=host, port=port) as server:
        auth = "any bearer token" if emulator.tokens is None else "the given --token values"
        if not emulator.require_auth:
            auth = "no token"
        print(f"Vertex AI emulator listening on {server.url} (accepts {auth})")
        global_url = server.base_url(location="global", api_version="v1beta1")
        print(f"  base URL:         {server.base_url()}")
        print(f"  global, v1beta1:  {global_url}")
        print(f"  chat completions: {server.base_url()}/chat/completions")
        print("  faults per request: header x-emulator-fault: 429 | 503 | reset | cut | ...")
        print("Press Ctrl-C to stop.", flush=True)
        await anyio.sleep_forever()
