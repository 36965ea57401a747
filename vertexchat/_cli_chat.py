"""``vertexchat chat``: one prompt, or a conversation (REPL) when no prompt is given.

The answer streams to stdout; thoughts (``--think``) go to stderr, dimmed on a terminal, so
stdout holds only answers. In the REPL every turn is sent with the whole history; ``/reset``
forgets it, ``/system TEXT`` sets the system prompt, ``/exit`` or end of input leaves.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import anyio

from . import _media as media
from ._cli_common import EXIT_OK, default_model, open_client
from ._client import Client
from ._jsonl import UsageError

__all__ = ["add_chat_command", "chat_params", "command_chat"]

_REPL_HELP = "commands: /reset (forget the conversation), /system TEXT, /exit (or Ctrl-D)"


def image_part(path: str) -> dict[str, Any]:
    """An ``image_url`` content part holding the file inline (``vertexchat.image_part``)."""
    try:
        return media.image_part(Path(path))
    except (OSError, ValueError) as exc:  # missing file, unknown type, over the inline limit
        raise UsageError(f"--image {path}: {exc}") from None


def user_message(args: argparse.Namespace, prompt: str) -> dict[str, Any]:
    """The user turn: the prompt, with the ``--image`` files on the first turn."""
    content: Any = prompt
    if args.image:
        content = [{"type": "text", "text": prompt}, *map(image_part, args.image)]
    return {"role": "user", "content": content}


def chat_params(args: argparse.Namespace, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``create()`` parameters for the conversation so far."""
    messages = list(history)
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    params: dict[str, Any] = {"model": default_model(args), "messages": messages}
    if args.think is not None:
        thinking = {"include_thoughts": True, "thinking_budget": args.think}
        google = {"thinking_config": thinking, "thought_tag_marker": "thought"}
        params["extra_body"] = {"google": google}
    return params


def _write_thoughts(text: str) -> None:
    sys.stderr.write(f"\x1b[2m{text}\x1b[0m" if _dim() else text)
    sys.stderr.flush()


def _dim() -> bool:
    from ._cli_progress import wants_color

    return wants_color(sys.stderr)


def _write_answer(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def ask(client: Client, args: argparse.Namespace, history: list[dict[str, Any]]) -> str:
    """Send the conversation; show thoughts and answer as they come; return the answer."""
    params = chat_params(args, history)
    if args.no_stream:
        completion = await client.chat.completions.create(**params)
        message = completion.choices[0].message if completion.choices else None
        thoughts = getattr(message, "thoughts", None)
        if thoughts:
            _write_thoughts(thoughts + "\n\n")
        answer = (message.content if message else None) or ""
        _write_answer(answer)
        return answer
    parts: list[str] = []
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
                    parts.append(choice.delta.content)
                    _write_answer(choice.delta.content)
    return "".join(parts)


async def run_chat(args: argparse.Namespace) -> int:
    """One prompt, or the REPL."""
    async with open_client(args) as client:
        if args.prompt is not None:
            await ask(client, args, [user_message(args, args.prompt)])
            _write_answer("\n")
            return EXIT_OK
        return await repl(client, args)


async def repl(client: Client, args: argparse.Namespace) -> int:
    """Read prompts until ``/exit`` or end of input; each turn carries the history."""
    interactive = sys.stdin.isatty()
    if interactive:
        _enable_line_editing()
        print(
            f"vertexchat chat ({default_model(args) or 'endpoint model'}); {_REPL_HELP}",
            file=sys.stderr,
        )
    history: list[dict[str, Any]] = []
    while True:
        prompt = await anyio.to_thread.run_sync(_read, "> " if interactive else "")
        if prompt is None or prompt.strip() in ("/exit", "/quit"):
            return EXIT_OK
        command, _, rest = prompt.strip().partition(" ")
        if command == "/reset":
            history.clear()
            continue
        if command == "/system":
            args.system = rest or None
            continue
        if not prompt.strip():
            continue
        history.append(
            user_message(args, prompt) if not history else {"role": "user", "content": prompt}
        )
        answer = await ask(client, args, history)
        history.append({"role": "assistant", "content": answer})
        _write_answer("\n")


def _read(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def _enable_line_editing() -> None:
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401  (arrow keys and in-session history for input())


def command_chat(args: argparse.Namespace) -> int:
    """``vertexchat chat [PROMPT]``."""
    if args.prompt is not None:
        user_message(args, args.prompt)  # report a bad --image before connecting
    return anyio.run(run_chat, args)


def add_chat_command(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``vertexchat chat``."""
    chat = commands.add_parser(
        "chat",
        parents=parents,
        help="ask a question (or chat, without PROMPT), streaming the answer",
        description="Send PROMPT and stream the answer to stdout. Without PROMPT, read "
        f"prompts from stdin as a conversation with history; {_REPL_HELP}.",
    )
    chat.add_argument("prompt", nargs="?", help="the question (omit it to chat)")
    chat.add_argument("--model", help="model (default: google/gemini-2.5-flash)")
    chat.add_argument("--system", help="a system instruction")
    chat.add_argument("--image", action="append", metavar="PATH", help="attach an image file")
    chat.add_argument("--think", type=int, metavar="BUDGET", help="think with this token budget")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.set_defaults(handler=command_chat)
