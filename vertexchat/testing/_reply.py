"""Pure: decide what the emulated model answers (text, thoughts, tool calls, usage).

Rules, all deterministic for a given request:

* thinking happens with ``thinking_config.include_thoughts``, a non-zero ``thinking_budget``,
  a ``thinking_level`` or a ``reasoning_effort`` other than ``none``; budget 0 / ``none`` turn
  it off. Reasoning tokens are counted whenever it thinks; the summary is shown only with
  ``include_thoughts`` (tagged with ``thought_tag_marker`` when given, §4.3).
* with ``tools`` (and ``tool_choice`` not ``none``) and a last message that is not a tool
  result, it calls tools: the ``tool_choice`` function, else every tool whose name appears in
  the last user message, else the first tool (``parallel_tool_calls: false`` keeps one).
  ``required``/``validated``/a named function force a call even after a tool result, as
  Gemini's ANY mode does.
* otherwise it answers in text, mentioning trailing tool results and media parts; with
  ``response_format`` the text is JSON valid against the schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._schema import generate_instance
from ._text import (
    count_tokens,
    function_call_id,
    rng_for,
    sentence_text,
    thought_signature,
    truncate_tokens,
)
from ._validate import ChatRequest

_MEDIA_TOKENS = 258  # what Gemini bills per image
_EFFORT_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


@dataclass(frozen=True)
class ToolCall:
    """One function call the model makes."""

    id: str
    name: str
    arguments: str
    signature: str | None


@dataclass(frozen=True)
class Reply:
    """The model's answer before it is put on the wire."""

    thoughts: str
    answer: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    signature: str | None = None
    marker: str | None = None

    @property
    def content(self) -> str | None:
        """``message.content``: shown thoughts (tagged or not) followed by the answer."""
        if not self.thoughts:
            return self.answer
        m = self.marker
        prefix = f"<{m}>{self.thoughts}</{m}>" if m else self.thoughts + "\n\n"
        return prefix + (self.answer or "")

    def tag_cuts(self) -> list[int]:
        """Offsets in ``content`` that fall inside the thought tags (to split streams there)."""
        if not (self.thoughts and self.marker):
            return []
        opening, closing = len(self.marker) + 2, len(self.marker) + 3
        return [opening // 2, opening + len(self.thoughts) + closing // 2]


def build_reply(request: ChatRequest, seed: bytes) -> Reply:
    """The deterministic answer to a validated request."""
    thinks, show, budget = thinking_plan(request)
    thoughts = ""
    if thinks:
        thoughts = "**Planning the answer**\n\n" + sentence_text(rng_for(seed, "thought"), 12, 24)
    reasoning = min(count_tokens(thoughts) * 4, budget) if thinks else 0
    marker = request.google.get("thought_tag_marker")
    calls = plan_tool_calls(request, seed)
    answer, finish, signature = None, "tool_calls", None
    used = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in calls)
    if not calls:
        answer, finish = answer_text(request, seed)
        used = count_tokens(answer)
        signature = thought_signature(seed, "message") if "gemini-3" in request.model else None
    return Reply(
        thoughts=thoughts if show else "",
        answer=answer,
        tool_calls=calls,
        finish_reason=finish,
        prompt_tokens=prompt_tokens(request),
        completion_tokens=used,
        reasoning_tokens=reasoning,
        signature=signature,
        marker=marker if isinstance(marker, str) and marker else None,
    )


def thinking_plan(request: ChatRequest) -> tuple[bool, bool, int]:
    """(thinks, shows the summary, token budget) from thinking_config / reasoning_effort."""
    config = request.google.get("thinking_config")
    config = config if isinstance(config, Mapping) else {}
    effort = request.body.get("reasoning_effort")
    budget = config.get("thinking_budget")
    if budget == 0 or effort == "none":
        return False, False, 0
    include = config.get("include_thoughts") is True
    thinks = (
        include
        or isinstance(budget, int)
        or "thinking_level" in config
        or effort in _EFFORT_BUDGET
    )
    limit = (
        budget if isinstance(budget, int) and budget > 0 else _EFFORT_BUDGET.get(str(effort), 8192)
    )
    return bool(thinks), include and bool(thinks), limit


def plan_tool_calls(request: ChatRequest, seed: bytes) -> tuple[ToolCall, ...]:
    """The calls to make, or () when the model should answer in text."""
    tools = [t for t in request.body.get("tools") or [] if isinstance(t, Mapping)]
    choice = request.body.get("tool_choice")
    after_result = request.messages[-1].get("role") in ("tool", "function")
    forced = choice in ("required", "validated") or isinstance(choice, Mapping)
    if not tools or choice == "none" or (after_result and not forced):
        return ()
    chosen = _choose_tools(tools, choice, last_user_text(request.messages))
    if request.body.get("parallel_tool_calls") is False:
        chosen = chosen[:1]
    calls = []
    for index, function in enumerate(chosen):
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        value = generate_instance(schema, rng_for(seed, f"arguments-{index}"))
        arguments = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        signature = thought_signature(seed, "call") if index == 0 else None
        calls.append(
            ToolCall(function_call_id(seed, index), function["name"], arguments, signature)
        )
    return tuple(calls)


def _choose_tools(
    tools: list[Mapping[str, Any]], choice: Any, text: str
) -> list[Mapping[str, Any]]:
    functions = [t.get("function") or {} for t in tools]
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        return [f for f in functions if f.get("name") == wanted][:1]
    named = [f for f in functions if f.get("name") and f["name"] in text]
    return named or functions[:1]


def answer_text(request: ChatRequest, seed: bytes) -> tuple[str, str]:
    """The text answer and its finish reason (``length`` when ``max_tokens`` cuts it)."""
    rng = rng_for(seed, "answer")
    response_format = request.body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}  # type: ignore[union-attr]
        return json.dumps(generate_instance(schema, rng), ensure_ascii=False), "stop"
    if kind == "json_object":
        return json.dumps({"answer": sentence_text(rng, 8, 16)}), "stop"
    pieces = [
        f"The tool {name} returned: {result[:80]}." for name, result in tool_results(request)
    ]
    if request.media_parts:
        pieces.append(
            f"I received {request.media_parts} media part(s) ({request.media_bytes} bytes)."
        )
    pieces.append(sentence_text(rng, 24, 48))
    text = " ".join(pieces)
    limit = request.body.get("max_tokens", request.body.get("max_completion_tokens"))
    if isinstance(limit, int) and count_tokens(text) > limit:
        return truncate_tokens(text, limit), "length"
    return text, "stop"


def tool_results(request: ChatRequest) -> list[tuple[str, str]]:
    """(function name, result text) of the tool messages that end the history."""
    names: dict[str, str] = {}
    for message in request.messages:
        for call in message.get("tool_calls") or []:
            names[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
    results: list[tuple[str, str]] = []
    for message in reversed(request.messages):
        if message.get("role") not in ("tool", "function"):
            break
        name = names.get(str(message.get("tool_call_id")), str(message.get("name", "tool")))
        results.insert(0, (name, message_text(message)))
    return results


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message ('' when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def message_text(message: Mapping[str, Any]) -> str:
    """All text of a message: string content or its text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def prompt_tokens(request: ChatRequest) -> int:
    """Deterministic prompt size: text, tool calls, tool declarations and media parts."""
    total = _MEDIA_TOKENS * request.media_parts
    for message in request.messages:
        total += count_tokens(message_text(message)) + 2
        for call in message.get("tool_calls") or []:
            total += count_tokens(json.dumps(call.get("function", {})))
    if request.body.get("tools"):
        total += count_tokens(json.dumps(request.body["tools"]))
    return total
