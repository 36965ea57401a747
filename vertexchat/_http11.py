"""Pure HTTP/1.1 client framing: request heads, response heads, body framing, chunked decoding.

Implements the client side of RFC 9112 that the pooled transport needs (sections 3-7): no I/O,
no httpx or anyio import. Bytes in, values or :class:`ProtocolError` out.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BodyFraming",
    "ChunkedDecoder",
    "ProtocolError",
    "ResponseHead",
    "encode_chunk",
    "encode_request_head",
    "find_head_end",
    "parse_response_head",
    "response_framing",
]

Headers = list[tuple[bytes, bytes]]

# Heads larger than this are refused rather than buffered forever.
MAX_HEAD_SIZE = 64 * 1024
_MAX_CHUNK_LINE = 4096
# Size, optional whitespace and extensions (ignored), optional CR before the LF.
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?")
# field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5): the name is a token
# (RFC 9110 section 5.1), the value visible characters, spaces and tabs; no NUL, CR or other
# control character (RFC 9110 section 5.5 lets a recipient reject those, and we do).
_FIELD_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):([\t\x20-\x7e\x80-\xff]*)")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # CTLs but HTAB, LF and CR


class ProtocolError(Exception):
    """The peer sent bytes that are not valid HTTP/1.1 for this exchange."""


class BodyFraming(enum.Enum):
    """How the end of a response body is found (RFC 9112 section 6.3)."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"


@dataclass(slots=True)
class ResponseHead:
    """A parsed status line and header fields; names keep the server's case."""

    http_version: bytes
    status: int
    reason: bytes
    headers: Headers


