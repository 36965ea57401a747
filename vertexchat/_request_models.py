"""Pure: request models for Vertex AI's OpenAI-compatible Chat Completions API.

Wire facts: ``shared/vertex-api.md`` §3 (request), §4 (``extra_body.google``) and §5
(``extra_content.google``). Field names are snake_case, as on the wire.

Strict in: request models reject unknown fields, because Vertex silently ignores them and a
typo would otherwise fail silently. The response side is ``_response_models``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "AssistantMessage",
    "ChatCompletionRequest",
    "ContentPart",
    "ExtraBody",
    "ExtraContent",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "GoogleExtensions",
    "GoogleExtraContent",
    "ImageURL",
    "ImageURLPart",
    "InputAudio",
    "InputAudioPart",
    "JSONSchema",
    "Message",
    "NamedToolChoice",
    "ResponseFormat",
    "SafetySetting",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "ThinkingConfig",
    "Tool",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
]


class _Strict(BaseModel):
    """Request side: unknown fields are an error, so typos fail before the network."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    def model_post_init(self, context: Any, /) -> None:
        # Requests are sent with exclude_unset; tags like "type" and "role" must always go out.
        fields = type(self).model_fields
        for tag in ("type", "role"):
            if tag in fields:
                self.__pydantic_fields_set__.add(tag)


# --- extra_content.google (on messages, content parts and tool calls) ---------------------------


class GoogleExtraContent(_Strict):
    """``extra_content.google``: thought flag, thought signature, multimodal tool-result parts."""

    thought: bool | None = None
    thought_signature: str | None = None
    parts: list[dict[str, Any]] | None = None


class ExtraContent(_Strict):
    """``extra_content`` on a request message, part or tool call; ``google`` is typed."""

    model_config = ConfigDict(extra="allow")
    google: GoogleExtraContent | None = None


# --- content parts ------------------------------------------------------------------------------


class TextPart(_Strict):
    """``{"type": "text", "text": …}``."""

    type: Literal["text"] = "text"
    text: str
    extra_content: ExtraContent | None = None


class ImageURL(_Strict):
    """The object form of ``image_url``: a ``gs://``, ``https://`` or ``data:`` URL."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLPart(_Strict):
    """``image_url`` part; the URL may be a bare string (Google samples) or ``{url, detail}``."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL | str
    extra_content: ExtraContent | None = None


class InputAudio(_Strict):
    """Audio input: ``data`` is base64 (no ``data:`` prefix) or a URI; ``format`` e.g. ``wav``."""

    data: str
    format: str


class InputAudioPart(_Strict):
    """``{"type": "input_audio", "input_audio": {"data", "format"}}``."""

    type: Literal["input_audio"] = "input_audio"
    input_audio: InputAudio
    extra_content: ExtraContent | None = None


ContentPart = Annotated[TextPart | ImageURLPart | InputAudioPart, Field(discriminator="type")]


# --- messages -----------------------------------------------------------------------------------


class FunctionCall(_Strict):
    """A function call in a request: ``arguments`` is a JSON object encoded as a string."""

    name: str
    arguments: str

    @field_validator("arguments", mode="before")
    @classmethod
    def _encode_arguments(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value

    @field_validator("arguments")
    @classmethod
    def _check_arguments(cls, value: str) -> str:
        # Vertex validates history: arguments must decode to a JSON object.
        try:
            decoded = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"must be a JSON object encoded as a string ({exc})") from None
        if not isinstance(decoded, dict):
            raise ValueError("must be a JSON object encoded as a string")
        return value


class ToolCall(_Strict):
    """A tool call an assistant message made, sent back in the history."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall
    extra_content: ExtraContent | None = None


class SystemMessage(_Strict):
    """``{"role": "system", "content": …}``."""

    role: Literal["system"] = "system"
    content: str | list[TextPart]
    name: str | None = None
    extra_content: ExtraContent | None = None


class UserMessage(_Strict):
    """``{"role": "user", "content": …}``: text or a list of text/image/audio parts."""

    role: Literal["user"] = "user"
    content: str | list[ContentPart]
    name: str | None = None
    extra_content: ExtraContent | None = None


class AssistantMessage(_Strict):
    """An assistant turn in the history; with tool calls, ``content: ""`` is sent as ``null``."""

    role: Literal["assistant"] = "assistant"
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    name: str | None = None
    extra_content: ExtraContent | None = None

    @model_validator(mode="after")
    def _empty_content_with_tool_calls(self) -> AssistantMessage:
        # Vertex answers 400 to "content": "" next to tool calls.
        if self.tool_calls and self.content == "":
            self.content = None
        return self


class ToolMessage(_Strict):
    """A tool result: ``tool_call_id`` must match the call's ``id`` exactly."""

    role: Literal["tool"] = "tool"
    tool_call_id: str
    content: str | list[TextPart]
    name: str | None = None
    extra_content: ExtraContent | None = None


