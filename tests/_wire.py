"""Small in-process servers for client tests: handlers behind ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx

import vertexchat


class PieceStream(httpx.AsyncByteStream):
    """A response body delivered in the given pieces (real chunk boundaries), closable.

    An iterator object rather than an async generator, so abandoning it mid-way leaves
    nothing for the garbage collector to finalize.
    """

    def __init__(self, pieces: Iterable[bytes], *, fail_with: Exception | None = None) -> None:
        self.pieces = list(pieces)
        self.fail_with = fail_with
        self.closed = False
        self.sent = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        self.sent = 0
        return self

    async def __anext__(self) -> bytes:
        if self.sent < len(self.pieces):
            self.sent += 1
            return self.pieces[self.sent - 1]
        if self.fail_with is not None:
            raise self.fail_with
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed = True


def sse(*payloads: Any, done: bool = True) -> list[bytes]:
    """``data:`` events for the payloads (dicts are JSON-encoded), then ``[DONE]``."""
    events = [
        f"data: {p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)}\n\n".encode()
        for p in payloads
    ]
    return events + ([b"data: [DONE]\n\n"] if done else [])


def text_chunk(text: str, **choice: Any) -> dict[str, Any]:
    return {
        "choices": [{"delta": {"content": text, "role": "assistant"}, "index": 0, **choice}],
        "id": "r1",
        "model": "google/gemini-2.5-flash",
        "object": "chat.completion.chunk",
    }


def completion(text: str = "Hello") -> dict[str, Any]:
    return {
        "choices": [{"finish_reason": "stop", "index": 0, "message": {"content": text}}],
        "id": "r1",
        "model": "google/gemini-2.5-flash",
        "object": "chat.completion",
        "usage": {"completion_tokens": 1, "prompt_tokens": 1, "total_tokens": 2},
    }


def google_error(code: int, status: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


Handler = Callable[[httpx.Request], Any]


def client_for(handler: Handler, **options: Any) -> vertexchat.Client:
    """A client talking to ``handler`` with a static token and no retry delays."""
    options.setdefault("retry_policy", vertexchat.RetryPolicy(initial_delay=0, max_delay=0))
    return vertexchat.Client(
        project="p",
        location="us-central1",
        auth=options.pop("auth", "token-123"),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        **options,
    )


MESSAGES = [{"role": "user", "content": "hi"}]
