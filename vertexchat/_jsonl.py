"""Pure: the JSONL formats of ``vertexchat batch`` (input lines, result lines, resuming).

Input: ``{"custom_id": …, "body": {create() parameters}}`` (OpenAI batch files' ``method`` and
``url`` keys are accepted and ignored) or a bare request with ``messages``. Output, one line
per ``custom_id``::

    {"custom_id": "q1", "response": {…chat.completion…}}
    {"custom_id": "q2", "error": {"type": "RateLimitError", "message": "…", "status_code": 429,
                                  "kind": "transient"}}

``kind`` says what a rerun does with the line: ``transient`` errors (429, 5xx, 408, timeouts,
connection errors, cut streams) are redone by default, ``permanent`` ones (other 4xx, invalid
requests, unusable input lines) only with ``--retry-failed``. Lines written before ``kind``
existed are classified from their ``type`` and ``status_code``.

Everything here works on bytes, strings and dicts (no files), so other engines (the Ray
integration) write rows shaped exactly like the CLI's lines and read them back the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _exceptions
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    ResponseValidationError,
    StreamError,
)
from ._response_models import ChatCompletion

__all__ = [
    "OUTCOME_RANK",
    "FailureWatch",
    "InputLine",
    "Outcome",
    "OutputIndex",
    "UsageError",
    "classify_error",
    "decode_input_line",
    "encode_line",
    "error_line",
    "fix_hint",
    "line_signature",
    "outcome_of",
    "parse_input_line",
    "parse_output_line",
    "success_line",
    "systematic_signature",
]

Outcome = Literal["ok", "transient", "permanent"]
OUTCOME_RANK: dict[Outcome, int] = {"transient": 0, "permanent": 1, "ok": 2}
"""Which line of an id a reader keeps when lines disagree: the higher rank."""
TRANSIENT_STATUS = frozenset({408, 409, 429, 499})
_TRANSIENT_TYPES = frozenset(
    {
        "APIConnectionError",
        "APITimeoutError",
        "StreamError",
        "RateLimitError",
        "InternalServerError",
        "CancelledByServerError",
        "ConflictError",
    }
)


class UsageError(Exception):
    """A problem with the command line, the input or the output file: one line, exit code 2."""


@dataclass(frozen=True)
class InputLine:
    """One non-blank input line: its ``custom_id`` and request body, or why it is unusable."""

    number: int
    custom_id: str
    body: dict[str, Any] | None
    problem: str | None = None


def decode_input_line(raw: bytes, number: int, shard: str | None = None) -> InputLine | None:
    """Read one raw line (``number`` counts from 1); None for a blank line.

    A UTF-8 byte order mark is tolerated; any other byte that is not UTF-8 makes the line
    unusable, naming the first bad byte. ``shard`` names the file of a directory input.
    """
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        where, fallback = _place(number, shard)
        problem = f"{where}: not UTF-8 text (byte 0x{bad} at column {exc.start + 1})"
        return InputLine(number, fallback, None, problem)
    if not text.strip():
        return None
    return parse_input_line(text, number, shard)


def _place(number: int, shard: str | None) -> tuple[str, str]:
    """How problems name a line, and the ``custom_id`` of a bare request on it.

    In a directory of shards ``line-3`` would repeat in every shard: the shard's name is kept.
    """
    if shard is None:
        return f"line {number}", f"line-{number}"
    return f"{shard} line {number}", f"{shard}:line-{number}"


def parse_input_line(text: str, number: int, shard: str | None = None) -> InputLine:
    """Read one line of a batch input file (``number`` counts from 1, ``shard`` its file)."""
    where, fallback = _place(number, shard)
    try:
        data = json.loads(text)
    except ValueError as exc:
        return InputLine(number, fallback, None, f"{where}: not valid JSON ({exc})")
    if not isinstance(data, dict):
        return InputLine(number, fallback, None, f"{where}: expected a JSON object")
    custom_id = data.get("custom_id", fallback)
    if not isinstance(custom_id, str) or not custom_id:
        return InputLine(number, fallback, None, f"{where}: custom_id must be a string")
    url = data.get("url")
    if isinstance(url, str) and not url.rstrip("/").endswith("/chat/completions"):
        return InputLine(number, custom_id, None, f"{where}: url {url!r} is not chat")
    if "body" in data:
        body = data["body"]
    elif "messages" in data:
        body = {key: value for key, value in data.items() if key != "custom_id"}
    else:
        body = None
    if not isinstance(body, dict):
        problem = f'{where}: expected {{"custom_id", "body": {{…}}}} or a request'
        return InputLine(number, custom_id, None, problem)
    return InputLine(number, custom_id, body)


def success_line(custom_id: str, response: ChatCompletion) -> dict[str, Any]:
    """The output line of a request that got a response; split-off thoughts are kept."""
    body = response.model_dump(mode="json", exclude_unset=True)
    for choice, dumped in zip(response.choices, body.get("choices", []), strict=False):
        thoughts = getattr(choice.message, "thoughts", None)
        if thoughts and isinstance(dumped.get("message"), dict):
            dumped["message"]["thoughts"] = thoughts
    return {"custom_id": custom_id, "response": body}


def error_line(custom_id: str, error: BaseException | str) -> dict[str, Any]:
    """The output line of a request that failed (a string: an unusable input line)."""
    if isinstance(error, str):
        kind, message, status = "InvalidRequestError", error, None
    else:
        kind, message = type(error).__name__, str(error)
        status = error.status_code if isinstance(error, APIStatusError) else None
    record = {"type": kind, "message": message, "status_code": status}
    record["kind"] = classify_error(error) if not isinstance(error, str) else "permanent"
    return {"custom_id": custom_id, "error": record}


def classify_error(error: BaseException) -> Outcome:
    """``transient`` if the same request may well succeed later, else ``permanent``."""
    if isinstance(error, APIStatusError):
        code = error.status_code
        return "transient" if code in TRANSIENT_STATUS or code >= 500 else "permanent"
    if isinstance(error, (APIConnectionError, StreamError)):  # timeouts are connection errors
        return "transient"
    if isinstance(error, InvalidRequestError):
        return "permanent"
    return "permanent"


def outcome_of(record: Any) -> Outcome | None:
    """What an output record says about its request; None if it is not a result line."""
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        return None
    if "response" in record and "error" not in record:
        return "ok"
    error = record.get("error")
    if not isinstance(error, dict):
        return None
    kind = error.get("kind")
    if kind in ("transient", "permanent"):
        return kind  # type: ignore[no-any-return]
    status = error.get("status_code")
    if isinstance(status, int) and (status in TRANSIENT_STATUS or status >= 500):
        return "transient"
    return "transient" if error.get("type") in _TRANSIENT_TYPES else "permanent"


def parse_output_line(raw: bytes) -> tuple[str, Outcome] | None:
    """``(custom_id, outcome)`` of one output line; None for a line that is not ours."""
    try:
        record = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None
    outcome = outcome_of(record)
    return None if outcome is None else (record["custom_id"], outcome)


def encode_line(record: dict[str, Any]) -> bytes:
    """One output line, newline included (UTF-8, non-ASCII kept as is)."""
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


@dataclass
class OutputIndex:
    """What an existing output file holds: the last line and outcome of each ``custom_id``.

    Feed it the file's complete lines in order; memory grows with the number of ids, not with
    the file's size. ``best_wins`` (directories of shards, whose order says nothing about time
    when engines journal in parallel): an id's line is its best one — an answer over an error,
    a permanent error over a transient one, the first of equals — as ``vertexchat.ray``'s
    readers choose.
    """

    last: dict[str, tuple[int, Outcome]] = field(default_factory=dict)
    lines: int = 0
    duplicates: int = 0
    foreign: int = 0
    best_wins: bool = False

    def feed(self, raw: bytes) -> None:
        """Account for the next line of the file."""
        parsed = parse_output_line(raw)
        if parsed is None:
            self.foreign += 1
        else:
            custom_id, outcome = parsed
            known = self.last.get(custom_id)
            self.duplicates += known is not None
            if not (self.best_wins and known and OUTCOME_RANK[known[1]] >= OUTCOME_RANK[outcome]):
                self.last[custom_id] = (self.lines, outcome)
        self.lines += 1

    @classmethod
    def of(cls, lines: Iterable[bytes]) -> OutputIndex:
        """The index of a whole sequence of lines."""
        index = cls()
        for raw in lines:
            index.feed(raw)
        return index

    def finished(self, *, retry_failed: bool) -> set[str]:
        """Ids a rerun skips: successes, and permanent failures unless ``retry_failed``."""
        keep: tuple[Outcome, ...] = ("ok",) if retry_failed else ("ok", "permanent")
        return {cid for cid, (_, outcome) in self.last.items() if outcome in keep}

    def counts(self) -> dict[Outcome, int]:
        """How many ids ended in each outcome."""
        totals: dict[Outcome, int] = {"ok": 0, "transient": 0, "permanent": 0}
        for _, outcome in self.last.values():
            totals[outcome] += 1
        return totals

    def keeps(self, number: int, raw: bytes, redo: set[str]) -> bool:
        """Whether compaction keeps line ``number``: the last line of an id not being redone.

        Lines that are not results (foreign) are kept.
        """
        parsed = parse_output_line(raw)
        if parsed is None:
            return True
        custom_id = parsed[0]
        return custom_id not in redo and self.last.get(custom_id, (-1,))[0] == number


def systematic_signature(error: BaseException | None) -> tuple[str, int | None] | None:
    """``(type, status)`` of an error that every request of a run would likely share.

    A 404 (wrong model or URL), a 400 about the model itself, a body that is not Vertex's
    (wrong server) and connection failures after retries (no network, wrong host) qualify;
    other 400s are about one request's content and never do.
    """
    if error is None:
        return None
    status = error.status_code if isinstance(error, APIStatusError) else None
    return _signature(type(error), type(error).__name__, status, str(error))


def line_signature(record: Any) -> tuple[str, int | None] | None:
    """``systematic_signature`` of the error an output line records (None: not an error line).

    Other engines (Ray) see errors only as lines: the type is looked up by its name.
    """
    error = record.get("error") if isinstance(record, dict) else None
    if not isinstance(error, dict):
        return None
    name, status = str(error.get("type")), error.get("status_code")
    found = getattr(_exceptions, name, None)
    cls = found if isinstance(found, type) and issubclass(found, Exception) else Exception
    status = status if isinstance(status, int) else None
    return _signature(cls, name, status, str(error.get("message", "")))


def _signature(
    cls: type[BaseException], kind: str, status: int | None, message: str
) -> tuple[str, int | None] | None:
    if issubclass(cls, APITimeoutError):
        return None
    if status == 404 or issubclass(cls, (ResponseValidationError, APIConnectionError)):
        return kind, status
    if status == 400 and "model" in message.lower():
        return kind, status
    return None


@dataclass
class FailureWatch:
    """Decides when a run should stop: every recent result the same systematic error.

    Before any success, ``first`` such results in a row stop the run; after one, it takes
    ``window`` in a row (the model was removed, the network went away mid-run).
    """

    first: int = 8
    window: int = 50
    seen: int = 0
    streak: int = 0
    succeeded: bool = False
    signature: tuple[str, int | None] | None = None
    example: str = ""

    def observe(self, error: BaseException | None) -> str | None:
        """Count one result; return why to stop, or None to go on."""
        signature = systematic_signature(error)
        return self._count(signature, error is None, "" if error is None else str(error))

    def observe_line(self, record: dict[str, Any]) -> str | None:
        """Count one output line (the Ray engine sees results only as lines)."""
        error = record.get("error")
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
        return self._count(line_signature(record), error is None, message)

    def _count(
        self, signature: tuple[str, int | None] | None, succeeded: bool, message: str
    ) -> str | None:
        self.seen += 1
        if succeeded:
            self.succeeded = True
        if signature is None or signature != self.signature:
            self.streak = 0
        self.signature = signature
        if signature is None:
            return None
        self.streak += 1
        self.example = message
        limit = self.window if self.succeeded else self.first
        if self.streak < limit:
            return None
        kind, status = signature
        where = "the first" if not self.succeeded else "the last"
        code = f" {status}" if status else ""
        return (
            f"{where} {self.streak} requests all failed with {kind}{code}: {self.example[:300]} "
            f"-- {fix_hint(signature, self.example)}"
        )


def fix_hint(signature: tuple[str, int | None], message: str) -> str:
    """Which flag most likely fixes a systematic error."""
    kind, status = signature
    lowered = message.lower()
    if "model" in lowered:
        return "check --model / --default-model (e.g. google/gemini-2.5-flash)"
    if status == 404:
        return "check --base-url (it ends in /endpoints/openapi) or --project/--location"
    if kind == "ResponseValidationError":
        return "the server is not a Vertex AI endpoint: check --base-url"
    return "check the network, --base-url and proxy settings (HTTPS_PROXY), then rerun"
