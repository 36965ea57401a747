"""Pure: how much of a server's reply the client holds in memory (``ResponseLimits``).

A reply past a limit raises ``ResponseTooLargeError`` (a ``ResponseValidationError``) as soon
as the limit is crossed, before the rest is read; error messages are clipped instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ._exceptions import DEFAULT_MAX_MESSAGE_CHARS
from ._sse import DEFAULT_MAX_EVENT_CHARS, DEFAULT_MAX_LINE_BYTES

__all__ = ["ResponseLimits"]

_MiB = 1024 * 1024


@dataclass(frozen=True)
class ResponseLimits:
    """Size limits on what a server sends; pass one as ``Client(response_limits=…)``.

    The defaults are far above anything Vertex sends (a streamed image is one event of a few
    MiB) and keep one call's memory bounded:

    * ``max_sse_line_bytes`` (64 MiB): one line of a stream, newline not included;
    * ``max_sse_event_chars`` (64 Mi characters): the data of one stream event, all its
      lines together, and the non-SSE lines a stream may carry;
    * ``max_body_bytes`` (128 MiB): a non-streaming response body;
    * ``max_error_body_bytes`` (1 MiB): the body of an HTTP error response (the rest is not
      read; the error is still raised, from what was read);
    * ``max_error_message_chars`` (8,192): a server's error message kept in an exception
      (longer ones are clipped, saying how much was cut).
    """

    max_sse_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_sse_event_chars: int = DEFAULT_MAX_EVENT_CHARS
    max_body_bytes: int = 128 * _MiB
    max_error_body_bytes: int = 1 * _MiB
    max_error_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"ResponseLimits.{field.name} must be an int")
            if value < 1:
                raise ValueError(f"ResponseLimits.{field.name} must be >= 1, got {value}")


DEFAULT_LIMITS = ResponseLimits()
