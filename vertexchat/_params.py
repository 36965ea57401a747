"""Pure: the keyword arguments ``create()``, ``parse()``, ``stream()`` and ``run_tools()`` take.

TypedDicts, so that a type checker and an IDE know every request parameter and flag a misspelt
one (``create(temprature=1)``) through ``**params: Unpack[CompletionCreateParams]``. At run time
they are plain ``dict`` types that nothing validates against: ``ChatCompletionRequest`` stays
the one validator (a test keeps the two field lists equal). ``None`` means "not given".

Each parameter accepts the request model *or* its plain JSON-shaped ``dict``, as the models do.
Required keys come from a ``total=True`` base class, not ``Required[...]``, so the classes work
on Python 3.10 without ``typing_extensions`` at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from ._request_models import (
    AssistantMessage,
    DeveloperMessage,
    ExtraBody,
    FunctionDefinition,
    FunctionMessage,
    NamedToolChoice,
    ResponseFormat,
    StreamOptions,
    SystemMessage,
    Tool,
    ToolMessage,
    UserMessage,
)
from ._response_models import ChatCompletionMessage

__all__ = [
    "CompletionCreateParams",
    "CompletionParseParams",
    "MessageParam",
    "RunToolsParams",
]

MessageParam = (
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage
    | ChatCompletionMessage
    | Mapping[str, Any]
)
"""One input message: a request message model, a message a completion returned (sent back as
is, thought signatures included), or its ``dict`` form (``{"role": "user", "content": …}``)."""


ToolChoiceParam = (
    Literal["none", "auto", "required", "validated"] | NamedToolChoice | Mapping[str, Any]
)


class _MessagesParam(TypedDict):
    messages: Sequence[MessageParam]


class _SamplingParams(TypedDict, total=False):
    # Every request field except messages, stream, tools and response_format, which the
    # methods treat differently (stream selects the return type; parse() and run_tools() take
    # their own kinds of response_format and tools).
    model: str | None
    stream_options: StreamOptions | Mapping[str, Any] | None
    temperature: float | None
    top_p: float | None
    n: int | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | Sequence[str] | None
    seed: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    tool_choice: (
        Literal["none", "auto", "required", "validated"]
        | NamedToolChoice
        | Mapping[str, Any]
        | None
    )
    functions: Sequence[FunctionDefinition | Mapping[str, Any]] | None
    function_call: Literal["none", "auto"] | Mapping[str, Any] | None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None
    modalities: Sequence[Literal["text", "image", "audio"]] | None
    web_search_options: Mapping[str, Any] | None
    extra_body: ExtraBody | Mapping[str, Any] | None
    # OpenAI parameters Gemini ignores (a warning there); Model Garden and vLLM may honour them.
    user: str | None
    metadata: Mapping[str, str] | None
    store: bool | None
    service_tier: str | None
    parallel_tool_calls: bool | None
    logprobs: bool | None
    top_logprobs: int | None
    logit_bias: Mapping[str, int] | None
    prediction: Mapping[str, Any] | None
    audio: Mapping[str, Any] | None
    moderation: Mapping[str, Any] | None
    prompt_cache_key: str | None
    prompt_cache_options: Mapping[str, Any] | None
    prompt_cache_retention: str | None
    safety_identifier: str | None
    verbosity: str | None


class _ToolsParam(TypedDict, total=False):
    tools: Sequence[Tool | Mapping[str, Any]] | None


class _ResponseFormatParam(TypedDict, total=False):
    response_format: ResponseFormat | Mapping[str, Any] | None


class CompletionCreateParams(_MessagesParam, _SamplingParams, _ToolsParam, _ResponseFormatParam):
    """The request parameters of ``create()`` (``stream`` is a separate keyword)."""


class CompletionParseParams(_MessagesParam, _SamplingParams, _ToolsParam):
    """The request parameters of ``parse()`` besides ``response_format`` and ``stream``."""


class RunToolsParams(_SamplingParams, _ResponseFormatParam):
    """The request parameters of ``run_tools()`` besides ``messages`` and ``tools``."""
