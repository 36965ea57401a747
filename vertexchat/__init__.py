"""vertexchat: an async client for Vertex AI's OpenAI-compatible Chat Completions API.

Raw HTTP (httpx), hand-written pydantic models, its own SSE decoder; no ``openai`` package.
``import vertexchat`` does not import google-auth: credentials load on first use.
"""

from __future__ import annotations

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
    ResponseValidationError,
    StreamError,
    VertexChatError,
)
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
from ._retry import RetryPolicy
from ._streaming import ChatCompletionStream

__all__ = [
    "__version__",
    "ADC",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessage",
    "AuthenticationError",
    "BadRequestError",
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
    "GoogleAuth",
    "GoogleError",
    "GoogleExtensions",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "OutputParseError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "RetryPolicy",
    "SafetySetting",
    "StreamError",
    "ThinkingConfig",
    "Usage",
    "USE_CLIENT_DEFAULT",
    "VertexChatError",
]
