"""Request validation and encoding: Google's curl samples come out byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat._request import build_request, encode_request

SAMPLES = Path(__file__).parent / "fixtures" / "curl_samples"
SAMPLE_NAMES = sorted(p.name.removesuffix(".request.json") for p in SAMPLES.glob("*.request.json"))


def compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.request.json").read_text())
    return data


def test_every_expected_sample_is_present() -> None:
    wanted = {
        "gemini_nonstreaming",
        "gemini_streaming",
        "self_deployed_nonstreaming",
        "thinking_extra_body",
        "image_url_gcs",
        "input_audio_gcs",
    }
    assert wanted <= set(SAMPLE_NAMES)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_encodes_byte_for_byte(name: str) -> None:
    sample = load(name)
    request = build_request(sample, publisher_model="model" in sample)
    assert encode_request(request, sample) == compact(sample)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
async def test_client_sends_sample_byte_for_byte(name: str) -> None:
    sample = load(name)
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(400, json={"error": {"code": 400, "message": "stop here"}})

    self_deployed = "model" not in sample
    async with vertexchat.Client(
        project="my-project",
        location="global" if self_deployed else "us-central1",
        endpoint="1234567890" if self_deployed else None,
        api_version="v1beta1",
        auth="secret-token",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    ) as client:
        with pytest.raises(vertexchat.BadRequestError):
            await client.chat.completions.create(**sample)
    assert sent[0].content == compact(sample)
    assert sent[0].headers["authorization"] == "Bearer secret-token"
    host = (
        "aiplatform.googleapis.com" if self_deployed else "us-central1-aiplatform.googleapis.com"
    )
    endpoint = "1234567890" if self_deployed else "openapi"
    location = "global" if self_deployed else "us-central1"
    assert str(sent[0].url) == (
        f"https://{host}/v1beta1/projects/my-project/locations/{location}"
        f"/endpoints/{endpoint}/chat/completions"
    )


def test_extra_body_is_a_literal_top_level_key() -> None:
    params = {
        "model": "google/gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "extra_body": {"google": {"thinking_config": {"include_thoughts": True}}},
    }
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    assert body["extra_body"] == {"google": {"thinking_config": {"include_thoughts": True}}}
    assert "google" not in body


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"temprature": 0.5}, "temprature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user"}]}, "messages.0.user.content"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0"),
        ({"extra_body": {"google": {"thinking_confg": {}}}}, "'thinking_confg'"),
        ({"extra_body": {"extra_body": {"google": {"thinking_confg": {}}}}}, "'thinking_confg'"),
        ({"tool_choice": "any"}, "tool_choice"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_request_names_the_field(params: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"model": "google/x", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(vertexchat.InvalidRequestError) as info:
        build_request({**base, **params}, publisher_model=True)
    assert field in str(info.value)
    assert isinstance(info.value, ValueError)


def test_reasoning_effort_and_thinking_config_are_exclusive() -> None:
    params = {
        "model": "google/x",
        "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "low",
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}},
    }
    with pytest.raises(vertexchat.InvalidRequestError, match="cannot be combined"):
        build_request(params, publisher_model=True)


def test_empty_assistant_content_next_to_tool_calls_is_sent_as_null() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    params = {
        "model": "google/x",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
    }
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [call]}


def test_tool_call_arguments_must_be_a_json_object() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    params = {"model": "google/x", "messages": [{"role": "assistant", "tool_calls": [call]}]}
    with pytest.raises(vertexchat.InvalidRequestError, match="arguments"):
        build_request(params, publisher_model=True)


def test_dict_arguments_are_encoded_as_a_string() -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": {"city": "Zürich"}}}
    params = {"model": "google/x", "messages": [{"role": "assistant", "tool_calls": [call]}]}
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    sent = body["messages"][0]["tool_calls"][0]
    assert sent["type"] == "function"
    assert json.loads(sent["function"]["arguments"]) == {"city": "Zürich"}


def test_bare_model_gets_the_google_prefix_on_openapi_only() -> None:
    params = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    assert build_request(params, publisher_model=True).model == "google/gemini-2.5-flash"
    assert build_request(params, publisher_model=False).model == "gemini-2.5-flash"


def test_model_is_required_on_openapi() -> None:
    with pytest.raises(vertexchat.InvalidRequestError, match="model: required"):
        build_request({"messages": [{"role": "user", "content": "x"}]}, publisher_model=True)


def test_none_values_count_as_not_given() -> None:
    params = {"model": "google/x", "messages": [{"role": "user", "content": "hi"}], "seed": None}
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    assert body == {"model": "google/x", "messages": [{"role": "user", "content": "hi"}]}


def test_all_content_part_forms_round_trip() -> None:
    parts = [
        {"type": "text", "text": "look", "extra_content": {"google": {"thought": False}}},
        {"type": "image_url", "image_url": "gs://bucket/cat.png"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    params = {"model": "google/x", "messages": [{"role": "user", "content": parts}]}
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    assert body["messages"][0]["content"] == parts


def test_tools_tool_choice_and_response_format() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    params = {
        "model": "google/x",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}},
    }
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    assert body["tools"] == [tool]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["response_format"]["json_schema"]["schema"] == schema
    for choice in ("none", "auto", "required", "validated"):
        assert build_request({**params, "tool_choice": choice}, publisher_model=True).tool_choice


def test_response_message_with_malformed_arguments_is_an_invalid_request() -> None:
    from vertexchat._response_models import ChatCompletionMessage

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    message = ChatCompletionMessage.model_validate({"role": "assistant", "tool_calls": [call]})
    params = {"model": "m", "messages": [{"role": "user", "content": "x"}, message]}
    with pytest.raises(vertexchat.InvalidRequestError, match="arguments"):
        build_request(params, publisher_model=True)
