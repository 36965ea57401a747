"""Pure: the canned Vertex-shaped bodies the benchmark server returns, and what clients must see.

Shapes follow shared/vertex-api.md §6.1 (non-streaming) and §6.2 (SSE): keys sorted,
``system_fingerprint`` is ``""``, every stream chunk repeats ``delta.role``, intermediate chunks
have no ``finish_reason`` key, the last content chunk carries ``finish_reason`` and ``usage``,
then ``data: [DONE]``. No I/O here; the tests in tests/test_benchmark_fixtures.py check the shapes.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "google/gemini-2.5-flash"
RESPONSE_ID = "bA-NacCPKoae_9MPsNCn6Qc"
CREATED = 1770852204
STREAM_CHUNK_COUNT = 200

# Plain prose, long enough that the whole response is about 1 KB, like a short answer.
COMPLETION_TEXT = (
    "Connection pooling keeps a small set of TCP connections open between requests, so a client "
    "that sends many calls to the same host pays the handshake cost once instead of every time. "
    "The pool hands out an idle connection when one exists, opens a new one when it is below its "
    "limit, and otherwise makes the caller wait. Keep-alive timeouts on both sides decide how "
    "long an idle connection survives; a client should retire connections a little before the "
    "server does, or it will occasionally write a request into a socket that is already closing."
)
COMPLETION_USAGE: dict[str, Any] = {
    "completion_tokens": 96,
    "completion_tokens_details": {"reasoning_tokens": 212},
    "extra_properties": {"google": {"traffic_type": "ON_DEMAND"}},
    "prompt_tokens": 24,
    "total_tokens": 332,
}
STREAM_USAGE: dict[str, Any] = {
    "completion_tokens": 1400,
    "extra_properties": {"google": {"traffic_type": "ON_DEMAND"}},
    "prompt_tokens": 24,
    "total_tokens": 1424,
}
REQUEST_MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "Explain connection pools."}]


def _dumps(value: Any) -> str:
    """Serialize like Vertex: keys sorted, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def completion_payload() -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object the server returns."""
    message = {"content": COMPLETION_TEXT, "role": "assistant"}
    choice = {"finish_reason": "stop", "index": 0, "logprobs": None, "message": message}
    return {
        "choices": [choice],
        "created": CREATED,
        "id": RESPONSE_ID,
        "model": MODEL,
        "object": "chat.completion",
        "system_fingerprint": "",
        "usage": COMPLETION_USAGE,
    }


def completion_body() -> bytes:
    """The non-streaming response body, as served."""
    return _dumps(completion_payload()).encode()


def stream_pieces(count: int = STREAM_CHUNK_COUNT) -> list[str]:
    """The ``delta.content`` of each chunk: short runs of words, as Gemini streams them."""
    return [f"Piece {index} of the answer, with a few more words. " for index in range(count)]


def stream_text(count: int = STREAM_CHUNK_COUNT) -> str:
    """What a client must get by joining every ``delta.content`` of the stream."""
    return "".join(stream_pieces(count))


def stream_chunk_payload(piece: str, *, last: bool) -> dict[str, Any]:
    """One ``chat.completion.chunk``; only the last one has ``finish_reason`` and ``usage``."""
    choice: dict[str, Any] = {
        "delta": {"content": piece, "role": "assistant"},
        "index": 0,
        "logprobs": None,
    }
    chunk: dict[str, Any] = {
        "choices": [choice],
        "created": CREATED,
        "id": RESPONSE_ID,
        "model": MODEL,
        "object": "chat.completion.chunk",
        "system_fingerprint": "",
    }
    if last:
        choice["finish_reason"] = "stop"
        chunk["usage"] = STREAM_USAGE
    return chunk


def stream_body(count: int = STREAM_CHUNK_COUNT) -> bytes:
    """The SSE response body: ``count`` data events, then ``data: [DONE]``."""
    pieces = stream_pieces(count)
    events = [
        f"data: {_dumps(stream_chunk_payload(piece, last=index == count - 1))}\n\n"
        for index, piece in enumerate(pieces)
    ]
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def request_body(*, stream: bool) -> bytes:
    """The request body the raw-httpx floor posts (the SDKs build their own equivalent)."""
    body: dict[str, Any] = {"messages": REQUEST_MESSAGES, "model": MODEL}
    if stream:
        body["stream"] = True
    return _dumps(body).encode()
