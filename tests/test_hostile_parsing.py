"""Hostile server input to the pure parsers ends as a typed vertexchat error or a correct value.

Each case here was once an untyped Python exception (issue 14, item 1) or a silently accepted
non-answer (item 2).
"""

from __future__ import annotations

import json

import httpx
import pytest

from vertexchat._exceptions import (
    ResponseValidationError,
    StreamError,
    VertexChatError,
    parse_google_error,
    status_error_from_response,
)
from vertexchat._exceptions import _parse_retry_after as parse_retry_after
from vertexchat._replies import parse_chunk, parse_completion
from vertexchat._response_models import Usage
from vertexchat._sse import SSEDecoder

REQUEST = httpx.Request("POST", "https://example.test/v1/chat/completions")
OK = httpx.Response(200, request=REQUEST)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _error_body(message: object = "boom", **extra: object) -> dict[str, object]:
    return {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", **extra}}


# --- usage -----------------------------------------------------------------------------------


def test_usage_with_string_total_and_no_completion_is_a_validation_error() -> None:
    body = {"choices": [], "usage": {"total_tokens": "7"}}
    with pytest.raises(ResponseValidationError, match="total_tokens"):
        parse_completion(json.dumps(body).encode(), OK)


@pytest.mark.parametrize("value", ["true", "false", '"7"', "7.5", "null"])
def test_usage_token_counts_must_be_integers(value: str) -> None:
    content = f'{{"choices": [], "usage": {{"prompt_tokens": {value}}}}}'.encode()
    with pytest.raises(ResponseValidationError, match="prompt_tokens"):
        parse_completion(content, OK)


def test_usage_inference_still_fills_an_omitted_completion_count() -> None:
    usage = Usage.model_validate({"prompt_tokens": 3, "total_tokens": 10})
    assert usage.completion_tokens == 7


# --- nesting ----------------------------------------------------------------------------------


def test_error_body_nested_1001_levels_is_a_status_error() -> None:
    content = ('{"error": ' + _nested(1001) + "}").encode()
    response = httpx.Response(500, content=content, request=REQUEST)
    error = status_error_from_response(response, content)
    assert error.status_code == 500
    assert error.error is None


def test_error_message_nested_deeply_is_not_stringified() -> None:
    body = _error_body(message=json.loads(_nested(900)))
    error = parse_google_error(body)
    assert error is not None
    assert error.message == ""


def test_stream_event_nested_1001_levels_is_a_validation_error() -> None:
    with pytest.raises(ResponseValidationError):
        parse_chunk('{"error": ' + _nested(1001) + "}", REQUEST)


def test_stray_line_nested_1001_levels_is_a_stream_error() -> None:
    from vertexchat._replies import stream_end_error

    error = stream_end_error([_nested(1001)], REQUEST)
    assert isinstance(error, StreamError)


# --- Retry-After and RetryInfo ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١٢", "1e400", "nan", "-5", "inf", "9" * 5000])
def test_retry_after_never_raises_and_is_finite(value: str) -> None:
    delay = parse_retry_after(value)
    assert delay is None or 0.0 <= delay < float("inf")


@pytest.mark.parametrize(
    "retry_delay",
    [
        {"seconds": 10**400},
        {"seconds": "1e400"},
        {"seconds": 1, "nanos": 10**400},
        {"seconds": float("nan")},
        "1e400s",
        "nans",
        "-3s",
        {"seconds": True},
        {"seconds": [1]},
    ],
)
def test_retry_info_never_raises_and_is_finite(retry_delay: object) -> None:
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
    error = parse_google_error(_error_body(details=[detail]))
    assert error is not None
    delay = error.retry_delay
    assert delay is None or 0.0 <= delay < float("inf")


def test_retry_info_normal_values_still_parse() -> None:
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}
    assert parse_google_error(_error_body(details=[detail])).retry_delay == 27.0  # type: ignore[union-attr]
    detail["retryDelay"] = {"seconds": 2, "nanos": 500_000_000}
    assert parse_google_error(_error_body(details=[detail])).retry_delay == 2.5  # type: ignore[union-attr]
    assert parse_retry_after("12") == 12.0


# --- SSE -----------------------------------------------------------------------------------------


def test_sse_retry_field_of_5000_digits_is_ignored() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"retry: " + b"9" * 5000 + b"\ndata: x\n\n")
    assert [event.data for event in events] == ["x"]
    assert events[0].retry is None


def test_sse_retry_field_of_normal_size_is_kept() -> None:
    events = SSEDecoder().feed(b"retry: 3000\ndata: x\n\n")
    assert events[0].retry == 3000


# --- non-answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{}", b"[]", b"null", b"7", b'"text"', b'{"id": "x"}'])
def test_a_2xx_that_is_not_a_completion_is_a_validation_error(content: bytes) -> None:
    with pytest.raises(ResponseValidationError):
        parse_completion(content, OK)


def test_a_2xx_carrying_an_error_raises_that_error() -> None:
    content = json.dumps(_error_body("quota")).encode()
    with pytest.raises(VertexChatError, match="quota") as caught:
        parse_completion(content, OK)
    assert getattr(caught.value, "status", None) == "RESOURCE_EXHAUSTED"


def test_minimal_real_vertex_completion_is_accepted() -> None:
    # vertex-api.md §6.5: message, completion_tokens and prompt_tokens may all be omitted.
    content = (
        b'{"choices": [{"finish_reason": "length", "index": 0}], "usage": {"total_tokens": 4}}'
    )
    completion = parse_completion(content, OK)
    assert completion.choices[0].message.content is None
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4


@pytest.mark.parametrize("data", ['"just a string"', "{}", "[]", "null", "42"])
def test_a_stream_event_that_is_not_a_chunk_is_a_validation_error(data: str) -> None:
    with pytest.raises(ResponseValidationError):
        parse_chunk(data, REQUEST)


@pytest.mark.parametrize(
    "data",
    [
        '{"error": "the model is overloaded"}',
        '{"error": {"message": "the model is overloaded"}}',
        '[{"error": {"code": 503, "message": "the model is overloaded"}}]',
        '{"choices": [], "error": "the model is overloaded"}',
    ],
)
def test_an_error_inside_a_stream_is_raised_even_as_a_string(data: str) -> None:
    with pytest.raises(StreamError, match="overloaded"):
        parse_chunk(data, REQUEST)


def test_a_usage_only_chunk_is_accepted() -> None:
    chunk = parse_chunk(
        '{"choices": [], "usage": {"prompt_tokens": 1, "total_tokens": 2}}', REQUEST
    )
    assert chunk.usage is not None
    assert chunk.usage.completion_tokens == 1
