"""Pure: put a Reply on the wire exactly as Vertex does (vertex-api.md §6.1, §6.2).

Keys sorted, compact JSON, ``system_fingerprint: ""``, ``logprobs: null``; in streams every
chunk repeats ``delta.role``, intermediate chunks carry no ``finish_reason`` key and the last
content chunk carries ``finish_reason`` and ``usage``, then ``data: [DONE]``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from ._reply import Reply, ToolCall

DONE = b"data: [DONE]\n\n"
_WORDS_PER_CHUNK = 6
_FRAGMENTS_PER_CALL = 4


@dataclass(frozen=True)
class Envelope:
    """The fields every response object and chunk repeats."""

    id: str
    created: int
    model: str

    def wrap(self, kind: str, choice: dict[str, Any]) -> dict[str, Any]:
        """A response object (``chat.completion`` or ``.chunk``) around one choice."""
        return {
            "choices": [choice],
            "created": self.created,
            "id": self.id,
            "model": self.model,
            "object": kind,
            "system_fingerprint": "",
        }


def encode(value: Any) -> bytes:
    """Vertex's JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sse_event(value: Any) -> bytes:
    """One server-sent event carrying ``value``."""
    return b"data: " + encode(value) + b"\n\n"


def usage(reply: Reply) -> dict[str, Any]:
    """Usage as Vertex counts it: total = prompt + completion + reasoning."""
    result: dict[str, Any] = {
        "completion_tokens": reply.completion_tokens,
        "extra_properties": {"google": {"traffic_type": "ON_DEMAND"}},
        "prompt_tokens": reply.prompt_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens + reply.reasoning_tokens,
    }
    if reply.reasoning_tokens:
        result["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
    return result


def completion(reply: Reply, envelope: Envelope) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object."""
    message: dict[str, Any] = {"content": reply.content, "role": "assistant"}
    if reply.tool_calls:
        message["tool_calls"] = [_call(call) for call in reply.tool_calls]
    if reply.signature:
        message["extra_content"] = _signed(reply.signature)
    choice = {"finish_reason": reply.finish_reason, "index": 0, "logprobs": None}
    body = envelope.wrap("chat.completion", {**choice, "message": message})
    body["usage"] = usage(reply)
    return body


def chunks(
    reply: Reply, envelope: Envelope, *, stream_arguments: bool, split_tags: bool = True
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer, in order."""
    pieces = text_pieces(reply, split_tags=split_tags)
    deltas: list[dict[str, Any]] = [{"content": piece} for piece in pieces]
    if reply.signature and deltas:
        deltas[0]["extra_content"] = _signed(reply.signature)
    if stream_arguments:
        deltas += [{"tool_calls": [item]} for item in fragment_deltas(reply.tool_calls)]
    elif reply.tool_calls:
        items = [{**_call(call), "index": i} for i, call in enumerate(reply.tool_calls)]
        deltas.append({"tool_calls": items})
    if not deltas:
        deltas.append({"content": ""})
    result = []
    for delta in deltas:
        choice = {"delta": {**delta, "role": "assistant"}, "index": 0, "logprobs": None}
        result.append(envelope.wrap("chat.completion.chunk", choice))
    result[-1]["choices"][0]["finish_reason"] = reply.finish_reason
    result[-1]["usage"] = usage(reply)
    return result


def text_pieces(reply: Reply, *, split_tags: bool = True) -> list[str]:
    """``content`` split every few words and, with ``split_tags``, inside the thought tags."""
    text = reply.content or ""
    spaces = [i for i, char in enumerate(text) if char == " "]
    cuts = set(spaces[_WORDS_PER_CHUNK - 1 :: _WORDS_PER_CHUNK])
    if split_tags:
        cuts |= set(reply.tag_cuts())
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def fragment_deltas(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    """Streamed argument fragments, with ``index`` as unreliable as Vertex's (§6.2).

    Every delta repeats id, type and name; the signature rides on a call's first delta only.
    The first call's deltas come at index 1,0,0,… and later calls' at 0,k,k,… as in Google's
    own example, so clients that merge by index instead of id break here as they would live.
    """
    items = []
    for k, call in enumerate(calls):
        for j, piece in enumerate(_fragments(call.arguments)):
            index = (1 if k == 0 else 0) if j == 0 else k
            item: dict[str, Any] = {
                "function": {"arguments": piece, "name": call.name},
                "id": call.id,
                "index": index,
                "type": "function",
            }
            if j == 0 and call.signature:
                item["extra_content"] = _signed(call.signature)
            items.append(item)
    return items


def _fragments(arguments: str) -> list[str]:
    size = max(1, -(-len(arguments) // _FRAGMENTS_PER_CALL))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _call(call: ToolCall) -> dict[str, Any]:
    item: dict[str, Any] = {
        "function": {"arguments": call.arguments, "name": call.name},
        "id": call.id,
        "type": "function",
    }
    if call.signature:
        item["extra_content"] = _signed(call.signature)
    return item


def _signed(signature: str) -> dict[str, Any]:
    return {"google": {"thought_signature": signature}}
