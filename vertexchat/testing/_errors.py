"""Pure: Google's error bodies as Vertex sends them (vertex-api.md §7.1, §6.2).

Google pretty-prints its errors; on the ``openapi`` endpoint some of them (400 bad model, 429,
the mid-stream 499) come wrapped in a one-element JSON array.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

RESOURCE_EXHAUSTED_MESSAGE = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)

SERVER_ERROR_MESSAGES = {
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}

# The exact bytes seen at the end of a cut Vertex stream: no `data:` prefix, multi-line.
STREAM_CANCELLED = (
    b'[{\n  "error": {\n    "code": 499,\n    "message": "The operation was cancelled.",\n'
    b'    "status": "CANCELLED"\n  }\n}\n]\n'
)

_RPC = "type.googleapis.com/google.rpc."


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error answer: status code, Google error message, optional details and headers."""

    code: int
    message: str
    details: tuple[dict[str, Any], ...] = ()
    array: bool = False
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def status(self) -> str:
        """Google's canonical status name for ``code``."""
        return CANONICAL_STATUS.get(self.code, "UNKNOWN")

    def body(self) -> bytes:
        """The JSON body, object or one-element array form, pretty-printed like Google's."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = list(self.details)
        text = json.dumps({"error": error}, indent=2)
        return (f"[{text}\n]\n" if self.array else text + "\n").encode()


class RequestRejected(Exception):
    """Raised inside the pure core when a request must be answered with an error."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(reply.message)
        self.reply = reply


def invalid_argument(message: str, *, array: bool = False) -> RequestRejected:
    """A 400 INVALID_ARGUMENT rejection."""
    return RequestRejected(ErrorReply(400, message, array=array))


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail entry."""
    return {
        "@type": _RPC + "ErrorInfo",
        "domain": "googleapis.com",
        "metadata": {"service": "aiplatform.googleapis.com", **metadata},
        "reason": reason,
    }


def retry_info(seconds: float) -> dict[str, Any]:
    """A ``google.rpc.RetryInfo`` detail entry with ``retryDelay`` like ``"27s"``."""
    return {"@type": _RPC + "RetryInfo", "retryDelay": f"{seconds:g}s"}


def resource_exhausted(
    *, retry_after: float | None = None, retry_delay: float | None = None
) -> ErrorReply:
    """Vertex's 429 in array form, optionally with ``Retry-After`` and ``RetryInfo``."""
    headers = () if retry_after is None else (("retry-after", f"{retry_after:g}"),)
    details = () if retry_delay is None else (retry_info(retry_delay),)
    return ErrorReply(429, RESOURCE_EXHAUSTED_MESSAGE, details, array=True, headers=headers)


def server_error(code: int) -> ErrorReply:
    """A 500, 503 or 504 with Google's usual message."""
    return ErrorReply(code, SERVER_ERROR_MESSAGES.get(code, "Internal error encountered."))


_CLIENT_ERRORS = {
    400: ("Request contains an invalid argument.", None),
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
        "ACCESS_TOKEN_EXPIRED",
    ),
    403: (
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/emulator/locations/global/publishers/google/"
        "models/gemini' (or it may not exist).",
        "IAM_PERMISSION_DENIED",
    ),
    404: (
        "Publisher Model `projects/emulator/locations/global/publishers/google/models/gemini` "
        "was not found or your project does not have access to it.",
        None,
    ),
}
_SERVICE_DISABLED = (
    "Vertex AI API has not been used in project emulator before or it is disabled. Enable it "
    "by visiting https://console.developers.google.com/apis/api/aiplatform.googleapis.com/"
    "overview?project=emulator then retry."
)


def client_error(code: int, reason: str | None = None) -> ErrorReply:
    """A 4xx as Google words it; ``reason`` sets the ``ErrorInfo`` (``SERVICE_DISABLED`` …)."""
    message, default_reason = _CLIENT_ERRORS.get(code, ("Request failed.", None))
    if reason == "SERVICE_DISABLED":
        message = _SERVICE_DISABLED
    reason = reason or default_reason
    details = (error_info(reason),) if reason else ()
    return ErrorReply(code, message, details)


def not_found(message: str) -> ErrorReply:
    """A 404 NOT_FOUND."""
    return ErrorReply(404, message)
