"""Pure: request models for Vertex AI's OpenAI-compatible Chat Completions API.

Wire facts: ``shared/vertex-api.md`` §3 (request), §4 (``extra_body.google``) and §5
(``extra_content.google``). Field names are snake_case, as on the wire.

Strict in: request models reject unknown fields, because Vertex silently ignores them and a
typo would otherwise fail silently. The response side is ``_response_models``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
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
    "DeveloperMessage",
    "ExtraBody",
    "ExtraContent",
    "FunctionCall",
    "FunctionDefinition",
    "FunctionMessage",
    "GEMINI_IGNORED_PARAMETERS",
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

    @model_validator(mode="before")
    @classmethod
    def _drop_response_only(cls, data: Any) -> Any:
        # Responses carry mime_type (image output); it is not an input field.
        if isinstance(data, dict) and "mime_type" in data:
            return _without_nones({k: v for k, v in data.items() if k != "mime_type"})
        return data


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
        if value is None or value == "":
            return "{}"  # a call without arguments, as streams and stored histories give it
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

    @model_validator(mode="before")
    @classmethod
    def _drop_response_only(cls, data: Any) -> Any:
        # A dumped response tool call carries index and nulls: not input fields.
        if isinstance(data, dict) and "index" in data:
            return {
                key: value if key == "function" else _without_nones(value)
                for key, value in data.items()
                if key != "index" and value is not None
            }
        return data


class SystemMessage(_Strict):
    """``{"role": "system", "content": …}``."""

    role: Literal["system"] = "system"
    content: str | list[TextPart]
    name: str | None = None
    extra_content: ExtraContent | None = None


class DeveloperMessage(_Strict):
    """``{"role": "developer", …}``: sent as ``system`` to Gemini, as is to other targets."""

    role: Literal["developer"] = "developer"
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

    @model_validator(mode="before")
    @classmethod
    def _accept_response_shape(cls, data: Any) -> Any:
        # A response message stored as JSON (ours or the OpenAI SDK's) comes back as is.
        if isinstance(data, dict) and not _RESPONSE_ONLY_MESSAGE_KEYS.isdisjoint(data):
            return _from_response_dump(data)
        return data

    @model_validator(mode="after")
    def _empty_content_with_tool_calls(self) -> AssistantMessage:
        # Vertex answers 400 to "content": "" next to tool calls.
        if self.tool_calls and self.content == "":
            self.content = None
        return self


_RESPONSE_ONLY_MESSAGE_KEYS = frozenset(
    {
        "annotations",
        "audio",
        "parsed",
        "raw_content",
        "reasoning",
        "reasoning_content",
        "refusal",
        "thoughts",
    }
)
"""Keys of a response message that are not input fields; dropped when a message comes back."""


def _from_response_dump(data: dict[str, Any]) -> dict[str, Any]:
    """A dumped response message as an input message: the text as received, no output-only keys.

    ``raw_content`` (thoughts still tagged) is what Vertex sent and is sent back in place of the
    answer-only ``content``, as ``ChatCompletionMessage.to_request`` does for a live message.
    """
    message = {
        key: _without_nones(value)
        for key, value in data.items()
        if key not in _RESPONSE_ONLY_MESSAGE_KEYS and value is not None
    }
    if data.get("raw_content") is not None:
        message["content"] = data["raw_content"]
    return message


def _without_nones(value: Any) -> Any:
    """``value`` without null entries (a dump's unset fields), recursively."""
    if isinstance(value, dict):
        return {
            k: v if k == "function" else _without_nones(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_without_nones(item) for item in value]
    return value


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
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage,
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
    """``extra_body.google``: the Vertex-only request options.

    Known fields are typed. A key Google adds later passes through unvalidated, unless it is
    within a typo of a known field (``thinking_confg``), which fails naming the field.
    """

    # protected_namespaces: pydantic < 2.10 reserves "model_" and warns on model_safety_settings.
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    thinking_config: ThinkingConfig | None = None
    thought_tag_marker: str | None = None
    safety_settings: list[SafetySetting] | None = None
    model_safety_settings: dict[str, Any] | None = None
    cached_content: str | None = None
    stream_function_call_arguments: bool | None = None
    media_resolution: str | None = None
    tools: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_typos(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = cls.model_fields
            for key in data:
                if key not in known:
                    _refuse_near_miss(key, known)
        return data

    @field_validator("thought_tag_marker")
    @classmethod
    def _check_marker(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "<> \t\r\n")):
            raise ValueError("must be a non-empty tag name without '<', '>' or whitespace")
        return value


def _refuse_near_miss(key: Any, known: Iterable[str]) -> None:
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.8)
    if close:
        raise ValueError(f"unknown field {key!r} (did you mean {close[0]!r}?)")


class ExtraBody(_Strict):
    """The literal top-level JSON key ``extra_body``: ``{"google": {…}}``."""

    google: GoogleExtensions | None = None


# --- the request --------------------------------------------------------------------------------

GEMINI_IGNORED_PARAMETERS = frozenset(
    {
        "audio",
        "logit_bias",
        "logprobs",
        "metadata",
        "moderation",
        "parallel_tool_calls",
        "prediction",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "store",
        "top_logprobs",
        "user",
        "verbosity",
    }
)
"""OpenAI parameters Vertex accepts and ignores for Gemini; other models may honour them."""


_EXTRA_JSON = "__vertexchat_extra_json__"


class ChatCompletionRequest(_Strict):
    """The JSON body of ``POST …/chat/completions``.

    ``create()``'s ``extra_body`` keys other than ``google`` are not fields: they are merged into
    the top level of the JSON unvalidated (see ``extra_json``).
    """

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
    # OpenAI parameters Gemini ignores (GEMINI_IGNORED_PARAMETERS); MaaS and vLLM may honour them.
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0)
    logit_bias: dict[str, int] | None = None
    prediction: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None
    verbosity: str | None = None

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
    def extra_json(self) -> dict[str, Any] | None:
        """Keys sent at the top level of the JSON unvalidated (``create()``'s ``extra_body``)."""
        # Kept in the instance dict rather than as a pydantic private attribute: a private
        # attribute costs every request an init call; this costs nothing when unused.
        value = self.__dict__.get(_EXTRA_JSON)
        return value if isinstance(value, dict) else None

    def with_extra_json(self, extra: dict[str, Any]) -> ChatCompletionRequest:
        """Attach top-level keys to send unvalidated; returns ``self``."""
        self.__dict__[_EXTRA_JSON] = dict(extra)
        return self

    def to_create_params(self) -> dict[str, Any]:
        """This request as ``create()`` arguments, ``extra_json`` back inside ``extra_body``."""
        params = self.model_dump(exclude_unset=True, by_alias=True)
        extra = self.extra_json
        if extra:
            params["extra_body"] = {**(params.get("extra_body") or {}), **extra}
        return params

    @property
    def thought_tag_marker(self) -> str | None:
        """The ``thought_tag_marker`` this request asks for, if any."""
        google = self.extra_body.google if self.extra_body else None
        return google.thought_tag_marker if google else None
