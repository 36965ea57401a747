"""Server bytes → a ``ChatCompletion``, a ``ChatCompletionChunk``, or a typed vertexchat error.

No I/O: the functions here parse what the edges have read. Whatever a server sends ends as a
correct object or an exception from vertexchat's tree, never a bare Python one.

What counts as an answer (vertex-api.md §6): a completion or chunk is a JSON object with a
``choices`` list (possibly empty: a usage-only chunk). Everything else Vertex has been seen to
omit (``message``, ``content``, token counts) may be missing. A body or event with an
``error`` member and no ``choices`` raises the error it carries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ._exceptions import (
    DEFAULT_MAX_MESSAGE_CHARS,
    APIError,
    GoogleStatus,
    ResponseValidationError,
    StreamError,
    clip_text,
    load_json,
    parse_google_error,
    status_error_class,
)
from ._response_models import ChatCompletion, ChatCompletionChunk

if TYPE_CHECKING:
    import httpx

__all__ = ["parse_chunk", "parse_completion", "stream_end_error"]

_SHOWN = 300  # characters of an unusable body quoted in a message


def parse_completion(
    content: bytes,
    response: httpx.Response,
    *,
    max_message: int = DEFAULT_MAX_MESSAGE_CHARS,
) -> ChatCompletion:
    """The completion in a 2xx body; ``ResponseValidationError`` or the error the body carries."""
    request = response.request
    try:
        completion = ChatCompletion.model_validate_json(content)
    except ValidationError as exc:
        raise _carried_error(content, response, max_message) or ResponseValidationError(
            f"response is not a chat.completion ({_problems(exc)}): {_shown(content)}",
            request=request,
        ) from exc
    if "choices" not in completion.model_fields_set:
        raise _carried_error(content, response, max_message) or ResponseValidationError(
            f"response is not a chat.completion (no choices): {_shown(content)}",
            request=request,
        )
    return completion


def parse_chunk(
    data: str, request: httpx.Request | None, *, max_message: int = DEFAULT_MAX_MESSAGE_CHARS
) -> ChatCompletionChunk:
    """The chunk in one ``data:`` event; ``StreamError`` for an error event."""
    try:
        chunk = ChatCompletionChunk.model_validate_json(data)
    except ValidationError as exc:
        raise _stream_error(data, request, max_message) or ResponseValidationError(
            f"stream event is not a chat.completion.chunk ({_problems(exc)}): {_shown(data)}",
            request=request,
        ) from exc
    extra = chunk.model_extra
    if extra and "error" in extra and not chunk.choices:
        # The event is valid JSON, already decoded: no second parse of a possibly huge text.
        raise _stream_error(extra, request, max_message) or _plain_stream_error(
            extra["error"], request, max_message
        )
    if "choices" not in chunk.model_fields_set:
        raise ResponseValidationError(
            f"stream event is not a chat.completion.chunk (no choices): {_shown(data)}",
            request=request,
        )
    return chunk


def stream_end_error(
    stray: list[str],
    request: httpx.Request | None,
    *,
    max_message: int = DEFAULT_MAX_MESSAGE_CHARS,
) -> StreamError:
    """The error for a stream that ended without ``[DONE]``, from the non-SSE lines it left."""
    if stray:
        error = _stream_error("\n".join(stray), request, max_message)
        if error is not None:
            return error
        return StreamError(
            f"stream ended without [DONE] after non-SSE lines: {_shown(' '.join(stray))}",
            request=request,
        )
    return StreamError("stream ended without [DONE] (cut short)", request=request)


def _carried_error(
    content: bytes | str, response: httpx.Response, max_message: int
) -> APIError | None:
    """The error a 2xx body carries instead of an answer (``{"error": {…}}``), if any."""
    body = load_json(content)
    error = parse_google_error(body, max_message=max_message)
    if error is None:
        if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
            return None
        error = GoogleStatus(
            code=None, message=clip_text(body["error"], max_message), status=None, details=[]
        )
    label = error.status or error.code or "error"
    message = f"HTTP 2xx carrying an error: {label}: {error.message}"
    code = error.code
    if code is None or not 400 <= code <= 599:
        return ResponseValidationError(message, request=response.request)
    status_error = status_error_class(code)(message, response=response, error=error, body=body)
    status_error.status_code = code  # the status the body reports: it decides retrying
    return status_error


def _stream_error(
    data: str | dict[str, Any], request: httpx.Request | None, max_message: int
) -> StreamError | None:
    body = load_json(data) if isinstance(data, str) else data
    error = parse_google_error(body, max_message=max_message)
    if error is None:
        return None
    return StreamError(
        f"error inside the stream: {error.status or error.code}: {error.message}",
        request=request,
        error=error,
    )


def _plain_stream_error(
    value: Any, request: httpx.Request | None, max_message: int
) -> StreamError:
    text = value if isinstance(value, str) else type(value).__name__
    return StreamError(f"error inside the stream: {clip_text(text, max_message)}", request=request)


def _problems(exc: ValidationError) -> str:
    """Where the body went wrong, by field: ``usage.total_tokens: Input should be …``."""
    parts = []
    for item in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _shown(content: bytes | str) -> str:
    head = content[: _SHOWN + 1]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return clip_text(text, _SHOWN)
