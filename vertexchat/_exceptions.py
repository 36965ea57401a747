"""The exceptions vertexchat raises, and Google's error body turned into one.

::

    VertexChatError
    ├── APIError                      something went wrong talking to the server
    │   ├── APIStatusError            the server answered with an HTTP error status
    │   │   ├── RedirectError             3xx: refused, never followed (credentials stay home)
    │   │   ├── BadRequestError           400
    │   │   ├── AuthenticationError       401
    │   │   ├── PermissionDeniedError     403
    │   │   ├── NotFoundError             404
    │   │   ├── ConflictError             409
    │   │   ├── RateLimitError            429
    │   │   ├── CancelledByServerError    499
    │   │   └── InternalServerError       5xx
    │   ├── APIConnectionError        no HTTP response (refused, reset, DNS, TLS)
    │   │   └── APITimeoutError           a connect/read/write/pool timeout or the call deadline
    │   ├── StreamError               a stream failed after it started (error event, cut short)
    │   └── ResponseValidationError   the server's body is not what Vertex sends
    │       └── ResponseTooLargeError     the body, a stream line or event passed a limit
    ├── CredentialsError              Google credentials could not be loaded or refreshed
    ├── InvalidRequestError           the request is invalid; nothing was sent (also a ValueError)
    ├── OutputParseError              model output did not parse into the requested type
    │   ├── LengthFinishReasonError       … because it was cut off at the token limit
    │   └── ContentFilterFinishReasonError … because a safety filter blocked it
    └── ToolLoopError                 the model kept calling tools past ``max_rounds``

Messages never contain credentials: headers are not copied into exceptions, and the request
object kept on ``APIError.request`` is httpx's, whose repr shows only method and URL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

from ._request_ids import request_id

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CancelledByServerError",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "CredentialsError",
    "DEFAULT_MAX_MESSAGE_CHARS",
    "GoogleStatus",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "NotFoundError",
    "OutputParseError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "StreamError",
    "ToolLoopError",
    "VertexChatError",
    "parse_google_error",
    "status_error_from_response",
]

_MAX_BODY_IN_MESSAGE = 500
DEFAULT_MAX_MESSAGE_CHARS = 8192
"""Characters of a server's error message kept by default (``ResponseLimits``)."""
_MAX_DELAY_DIGITS = 12  # a delay longer than ~30,000 years is as good as "never"


class VertexChatError(Exception):
    """Base class of every exception vertexchat raises on purpose."""


