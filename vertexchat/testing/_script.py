"""Pure: a Script is what an adapter must do to answer one request, faults included.

The adapters (in-process transport, loopback server) only play scripts: wait ``delay``, send
status and headers, then each piece in order — bytes are written, ``Delay`` waits, ``Reset``
aborts the connection. ``reset=True`` aborts before any response byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import (
    STREAM_CANCELLED,
    ErrorReply,
    client_error,
    resource_exhausted,
    server_error,
)
from ._faults import Fault
from ._wire import DONE


@dataclass(frozen=True)
class Delay:
    """Wait this many seconds before the next piece."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Abort the connection here; the client sees a reset mid-body."""


Piece = bytes | Delay | Reset


@dataclass(frozen=True)
class Script:
    """Status, headers and body pieces of one answer, with the faults already laid out."""

    status: int
    headers: tuple[tuple[str, str], ...]
    pieces: tuple[Piece, ...] = ()
    streaming: bool = False
    delay: float = 0.0
    reset: bool = False

    @property
    def body(self) -> bytes:
        """All body bytes the script sends (what a client reads if nothing breaks)."""
        return b"".join(p for p in self.pieces if isinstance(p, bytes))

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def error_script(reply: ErrorReply, fault: Fault | None = None) -> Script:
    """An HTTP error answer, delayed by the fault's latency."""
    body = reply.body()
    headers = (
        ("content-type", "application/json; charset=UTF-8"),
        ("content-length", str(len(body))),
        *reply.headers,
    )
    return Script(reply.code, headers, (body,), delay=fault.latency if fault else 0.0)


def fault_error(fault: Fault) -> ErrorReply:
    """The error reply a status fault asks for."""
    if fault.status == 429:
        return resource_exhausted(retry_after=fault.retry_after, retry_delay=fault.retry_delay)
    if fault.status is not None and fault.status < 500:
        return client_error(fault.status, fault.reason)
    return server_error(fault.status or 500)


def reset_script(fault: Fault) -> Script:
    """The connection is dropped before the response."""
    return Script(0, (), delay=fault.latency, reset=True)


def body_script(body: bytes, fault: Fault) -> Script:
    """A 200 JSON answer; ``cut`` sends half of it and resets."""
    headers = (
        ("content-type", "application/json; charset=UTF-8"),
        ("content-length", str(len(body))),
    )
    pieces: tuple[Piece, ...] = (body,)
    if fault.cut:
        pieces = (body[: len(body) // 2], Reset())
    return Script(200, headers, _slow(pieces, fault), delay=fault.latency)


def stream_script(events: list[bytes], fault: Fault) -> Script:
    """A 200 SSE answer: the events, ``[DONE]``, and any stream fault."""
    pieces: list[Piece] = list(events)
    if fault.cut:
        keep = fault.cut_after if fault.cut_after is not None else max(1, len(events) // 2)
        pieces = [*events[:keep], Reset() if fault.cut == "reset" else STREAM_CANCELLED]
    elif not fault.no_done:
        pieces.append(DONE)
    headers = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))
    return Script(200, headers, _slow(tuple(pieces), fault), streaming=True, delay=fault.latency)


def _slow(pieces: tuple[Piece, ...], fault: Fault) -> tuple[Piece, ...]:
    return (Delay(fault.slow_first_byte), *pieces) if fault.slow_first_byte else pieces
