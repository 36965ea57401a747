"""SSEDecoder: the WHATWG event-stream rules, at every chunk boundary, on Vertex-shaped streams."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vertexchat.sse import ServerSentEvent, SSEDecoder

SSE_SOURCE = str(Path(__file__).parents[1] / "vertexchat" / "_sse.py")
FIXTURES = Path(__file__).parent / "fixtures"
VERTEX_STREAM = (FIXTURES / "vertex_stream.sse").read_bytes()
VERTEX_STREAM_ERROR = (FIXTURES / "vertex_stream_error.sse").read_bytes()

Result = tuple[list[ServerSentEvent], list[str]]


def decode(*chunks: bytes) -> Result:
    """Feed the chunks in order, close, and return the events and the stray lines."""
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    events += decoder.close()
    return events, decoder.take_stray_lines()


def events_of(*chunks: bytes) -> list[ServerSentEvent]:
    return decode(*chunks)[0]


def datas(*chunks: bytes) -> list[str]:
    return [event.data for event in events_of(*chunks)]


# --- the spec's own examples (html.spec.whatwg.org, "Server-sent events" §9.2.4-9.2.6) ---


def test_spec_example_multiline_data() -> None:
    stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert events_of(stream) == [ServerSentEvent("message", "YHOO\n+2\n10")]


def test_spec_example_ids_and_comment() -> None:
    stream = (
        b": test stream\n\n"
        b"data: first event\nid: 1\n\n"
        b"data:second event\nid\n\n"
        b"data:  third event\n\n"
    )
    assert events_of(stream) == [
        ServerSentEvent("message", "first event", "1"),
        ServerSentEvent("message", "second event", ""),
        ServerSentEvent("message", " third event", ""),
    ]


def test_spec_example_empty_data_and_discarded_last_block() -> None:
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert datas(stream) == ["", "\n"]


def test_spec_example_space_after_colon_is_optional() -> None:
    assert datas(b"data:test\n\ndata: test\n\n") == ["test", "test"]


def test_spec_example_event_types() -> None:
    stream = b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 1\n\n"
    assert [(e.event, e.data) for e in events_of(stream)] == [
        ("add", "73857293"),
        ("remove", "2153"),
        ("add", "1"),
    ]


# --- line endings ---


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending(eol: bytes) -> None:
    stream = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol
    assert events_of(stream) == [ServerSentEvent("e", "a\nb")]


def test_mixed_line_endings() -> None:
    assert datas(b"data: a\rdata: b\ndata: c\r\n\r\ndata: d\n\r") == ["a\nb\nc", "d"]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    assert datas(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_crlf_split_across_an_empty_chunk() -> None:
    assert datas(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_cr_then_cr_in_next_chunk_is_a_blank_line() -> None:
    assert datas(b"data: a\r", b"\rdata: b\r\r") == ["a", "b"]


def test_other_unicode_line_breaks_are_data() -> None:
    # \x0b, \x0c, \x1c, \x85, \u2028 and \u2029 split lines in str.splitlines(), not in SSE.
    value = "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g"
    assert datas(b"data: " + value.encode() + b"\n\n") == [value]


# --- BOM and UTF-8 ---


def test_leading_bom_is_stripped() -> None:
    assert datas(b"\xef\xbb\xbfdata: x\n\n") == ["x"]


def test_bom_split_across_chunks_is_stripped() -> None:
    assert datas(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == ["x"]


def test_only_the_first_bom_is_stripped() -> None:
    events, stray = decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n")
    assert events == []
    assert stray == ["\ufeffdata: x"]


def test_bom_later_in_the_stream_is_data() -> None:
    assert datas(b"data: x\n\ndata: \xef\xbb\xbfy\n\n") == ["x", "\ufeffy"]


def test_multibyte_character_split_across_chunks() -> None:
    encoded = "data: é✓😀\n\n".encode()
    for cut in range(len(encoded)):
        assert datas(encoded[:cut], encoded[cut:]) == ["é✓😀"]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"a\xffb", "a\ufffdb"),
        (b"\xe2\x9c", "\ufffd"),  # truncated by the end of the line
        (b"\xc0\xaf", "\ufffd\ufffd"),  # overlong encoding
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # a surrogate
    ],
)
def test_invalid_utf8_becomes_replacement_characters(raw: bytes, text: str) -> None:
    assert datas(b"data: " + raw + b"\n\n") == [text]


# --- fields ---


def test_comment_lines_are_ignored_and_not_stray() -> None:
    assert decode(b":keep-alive\n: x: y\ndata: a\n\n") == ([ServerSentEvent("message", "a")], [])


def test_field_without_colon_has_empty_value() -> None:
    assert events_of(b"event\ndata\n\n") == [ServerSentEvent("message", "")]


def test_only_one_leading_space_is_removed() -> None:
    assert datas(b"data:  two\n\ndata:\tx\n\ndata:x \n\n") == [" two", "\tx", "x "]


def test_value_keeps_later_colons() -> None:
    assert datas(b'data: {"a": "b:c"}\n\n') == ['{"a": "b:c"}']


def test_blank_line_without_data_dispatches_nothing_but_resets_event_type() -> None:
    assert events_of(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_event_type_resets_after_dispatch() -> None:
    stream = b"event: add\ndata: 1\n\ndata: 2\n\n"
    assert [e.event for e in events_of(stream)] == ["add", "message"]


def test_empty_event_field_means_message() -> None:
    assert events_of(b"event:\ndata: x\n\n") == [ServerSentEvent("message", "x")]


def test_id_persists_and_is_none_until_set() -> None:
    stream = b"data: a\n\nid: 7\ndata: b\n\ndata: c\n\n"
    assert [e.id for e in events_of(stream)] == [None, "7", "7"]


def test_id_set_without_data_still_applies_to_later_events() -> None:
    assert [e.id for e in events_of(b"id: 3\n\ndata: x\n\n")] == ["3"]


def test_id_with_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert [e.id for e in events_of(stream)] == ["1", "1"]


@pytest.mark.parametrize("value", [b"", b"10a", b"-1", b" 5", b"1.5", "١٢".encode()])
def test_retry_needs_ascii_digits(value: bytes) -> None:
    stream = b"retry: 100\ndata: a\n\nretry: " + value + b"\ndata: b\n\n"
    assert [e.retry for e in events_of(stream)] == [100, 100]


def test_retry_persists_and_is_none_until_set() -> None:
    stream = b"data: a\n\nretry: 2500\n\ndata: b\n\ndata: c\n\n"
    assert [e.retry for e in events_of(stream)] == [None, 2500, 2500]


def test_unknown_fields_are_ignored_and_kept_verbatim() -> None:
    events, stray = decode(b"foo: bar\nData: x\ndata: y\n  data: z\n\n")
    assert events == [ServerSentEvent("message", "y")]
    assert stray == ["foo: bar", "Data: x", "  data: z"]


def test_take_stray_lines_clears() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"oops\n")
    assert decoder.take_stray_lines() == ["oops"]
    assert decoder.take_stray_lines() == []


# --- end of stream ---


@pytest.mark.parametrize("tail", [b"data: x", b"data: x\n", b"data: x\r", b"data: x\r\n"])
def test_unterminated_final_event_is_discarded(tail: bytes) -> None:
    assert decode(b"data: a\n\n" + tail) == ([ServerSentEvent("message", "a")], [])


def test_unterminated_final_stray_line_is_kept() -> None:
    assert decode(b"data: a\n\n}]") == ([ServerSentEvent("message", "a")], ["}]"])


def test_unterminated_final_comment_is_not_stray() -> None:
    assert decode(b": bye") == ([], [])


def test_close_returns_no_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.close() == []


# --- Vertex-shaped streams ---


def test_vertex_stream_fixture() -> None:
    events, stray = decode(VERTEX_STREAM)
    assert stray == []
    assert events[-1] == ServerSentEvent("message", "[DONE]")
    chunks = [json.loads(event.data) for event in events[:-1]]
    choices = [chunk["choices"][0] for chunk in chunks]
    assert all(choice["delta"]["role"] == "assistant" for choice in choices)
    assert all("finish_reason" not in choice for choice in choices[:-1])
    assert choices[-1]["finish_reason"] == "stop"
    assert "usage" in chunks[-1]
    text = "".join(choice["delta"]["content"] for choice in choices)
    assert text.endswith("(2023 estimate) ✓.")


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"])
def test_vertex_stream_fixture_with_other_line_endings(eol: bytes) -> None:
    assert decode(VERTEX_STREAM.replace(b"\n", eol)) == decode(VERTEX_STREAM)


@pytest.mark.parametrize("ending", [b"\n", b""])
def test_bare_json_error_array_is_kept_as_stray_lines(ending: bytes) -> None:
    events, stray = decode(VERTEX_STREAM_ERROR.rstrip(b"\n") + ending)
    assert len(events) == 2
    assert stray[0] == "[{"
    assert stray[2] == '    "code": 499,'
    error = json.loads("\n".join(stray))
    assert error == [
        {
            "error": {
                "code": 499,
                "message": "The operation was cancelled.",
                "status": "CANCELLED",
            }
        }
    ]


# --- every chunk boundary gives the same result (h11's habit) ---

TRANSCRIPTS = [
    b"data: YHOO\ndata: +2\ndata: 10\n\n",
    b": test\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
    b"data\n\ndata\ndata\n\ndata:",
    b"event: add\r\ndata: 1\r\n\r\nretry: 300\rid: x\rdata: 2\r\rdata: 3\n\r\n",
    b"\xef\xbb\xbfdata: \xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\n\n",
    b"data: bad \xff \xe2\x9c\ndata: ok\n\n",
    b"data: a\n\n\n\ndata: b\n\nevent: x\n\n\ndata: c\n\n",
    b"stray\ndata: a\n\n: c\nid: 1\x002\nretry: 9x\n\n}]",
    VERTEX_STREAM,
    VERTEX_STREAM.replace(b"\n", b"\r\n"),
    VERTEX_STREAM_ERROR,
]


@pytest.mark.parametrize("stream", TRANSCRIPTS, ids=range(len(TRANSCRIPTS)))
def test_split_at_every_byte_gives_the_same_result(stream: bytes) -> None:
    whole = decode(stream)
    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == whole, cut


@pytest.mark.parametrize("stream", TRANSCRIPTS, ids=range(len(TRANSCRIPTS)))
def test_byte_at_a_time_gives_the_same_result(stream: bytes) -> None:
    whole = decode(stream)
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == whole


@pytest.mark.parametrize("stream", TRANSCRIPTS[:8], ids=range(8))
def test_three_pieces_at_every_pair_of_cuts_give_the_same_result(stream: bytes) -> None:
    whole = decode(stream)
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            pieces = stream[:first], stream[first:second], stream[second:]
            assert decode(*pieces) == whole, (first, second)


def test_split_results_are_not_trivially_empty() -> None:
    # Guards the split tests above: each transcript really produces something to compare.
    assert all(decode(stream) != ([], []) for stream in TRANSCRIPTS)


# --- the event value and the module ---


def test_event_defaults_repr_and_equality() -> None:
    event = ServerSentEvent(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", None, None)
    assert event == ServerSentEvent("message", "x")
    assert event != ServerSentEvent("other", "x")
    assert repr(event) == "ServerSentEvent(event='message', data='x', id=None, retry=None)"


def test_event_is_immutable() -> None:
    event = ServerSentEvent(data="x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]


def test_sse_module_is_pure() -> None:
    # Loads the file itself, not the package: vertexchat/__init__ may import the HTTP client.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('_sse', {SSE_SOURCE!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "names = ('httpx', 'anyio', 'httpcore', 'vertexchat')\n"
        "print(sorted(name for name in names if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


FAST_PATH_CHUNKS = [
    [b"data: {}\n\n"],
    [b"data:no-space\n\n"],
    [b"data:\n\n"],  # an empty data buffer: no event
    [b"data: a\nb\n\n"],  # not one line: the general parser decides
    [b"data: caf\xc3\xa9 \xff\n\n"],  # UTF-8 and an invalid byte
    [b"id: 7\n\n", b"data: after id\n\n"],  # the id in force is carried
    [b"retry: 10\n\n", b"data: x\n\n", b"data: y\r\n\r\n"],
    [b"event: custom\n", b"data: typed\n\n"],  # a pending event type blocks the fast path
    [b"data: first\n", b"data: second\n\n"],  # a pending data line blocks it too
    [b"data: split", b" across\n\n"],
]


@pytest.mark.parametrize("chunks", FAST_PATH_CHUNKS)
def test_whole_event_chunks_decode_like_single_bytes(chunks: list[bytes]) -> None:
    whole = SSEDecoder()
    fast = [event for chunk in chunks for event in whole.feed(chunk)]
    slow_decoder = SSEDecoder()
    slow = [e for byte in b"".join(chunks) for e in slow_decoder.feed(bytes([byte]))]
    assert fast == slow
