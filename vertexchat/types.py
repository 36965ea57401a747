"""Every model a vertexchat user receives or builds, for annotations and ``isinstance``.

::

    from vertexchat.types import ChatCompletion, Choice, ChoiceDelta, ToolCallOut, UserMessage

Responses (lenient: unknown fields kept) are what calls return; request models (strict:
unknown fields rejected) are what you may pass instead of plain dicts. The ``…Params``
TypedDicts are the keyword arguments of ``create()``, ``parse()`` and ``run_tools()``.
The structured-output models load on first use, as in ``vertexchat`` itself.
"""

import importlib as _importlib
import typing as _typing

from ._exceptions import GoogleStatus
from ._params import CompletionCreateParams, CompletionParseParams, MessageParam, RunToolsParams
from ._request_models import (
    AssistantMessage,
    ChatCompletionRequest,
    ContentPart,
    DeveloperMessage,
    ExtraBody,
    ExtraContent,
    FunctionCall,
    FunctionDefinition,
    FunctionMessage,
    GoogleExtensions,
    GoogleExtraContent,
    ImageURL,
    ImageURLPart,
    InputAudio,
    InputAudioPart,
    JSONSchema,
    Message,
    NamedToolChoice,
    ResponseFormat,
    SafetySetting,
    StreamOptions,
    SystemMessage,
    TextPart,
    ThinkingConfig,
    Tool,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from ._response_models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionTokensDetails,
    ExtraContentOut,
    FunctionCallOut,
    GoogleExtraContentOut,
    MessageAudio,
    PromptTokensDetails,
    ToolCallOut,
    Usage,
)
from ._usage import ModelPrice, ModelUsage

if _typing.TYPE_CHECKING:
    from ._structured import ParsedChatCompletion, ParsedChatCompletionMessage, ParsedChoice

_LAZY = {
    "ParsedChatCompletion": "._structured",
    "ParsedChatCompletionMessage": "._structured",
    "ParsedChoice": "._structured",
}

if not _typing.TYPE_CHECKING:

    def __getattr__(name: str) -> _typing.Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'vertexchat.types' has no attribute {name!r}")
        value = getattr(_importlib.import_module(module, __package__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionRequest",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionCreateParams",
    "CompletionParseParams",
    "CompletionTokensDetails",
    "ContentPart",
    "DeveloperMessage",
    "ExtraBody",
    "ExtraContent",
    "ExtraContentOut",
    "FunctionCall",
    "FunctionCallOut",
    "FunctionDefinition",
    "FunctionMessage",
    "GoogleExtensions",
    "GoogleExtraContent",
    "GoogleExtraContentOut",
    "GoogleStatus",
    "ImageURL",
    "ImageURLPart",
    "InputAudio",
    "InputAudioPart",
    "JSONSchema",
    "Message",
    "MessageAudio",
    "MessageParam",
    "ModelPrice",
    "ModelUsage",
    "NamedToolChoice",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "PromptTokensDetails",
    "ResponseFormat",
    "RunToolsParams",
    "SafetySetting",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "ThinkingConfig",
    "Tool",
    "ToolCall",
    "ToolCallOut",
    "ToolMessage",
    "Usage",
    "UserMessage",
]
