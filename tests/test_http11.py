"""The pure HTTP/1.1 framing helpers, fed literals and every split point."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from vertexchat._http11 import (
    BodyFraming,
    ChunkedDecoder,
    ProtocolError,
    ResponseHead,
    encode_chunk,
    encode_request_head,
    find_head_end,
    parse_response_head,
    response_framing,
)

CHUNKED = b"5;ext=1\r\nhello\r\n1a\r\n" + b"x" * 26 + b"\r\n0\r\nTrailer: yes\r\n\r\n"


def test_request_head_is_one_block_with_blank_line() -> None:
    head = encode_request_head(b"POST", b"/v1/x?a=1", [(b"Host", b"h"), (b"Content-Length", b"2")])
    assert head == b"POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"


@pytest.mark.parametrize(
    ("target", "header"),
    [
        (b"/", (b"X", b"a\r\nEvil: 1")),
        (b"/", (b"X", b"a\nEvil: 1")),
        (b"/", (b"X\r", b"a")),
        (b"/", (b"X", b"a\x00")),
        (b"/ HTTP/1.1\r\nEvil: 1", (b"X", b"a")),
    ],
)
def test_request_head_refuses_injection(target: bytes, header: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        encode_request_head(b"GET", target, [header])


def test_encode_chunk_frames_data_and_skips_empty() -> None:
    assert encode_chunk(b"hello world, long") == b"11\r\nhello world, long\r\n"
    assert encode_chunk(b"") == b""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", (21, 25)),
        (b"HTTP/1.1 200 OK\nA: b\n\nbody", (20, 22)),
        (b"HTTP/1.1 200 OK\nA: b\n\r\nbody", (20, 23)),
        (b"HTTP/1.1 200 OK\r\nA: b\r\n", (-1, -1)),
    ],
)
def test_find_head_end(data: bytes, expected: tuple[int, int]) -> None:
    assert find_head_end(data) == expected


def test_find_head_end_refuses_endless_head() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        find_head_end(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000)


def test_parse_response_head_keeps_names_and_trims_values() -> None:
    head = parse_response_head(b"HTTP/1.1 404 Not Found\r\nContent-Type:  text/plain \r\nX-A: 1")
    assert head == ResponseHead(
        b"HTTP/1.1", 404, b"Not Found", [(b"Content-Type", b"text/plain"), (b"X-A", b"1")]
    )


def test_parse_response_head_without_reason_and_with_folded_value() -> None:
    head = parse_response_head(b"HTTP/1.0 200\nX-Long: a\n  b\n\tc")
    assert (head.http_version, head.status, head.reason) == (b"HTTP/1.0", 200, b"")
    assert head.headers == [(b"X-Long", b"a b c")]


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/2 200 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 20x OK",
        b"ICY 200 OK",
        b"HTTP/1.1 200 OK\r\nno colon here",
        b"HTTP/1.1 200 OK\r\nSpace-Before-Colon : x",
        b"HTTP/1.1 200 OK\r\n: no name",
        b"HTTP/1.1 200 OK\r\n continuation first",
    ],
)
def test_parse_response_head_rejects_malformed(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_response_head(head)


def _head(
    status: int, *headers: tuple[bytes, bytes], version: bytes = b"HTTP/1.1"
) -> ResponseHead:
    return ResponseHead(version, status, b"", list(headers))


@pytest.mark.parametrize(
    ("method", "head", "expected"),
    [
        (b"GET", _head(200, (b"Content-Length", b"12")), (BodyFraming.LENGTH, 12, True)),
        (b"GET", _head(200, (b"content-length", b"3, 3")), (BodyFraming.LENGTH, 3, True)),
        (b"GET", _head(200, (b"Transfer-Encoding", b"Chunked")), (BodyFraming.CHUNKED, -1, True)),
        (
            b"GET",
            _head(200, (b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"4")),
            (BodyFraming.CHUNKED, -1, False),
        ),
        (b"GET", _head(200), (BodyFraming.UNTIL_CLOSE, -1, False)),
        (b"HEAD", _head(200, (b"Content-Length", b"99")), (BodyFraming.NONE, 0, True)),
        (b"GET", _head(204), (BodyFraming.NONE, 0, True)),
        (b"GET", _head(304, (b"Content-Length", b"99")), (BodyFraming.NONE, 0, True)),
        (
            b"GET",
            _head(200, (b"Content-Length", b"0"), (b"Connection", b"keep-alive, Close")),
            (BodyFraming.LENGTH, 0, False),
        ),
        (
            b"GET",
            _head(200, (b"Content-Length", b"1"), version=b"HTTP/1.0"),
            (BodyFraming.LENGTH, 1, False),
        ),
    ],
)
def test_response_framing(
    method: bytes, head: ResponseHead, expected: tuple[BodyFraming, int, bool]
) -> None:
    assert response_framing(method, head) == expected


@pytest.mark.parametrize(
    "header",
    [
        (b"Content-Length", b"1, 2"),
        (b"Content-Length", b"-1"),
        (b"Content-Length", b"0x10"),
        (b"Transfer-Encoding", b"gzip, chunked"),
    ],
)
def test_response_framing_rejects_bad_framing_headers(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(ProtocolError):
        response_framing(b"GET", _head(200, header))


def test_chunked_decoder_whole_body_with_extension_and_trailer() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(CHUNKED) == b"hello" + b"x" * 26
    assert decoder.done
    assert decoder.unused == b""


@pytest.mark.parametrize("split", range(1, len(CHUNKED)))
def test_chunked_decoder_at_every_split_point(split: int) -> None:
    decoder = ChunkedDecoder()
    body = decoder.feed(CHUNKED[:split])
    assert not decoder.done
    body += decoder.feed(CHUNKED[split:])
    assert body == b"hello" + b"x" * 26
    assert decoder.done


@pytest.mark.parametrize("body", [CHUNKED, b"3\r\nabc\r\n" * 3 + b"0\r\n\r\n"])
def test_chunked_decoder_byte_at_a_time(body: bytes) -> None:
    decoder = ChunkedDecoder()
    whole = ChunkedDecoder().feed(body)
    assert b"".join(decoder.feed(bytes([byte])) for byte in body) == whole
    assert decoder.done


def test_chunked_decoder_byte_at_a_time_and_bare_lf() -> None:
    decoder = ChunkedDecoder()
    body = b"".join(decoder.feed(bytes([byte])) for byte in b"3\nabc\n0\n\nNEXT")
    assert body == b"abc"
    assert decoder.done
    assert decoder.unused == b"NEXT"


@pytest.mark.parametrize(
    "data",
    [b"zz\r\n", b"-1\r\n", b"0x5\r\nhello\r\n", b"1_0\r\n", b"3\r\nabcd\r\n", b"1" * 5000],
)
def test_chunked_decoder_rejects_malformed(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(data)


# -- header fields that must be refused (issue 12, fault 3) and what must still be accepted --

TOKEN = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"X-A: a\x00b", "value"),
        (b"X-A: a\rb", "value"),
        (b"X-A: a\x7fb", "value"),
        (b"X A: b", "name"),
        (b"X\tA: b", "name"),
        (b"X-A\x00: b", "name"),
        (b"X-A : b", "name"),
        (b"no colon", "malformed"),
        (b": no name", "malformed"),
    ],
)
def test_invalid_field_lines_are_refused(line: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        parse_response_head(b"HTTP/1.1 200 OK\r\n" + line)


def test_two_transfer_encoding_lines_are_refused() -> None:
    head = parse_response_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked"
    )
    with pytest.raises(ProtocolError, match="more than one Transfer-Encoding"):
        response_framing(b"GET", head)


def test_values_keep_tabs_spaces_and_obs_text() -> None:
    head = parse_response_head(b"HTTP/1.1 200 OK\r\nX-A: \t a\tb \xe9\xff \t\r\nX-B:")
    assert head.headers == [(b"X-A", b"a\tb \xe9\xff"), (b"X-B", b"")]


@given(
    name=st.binary(min_size=1, max_size=12),
    value=st.binary(max_size=24),
)
def test_any_field_line_is_parsed_exactly_or_refused(name: bytes, value: bytes) -> None:
    """Hypothesis: a field line is either a token name with a clean value, or ProtocolError."""
    line = name + b": " + value
    valid_name = all(byte in TOKEN for byte in name)
    valid_value = all(byte == 9 or 32 <= byte <= 126 or byte >= 128 for byte in value)
    # A line break or a CRLF's CR ends the line (find_head_end's job); a colon ends the name.
    assume(b"\n" not in line and not line.endswith(b"\r") and b":" not in name)
    try:
        head = parse_response_head(b"HTTP/1.1 200 OK\r\n" + line)
    except ProtocolError:
        assert not (valid_name and valid_value)
        return
    assert valid_name
    assert valid_value
    assert head.headers == [(name, value.strip(b" \t"))]
