"""The clients under test, each behind the same three calls, each validating what it receives.

A contender is created inside its own benchmark subprocess, so only its own library is imported
there. Every call checks the response against benchmarks.canned (content text, finish_reason,
usage; for streams the joined delta text, the chunk count and the final usage), so a fast wrong
path cannot win: a mismatch raises ValidationFailed and the run is reported as failed.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Protocol

from benchmarks import canned

EXPECTED_STREAM_TEXT = canned.stream_text()
COMPLETION_TOTAL_TOKENS = canned.COMPLETION_USAGE["total_tokens"]
STREAM_TOTAL_TOKENS = canned.STREAM_USAGE["total_tokens"]


class ValidationFailed(Exception):
    """A contender returned something other than the canned response."""


class Contender(Protocol):
    """What a benchmark subprocess drives; one instance per process."""

    async def open(self, base_url: str, max_connections: int | None) -> None:
        """Create the client (``max_connections`` None keeps the library's default pool)."""

    async def close(self) -> None:
        """Release the client."""

    async def complete(self) -> None:
        """Send one non-streaming request and validate the response."""

    async def stream(self) -> None:
        """Consume one streamed response as the library's chunk objects and validate it."""


def check_completion(text: object, finish_reason: object, total_tokens: object) -> None:
    """Raise ValidationFailed unless the fields match the canned completion."""
    if text != canned.COMPLETION_TEXT:
        raise ValidationFailed(f"completion content differs: {str(text)[:60]!r}")
    if finish_reason != "stop" or total_tokens != COMPLETION_TOTAL_TOKENS:
        raise ValidationFailed(f"finish_reason={finish_reason!r} total_tokens={total_tokens!r}")


def check_stream(pieces: list[str], finish_reason: object, total_tokens: object) -> None:
    """Raise ValidationFailed unless the stream matched the canned one chunk for chunk."""
    if len(pieces) != canned.STREAM_CHUNK_COUNT:
        raise ValidationFailed(f"expected {canned.STREAM_CHUNK_COUNT} chunks, got {len(pieces)}")
    if "".join(pieces) != EXPECTED_STREAM_TEXT:
        raise ValidationFailed("joined stream text differs from the canned text")
    if finish_reason != "stop" or total_tokens != STREAM_TOTAL_TOKENS:
        raise ValidationFailed(f"finish_reason={finish_reason!r} total_tokens={total_tokens!r}")


class RawHttpx:
    """The floor: httpx.AsyncClient, post bytes, json.loads, nothing else."""

    def __init__(self) -> None:
        self._client: Any = None
        self._url = ""

    async def open(self, base_url: str, max_connections: int | None) -> None:
        import httpx

        # Default pool; only the timeout is raised, because on a loaded 2-core machine 256
        # workers queueing for 100 connections can exceed httpx's 5 s pool timeout.
        kwargs: dict[str, Any] = {"timeout": httpx.Timeout(60.0)}
        if max_connections is not None:
            kwargs["limits"] = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=None
            )
        self._client = httpx.AsyncClient(**kwargs)
        self._url = f"{base_url}/chat/completions"
        self._headers = {"content-type": "application/json"}
        self._plain = canned.request_body(stream=False)
        self._streaming = canned.request_body(stream=True)

    async def close(self) -> None:
        await self._client.aclose()

    async def complete(self) -> None:
        response = await self._client.post(self._url, content=self._plain, headers=self._headers)
        response.raise_for_status()
        body = json.loads(response.content)
        choice = body["choices"][0]
        check_completion(
            choice["message"]["content"], choice["finish_reason"], body["usage"]["total_tokens"]
        )

    async def stream(self) -> None:
        pieces: list[str] = []
        last: dict[str, Any] = {}
        request = {"content": self._streaming, "headers": self._headers}
        async with self._client.stream("POST", self._url, **request) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                last = json.loads(line[6:])
                pieces.append(last["choices"][0]["delta"].get("content", ""))
        usage = last.get("usage") or {}
        check_stream(pieces, last["choices"][0].get("finish_reason"), usage.get("total_tokens"))


