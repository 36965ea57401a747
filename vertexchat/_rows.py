"""Batch rows for data engines: ``(custom_id, request JSON)`` in, flat result rows out.

Edge module (it runs ``client.batch``), and engine-neutral: Ray Data, Dask or a plain loop call
``run_rows`` on a chunk of rows inside a worker. Requests travel as JSON strings (what the
batch CLI reads, one ``create()`` body each) and are validated inside the worker, so a bad
one becomes an error row. Every result row has the same flat columns (``RESULT_COLUMNS``);
``response`` and ``error`` hold the JSON of the CLI's output line parts, so ``output_line``
turns a row back into exactly the line ``vertexchat batch`` writes.

A ``ClientRecipe`` is the picklable description of a ``Client``: each worker builds its own
(its own connections, its own credential refresh) and ``share(n)`` splits the limits evenly
between ``n`` workers.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from ._auth import AuthLike
from ._batch import BatchResult
from ._client import Client
from ._exceptions import (
    AuthenticationError,
    CredentialsError,
    PermissionDeniedError,
    VertexChatError,
)
from ._jsonl import error_line, success_line
from ._response_models import Usage
from ._retry import RetryPolicy

__all__ = [
    "FATAL_ERRORS",
    "RESULT_COLUMNS",
    "ClientRecipe",
    "JobStoppedError",
    "output_line",
    "row_from_line",
    "run_rows",
]

RESULT_COLUMNS = (
    "custom_id",
    "response",
    "error",
    "error_type",
    "error_message",
    "error_kind",
    "status_code",
    "attempts",
    "latency",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "total_tokens",
)
"""The columns of a result row, in order. ``response``/``error``: JSON text or None."""

FATAL_ERRORS = (CredentialsError, AuthenticationError, PermissionDeniedError)
"""Errors that would fail every other row the same way: they stop the job instead."""


class JobStoppedError(VertexChatError):
    """A credential, 401 or 403 error stopped the job: every other row would fail alike.

    ``error_type`` names the vertexchat error (``AuthenticationError``…), ``status_code`` its
    HTTP status. The engine raises it in the driver: Dask as it is, Ray as a ``RayTaskError``
    that is also one of these.
    """

    def __init__(self, message: str, error_type: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status_code = status_code

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.error_type, self.status_code)

    @classmethod
    def from_error(cls, error: BaseException) -> JobStoppedError:
        """The stop caused by ``error`` (its message, never a credential, is kept)."""
        status = getattr(error, "status_code", None)
        kind = type(error).__name__
        return cls(f"job stopped by {kind}: {error}", kind, status)


AuthKind = Literal["adc", "token", "none"]


@dataclass(frozen=True)
class ClientRecipe:
    """How to build a ``Client`` in another process: picklable, and the token never shown.

    ``auth`` is ``"adc"`` (each worker loads and refreshes Application Default Credentials
    itself), ``"token"`` (the static ``token``, sent by every worker) or ``"none"``.
    ``max_concurrency``, ``requests_per_minute`` and ``tokens_per_minute`` are the limits of
    the whole job; ``share(n)`` gives one of ``n`` workers its even part.
    """

    project: str | None = None
    location: str | None = None
    endpoint: str | None = None
    api_version: str = "v1"
    base_url: str | None = None
    auth: AuthKind = "adc"
    token: str | None = field(default=None, repr=False)
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int | None = None
    retry_policy: RetryPolicy | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.auth not in ("adc", "token", "none"):
            raise ValueError(f"auth must be 'adc', 'token' or 'none', not {self.auth!r}")
        if (self.auth == "token") != bool(self.token):
            raise ValueError("token= is required with auth='token', and only then")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

    def share(self, parts: int) -> ClientRecipe:
        """The recipe for one of ``parts`` workers: every job-wide limit divided evenly."""
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ValueError("parts must be an int >= 1")
        concurrency = self.max_concurrency
        return replace(
            self,
            max_concurrency=None if concurrency is None else max(1, concurrency // parts),
            requests_per_minute=_divide(self.requests_per_minute, parts),
            tokens_per_minute=_divide(self.tokens_per_minute, parts),
        )

    def client(self) -> Client:
        """A new ``Client`` as described (close it: ``async with`` or ``aclose()``)."""
        auth: AuthLike = {"token": self.token, "none": None}.get(self.auth, _adc())
        options: dict[str, Any] = {}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return Client(
            self.project,
            self.location,
            endpoint=self.endpoint,
            api_version=self.api_version,
            base_url=self.base_url,
            auth=auth,
            max_retries=self.max_retries,
            retry_policy=self.retry_policy,
            max_concurrency=self.max_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            **options,
        )


def _adc() -> AuthLike:
    from ._auth import ADC

    return ADC


def _divide(limit: float | None, parts: int) -> float | None:
    return None if limit is None else limit / parts


async def run_rows(
    client: Client,
    custom_ids: Sequence[str],
    requests: Sequence[str | bytes | Mapping[str, Any]],
    *,
    concurrency: int = 64,
    model: str | None = None,
    max_retries: int | None = None,
    on_line: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Run one chunk of rows through ``client.batch``; one result row each, in input order.

    ``requests[i]`` is the JSON of ``create()`` parameters (or an already parsed mapping);
    ``model`` fills in requests without one. A request that is not valid JSON, not an object
    or not a valid request becomes an error row with ``attempts`` 0. An error in
    ``FATAL_ERRORS`` (credentials, 401, 403) is raised instead: the rest would fail alike.
    ``on_line`` gets each row's CLI output line the moment the row is finished (a journal).
    ``stop``, once set, ends the chunk early: no call starts after it, the calls in flight
    finish, and only the rows finished are returned (the caller's resume runs the others).
    Nothing already paid for is dropped.
    """
    if len(custom_ids) != len(requests):
        raise ValueError("custom_ids and requests must have the same length")
    _check_ids(custom_ids)
    rows: list[dict[str, Any] | None] = [None] * len(custom_ids)
    bodies: list[dict[str, Any]] = []
    positions: list[int] = []
    for position, (custom_id, request) in enumerate(zip(custom_ids, requests, strict=True)):
        body = _decode(request, model)
        if isinstance(body, str):
            line = error_line(custom_id, f"request: {body}")
            if on_line is not None:
                on_line(line)
            rows[position] = _row(line)
        else:
            bodies.append(body)
            positions.append(position)
    options: dict[str, Any] = {} if max_retries is None else {"max_retries": max_retries}
    fatal: BaseException | None = None
    items = bodies if stop is None else _until(stop, bodies)
    async with client.batch(items, concurrency=concurrency, **options) as run:
        async for result in run:
            if isinstance(result.error, FATAL_ERRORS):
                fatal = result.error
                break  # leaving the block cancels the rest
            position = positions[result.index]
            line = result_line(custom_ids[position], result)
            if on_line is not None:
                on_line(line)
            rows[position] = _result_row(line, result)
    if fatal is not None:
        raise fatal  # outside the batch's task group: the error itself, not a group
    return [row for row in rows if row is not None]


