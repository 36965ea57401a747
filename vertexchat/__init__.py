"""vertexchat: an async client for Vertex AI's OpenAI-compatible Chat Completions API.

Raw HTTP (httpx), hand-written pydantic models, its own SSE decoder; no ``openai`` package.
``import vertexchat`` does not import google-auth: credentials load on first use.
"""

# No ``from __future__ import annotations`` here: it would leak ``vertexchat.annotations``.
import importlib as _importlib
import typing as _typing
import warnings as _warnings

__version__ = "0.1.0"

from ._auth import ADC, BearerToken, GoogleAuth
from ._client import DEFAULT_TIMEOUT, USE_CLIENT_DEFAULT, Client, Completions
from ._compat import NOT_GIVEN, NotGiven, OpenAIError, omit
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CancelledByServerError,
    ConflictError,
    ContentFilterFinishReasonError,
    CredentialsError,
    GoogleStatus,
    InternalServerError,
    InvalidRequestError,
    LengthFinishReasonError,
    NotFoundError,
    OutputParseError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ResponseValidationError,
    StreamError,
    ToolLoopError,
    VertexChatError,
)
from ._limits import ResponseLimits
from ._request import IgnoredParameterWarning
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
from ._usage import ModelPrice, ModelUsage, UsageTotals

if _typing.TYPE_CHECKING:
    from typing import TypeAlias as _TypeAlias

    from . import types as types
    from ._batch import BatchResult, BatchRun
    from ._compat import pydantic_function_tool
    from ._limiter import AdaptiveLimiter
    from ._media import INLINE_MEDIA_LIMIT, audio_part, image_part, media_part
    from ._progress import BatchStats
    from ._structured import (
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChatCompletionStream,
        response_format_from_model,
    )
    from ._sync import SyncClient
    from ._tools import FunctionTool, function_tool, parse_arguments
    from ._tools import run_tool_loop as run_tool_loop  # deprecated: chat.completions.run_tools
    from ._transport import PooledHTTP11Transport

    GoogleError: _TypeAlias = GoogleStatus  # deprecated: not an exception; ``except`` is an error

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
    "pydantic_function_tool": "._compat",
    "response_format_from_model": "._structured",
    "SyncClient": "._sync",
}

# Old names: still resolve, with a DeprecationWarning; not in __all__ or dir().
_DEPRECATED = {
    "GoogleError": (
        "._exceptions",
        "GoogleStatus",
        "vertexchat.GoogleError is deprecated: it is vertexchat.GoogleStatus, the parsed "
        "google.rpc.Status an APIStatusError carries as .error, and never was an exception "
        "(catch vertexchat.APIStatusError)",
    ),
    "run_tool_loop": (
        "._tools",
        "run_tool_loop",
        "vertexchat.run_tool_loop(client.chat.completions, ...) is deprecated: call "
        "client.chat.completions.run_tools(...), which takes the same arguments",
    ),
}


# Hidden from type checkers, so that a misspelt ``vertexchat.Clinet`` is an error there too.
if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> _typing.Any:
        if name == "types":
            return _importlib.import_module(".types", __name__)
        old = _DEPRECATED.get(name)
        if old is not None:
            _warnings.warn(old[2], DeprecationWarning, stacklevel=2)
            return getattr(_importlib.import_module(old[0], __name__), old[1])
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'vertexchat' has no attribute {name!r}")
        value = getattr(_importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "types"})


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
    "ContentFilterFinishReasonError",
    "CredentialsError",
    "DEFAULT_TIMEOUT",
    "ExtraBody",
    "function_tool",
    "FunctionTool",
    "GoogleAuth",
    "GoogleExtensions",
    "GoogleStatus",
    "IgnoredParameterWarning",
    "image_part",
    "INLINE_MEDIA_LIMIT",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "media_part",
    "ModelPrice",
    "ModelUsage",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "omit",
    "OpenAIError",
    "OutputParseError",
    "parse_arguments",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChatCompletionStream",
    "PermissionDeniedError",
    "PooledHTTP11Transport",
    "pydantic_function_tool",
    "RateLimitError",
    "RedirectError",
    "response_format_from_model",
    "ResponseLimits",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "SafetySetting",
    "StreamError",
    "SyncClient",
    "ThinkingConfig",
    "ToolLoopError",
    "Usage",
    "UsageTotals",
    "USE_CLIENT_DEFAULT",
    "VertexChatError",
]