class APIError(VertexChatError):
    """Something went wrong talking to the server.

    The OpenAI SDK's attributes are here for code that reads them: ``message``, ``request``,
    ``body`` (Google's error object), ``code`` and ``type`` (Google's canonical ``status``, e.g.
    ``RESOURCE_EXHAUSTED``), ``param`` (the first ``fieldViolations`` field) and ``request_id``
    (from the response headers, see ``_request_ids``); each is None when there is nothing to say.
    """

    request: httpx.Request | None
    attempts: int
    body: object | None = None
    code: str | None = None
    type: str | None = None
    param: str | None = None
    request_id: str | None = None

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.attempts = 1

    def _describe_google_error(self, error: GoogleError | None, response: Any) -> None:
        """Fill the SDK-style attributes from Google's error object and the response headers."""
        if error is not None:
            self.code = self.type = error.status
            self.param = _first_field_violation(error.details)
        if response is not None:
            self.request_id = request_id(response.headers.raw)

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class GoogleStatus:
    """A Google error body's ``error`` object: a ``google.rpc.Status`` (not an exception).

    ``{"error": {code, message, status, details}}``; an ``APIStatusError`` carries it as
    ``error.error``.
    """

    __slots__ = ("code", "details", "message", "status")

    def __init__(
        self,
        *,
        code: int | None,
        message: str,
        status: str | None,
        details: list[dict[str, Any]],
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def __repr__(self) -> str:
        return (
            f"GoogleStatus(code={self.code!r}, status={self.status!r}, message={self.message!r})"
        )

    def detail(self, type_suffix: str) -> dict[str, Any] | None:
        """The first detail whose ``@type`` ends with ``type_suffix`` (e.g. ``"RetryInfo"``)."""
        for item in self.details:
            kind = item.get("@type")
            if isinstance(kind, str) and kind.endswith(type_suffix):
                return item
        return None

    @property
    def reason(self) -> str | None:
        """``google.rpc.ErrorInfo.reason``, e.g. ``API_KEY_SERVICE_BLOCKED``."""
        info = self.detail("ErrorInfo")
        reason = info.get("reason") if info else None
        return reason if isinstance(reason, str) else None

    @property
    def retry_delay(self) -> float | None:
        """``google.rpc.RetryInfo.retryDelay`` in seconds (``"27s"`` → 27.0); None if unusable."""
        info = self.detail("RetryInfo")
        raw = info.get("retryDelay") if info else None
        if isinstance(raw, str) and raw.endswith("s"):
            return _seconds(_number(raw[:-1]))
        if isinstance(raw, Mapping):  # proto JSON may also spell it {"seconds": 27, "nanos": 0}
            seconds = _number(raw.get("seconds", 0))
            nanos = _number(raw.get("nanos", 0))
            if seconds is None or nanos is None:
                return None
            return _seconds(seconds + nanos / 1e9)
        return None


# The name this class had before 0.2, when it was listed among the exceptions it is not;
# ``vertexchat.GoogleError`` still resolves (with a DeprecationWarning).
GoogleError = GoogleStatus


def _number(value: object) -> float | None:
    """A finite float from a JSON number or numeric string; None for anything else or huge."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) < 10**_MAX_DELAY_DIGITS else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and value.isascii() and len(value) <= 32:
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _seconds(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else max(0.0, value)


def load_json(content: bytes | str) -> Any:
    """Decoded JSON, or None if it is not JSON or nests too deep for Python's parser."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def clip_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def parse_google_error(
    body: Any, *, max_message: int = DEFAULT_MAX_MESSAGE_CHARS
) -> GoogleStatus | None:
    """Read Google's error model from a decoded JSON body, as an object or a one-item array.

    Only values of the documented types are kept (a ``message`` that is not a string reads as
    ``""``), and the message is clipped to ``max_message`` characters.
    """
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if not isinstance(error, Mapping):
        return None
    code = error.get("code")
    message = error.get("message")
    status = error.get("status")
    details = error.get("details")
    return GoogleStatus(
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        message=clip_text(message, max_message) if isinstance(message, str) else "",
        status=clip_text(status, 100) if isinstance(status, str) else None,
        details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


class APIStatusError(APIError):
    """The server answered with an HTTP error status; ``status`` is Google's canonical code."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        error: GoogleStatus | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, request=response.request)
        self.response = response
        self.status_code = response.status_code
        self.body = _error_object(body)
        self.error = error
        self.status = error.status if error else None
        self.details = error.details if error else []
        self._describe_google_error(error, response)

    @property
    def retry_after(self) -> float | None:
        """The delay the server asked for: ``Retry-After`` header, else ``RetryInfo``."""
        header = _parse_retry_after(self.response.headers.get("retry-after"))
        if header is not None:
            return header
        return self.error.retry_delay if self.error else None


class RedirectError(APIStatusError):
    """3xx: the server redirected; vertexchat never follows, so credentials stay with the host."""

    @property
    def location(self) -> str | None:
        """Where the server pointed (the ``Location`` header), if anywhere."""
        location: str | None = self.response.headers.get("location")
        return location


class BadRequestError(APIStatusError):
    """400: the request is invalid (``INVALID_ARGUMENT``, ``FAILED_PRECONDITION``)."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, expired or invalid (``UNAUTHENTICATED``)."""


class PermissionDeniedError(APIStatusError):
    """403: IAM denies the call or the API is not enabled (``PERMISSION_DENIED``)."""


class NotFoundError(APIStatusError):
    """404: model, endpoint or region not found (``NOT_FOUND``)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the server's state (``ABORTED``)."""


class RateLimitError(APIStatusError):
    """429: quota or shared capacity exhausted (``RESOURCE_EXHAUSTED``); retry later."""


class CancelledByServerError(APIStatusError):
    """499: the operation was cancelled (``CANCELLED``)."""


class InternalServerError(APIStatusError):
    """5xx: the server failed (``INTERNAL``, ``UNAVAILABLE``, ``DEADLINE_EXCEEDED``)."""


class APIConnectionError(APIError):
    """No HTTP response arrived: connection refused or reset, DNS or TLS failure."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout, or the call's overall deadline, expired."""


class StreamError(APIError):
    """A stream failed after it started: an error event, bad data, or an early end."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        error: GoogleStatus | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.response = response
        self.error = error
        self.status = error.status if error else None
        self._describe_google_error(error, response)


class ResponseValidationError(APIError):
    """The server's body does not have the shape of a Vertex response."""


class ResponseTooLargeError(ResponseValidationError):
    """The reply passed one of the client's ``ResponseLimits``; ``limit`` names which."""

    def __init__(self, message: str, *, limit: str, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)
        self.limit = limit


class CredentialsError(VertexChatError):
    """Google credentials could not be found, loaded or refreshed."""


class OutputParseError(VertexChatError):
    """Model output did not parse into the requested type; ``content`` holds the raw text."""

    def __init__(self, message: str, *, content: str | None, completion: Any = None) -> None:
        super().__init__(message)
        self.content = content
        self.completion = completion


class LengthFinishReasonError(OutputParseError):
    """``parse()`` got output cut off at the token limit (``finish_reason`` ``length``)."""


class ContentFilterFinishReasonError(OutputParseError):
    """``parse()`` got output a safety filter blocked (``finish_reason`` ``content_filter``)."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
    499: CancelledByServerError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    if 300 <= status_code < 400:
        return RedirectError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def status_error_from_response(
    response: httpx.Response, content: bytes, *, max_message: int = DEFAULT_MAX_MESSAGE_CHARS
) -> APIStatusError:
    """Build the exception for an HTTP error response whose body has been read."""
    body: Any = load_json(content)
    error = parse_google_error(body, max_message=max_message)
    if error is not None:
        label = f" {error.status}" if error.status else ""
        message = f"HTTP {response.status_code}{label}: {error.message}"
    else:
        text = content[: _MAX_BODY_IN_MESSAGE * 4].decode("utf-8", "replace").strip()
        text = clip_text(text, min(_MAX_BODY_IN_MESSAGE, max_message))
        reason = response.reason_phrase or "error"
        message = f"HTTP {response.status_code} {reason}" + (f": {text}" if text else "")
    if 300 <= response.status_code < 400:
        where = clip_text(response.headers.get("location") or "nowhere", 200)
        message = (
            f"HTTP {response.status_code} redirect to {where} refused: vertexchat never follows "
            "redirects, so credentials stay with the configured host (check base_url)"
        )
    cls = status_error_class(response.status_code)
    return cls(message, response=response, error=error, body=body)


def _error_object(body: Any) -> Any:
    """Google's error object out of ``{"error": {…}}`` or ``[{"error": {…}}]``; else ``body``."""
    first = body[0] if isinstance(body, list) and len(body) == 1 else body
    inner = first.get("error") if isinstance(first, Mapping) else None
    return inner if isinstance(inner, Mapping) else body


def _first_field_violation(details: list[dict[str, Any]]) -> str | None:
    for detail in details:
        violations = detail.get("fieldViolations")
        if isinstance(violations, list) and violations and isinstance(violations[0], Mapping):
            field = violations[0].get("field")
            if isinstance(field, str):
                return field
    return None


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if not value.isascii():
        return None
    seconds = _number(value) if len(value) <= _MAX_DELAY_DIGITS else None
    if seconds is not None:
        return max(0.0, seconds)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    import time

    return _seconds(when.timestamp() - time.time())


class InvalidRequestError(VertexChatError, ValueError):
    """The request is invalid and was not sent; the message names each offending field."""

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class ToolLoopError(VertexChatError):
    """The model kept asking for tools after ``max_rounds``; ``completion`` is its last answer."""

    def __init__(self, message: str, *, completion: Any, rounds: int) -> None:
        super().__init__(message)
        self.completion = completion
        self.rounds = rounds
