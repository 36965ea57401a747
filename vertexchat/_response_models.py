"""Pure: response models for Vertex AI's OpenAI-compatible Chat Completions API.

Wire facts: ``shared/vertex-api.md`` §5 (``extra_content.google``) and §6 (responses).

Lenient out: response models keep unknown fields and make optional whatever Vertex has been
seen to omit. Each message converts itself back into a request message (``to_request``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from ._request_ids import request_id
from ._request_models import (
    AssistantMessage,
    ExtraContent,
    FunctionCall,
    GoogleExtraContent,
    ToolCall,
)

__all__ = [
    "attach_response_headers",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionTokensDetails",
    "ExtraContentOut",
    "FunctionCallOut",
    "GoogleExtraContentOut",
    "MessageAudio",
    "PromptTokensDetails",
    "ToolCallOut",
    "Usage",
]


TokenCount = Annotated[int, Strict()]
"""A token count: a JSON integer only (``true`` is not 1 token, ``"7"`` is not 7)."""


class _Lenient(BaseModel):
    """Response side: unknown fields are kept, so a new server field never breaks a client."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


# --- responses ----------------------------------------------------------------------------------


class GoogleExtraContentOut(_Lenient):
    """``extra_content.google`` in a response: thought flag, signature, generated media type."""

    thought: bool | None = None
    thought_signature: str | None = None
    mime_type: str | None = None


class ExtraContentOut(_Lenient):
    """``extra_content`` on a response message, delta or tool call."""

    google: GoogleExtraContentOut | None = None

    @property
    def thought_signature(self) -> str | None:
        """The thought signature, from ``google`` or, failing that, any other namespace."""
        if self.google and self.google.thought_signature:
            return self.google.thought_signature
        for value in (self.model_extra or {}).values():
            if isinstance(value, dict) and isinstance(value.get("thought_signature"), str):
                return str(value["thought_signature"])
        return None

    def to_request(self) -> ExtraContent | None:
        """The part of this worth echoing to Vertex on the next turn (signature, thought flag)."""
        fields: dict[str, Any] = {}
        if self.google is not None and self.google.thought is not None:
            fields["thought"] = self.google.thought
        signature = self.thought_signature
        if signature is not None:
            fields["thought_signature"] = signature
        return ExtraContent(google=GoogleExtraContent(**fields)) if fields else None


class FunctionCallOut(_Lenient):
    """A function call in a response; in stream deltas both fields may be fragments or absent."""

    name: str | None = None
    arguments: str | None = None


class ToolCallOut(_Lenient):
    """A tool call in a response or delta; ``index`` is unreliable on Vertex, merge by ``id``."""

    id: str | None = None
    type: str | None = None
    index: int | None = None
    function: FunctionCallOut = Field(default_factory=FunctionCallOut)
    extra_content: ExtraContentOut | None = None


class MessageAudio(_Lenient):
    """``message.audio``: Vertex returns generated images here, typed by ``extra_content``."""

    data: str | None = None
    id: str | None = None
    transcript: str | None = None
    extra_content: ExtraContentOut | None = None


class ChatCompletionMessage(_Lenient):
    """The assistant's message in a ``ChatCompletion``; any field may be missing.

    With ``thought_tag_marker`` set on the request, ``content`` is the answer alone,
    ``thoughts`` the thought summaries and ``raw_content`` the text exactly as received.
    Every ``model_dump`` form of it is accepted back as an input message, sending
    ``raw_content`` as Vertex sent it; ``refusal``, ``annotations`` and ``function_call`` are
    the OpenAI SDK's fields, null on Vertex.
    """

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    audio: MessageAudio | None = None
    extra_content: ExtraContentOut | None = None
    thoughts: str | None = None
    raw_content: str | None = None
    # The OpenAI SDK's fields, null on Vertex, so that code reading them works.
    refusal: str | None = None
    annotations: list[Any] | None = None
    function_call: FunctionCallOut | None = None

    def to_request(self) -> AssistantMessage:
        """This message as an ``AssistantMessage`` for the next turn, signatures included."""
        # Tagged thoughts go back as received: Vertex re-marks them as thoughts for context.
        content = self.raw_content if self.raw_content is not None else self.content
        # No text: leave content out, as Google's samples do next to tool calls.
        fields: dict[str, Any] = {} if content is None else {"content": content}
        if self.tool_calls:
            fields["tool_calls"] = [_tool_call_request(call) for call in self.tool_calls]
        extra = self.extra_content.to_request() if self.extra_content else None
        if extra is not None:
            fields["extra_content"] = extra
        return AssistantMessage(**fields)


