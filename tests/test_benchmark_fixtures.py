"""The benchmark server's canned bodies have Vertex's wire shape (shared/vertex-api.md §6.1, §6.2).

Pure checks only: nothing here is timed, and no server is started.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from vertexchat import ChatCompletion, ChatCompletionChunk
from vertexchat.sse import SSEDecoder

CANNED_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "canned.py"


def _load_canned() -> ModuleType:
    # benchmarks/ is not an installed package; load the one pure module by path.
    spec = importlib.util.spec_from_file_location("benchmarks_canned", CANNED_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


canned = _load_canned()


def _stream_payloads() -> list[str]:
    decoder = SSEDecoder()
    events = decoder.feed(canned.stream_body()) + decoder.close()
    return [event.data for event in events]


def _assert_sorted_keys(value: Any) -> None:
    if isinstance(value, dict):
        assert list(value) == sorted(value)
        for item in value.values():
            _assert_sorted_keys(item)
    elif isinstance(value, list):
        for item in value:
            _assert_sorted_keys(item)


def test_completion_body_is_a_vertex_chat_completion() -> None:
    raw = canned.completion_body()
    body = json.loads(raw)
    assert body["object"] == "chat.completion"
    assert body["system_fingerprint"] == ""
    assert not body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["logprobs"] is None
    assert body["choices"][0]["message"]["content"] == canned.COMPLETION_TEXT
    assert 700 <= len(raw) <= 1500  # "about 1 KB", like a short real answer
    _assert_sorted_keys(body)


def test_completion_usage_follows_vertex_arithmetic() -> None:
    usage = json.loads(canned.completion_body())["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + reasoning
    assert usage["extra_properties"] == {"google": {"traffic_type": "ON_DEMAND"}}


def test_completion_body_parses_as_the_client_model() -> None:
    completion = ChatCompletion.model_validate_json(canned.completion_body())
    assert completion.choices[0].message.content == canned.COMPLETION_TEXT
    assert completion.usage is not None
    assert completion.usage.total_tokens == canned.COMPLETION_USAGE["total_tokens"]


def test_stream_has_200_chunks_then_done() -> None:
    payloads = _stream_payloads()
    assert len(payloads) == canned.STREAM_CHUNK_COUNT + 1
    assert payloads[-1] == "[DONE]"
    assert canned.stream_body().endswith(b"data: [DONE]\n\n")


def test_every_chunk_repeats_the_envelope_and_role() -> None:
    for data in _stream_payloads()[:-1]:
        chunk = json.loads(data)
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] == ""
        assert chunk["choices"][0]["delta"]["role"] == "assistant"
        assert chunk["choices"][0]["logprobs"] is None
        _assert_sorted_keys(chunk)


def test_only_the_last_chunk_has_finish_reason_and_usage() -> None:
    chunks = [json.loads(data) for data in _stream_payloads()[:-1]]
    for chunk in chunks[:-1]:
        assert "finish_reason" not in chunk["choices"][0]  # absent, not null
        assert "usage" not in chunk
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == canned.STREAM_USAGE


def test_stream_text_is_the_joined_deltas() -> None:
    chunks = [json.loads(data) for data in _stream_payloads()[:-1]]
    joined = "".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks)
    assert joined == canned.stream_text()


@pytest.mark.parametrize("index", [0, canned.STREAM_CHUNK_COUNT - 1])
def test_stream_chunks_parse_as_the_client_model(index: int) -> None:
    chunk = ChatCompletionChunk.model_validate_json(_stream_payloads()[index])
    assert chunk.choices[0].delta.content == canned.stream_pieces()[index]


@pytest.mark.parametrize("stream", [False, True])
def test_request_body_names_a_publisher_model(stream: bool) -> None:
    body = json.loads(canned.request_body(stream=stream))
    assert body["model"].startswith("google/")
    assert body.get("stream", False) is stream


def test_the_source_digest_ignores_what_the_harness_builds_mid_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The harness installs contenders into benchmarks/.work while it runs; counting those
    # files as source flagged every run as "source changed during the run".
    from benchmarks import report

    for folder in ("vertexchat", "benchmarks"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(report, "REPO_ROOT", tmp_path)
    before = report.source_digest()
    (tmp_path / "benchmarks" / ".work" / "venv").mkdir(parents=True)
    (tmp_path / "benchmarks" / ".work" / "venv" / "activate_this.py").write_text("y = 2\n")
    assert report.source_digest() == before
    (tmp_path / "vertexchat" / "module.py").write_text("x = 2\n")
    assert report.source_digest() != before