def _until(stop: threading.Event, bodies: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``bodies`` until ``stop`` is set (checked as each call is about to start)."""
    for body in bodies:
        if stop.is_set():
            return
        yield body


def _check_ids(custom_ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for custom_id in custom_ids:
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"custom_id must be a non-empty string, not {custom_id!r}")
        if custom_id in seen:
            raise ValueError(f"duplicate custom_id {custom_id!r}: each row needs its own")
        seen.add(custom_id)


def _decode(request: str | bytes | Mapping[str, Any], model: str | None) -> dict[str, Any] | str:
    """The ``create()`` parameters, or why the request is unusable."""
    if isinstance(request, Mapping):
        body: Any = dict(request)
    else:
        try:
            body = json.loads(request)
        except (TypeError, ValueError) as exc:
            return f"not valid JSON ({exc})"
    if not isinstance(body, dict):
        return f"expected a JSON object of create() parameters, not {type(body).__name__}"
    if model and not body.get("model"):
        body["model"] = model
    return body


def result_line(custom_id: str, result: BatchResult) -> dict[str, Any]:
    """The CLI output line of one finished ``BatchResult``."""
    if result.response is not None:
        return success_line(custom_id, result.response)
    assert result.error is not None
    return error_line(custom_id, result.error)


def _result_row(line: Mapping[str, Any], result: BatchResult) -> dict[str, Any]:
    """The flat row of one finished ``BatchResult`` (``line``: its output line)."""
    row = _row(line)
    row["attempts"] = result.attempts
    row["latency"] = result.latency
    usage = result.response.usage if result.response is not None else None
    if usage is not None:
        _count(row, usage)
    return row


def _row(line: Mapping[str, Any]) -> dict[str, Any]:
    """A result row from a CLI output line (no attempts, latency or usage yet)."""
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row.update(custom_id=line["custom_id"], attempts=0, latency=0.0)
    for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens"):
        row[key] = 0
    if "response" in line:
        row["response"] = json.dumps(line["response"], ensure_ascii=False)
    error = line.get("error")
    if isinstance(error, Mapping):
        row["error"] = json.dumps(error, ensure_ascii=False)
        row["error_type"] = error.get("type")
        row["error_message"] = error.get("message")
        row["error_kind"] = error.get("kind")
        row["status_code"] = error.get("status_code")
    return row


def row_from_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """The result row of a CLI output line read back from a file.

    Token counts come from the response's ``usage``; ``attempts`` and ``latency`` are not in
    the line, so they are None (unknown), never a made-up zero.
    """
    row = _row(line)
    row["attempts"] = row["latency"] = None
    response = line.get("response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    if isinstance(usage, Mapping):
        with contextlib.suppress(ValidationError):  # counts that are not counts stay 0
            _count(row, Usage.model_validate(usage))  # the same counts as a live row
    return row


def _count(row: dict[str, Any], usage: Usage) -> None:
    row["prompt_tokens"] = usage.prompt_tokens
    row["completion_tokens"] = usage.completion_tokens
    row["reasoning_tokens"] = usage.reasoning_tokens
    row["total_tokens"] = usage.total_tokens


def output_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vertexchat batch`` output line of a result row."""
    line: dict[str, Any] = {"custom_id": row["custom_id"]}
    if row.get("response") is not None:
        line["response"] = json.loads(row["response"])
    else:
        line["error"] = json.loads(row["error"])
    return line
