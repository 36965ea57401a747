"""Response models tolerate what Vertex omits; the accumulator merges tool calls by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vertexchat import ChatCompletion, ChatCompletionChunk
from vertexchat._accumulate import ChunkAccumulator
from vertexchat._response_models import ChatCompletionMessage

SAMPLES = Path(__file__).parent / "fixtures" / "curl_samples"


def test_documented_image_response_parses_with_audio_and_signature() -> None:
    completion = ChatCompletion.model_validate_json(
        (SAMPLES / "image_generation.response.json").read_bytes()
    )
    message = completion.choices[0].message
    assert message.content is None
    assert message.audio is not None
    assert message.audio.extra_content is not None
    assert message.audio.extra_content.google is not None
    assert message.audio.extra_content.google.mime_type == "image/png"
    assert message.extra_content is not None
    assert message.extra_content.thought_signature


def test_missing_message_and_token_counts_are_tolerated() -> None:
    completion = ChatCompletion.model_validate(
        {
            "choices": [{"finish_reason": "stop", "index": 0}],
            "usage": {
                "total_tokens": 30,
                "prompt_tokens": 10,
                "completion_tokens_details": {"reasoning_tokens": 15},
            },
        }
    )
    assert completion.choices[0].message.content is None
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5  # inferred: 30 - 10 - 15
    assert completion.usage.output_tokens == 20


def test_usage_semantics_follow_vertex() -> None:
    usage = ChatCompletion.model_validate(
        {
            "usage": {
                "completion_tokens": 45,
                "completion_tokens_details": {"reasoning_tokens": 504},
                "extra_properties": {"google": {"traffic_type": "ON_DEMAND"}},
                "prompt_tokens": 27,
                "total_tokens": 576,
            }
        }
    ).usage
    assert usage is not None
    assert (usage.reasoning_tokens, usage.output_tokens) == (504, 549)
    assert usage.traffic_type == "ON_DEMAND"


def test_unknown_fields_are_kept_and_finish_reason_is_free_text() -> None:
    completion = ChatCompletion.model_validate(
        {"choices": [{"finish_reason": "MALFORMED_FUNCTION_CALL", "new_thing": 1}], "extra": "x"}
    )
    assert completion.choices[0].finish_reason == "MALFORMED_FUNCTION_CALL"
    assert completion.model_extra == {"extra": "x"}
    assert completion.choices[0].model_extra == {"new_thing": 1}


def test_signature_in_another_namespace_is_found() -> None:
    message = ChatCompletionMessage.model_validate(
        {"content": "hi", "extra_content": {"vertex": {"thought_signature": "sig"}}}
    )
    assert message.extra_content is not None
    assert message.extra_content.thought_signature == "sig"
    sent = message.to_request()
    assert sent.extra_content is not None
    assert sent.extra_content.google is not None
    assert sent.extra_content.google.thought_signature == "sig"


def test_response_message_converts_to_history_with_signatures() -> None:
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "function-call-1",
                    "type": "function",
                    "function": {"name": "get", "arguments": '{"a":1}'},
                    "extra_content": {"google": {"thought_signature": "SIG"}},
                },
                {"id": "function-call-2", "function": {"name": "get", "arguments": "{}"}},
            ],
        }
    )
    sent = message.to_request().model_dump(mode="json", exclude_unset=True)
    assert "content" not in sent  # no text: left out, as Google's samples do next to tool calls
    assert sent["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "SIG"}}
    assert "extra_content" not in sent["tool_calls"][1]
    assert "index" not in sent["tool_calls"][0]


def _documented_stream_chunks() -> list[ChatCompletionChunk]:
    text = (SAMPLES / "stream_function_call_arguments.response.sse").read_text()
    chunks = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunks.append(ChatCompletionChunk.model_validate_json(line[6:]))
    return chunks


def test_documented_stream_merges_tool_calls_by_id_despite_index() -> None:
    accumulator = ChunkAccumulator()
    for chunk in _documented_stream_chunks():
        accumulator.add(chunk)
    completion = accumulator.result()
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert len(calls) == 2
    for call in calls:
        assert call.function.name == "get_current_weather"
        assert set(json.loads(call.function.arguments or "")) == {"location", "unit"}
    assert calls[0].extra_content is not None
    assert calls[0].extra_content.thought_signature
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None


def chunk(delta: dict[str, object], **extra: object) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {"id": "r1", "model": "m", "choices": [{"index": 0, "delta": delta, **extra}]}
    )


def test_index_only_fragments_follow_openai_convention() -> None:
    accumulator = ChunkAccumulator()
    accumulator.add(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}))
    accumulator.add(chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g"}}]}))
    accumulator.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x"'}}]}))
    accumulator.add(chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}))
    accumulator.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}))
    calls = accumulator.result().choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("a", "f", '{"x":1}'),
        ("b", "g", "{}"),
    ]


def test_text_usage_and_finish_reason_accumulate() -> None:
    accumulator = ChunkAccumulator()
    accumulator.add(chunk({"role": "assistant", "content": "Hel"}))
    accumulator.add(chunk({"role": "assistant", "content": "lo"}))
    final = chunk({"role": "assistant", "content": "!"}, finish_reason="stop")
    final.usage = ChatCompletion.model_validate(
        {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    ).usage
    accumulator.add(final)
    result = accumulator.result()
    assert result.id == "r1"
    assert result.choices[0].message.content == "Hello!"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.total_tokens == 3


@pytest.mark.parametrize("first", [True, False])
def test_message_signature_delta_is_kept(first: bool) -> None:
    accumulator = ChunkAccumulator()
    signed = chunk({"content": "a", "extra_content": {"google": {"thought_signature": "S"}}})
    plain = chunk({"content": "b"})
    for item in (signed, plain) if first else (plain, signed):
        accumulator.add(item)
    extra = accumulator.result().choices[0].message.extra_content
    assert extra is not None
    assert extra.thought_signature == "S"
