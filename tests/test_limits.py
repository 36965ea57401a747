"""ResponseLimits: every buffer a server can grow has a limit and a typed error past it."""

from __future__ import annotations

import pytest

from vertexchat import ResponseLimits
from vertexchat.sse import SSEDecoder, SSELimitError


def _decoder() -> SSEDecoder:
    return SSEDecoder(max_line_bytes=100, max_event_chars=250)


def test_a_line_without_newline_past_the_limit_raises_while_it_grows() -> None:
    decoder = _decoder()
    for _ in range(10):
        assert decoder.feed(b"x" * 10) == []
    with pytest.raises(SSELimitError) as caught:
        decoder.feed(b"x")
    assert caught.value.limit == "max_sse_line_bytes"


def test_a_long_line_arriving_whole_raises() -> None:
    with pytest.raises(SSELimitError, match="max_sse_line_bytes"):
        _decoder().feed(b"data: " + b"x" * 200 + b"\n\n")


def test_a_long_line_split_with_its_newline_in_a_later_chunk_raises() -> None:
    decoder = _decoder()
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(SSELimitError):
        decoder.feed(b"y" * 60 + b"\n\n")


def test_a_line_exactly_at_the_limit_is_accepted() -> None:
    line = b"data: " + b"x" * 94
    assert len(line) == 100
    for split in range(len(line) + 2):
        decoder = _decoder()
        data = line + b"\n\n"
        events = decoder.feed(data[:split]) + decoder.feed(data[split:])
        assert [event.data for event in events] == ["x" * 94]


def test_many_short_data_lines_past_the_event_limit_raise() -> None:
    decoder = _decoder()
    with pytest.raises(SSELimitError) as caught:
        for _ in range(100):
            decoder.feed(b"data: " + b"x" * 20 + b"\n")
    assert caught.value.limit == "max_sse_event_chars"


def test_the_event_limit_counts_one_event_not_the_whole_stream() -> None:
    decoder = _decoder()
    for _ in range(100):
        (event,) = decoder.feed(b"data: " + b"x" * 80 + b"\n\n")
        assert len(event.data) == 80


def test_stray_lines_kept_for_the_end_of_stream_are_bounded() -> None:
    decoder = _decoder()
    with pytest.raises(SSELimitError, match="max_sse_event_chars"):
        for _ in range(100):
            decoder.feed(b'{"error": "x"}\n')


def test_cr_line_endings_count_the_same() -> None:
    decoder = _decoder()
    decoder.feed(b"data: " + b"x" * 50 + b"\r")
    decoder.feed(b"\n")
    with pytest.raises(SSELimitError):
        decoder.feed(b"data: " + b"y" * 120)


@pytest.mark.parametrize(
    "field", ["max_sse_line_bytes", "max_body_bytes", "max_error_message_chars"]
)
@pytest.mark.parametrize("value", [0, -1, 1.5, True, None])
def test_limits_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError), match=field):
        ResponseLimits(**{field: value})  # type: ignore[arg-type]


def test_default_limits_are_generous_and_documented() -> None:
    limits = ResponseLimits()
    assert limits.max_sse_line_bytes == 64 * 1024 * 1024
    assert limits.max_sse_event_chars == 64 * 1024 * 1024
    assert limits.max_body_bytes == 128 * 1024 * 1024
    assert limits.max_error_body_bytes == 1024 * 1024
    assert limits.max_error_message_chars == 8192
    assert ResponseLimits.__doc__ is not None
    for name in ("max_sse_line_bytes", "max_body_bytes", "max_error_message_chars"):
        assert name in ResponseLimits.__doc__
