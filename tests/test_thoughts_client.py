"""Thoughts apart from answers: non-streaming, streaming at every split point, and the emulator."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import vertexchat
from tests._wire import PieceStream, client_for, completion, sse, text_chunk
from vertexchat.testing import Emulator

THINK = {
    "google": {
        "thinking_config": {"include_thoughts": True},
        "thought_tag_marker": "think",
    }
}
RAW = "<think>Let me see.\nTwo and two.</think>\n\nThe answer is 4 < 5."


async def test_non_streaming_message_has_thoughts_and_clean_content() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion(RAW))

    async with client_for(handler) as client:
        result = await client.chat.completions.create(
            model="m/x", messages=[{"role": "user", "content": "2+2?"}], extra_body=THINK
        )
    message = result.choices[0].message
    assert message.thoughts == "Let me see.\nTwo and two."
    assert message.content == "The answer is 4 < 5."
    assert message.raw_content == RAW
    dumped = result.model_dump()["choices"][0]["message"]  # lossless: stored, sent back as is
    assert (dumped["thoughts"], dumped["content"], dumped["raw_content"]) == (
        message.thoughts,
        message.content,
        RAW,
    )


async def test_without_marker_content_is_untouched() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion(RAW))

    async with client_for(handler) as client:
        result = await client.chat.completions.create(
            model="m/x", messages=[{"role": "user", "content": "2+2?"}]
        )
    assert result.choices[0].message.content == RAW
    assert result.choices[0].message.thoughts is None


def _pieces_at(cut_a: int, cut_b: int) -> list[str]:
    return [p for p in (RAW[:cut_a], RAW[cut_a:cut_b], RAW[cut_b:]) if p]


@pytest.mark.parametrize("cut_a", range(0, len(RAW), 3))
async def test_stream_thought_deltas_across_split_grid(cut_a: int) -> None:
    """Three chunks cut on a grid (the pure splitter is tested at every single cut point)."""
    for cut_b in range(cut_a, len(RAW) + 1, 5):
        pieces = _pieces_at(cut_a, cut_b)
        events = [text_chunk(p) for p in pieces[:-1]]
        events.append(text_chunk(pieces[-1], finish_reason="stop"))
        body = PieceStream(sse(*events))

        def handler(request: httpx.Request, body: PieceStream = body) -> httpx.Response:
            return httpx.Response(200, stream=body)

        async with client_for(handler) as client:
            stream = await client.chat.completions.create(
                model="m/x",
                messages=[{"role": "user", "content": "q"}],
                stream=True,
                extra_body=THINK,
            )
            thoughts, answer, raw = [], [], []
            async with stream:
                async for chunk in stream:
                    delta = chunk.choices[0].delta
                    thoughts.append(delta.thoughts or "")
                    answer.append(delta.content or "")
                    raw.append(delta.raw_content or "")
            final = stream.completion
        assert "".join(thoughts) == "Let me see.\nTwo and two."
        assert "".join(answer) == "\n\nThe answer is 4 < 5."
        assert "".join(raw) == RAW
        assert final.choices[0].message.thoughts == "Let me see.\nTwo and two."
        assert final.choices[0].message.content == "The answer is 4 < 5."


async def test_history_sends_raw_content_back() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion(RAW))

    async with client_for(handler) as client:
        messages: list[Any] = [{"role": "user", "content": "2+2?"}]
        first = await client.chat.completions.create(
            model="m/x", messages=messages, extra_body=THINK
        )
        messages += [first.choices[0].message, {"role": "user", "content": "and 3+3?"}]
        await client.chat.completions.create(model="m/x", messages=messages, extra_body=THINK)
    assert seen[1]["messages"][1] == {"role": "assistant", "content": RAW}


async def test_emulator_thoughts_round_trip_streaming_and_not() -> None:
    emulator = Emulator()
    async with vertexchat.Client(
        "p", "us-central1", auth="t", http_client=httpx.AsyncClient(transport=emulator.transport())
    ) as client:
        params: dict[str, Any] = {
            "model": "google/gemini-2.5-flash",
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
            "extra_body": THINK,
        }
        plain = await client.chat.completions.create(**params)
        stream = await client.chat.completions.create(**params, stream=True)
        async with stream:
            streamed = await stream.get_final_completion()
    for result in (plain, streamed):
        message = result.choices[0].message
        assert message.thoughts
        assert message.content
        assert "<think>" not in message.content
        assert message.raw_content is not None
        assert message.raw_content.startswith("<think>")
        assert result.usage is not None
        assert result.usage.reasoning_tokens > 0
    assert streamed.choices[0].message.content == plain.choices[0].message.content