def _tool_call_request(call: ToolCallOut) -> ToolCall:
    fields: dict[str, Any] = {
        "id": call.id or "",
        "function": FunctionCall(
            name=call.function.name or "", arguments=call.function.arguments or "{}"
        ),
    }
    extra = call.extra_content.to_request() if call.extra_content else None
    if extra is not None:
        fields["extra_content"] = extra
    return ToolCall(**fields)


class CompletionTokensDetails(_Lenient):
    """``usage.completion_tokens_details``; present only when the model thought."""

    reasoning_tokens: TokenCount | None = None


class PromptTokensDetails(_Lenient):
    """``usage.prompt_tokens_details``; not documented for Vertex, kept if sent."""

    cached_tokens: TokenCount | None = None


class Usage(_Lenient):
    """Token counts as Vertex reports them: ``completion_tokens`` excludes thinking tokens."""

    prompt_tokens: TokenCount = 0
    completion_tokens: TokenCount = 0
    total_tokens: TokenCount = 0
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    extra_properties: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_missing_completion(cls, data: Any) -> Any:
        # Vertex sometimes omits completion_tokens; total = prompt + completion + reasoning.
        # Inferred only from integers: anything else is left for validation to report.
        if isinstance(data, dict) and "completion_tokens" not in data and "total_tokens" in data:
            details = data.get("completion_tokens_details") or {}
            reasoning = details.get("reasoning_tokens", 0) if isinstance(details, dict) else 0
            counts = (data["total_tokens"], data.get("prompt_tokens", 0), reasoning or 0)
            if all(type(count) is int for count in counts):
                inferred = counts[0] - counts[1] - counts[2]
                if inferred >= 0:
                    data = {**data, "completion_tokens": inferred}
        return data

    @property
    def reasoning_tokens(self) -> int:
        """Thinking tokens (0 when the model did not think)."""
        details = self.completion_tokens_details
        return (details.reasoning_tokens or 0) if details else 0

    @property
    def output_tokens(self) -> int:
        """All generated tokens, thinking included (what OpenAI calls ``completion_tokens``)."""
        return self.completion_tokens + self.reasoning_tokens

    @property
    def traffic_type(self) -> str | None:
        """``extra_properties.google.traffic_type``, e.g. ``ON_DEMAND``."""
        google = (self.extra_properties or {}).get("google")
        value = google.get("traffic_type") if isinstance(google, dict) else None
        return value if isinstance(value, str) else None


class Choice(_Lenient):
    """One choice of a ``ChatCompletion``; ``finish_reason`` is a free string."""

    index: int = 0
    message: ChatCompletionMessage = Field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: Any = None


_HEADERS = "__vertexchat_response_headers__"


def attach_response_headers(model: BaseModel, headers: Any) -> None:
    """Remember the response headers a completion came with (read by ``_request_id``).

    Kept in the instance dict, not as a field or pydantic private attribute: storing a
    reference costs nothing per call; the id is only worked out when someone asks.
    """
    model.__dict__[_HEADERS] = headers


class ChatCompletion(_Lenient):
    """A non-streaming response (``object: "chat.completion"``).

    ``_request_id`` is the id of the HTTP request from the response headers, as the OpenAI SDK
    exposes it (``x-request-id``, ``x-goog-request-id``, ``x-cloud-trace-context``, … — see
    ``vertexchat._request_ids``); ``id`` is Vertex's response id."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None

    @property
    def _request_id(self) -> str | None:
        headers = self.__dict__.get(_HEADERS)
        if headers is None:
            return None
        return request_id(getattr(headers, "raw", headers))


class ChoiceDelta(_Lenient):
    """The increment a stream chunk carries; Vertex repeats ``role`` on every chunk.

    With ``thought_tag_marker`` set, ``content`` is answer text, ``thoughts`` thought text
    (tags removed, split correctly across chunks) and ``raw_content`` the text as received.
    """

    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallOut] | None = None
    audio: MessageAudio | None = None
    extra_content: ExtraContentOut | None = None
    thoughts: str | None = None
    raw_content: str | None = None
    refusal: str | None = None
    function_call: FunctionCallOut | None = None


class ChunkChoice(_Lenient):
    """One choice of a stream chunk; ``finish_reason`` only on the last content chunk."""

    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_Lenient):
    """One streamed event (``object: "chat.completion.chunk"``)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
