"""Hypothesis against everything that parses what a server sends.

Every parser, fed hostile input, returns a correct value or raises one of vertexchat's documented
errors, and never hangs: each example runs under a hard timeout (SIGALRM). The example budget
is fixed and derandomized, so CI runs the same cases every time, in well under a minute.
"""

from __future__ import annotations

import itertools
import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertexchat._accumulate import ChunkAccumulator
from vertexchat._exceptions import (
    APIStatusError,
    ResponseValidationError,
    StreamError,
    VertexChatError,
    parse_google_error,
    status_error_from_response,
)
from vertexchat._exceptions import _parse_retry_after as parse_retry_after
from vertexchat._replies import parse_chunk, parse_completion, stream_end_error
from vertexchat._response_models import ChatCompletion
from vertexchat.sse import SSEDecoder, SSELimitError

pytestmark = pytest.mark.fuzz

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,  # the hard per-example timeout below is the bound; no timing flakiness
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CASE_TIMEOUT = 5.0  # seconds one example may take before it counts as a hang
REQUEST = httpx.Request("POST", "https://example.test/v1/chat/completions")


class Hang(Exception):
    """An example ran past CASE_TIMEOUT."""


@contextmanager
def within(seconds: float = CASE_TIMEOUT) -> Iterator[None]:
    """Fail the example with ``Hang`` if it runs longer than ``seconds`` (main thread only)."""

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"an example ran longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- strategies ----------------------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "7", "²", "1e400", "nan", "-1", "27s", "1e400s", "[DONE]", "ya29.x"])
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "error",
                    "code",
                    "message",
                    "status",
                    "details",
                    "choices",
                    "usage",
                    "delta",
                    "message",
                    "content",
                    "tool_calls",
                    "index",
                    "id",
                    "function",
                    "arguments",
                    "total_tokens",
                    "prompt_tokens",
                    "completion_tokens",
                    "retryDelay",
                    "seconds",
                    "nanos",
                    "@type",
                    "finish_reason",
                    "extra_content",
                    "google",
                    "role",
                    "audio",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
LATIN1 = st.binary(max_size=80).map(lambda raw: raw.decode("latin-1"))  # any bytes, as text


def _deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


@st.composite
def hostile_json_text(draw: st.DrawFn) -> str:
    """JSON text: generated values, completion-shaped objects, deep nesting, or broken text."""
    kind = draw(st.sampled_from(["value", "completion", "chunk", "error", "deep", "broken"]))
    if kind == "chunk":
        return json.dumps(draw(chunk_shaped()))
    if kind == "value":
        return json.dumps(draw(JSON))
    if kind == "completion":
        body = {
            "choices": draw(
                st.lists(
                    st.dictionaries(
                        st.sampled_from(
                            ["index", "message", "delta", "finish_reason", "logprobs"]
                        ),
                        JSON,
                        max_size=4,
                    ),
                    max_size=3,
                )
                | JSON
            ),
            "usage": draw(
                st.dictionaries(
                    st.sampled_from(
                        [
                            "prompt_tokens",
                            "completion_tokens",
                            "total_tokens",
                            "completion_tokens_details",
                            "extra_properties",
                        ]
                    ),
                    JSON,
                    max_size=4,
                )
                | JSON
            ),
        }
        return json.dumps(body)
    if kind == "error":
        return json.dumps(
            {
                "error": draw(
                    JSON
                    | st.dictionaries(
                        st.sampled_from(["code", "message", "status", "details"]), JSON, max_size=4
                    )
                )
            }
        )
    if kind == "deep":
        depth = draw(st.sampled_from([50, 999, 1001, 5000, 100_000]))
        inner = _deep(depth, *draw(st.sampled_from([("[", "]"), ('{"a":', "}")])))
        return (
            draw(st.sampled_from(['{"error": %s}', '{"choices": %s}', "%s", '[{"error": %s}]']))
            % inner
        )
    return draw(st.text(max_size=60))


def _field(value: st.SearchStrategy[Any] = _SCALARS) -> st.SearchStrategy[Any]:
    return value | JSON


