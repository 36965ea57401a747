"""vertexchat: an async client for Vertex AI's OpenAI-compatible Chat Completions API.

Raw HTTP (httpx), hand-written pydantic models, its own SSE decoder; no ``openai`` package.
``import vertexchat`` does not import google-auth: credentials load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._auth import ADC, BearerToken, GoogleAuth
from ._batch import BatchResult, BatchRun
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
    ResponseValidationError,
    StreamError,
    ToolLoopError,
    VertexChatError,
)
from ._limiter import AdaptiveLimiter
from ._media import INLINE_MEDIA_LIMIT, audio_part, image_part, media_part
from ._models import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ExtraBody,
    GoogleExtensions,
    SafetySetting,
    ThinkingConfig,
    Usage,
)
from ._progress import BatchStats
from ._retry import RetryPolicy
from ._streaming import ChatCompletionStream
from ._structured import (
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChatCompletionStream,
    response_format_from_model,
)
from ._tools import FunctionTool, function_tool, parse_arguments, run_tool_loop
from ._transport import PooledHTTP11Transport

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
