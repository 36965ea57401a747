"""Pure: check a chat-completions request body the way Vertex does (vertex-api.md §1.2, §3, §5).

Works on raw JSON (never on vertexchat's models) so the emulator judges our client
independently. Unknown parameters are ignored, as Vertex ignores them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import invalid_argument

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_EFFORTS = ("none", "minimal", "low", "medium", "high")
_INLINE_LIMIT = 7 * 1024 * 1024
_SIGNATURES_DOC = "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures"
_EMPTY_TEXT = (
    "Unable to submit request because it has an empty text parameter. "
    "Add a value to the parameter and try again."
)
_RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)
_CANNOT_FETCH = (
    "Cannot fetch content from the provided URL. Please ensure the URL is valid and "
    "accessible by Vertex AI."
)


@dataclass(frozen=True)
class ChatRequest:
    """A request body that passed validation, with the facts the answer depends on."""

    body: Mapping[str, Any]
    model: str
    messages: Sequence[Mapping[str, Any]]
    media_parts: int
    media_bytes: int

    @property
    def google(self) -> Mapping[str, Any]:
        """``extra_body.google`` (empty when absent)."""
        return _mapping(_mapping(self.body.get("extra_body")).get("google"))

    @property
    def stream(self) -> bool:
        """Whether the client asked for server-sent events."""
        return self.body.get("stream") is True


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, or a 400 like Google's for anything else."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}.") from exc
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected a JSON object.")
    return body


def validate(body: Mapping[str, Any], endpoint: str, *, remote_media: bool) -> ChatRequest:
    """Check ``body`` for ``endpoint`` (``openapi`` or a numeric id); raise RequestRejected."""
    model = check_model(body, endpoint)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_argument("Invalid value at 'messages': at least one message is required.")
    parts, size = 0, 0
    for index, message in enumerate(messages):
        found, length = check_message(index, message, remote_media=remote_media)
        parts, size = parts + found, size + length
    check_tool_turns(messages)
    check_signatures(messages, model)
    check_thinking(body)
    check_tools(body)
    check_response_format(body.get("response_format"))
    return ChatRequest(body, model, messages, parts, size)


def check_model(body: Mapping[str, Any], endpoint: str) -> str:
    """``model`` is required and publisher-qualified on ``openapi``, optional elsewhere."""
    model = body.get("model")
    if endpoint != "openapi":
        return model if isinstance(model, str) else ""
    if not isinstance(model, str) or not model:
        raise invalid_argument(
            "Model is required for the 'openapi' request endpoint ID; "
            "expected '<publisher>/<model>'.",
            array=True,
        )
    if "/" not in model:
        raise invalid_argument(
            f"Malformed publisher model (`model`: '{model}') for the 'openapi' request "
            "endpoint ID; expected '<publisher>/<model>'.",
            array=True,
        )
    return model


def check_message(index: int, message: Any, *, remote_media: bool) -> tuple[int, int]:
    """Validate one message; return its number of media parts and their decoded bytes."""
    role = _mapping(message).get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise invalid_argument(f"Invalid value at 'messages[{index}].role'.")
    content = message.get("content")
    if message.get("tool_calls") is not None:
        check_tool_calls(index, message["tool_calls"])
    if content == "" and (role == "user" or (role == "assistant" and message.get("tool_calls"))):
        raise invalid_argument(_EMPTY_TEXT)
    if isinstance(content, list):
        sizes = [
            check_part(f"messages[{index}].content[{j}]", part, remote_media=remote_media)
            for j, part in enumerate(content)
        ]
        media = [s for s in sizes if s is not None]
        return len(media), sum(media)
    if content is not None and not isinstance(content, str):
        raise invalid_argument(f"Invalid value at 'messages[{index}].content'.")
    return 0, 0


def check_tool_calls(index: int, calls: Any) -> None:
    """Each call is a function call whose ``arguments`` is a JSON string holding an object."""
    if not isinstance(calls, list):
        raise invalid_argument(f"Invalid value at 'messages[{index}].tool_calls'.")
    for j, call in enumerate(calls):
        where = f"messages[{index}].tool_calls[{j}]"
        function = _mapping(_mapping(call).get("function"))
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise invalid_argument(f"Invalid value at '{where}.function.name'.")
        arguments = function.get("arguments")
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise invalid_argument(
                f"Invalid value at '{where}.function.arguments': "
                "expected a JSON string encoding an object."
            )


def check_part(where: str, part: Any, *, remote_media: bool) -> int | None:
    """Validate one content part; return decoded media bytes, or None for a text part."""
    kind = _mapping(part).get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise invalid_argument(f"Invalid value at '{where}.text'.")
        return None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return media_size(where + ".image_url", url, remote_media=remote_media)
    if kind == "input_audio":
        data = _mapping(part.get("input_audio")).get("data")
        if isinstance(data, str) and ":" not in data[:8]:  # bare base64, as Google's sample
            return len(decode_base64(where + ".input_audio.data", data))
        return media_size(where + ".input_audio.data", data, remote_media=remote_media)
    raise invalid_argument(f"Invalid value at '{where}.type': unsupported content part {kind!r}.")


def media_size(where: str, url: Any, *, remote_media: bool) -> int:
    """Bytes of a ``data:`` URI; 0 for ``gs://`` (and remote URLs when allowed)."""
    if not isinstance(url, str) or not url:
        raise invalid_argument(f"Invalid value at '{where}': a URL is required.")
    if url.startswith("data:"):
        header, comma, payload = url[5:].partition(",")
        if not comma or not header.endswith(";base64"):
            raise invalid_argument(
                f"Invalid value at '{where}': expected data:<MIME>;base64,<DATA>."
            )
        return len(decode_base64(where, payload))
    if url.startswith("gs://"):
        return 0
    if url.startswith(("https://", "http://")):
        if remote_media:
            return 0
        raise invalid_argument(_CANNOT_FETCH)
    raise invalid_argument(f"Invalid value at '{where}': unsupported URL {url[:40]!r}.")


