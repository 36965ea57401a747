"""``vertexchat batch --dry-run``: validate every line offline and estimate the tokens.

Nothing is sent and nothing is written: each request goes through the same validation the
client applies before the network, and its prompt is estimated at 4 characters per token
(258 tokens per image or other media part, Gemini's count for an image).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from ._cli_common import EXIT_FAILED, EXIT_OK, say
from ._exceptions import InvalidRequestError
from ._request import build_request

if TYPE_CHECKING:
    from ._cli_batch import BatchJob

__all__ = ["dry_run", "estimate_prompt_tokens"]

_CHARS_PER_TOKEN = 4
_MEDIA_TOKENS = 258


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough prompt size: text at 4 characters per token, 258 per media part."""
    characters, media = 0, 0
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text":
                    characters += len(str(part.get("text", "")))
                else:
                    media += 1
        for call in message.get("tool_calls") or []:
            characters += len(str(call))
    for tool in body.get("tools") or []:
        characters += len(str(tool))
    return math.ceil(characters / _CHARS_PER_TOKEN) + media * _MEDIA_TOKENS


def dry_run(args: argparse.Namespace, job: BatchJob) -> int:
    """Check the requests a run would send; print what was found and the token estimate."""
    publisher_model = not args.endpoint or bool(args.emulator)
    valid = invalid = tokens = 0
    for line in job.source.lines():
        if line.custom_id in job.skip:
            continue
        problem = line.problem
        if problem is None and line.body is not None:
            body = job.body(line)
            try:
                build_request(body, publisher_model=publisher_model)
            except InvalidRequestError as exc:
                problem = f"line {line.number} ({line.custom_id}): {exc}"
            else:
                valid += 1
                tokens += estimate_prompt_tokens(body)
                continue
        invalid += 1
        if invalid <= 20:
            say(args, problem or f"line {line.number}: unusable")
    rate = (
        f"; at --tpm {args.tpm:g} that is about {tokens / args.tpm:.1f} minutes"
        if args.tpm
        else ""
    )
    say(
        args,
        f"dry run: {valid + invalid} requests to send ({len(job.skip)} already done): "
        f"{valid} valid, {invalid} invalid; about {tokens} prompt tokens "
        f"(estimated at {_CHARS_PER_TOKEN} characters per token, {_MEDIA_TOKENS} per image)"
        f"{rate}. Nothing was sent or written.",
    )
    return EXIT_FAILED if invalid else EXIT_OK