@st.composite
def chunk_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A stream chunk whose every field may hold the wrong type, size or sign."""
    call = st.fixed_dictionaries(
        {},
        optional={
            "index": _field(st.integers(-3, 5) | st.integers(min_value=10**18)),
            "id": _field(st.sampled_from(["a", "b", ""])),
            "type": _field(),
            "function": st.fixed_dictionaries(
                {}, optional={"name": _field(), "arguments": _field(st.sampled_from(['{"', "}"]))}
            )
            | JSON,
            "extra_content": _field(),
        },
    )
    delta = st.fixed_dictionaries(
        {},
        optional={
            "role": _field(),
            "content": _field(st.sampled_from(["<thought>", "</thought>", "a"])),
            "tool_calls": st.lists(call, max_size=3) | JSON,
            "extra_content": st.fixed_dictionaries(
                {},
                optional={
                    "google": st.dictionaries(
                        st.sampled_from(["thought", "thought_signature", "mime_type"]),
                        _SCALARS,
                        max_size=3,
                    )
                    | JSON
                },
            )
            | JSON,
            "audio": _field(),
        },
    )
    choice = st.fixed_dictionaries(
        {},
        optional={
            "index": _field(st.integers(-3, 5) | st.integers(min_value=10**18)),
            "delta": delta | JSON,
            "finish_reason": _field(),
        },
    )
    usage = st.dictionaries(
        st.sampled_from(
            ["prompt_tokens", "completion_tokens", "total_tokens", "completion_tokens_details"]
        ),
        _field(st.integers(-5, 10**20)),
        max_size=4,
    )
    return draw(
        st.fixed_dictionaries(
            {"choices": st.lists(choice, max_size=3) | JSON},
            optional={"usage": usage | JSON, "error": JSON, "id": _field(), "created": _field()},
        )
    )


SSE_TOKENS = st.sampled_from(
    [
        b"data:",
        b"data: ",
        b"event:",
        b"id:",
        b"retry:",
        b"retry: " + b"9" * 5000,
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\xff",
        b"[DONE]",
        b"{",
        b"}",
        b'{"error": "x"}',
        b"x" * 300,
        b" ",
    ]
)


@st.composite
def sse_chunks(draw: st.DrawFn) -> list[bytes]:
    """A byte stream built from SSE-significant tokens and noise, cut into chunks."""
    pieces = draw(st.lists(SSE_TOKENS | st.binary(max_size=20), max_size=40))
    data = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _finite_delay(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value >= 0.0)


# --- the SSE decoder -----------------------------------------------------------------------------


@FUZZ
@given(sse_chunks())
def test_sse_decoder_raises_only_its_limit_error_and_splits_do_not_matter(
    chunks: list[bytes],
) -> None:
    with within():
        events, stray = _decode(chunks)
        whole_events, whole_stray = _decode([b"".join(chunks)])
    if events is not None and whole_events is not None:
        assert events == whole_events  # the same bytes, however chunked, give the same events
        assert stray == whole_stray


def _decode(chunks: list[bytes]) -> tuple[list[Any] | None, list[str] | None]:
    decoder = SSEDecoder(max_line_bytes=2000, max_event_chars=4000)
    events: list[Any] = []
    limit = None
    try:
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.close()
    except SSELimitError as exc:
        limit = exc.limit
    if limit is not None:
        assert limit in {"max_sse_line_bytes", "max_sse_event_chars"}
        return None, None
    for event in events:
        assert isinstance(event.data, str)
        assert event.retry is None or 0 <= event.retry < 10**15
    return events, decoder.take_stray_lines()


# --- responses, chunks, accumulation -------------------------------------------------------------


@FUZZ
@given(hostile_json_text() | LATIN1)
def test_response_parsing_gives_a_completion_or_a_documented_error(text: str) -> None:
    response = httpx.Response(200, request=REQUEST)
    with within():
        try:
            completion = parse_completion(text.encode("utf-8", "surrogatepass"), response)
        except (ResponseValidationError, APIStatusError) as exc:
            message = str(exc)
        else:
            message = None
        if message is not None:
            assert message
            return
        assert isinstance(completion, ChatCompletion)
        if completion.usage is not None:
            assert all(
                type(n) is int
                for n in (completion.usage.total_tokens, completion.usage.output_tokens)
            )
        for choice in completion.choices:
            choice.message.to_request()
        completion.model_dump_json()


@FUZZ
@given(st.lists(hostile_json_text(), min_size=1, max_size=6))
def test_stream_events_and_their_accumulation_never_escape_the_error_tree(
    events: list[str],
) -> None:
    accumulator = ChunkAccumulator()
    messages: list[str] = []
    with within():
        for data in events:
            try:
                chunk = parse_chunk(data, REQUEST)
            except (ResponseValidationError, StreamError) as exc:
                messages.append(str(exc))
                continue
            accumulator.add(chunk)
        completion = accumulator.result()
        completion.model_dump_json()
    assert all(messages)


@FUZZ
@given(st.lists(hostile_json_text() | st.text(max_size=40), max_size=5))
def test_stray_stream_lines_become_a_stream_error(lines: list[str]) -> None:
    with within():
        error = stream_end_error(lines, REQUEST)
    assert isinstance(error, StreamError)
    assert str(error)


# --- errors, Retry-After, RetryInfo --------------------------------------------------------------


@FUZZ
@given(
    st.integers(min_value=400, max_value=599),
    hostile_json_text() | LATIN1,
    st.text(max_size=40) | st.sampled_from(["²", "1e400", "-3", "Wed, 21 Oct 2015 07:28 GMT"]),
)
def test_error_bodies_become_status_errors_whose_attributes_never_raise(
    status: int, text: str, retry_after: str
) -> None:
    content = text.encode("utf-8", "surrogatepass")
    headers = (
        {"retry-after": retry_after} if retry_after.isascii() and retry_after.isprintable() else {}
    )
    response = httpx.Response(status, content=content, headers=headers, request=REQUEST)
    with within():
        error = status_error_from_response(response, content)
        assert isinstance(error, APIStatusError)
        assert isinstance(error, VertexChatError)
        assert str(error)
        assert _finite_delay(error.retry_after)
        if error.error is not None:
            assert error.error.reason is None or isinstance(error.error.reason, str)
            repr(error.error)


@FUZZ
@given(st.text(max_size=60) | st.sampled_from(["²", "١٢", "1e400", "nan", "inf", "9" * 5000]))
def test_retry_after_is_none_or_a_finite_delay(value: str) -> None:
    with within():
        assert _finite_delay(parse_retry_after(value))


@FUZZ
@given(JSON)
def test_retry_info_is_none_or_a_finite_delay(retry_delay: Any) -> None:
    body = {"error": {"code": 429, "details": [{"@type": RETRY_INFO, "retryDelay": retry_delay}]}}
    with within():
        error = parse_google_error(body)
        assert error is not None
        assert _finite_delay(error.retry_delay)