def decode_base64(where: str, payload: str) -> bytes:
    """Strictly decode inline media, rejecting malformed or oversized data."""
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_argument(f"Invalid value at '{where}': malformed base64 ({exc}).") from exc
    if len(data) > _INLINE_LIMIT:
        raise invalid_argument(f"Invalid value at '{where}': inline data exceeds 7 MB.")
    return data


def check_tool_turns(messages: Sequence[Any]) -> None:
    """A tool-call turn followed by anything must be answered by one result per call."""
    for index, message in enumerate(messages):
        calls = _mapping(message).get("tool_calls")
        if message.get("role") != "assistant" or not calls or index + 1 == len(messages):
            continue
        results = 0
        for later in messages[index + 1 :]:
            if _mapping(later).get("role") != "tool":
                break
            results += 1
        if results != len(calls):
            raise invalid_argument(_RESPONSE_COUNT)


def check_signatures(messages: Sequence[Any], model: str) -> None:
    """Gemini 3: the first call of every tool step in the current turn must carry a signature."""
    if "gemini-3" not in model:
        return
    users = [i for i, m in enumerate(messages) if _mapping(m).get("role") == "user"]
    start = users[-1] if users else 0
    for index in range(start, len(messages)):
        calls = _mapping(messages[index]).get("tool_calls")
        if messages[index].get("role") != "assistant" or not calls:
            continue
        first = _mapping(calls[0])
        google = _mapping(_mapping(first.get("extra_content")).get("google"))
        if not isinstance(google.get("thought_signature"), str) or not google["thought_signature"]:
            name = _mapping(first.get("function")).get("name")
            block = sum(1 for m in messages[:index] if _mapping(m).get("role") != "system")
            raise invalid_argument(
                f"Unable to submit request because function call `default_api:{name}` in the "
                f"{block}. content block is missing a `thought_signature`. "
                f"Learn more: {_SIGNATURES_DOC}"
            )


def check_thinking(body: Mapping[str, Any]) -> None:
    """``reasoning_effort`` must be known and never combined with ``thinking_config``."""
    effort = body.get("reasoning_effort")
    config = _mapping(_mapping(body.get("extra_body")).get("google")).get("thinking_config")
    if effort is not None and config is not None:
        raise invalid_argument(
            "reasoning_effort and extra_body.google.thinking_config cannot be set together."
        )
    if effort is not None and effort not in _EFFORTS:
        raise invalid_argument(
            f"Invalid reasoning_effort {effort!r}; accepted values: {', '.join(_EFFORTS)}."
        )


def check_tools(body: Mapping[str, Any]) -> None:
    """``tools`` are named functions; a named ``tool_choice`` must refer to one of them."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise invalid_argument("Invalid value at 'tools': expected a list.")
    names = set()
    for index, tool in enumerate(tools or []):
        name = _mapping(_mapping(tool).get("function")).get("name")
        if not isinstance(name, str) or not name:
            raise invalid_argument(f"Invalid value at 'tools[{index}].function.name'.")
        parameters = tool["function"].get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise invalid_argument(f"Invalid value at 'tools[{index}].function.parameters'.")
        names.add(name)
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        name = _mapping(choice.get("function")).get("name")
        if name not in names:
            raise invalid_argument(f"Invalid value at 'tool_choice': unknown function {name!r}.")
    elif choice not in (None, "none", "auto", "required", "validated"):
        raise invalid_argument(f"Invalid value at 'tool_choice': {choice!r}.")


def check_response_format(response_format: Any) -> None:
    """``response_format`` is an object; ``json_schema`` carries an object with a schema."""
    if response_format is None:
        return
    if not isinstance(response_format, Mapping) or not isinstance(
        response_format.get("type"), str
    ):
        raise invalid_argument("Invalid value at 'response_format'.")
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema", {}), Mapping):
            raise invalid_argument("Invalid value at 'response_format.json_schema'.")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# Documented input limits of the model pages: Gemini 2.x and 3 take 1,048,576 input tokens,
# Gemini 1.5 Pro 2,097,152. Models of other publishers are not checked. Vertex answers a longer
# prompt with 400 INVALID_ARGUMENT and this message (seen in public reports, not here).
CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-", 1_048_576),
)


def context_window(model: str, windows: Sequence[tuple[str, int]] = CONTEXT_WINDOWS) -> int | None:
    """The input token limit of ``model``: the first entry whose key is part of its name."""
    for key, limit in windows:
        if key in model:
            return limit
    return None


def check_context_window(
    tokens: int, model: str, windows: Sequence[tuple[str, int]] = CONTEXT_WINDOWS
) -> None:
    """Reject a prompt longer than the model's context window, as Vertex does (400)."""
    limit = context_window(model, windows)
    if limit is not None and tokens > limit:
        raise invalid_argument(
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({limit})."
        )
