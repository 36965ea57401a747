"""Pure: chat messages in the OpenTelemetry GenAI conventions' message format, as JSON text.

Used only when the user opts in to message content on spans. Parts follow the conventions'
input/output message schemas: ``text``, ``tool_call``, ``tool_call_response``, ``uri``
(images/audio by reference) and ``blob`` (inline media, recorded without its bytes).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._request_models import ChatCompletionRequest
    from ._response_models import ChatCompletion

__all__ = ["input_messages", "output_messages"]


def input_messages(request: ChatCompletionRequest) -> str:
    """``gen_ai.input.messages``: the request's messages, in order."""
    messages = []
    for message in request.messages:
        data = message.model_dump(mode="json", exclude_none=True)
        messages.append({"role": data.get("role", "user"), "parts": _parts(data)})
    return _json(messages)


def output_messages(completion: ChatCompletion) -> str:
    """``gen_ai.output.messages``: one message per choice."""
    messages = []
    for choice in completion.choices:
        data = choice.message.model_dump(mode="json", exclude_none=True)
        if choice.message.raw_content is not None:
            data["content"] = choice.message.raw_content  # thoughts included, as sent
        messages.append(
            {
                "role": data.get("role") or "assistant",
                "parts": _parts(data),
                "finish_reason": choice.finish_reason or "",
            }
        )
    return _json(messages)


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if message.get("role") == "tool":
        text = content if isinstance(content, str) else _joined_text(content)
        return [
            {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": text}
        ]
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        parts.extend(_content_part(part) for part in content if isinstance(part, dict))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return parts


def _content_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "content": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _media("image", url if isinstance(url, str) else "")
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        return _media("audio", str(audio.get("data", "")))
    return {"type": str(kind)}


def _media(modality: str, reference: str) -> dict[str, Any]:
    if reference.startswith("data:"):
        mime_type = reference[5:].split(";", 1)[0].split(",", 1)[0]
        return {"type": "blob", "modality": modality, "mime_type": mime_type}
    if "://" in reference:
        return {"type": "uri", "modality": modality, "uri": reference}
    return {"type": "blob", "modality": modality}  # inline base64: the bytes are not recorded


def _joined_text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
