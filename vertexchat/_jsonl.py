"""Pure: the JSONL formats of ``vertexchat batch`` (input lines, result lines, resuming).

Input: ``{"custom_id": …, "body": {create() parameters}}`` (OpenAI batch files' ``method`` and
``url`` keys are accepted and ignored) or a bare request with ``messages``. Output:
``{"custom_id": …, "response": {ChatCompletion}}`` or ``{"custom_id": …, "error": {…}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._exceptions import APIStatusError
from ._response_models import ChatCompletion

__all__ = [
    "InputLine",
    "UsageError",
    "error_line",
    "finished_ids",
    "parse_input_line",
    "read_input",
    "success_line",
]


class UsageError(Exception):
    """A problem with the command line or the input file: one line, exit code 2."""


@dataclass(frozen=True)
class InputLine:
    """One non-blank input line: its ``custom_id`` and request body, or why it is unusable."""

    number: int
    custom_id: str
    body: dict[str, Any] | None
    problem: str | None = None


def parse_input_line(text: str, number: int) -> InputLine:
    """Read one line of a batch input file (``number`` counts from 1)."""
    fallback = f"line-{number}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return InputLine(number, fallback, None, f"line {number}: not valid JSON ({exc})")
    if not isinstance(data, dict):
        return InputLine(number, fallback, None, f"line {number}: expected a JSON object")
    custom_id = data.get("custom_id", fallback)
    if not isinstance(custom_id, str) or not custom_id:
        return InputLine(number, fallback, None, f"line {number}: custom_id must be a string")
    url = data.get("url")
    if isinstance(url, str) and not url.rstrip("/").endswith("/chat/completions"):
        return InputLine(number, custom_id, None, f"line {number}: url {url!r} is not chat")
    if "body" in data:
        body = data["body"]
    elif "messages" in data:
        body = {key: value for key, value in data.items() if key != "custom_id"}
    else:
        body = None
    if not isinstance(body, dict):
        problem = f'line {number}: expected {{"custom_id", "body": {{…}}}} or a request'
        return InputLine(number, custom_id, None, problem)
    return InputLine(number, custom_id, body)


def read_input(path: Path) -> Iterator[InputLine]:
    """Parse the input file lazily, skipping blank lines."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield parse_input_line(text, number)


def success_line(custom_id: str, response: ChatCompletion) -> dict[str, Any]:
    """The output line of a request that got a response; split-off thoughts are kept."""
    body = response.model_dump(mode="json", exclude_unset=True)
    for choice, dumped in zip(response.choices, body.get("choices", []), strict=False):
        thoughts = getattr(choice.message, "thoughts", None)
        if thoughts and isinstance(dumped.get("message"), dict):
            dumped["message"]["thoughts"] = thoughts
    return {"custom_id": custom_id, "response": body}


def error_line(custom_id: str, error: BaseException | str) -> dict[str, Any]:
    """The output line of a request that failed (or an input line that was unusable)."""
    if isinstance(error, str):
        kind, message, status = "InvalidRequestError", error, None
    else:
        kind, message = type(error).__name__, str(error)
        status = error.status_code if isinstance(error, APIStatusError) else None
    return {
        "custom_id": custom_id,
        "error": {"type": kind, "message": message, "status_code": status},
    }


def finished_ids(path: Path) -> tuple[set[str], bool]:
    """``custom_id``s already in the output; cuts a partial last line off (True if it did)."""
    if not path.exists():
        return set(), False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    repaired = end < len(data)
    if repaired:
        with path.open("r+b") as output:
            output.truncate(end)
    done: set[str] = set()
    for raw in data[:end].splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # not ours; the line stays, its request will run again
        if isinstance(record, dict) and isinstance(record.get("custom_id"), str):
            done.add(record["custom_id"])
    return done, repaired


# --- batch --------------------------------------------------------------------------------------