def encode_request_head(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> bytes:
    """Serialize a request line and header fields, ending with the blank line."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    # Counting is cheaper than a regex per field: any extra CR, LF or NUL means an injection.
    lines = len(headers) + 2
    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\x00" in head:
        raise ValueError("request line and header fields must not contain CR, LF or NUL")
    return head


def encode_chunk(data: bytes) -> bytes:
    """Frame one piece of a chunked request body (empty data is skipped, not the terminator)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def find_head_end(buffer: bytes | bytearray) -> tuple[int, int]:
    """Return (end of head, start of body) in ``buffer``, or (-1, -1) when incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end >= 0:
        return end, end + 4
    # Bare LF line endings are tolerated, as RFC 9112 section 2.2 allows.
    end = buffer.find(b"\n\n")
    if end >= 0:
        return end, end + 2
    end = buffer.find(b"\n\r\n")
    if end >= 0:
        return end, end + 3
    if len(buffer) > MAX_HEAD_SIZE:
        raise ProtocolError("response head is too large")
    return -1, -1


def parse_response_head(head: bytes | bytearray) -> ResponseHead:
    """Parse the bytes before the blank line into a :class:`ResponseHead`."""
    data = bytes(head)
    # One scan of the whole head for control characters (cheaper than a check per field);
    # a CR that does not end its line is caught line by line.
    if _CONTROL.search(data) is not None:
        raise ProtocolError(_head_problem(data))
    lines = data.split(b"\n")
    status_line = lines[0][:-1] if lines[0][-1:] == b"\r" else lines[0]
    version, status, reason = _parse_status_line(status_line)
    return ResponseHead(version, status, reason, _parse_fields(lines[1:]))


def _head_problem(data: bytes) -> str:
    """Say which line of a refused head holds a control character or a bare CR."""
    lines = data.split(b"\n")
    for raw in lines[1:]:
        line = raw[:-1] if raw[-1:] == b"\r" else raw
        if _CONTROL.search(line) is not None or b"\r" in line:
            return _field_problem(line)
    return f"malformed status line {lines[0][:100]!r}"


def _parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    version, _, rest = line.partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"malformed status line {line[:100]!r}")
    if b"\r" in rest:
        raise ProtocolError(f"malformed status line {line[:100]!r}")
    if len(rest) > 3 and rest[3:4] != b" ":
        raise ProtocolError(f"malformed status line {line[:100]!r}")
    return version, int(code), rest[4:]


def _parse_fields(lines: Sequence[bytes]) -> Headers:
    headers: Headers = []
    for raw in lines:
        line = raw[:-1] if raw[-1:] == b"\r" else raw
        if line[:1] in (b" ", b"\t"):
            # obs-fold: a user agent replaces it with a space (RFC 9112 section 5.2).
            if not headers or b"\r" in line:
                raise ProtocolError(f"malformed header continuation line {line[:100]!r}")
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, sep, value = line.partition(b":")
        # Letters, digits and dashes (bytes.isalnum is ASCII-only) take the fast path.
        token = name.replace(b"-", b"").isalnum() or _TOKEN.fullmatch(name) is not None
        if not sep or not token or b"\r" in value:
            raise ProtocolError(_field_problem(line))
        headers.append((name, value.strip(b" \t")))
    return headers


def _field_problem(line: bytes) -> str:
    """Say what is wrong with a header line the parser refused."""
    name, sep, _ = line.partition(b":")
    if not sep or not name:
        return f"malformed header line {line[:100]!r}"
    if _FIELD_LINE.fullmatch(name + b":") is None:
        return f"invalid character in header name {name[:100]!r}"
    return f"invalid character (NUL, CR or control) in the value of header {name[:100]!r}"


def response_framing(request_method: bytes, head: ResponseHead) -> tuple[BodyFraming, int, bool]:
    """Return (framing, content length or -1, whether the connection may be reused)."""
    keep_alive = head.http_version == b"HTTP/1.1"
    transfer_encoding: bytes | None = None
    lengths: list[bytes] = []
    for name, value in head.headers:
        lower = name.lower()
        if lower == b"content-length":
            lengths += (v.strip() for v in value.split(b","))
        elif lower == b"transfer-encoding":
            if transfer_encoding is not None:
                # Only the last would be read: gzip bytes would come back as the body.
                raise ProtocolError("more than one Transfer-Encoding header line")
            transfer_encoding = value.strip().lower()
        elif lower == b"connection" and b"close" in _tokens(value):
            keep_alive = False
    if request_method == b"HEAD" or head.status in (204, 304) or head.status < 200:
        return BodyFraming.NONE, 0, keep_alive
    if transfer_encoding is not None:
        if transfer_encoding != b"chunked":
            raise ProtocolError(f"unsupported transfer-encoding {transfer_encoding!r}")
        # A message with both headers may be an attack; never reuse its connection.
        return BodyFraming.CHUNKED, -1, keep_alive and not lengths
    if lengths:
        return BodyFraming.LENGTH, _content_length(lengths), keep_alive
    return BodyFraming.UNTIL_CLOSE, -1, False


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",")]


def _content_length(values: list[bytes]) -> int:
    if len(set(values)) != 1 or not values[0].isdigit() or len(values[0]) > 18:
        raise ProtocolError("invalid content-length")
    return int(values[0])


class _ChunkState(enum.Enum):
    SIZE = 1
    DATA = 2
    DATA_END = 3
    TRAILER = 4
    DONE = 5


class ChunkedDecoder:
    """Sans-IO decoder for a chunked body: ``feed(bytes)`` returns the body bytes it completed.

    Each call returns the data of every chunk it finished or started, joined into one bytes
    object, so a read carrying a hundred small SSE chunks costs one piece downstream.
    """

    def __init__(self) -> None:
        self._state = _ChunkState.SIZE
        self._buffer = b""
        self._remaining = 0

    @property
    def done(self) -> bool:
        """True once the last chunk and the trailer section have been read."""
        return self._state is _ChunkState.DONE

    @property
    def unused(self) -> bytes:
        """Bytes fed after the end of the body (a pipelined peer's next message)."""
        return self._buffer if self.done else b""

    def feed(self, data: bytes) -> bytes:
        """Consume ``data`` and return the body bytes it contained (possibly empty)."""
        buffer = self._buffer + data if self._buffer else data
        pieces: list[bytes] = []
        position = 0
        size = len(buffer)
        while position < size and self._state is not _ChunkState.DONE:
            if self._state is _ChunkState.DATA:
                end = min(position + self._remaining, size)
                pieces.append(buffer[position:end])
                self._remaining -= end - position
                position = end
                if self._remaining == 0:
                    self._state = _ChunkState.DATA_END
                continue
            end = buffer.find(b"\n", position)
            if end < 0:
                break
            line = buffer[position:end]
            position = end + 1
            if self._state is _ChunkState.SIZE:
                position = self._chunk(buffer, position, line, pieces)
            else:
                self._line(line.rstrip(b"\r"))
        self._buffer = buffer[position:]
        if len(self._buffer) > _MAX_CHUNK_LINE and self._state is not _ChunkState.DONE:
            raise ProtocolError("chunk size line or trailer field too long")
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _chunk(self, buffer: bytes, start: int, line: bytes, pieces: list[bytes]) -> int:
        """Start a chunk; take it whole when it and its CRLF are already buffered."""
        match = _CHUNK_SIZE_LINE.fullmatch(line)
        if match is None:
            raise ProtocolError(f"malformed chunk size line {line[:100]!r}")
        size = int(match[1], 16)
        if size == 0:
            self._state = _ChunkState.TRAILER
            return start
        end = start + size
        if buffer[end : end + 2] == b"\r\n":  # the common case, one slice per chunk
            pieces.append(buffer[start:end])
            return end + 2
        self._remaining = size
        self._state = _ChunkState.DATA
        return start

    def _line(self, line: bytes) -> None:
        if self._state is _ChunkState.DATA_END:
            if line:
                raise ProtocolError("chunk data longer than its declared size")
            self._state = _ChunkState.SIZE
        elif not line:  # TRAILER: trailer fields are read and dropped; a blank line ends them.
            self._state = _ChunkState.DONE
