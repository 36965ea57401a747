"""The ``vertexchat`` command line: ``batch``, ``chat`` and ``emulator``.

Edge module, stdlib argparse only. Each subcommand registers itself with one function
(``add_batch_command``, ``add_chat_command``, …) and sets a ``handler``; ``main`` turns every
expected failure into one line on stderr and an exit code (see ``_cli_common``):

0 success · 1 some requests failed · 2 nothing run (usage, input/output or OS error,
credentials) · 3 stopped early on a systematic error · 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._cli_batch import add_batch_command
from ._cli_chat import add_chat_command
from ._cli_common import (
    DEFAULT_MODEL,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    target_options,
)
from ._cli_files import describe_os_error
from ._exceptions import CredentialsError, VertexChatError
from ._jsonl import UsageError
from ._ray_cli import add_engine_options

__all__ = ["DEFAULT_MODEL", "build_parser", "main"]

_CREDENTIALS_HINT = (
    "To fix: run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
    "to a service account key file (or pass --token TOKEN, or --emulator to try it locally)."
)
_CLI_CREDENTIALS_HINT = "(On the command line: --token TOKEN, or --emulator to try it locally.)"


def _add_doctor_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ._cli_doctor import add_doctor_parser

    add_doctor_parser(commands, target_options(model=True, timeout=False))


def _add_emulator_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .testing._command import add_emulator_parser, run_emulator

    add_emulator_parser(commands)
    commands.choices["emulator"].set_defaults(handler=run_emulator)


def build_parser() -> argparse.ArgumentParser:
    """The ``vertexchat`` argument parser."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="vertexchat", description="Chat completions on Vertex AI, one or many at a time."
    )
    parser.add_argument("--version", action="version", version=f"vertexchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [target_options()]
    add_batch_command(commands, parents)
    add_engine_options(commands.choices["batch"])
    add_chat_command(commands, parents)
    _add_doctor_command(commands)
    _add_emulator_command(commands)
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
    if isinstance(exc, OSError):
        _quiet_stdout_after(exc)
        print(f"vertexchat: {describe_os_error(exc)}", file=sys.stderr)
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


def _quiet_stdout_after(exc: OSError) -> None:
    """After stdout failed (a full disk, a closed pipe), point it at /dev/null so the
    interpreter's final flush does not print a second error."""
    if exc.filename is not None:
        return  # a named file failed, not stdout
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups, else ``exc``."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
