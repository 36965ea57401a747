"""vertexchat: an async client for Vertex AI's OpenAI-compatible Chat Completions API.

Raw HTTP (httpx), hand-written pydantic models, its own SSE decoder; no ``openai`` package.
``import vertexchat`` does not import google-auth: credentials load on first use.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

from ._auth import ADC, BearerToken, GoogleAuth
from ._client import DEFAULT_TIMEOUT, USE_CLIENT_DEFAULT, Client, Completions
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CancelledByServerError,
    ConflictError,
    CredentialsError,
    GoogleError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    OutputParseError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    StreamError,
    ToolLoopError,
    VertexChatError,
)
from ._limits import ResponseLimits
from ._request_models import (
    AssistantMessage,
    ChatCompletionRequest,
    ExtraBody,
    GoogleExtensions,
    SafetySetting,
    ThinkingConfig,
)
from ._response_models import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, Usage
from ._retry import RetryPolicy
from ._streaming import ChatCompletionStream

if _TYPE_CHECKING:
    from ._batch import BatchResult, BatchRun
    from ._limiter import AdaptiveLimiter
    from ._media import INLINE_MEDIA_LIMIT, audio_part, image_part, media_part
    from ._progress import BatchStats
    from ._structured import (
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChatCompletionStream,
        response_format_from_model,
    )
    from ._tools import FunctionTool, function_tool, parse_arguments, run_tool_loop
    from ._transport import PooledHTTP11Transport

# Loaded on first use, so that `import vertexchat` pays only for the client it always needs.
_LAZY = {
    "AdaptiveLimiter": "._limiter",
    "BatchResult": "._batch",
    "BatchRun": "._batch",
    "BatchStats": "._progress",
    "FunctionTool": "._tools",
    "INLINE_MEDIA_LIMIT": "._media",
    "ParsedChatCompletion": "._structured",
    "ParsedChatCompletionMessage": "._structured",
    "ParsedChatCompletionStream": "._structured",
    "PooledHTTP11Transport": "._transport",
    "audio_part": "._media",
    "function_tool": "._tools",
    "image_part": "._media",
    "media_part": "._media",
    "parse_arguments": "._tools",
    "response_format_from_model": "._structured",
    "run_tool_loop": "._tools",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vertexchat' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "__version__",
    "AdaptiveLimiter",
    "ADC",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessage",
    "audio_part",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "BatchRun",
    "BatchStats",
    "BearerToken",
    "CancelledByServerError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionRequest",
    "ChatCompletionStream",
    "Client",
    "Completions",
    "ConflictError",
    "CredentialsError",
    "DEFAULT_TIMEOUT",
    "ExtraBody",
    "function_tool",
    "FunctionTool",
    "GoogleAuth",
    "GoogleError",
    "GoogleExtensions",
    "image_part",
    "INLINE_MEDIA_LIMIT",
    "InternalServerError",
    "InvalidRequestError",
    "media_part",
    "NotFoundError",
    "OutputParseError",
    "parse_arguments",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChatCompletionStream",
    "PermissionDeniedError",
    "PooledHTTP11Transport",
    "RateLimitError",
    "response_format_from_model",
    "ResponseLimits",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "run_tool_loop",
    "SafetySetting",
    "StreamError",
    "ThinkingConfig",
    "ToolLoopError",
    "Usage",
    "USE_CLIENT_DEFAULT",
    "VertexChatError",
]
