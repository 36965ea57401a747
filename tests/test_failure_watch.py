"""The early stop of ``vertexchat batch`` judged from output lines (the Ray engine's view) agrees
with the one judged from exceptions (the local engine's): same signatures, same stop message."""

from __future__ import annotations

import json

import httpx
import pytest

from vertexchat._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ResponseValidationError,
    status_error_from_response,
)
from vertexchat._jsonl import FailureWatch, error_line, line_signature, systematic_signature

URL = "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi"


def status_error(code: int, message: str = "") -> Exception:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    response = httpx.Response(code, content=body, request=httpx.Request("POST", URL))
    return status_error_from_response(response, body)


ERRORS = [
    status_error(404, "Publisher model not found"),
    status_error(400, "model google/gemini-9 is not supported"),
    status_error(400, "messages[0].content must not be empty"),
    status_error(429, "quota"),
    status_error(503, "unavailable"),
    APIConnectionError("connection refused"),
    APITimeoutError("read timeout"),
    ResponseValidationError("not a chat completion"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: f"{type(e).__name__}:{e}"[:40])
def test_a_line_has_the_signature_of_its_error(error: Exception) -> None:
    line = json.loads(json.dumps(error_line("q1", error)))  # as written and read back
    assert line_signature(line) == systematic_signature(error)


def test_success_lines_unknown_types_and_foreign_lines() -> None:
    assert line_signature({"custom_id": "q", "response": {}}) is None
    assert line_signature({"custom_id": "q", "error": "text"}) is None
    unknown = {"error": {"type": "SomethingNew", "status_code": 404, "message": "gone"}}
    assert line_signature(unknown) == ("SomethingNew", 404)  # the status still tells
    odd = {"error": {"type": "__class__", "status_code": "404", "message": "model"}}
    assert line_signature(odd) is None


@pytest.mark.parametrize("succeed_first", [False, True])
def test_watching_lines_stops_where_watching_errors_does(succeed_first: bool) -> None:
    outcomes: list[Exception | None] = [None] if succeed_first else []
    outcomes += [status_error(429, "quota"), *[status_error(404, "no such model")] * 60]
    by_error, by_line = FailureWatch(), FailureWatch()
    stops_by_error = [by_error.observe(error) for error in outcomes]
    lines = [
        {"custom_id": "q", "response": {}} if e is None else error_line("q", e) for e in outcomes
    ]
    stops_by_line = [by_line.observe_line(line) for line in lines]
    assert stops_by_line == stops_by_error
    first = next(i for i, stop in enumerate(stops_by_error) if stop)
    assert first == (51 if succeed_first else 8)  # 8 before any success, 50 after one