class FunctionMessage(_Strict):
    """Deprecated ``function`` role result; prefer ``tool``."""

    role: Literal["function"] = "function"
    name: str
    content: str | None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


# --- tools and response format ------------------------------------------------------------------


class FunctionDefinition(_Strict):
    """A callable tool: ``parameters`` is an OpenAPI-3.0-style JSON schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Strict):
    """``{"type": "function", "function": {name, description, parameters}}``."""

    type: Literal["function"] = "function"
    function: FunctionDefinition


class _ToolChoiceFunction(_Strict):
    name: str


class NamedToolChoice(_Strict):
    """Force one tool: ``{"type": "function", "function": {"name": …}}``."""

    type: Literal["function"] = "function"
    function: _ToolChoiceFunction


class JSONSchema(_Strict):
    """``response_format.json_schema``: a named JSON schema for structured output."""

    name: str
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class _TextFormat(_Strict):
    type: Literal["text"]


class _JSONObjectFormat(_Strict):
    type: Literal["json_object"]


class _JSONSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JSONSchema


ResponseFormat = Annotated[
    _TextFormat | _JSONObjectFormat | _JSONSchemaFormat, Field(discriminator="type")
]


class StreamOptions(_Strict):
    """``stream_options``; Vertex sends usage on the last chunk either way."""

    include_usage: bool | None = None


# --- extra_body.google --------------------------------------------------------------------------


class ThinkingConfig(_Strict):
    """``extra_body.google.thinking_config`` (Gemini ``ThinkingConfig``)."""

    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None


class SafetySetting(_Strict):
    """One Gemini ``SafetySetting``, e.g. ``HARM_CATEGORY_HATE_SPEECH`` / ``BLOCK_NONE``."""

    category: str
    threshold: str
    method: str | None = None


class GoogleExtensions(_Strict):
    """``extra_body.google``: the Vertex-only request options."""

    thinking_config: ThinkingConfig | None = None
    thought_tag_marker: str | None = None
    safety_settings: list[SafetySetting] | None = None
    cached_content: str | None = None
    stream_function_call_arguments: bool | None = None
    media_resolution: str | None = None
    tools: list[dict[str, Any]] | None = None

    @field_validator("thought_tag_marker")
    @classmethod
    def _check_marker(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "<> \t\r\n")):
            raise ValueError("must be a non-empty tag name without '<', '>' or whitespace")
        return value


class ExtraBody(_Strict):
    """The literal top-level JSON key ``extra_body``: ``{"google": {…}}``."""

    google: GoogleExtensions | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_sdk_double_nesting(cls, data: Any) -> Any:
        if isinstance(data, dict) and "extra_body" in data:
            raise ValueError(
                "extra_body is already the JSON key Vertex reads: pass "
                "extra_body={'google': {...}}, not the OpenAI SDK's "
                "extra_body={'extra_body': {...}}"
            )
        return data


# --- the request --------------------------------------------------------------------------------

_IGNORED_BY_VERTEX = (
    "audio",
    "logit_bias",
    "logprobs",
    "metadata",
    "parallel_tool_calls",
    "prediction",
    "service_tier",
    "store",
    "top_logprobs",
    "user",
)


class ChatCompletionRequest(_Strict):
    """The JSON body of ``POST …/chat/completions``."""

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required", "validated"] | NamedToolChoice | None = None
    functions: list[FunctionDefinition] | None = None
    function_call: Literal["none", "auto"] | _ToolChoiceFunction | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    modalities: list[Literal["text", "image", "audio"]] | None = None
    web_search_options: dict[str, Any] | None = None
    extra_body: ExtraBody | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_ignored_parameters(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _IGNORED_BY_VERTEX:
                if name in data:
                    raise ValueError(
                        f"{name!r} is not supported by Vertex AI's OpenAI-compatible API, "
                        "which would silently ignore it"
                    )
        return data

    @model_validator(mode="after")
    def _check_thinking_options(self) -> ChatCompletionRequest:
        google = self.extra_body.google if self.extra_body else None
        if self.reasoning_effort is not None and google and google.thinking_config:
            raise ValueError(
                "reasoning_effort and extra_body.google.thinking_config cannot be combined "
                "(Vertex rejects the pair); use one of them"
            )
        return self

    @property
    def thought_tag_marker(self) -> str | None:
        """The ``thought_tag_marker`` this request asks for, if any."""
        google = self.extra_body.google if self.extra_body else None
        return google.thought_tag_marker if google else None