class RawAiohttp:
    """The physical floor: aiohttp's ClientSession, post bytes, json.loads, nothing else.

    aiohttp parses HTTP in C (its ``_http_parser`` extension), so this is about the least CPU
    a Python asyncio client can spend per request.
    """

    def __init__(self) -> None:
        self._session: Any = None
        self._url = ""

    async def open(self, base_url: str, max_connections: int | None) -> None:
        import aiohttp

        # vertexchat's own pool allows 1,000 connections; give the floor the same room.
        connector = aiohttp.TCPConnector(limit=max_connections or 1000)
        timeout = aiohttp.ClientTimeout(total=60.0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self._url = f"{base_url}/chat/completions"
        self._headers = {"content-type": "application/json"}
        self._plain = canned.request_body(stream=False)
        self._streaming = canned.request_body(stream=True)

    async def close(self) -> None:
        await self._session.close()

    async def complete(self) -> None:
        async with self._session.post(
            self._url, data=self._plain, headers=self._headers
        ) as response:
            response.raise_for_status()
            body = json.loads(await response.read())
        choice = body["choices"][0]
        check_completion(
            choice["message"]["content"], choice["finish_reason"], body["usage"]["total_tokens"]
        )

    async def stream(self) -> None:
        pieces: list[str] = []
        last: dict[str, Any] = {}
        async with self._session.post(
            self._url, data=self._streaming, headers=self._headers
        ) as response:
            response.raise_for_status()
            async for raw in response.content:
                line = raw.rstrip(b"\r\n")
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                last = json.loads(line[6:])
                pieces.append(last["choices"][0]["delta"].get("content", ""))
        usage = last.get("usage") or {}
        check_stream(pieces, last["choices"][0].get("finish_reason"), usage.get("total_tokens"))


class OpenAISDK:
    """The OpenAI Python SDK's AsyncOpenAI pointed at the same base URL."""

    def __init__(self) -> None:
        self._client: Any = None

    async def open(self, base_url: str, max_connections: int | None) -> None:
        import openai

        kwargs: dict[str, Any] = {}
        if max_connections is not None:
            kwargs["http_client"] = _openai_http_client(openai, max_connections)
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key="x", **kwargs)

    async def close(self) -> None:
        await self._client.close()

    async def complete(self) -> None:
        completion = await self._client.chat.completions.create(
            model=canned.MODEL, messages=canned.REQUEST_MESSAGES
        )
        choice = completion.choices[0]
        check_completion(
            choice.message.content, choice.finish_reason, completion.usage.total_tokens
        )

    async def stream(self) -> None:
        stream = await self._client.chat.completions.create(
            model=canned.MODEL, messages=canned.REQUEST_MESSAGES, stream=True
        )
        await _consume_typed_stream(stream)


def _openai_http_client(openai: Any, max_connections: int) -> Any:
    """The SDK's own default HTTP client with a larger pool (the SDK's default is 1,000)."""
    limits = openai.DEFAULT_CONNECTION_LIMITS
    http = importlib.import_module(type(limits).__module__.split(".")[0])
    return openai.DefaultAsyncHttpxClient(
        limits=http.Limits(max_connections=max_connections, max_keepalive_connections=None)
    )


async def _consume_typed_stream(stream: Any) -> None:
    """Iterate typed chunks (OpenAI-shaped attributes) and validate the whole stream."""
    pieces: list[str] = []
    finish_reason: object = None
    total_tokens: object = None
    async with stream:
        async for chunk in stream:
            choice = chunk.choices[0]
            pieces.append(choice.delta.content or "")
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
            if chunk.usage is not None:
                total_tokens = chunk.usage.total_tokens
    check_stream(pieces, finish_reason, total_tokens)


class Vertexchat:
    """vertexchat.Client; its import failing is an error, never a skipped row."""

    def __init__(self) -> None:
        self._client: Any = None

    async def open(self, base_url: str, max_connections: int | None) -> None:
        import vertexchat

        if max_connections is not None:
            raise ValueError("the vertexchat contender runs with its default pool only")
        self._client = vertexchat.Client(base_url=base_url, auth=None)
        await self._client.__aenter__()

    async def close(self) -> None:
        await self._client.__aexit__(None, None, None)

    @property
    def client(self) -> Any:
        """The open vertexchat.Client (the fan-out workload calls ``batch`` on it)."""
        return self._client

    async def complete(self) -> None:
        completion = await self._client.chat.completions.create(
            model=canned.MODEL, messages=canned.REQUEST_MESSAGES
        )
        choice = completion.choices[0]
        check_completion(
            choice.message.content, choice.finish_reason, completion.usage.total_tokens
        )

    async def stream(self) -> None:
        stream = await self._client.chat.completions.create(
            model=canned.MODEL, messages=canned.REQUEST_MESSAGES, stream=True
        )
        await _consume_typed_stream(stream)


CONTENDERS: dict[str, type[RawHttpx] | type[RawAiohttp] | type[OpenAISDK] | type[Vertexchat]] = {
    "vertexchat": Vertexchat,
    "openai": OpenAISDK,
    "httpx": RawHttpx,
    "aiohttp": RawAiohttp,
}
LABELS = {
    "vertexchat": "vertexchat",
    "openai": "OpenAI SDK",
    "httpx": "raw httpx (floor)",
    "aiohttp": "raw aiohttp (physical floor)",
}
