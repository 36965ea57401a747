"""Parameters: typo-proof and open at once.

``extra_body`` in both documented spellings, the unvalidated escape hatch, OpenAI parameters
Gemini ignores (accepted, one warning on Gemini), "did you mean", the ``developer`` role and the
model-prefix rule on every target that is Vertex's ``openapi`` path.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat._model_ids import qualify_model
from vertexchat._request import build_request, encode_request
from vertexchat._urls import is_openapi_base_url
from vertexchat.testing import Emulator, serve

SAMPLES = Path(__file__).parent / "fixtures" / "curl_samples"
USER = [{"role": "user", "content": "hi"}]


def body_of(params: dict[str, Any], *, publisher_model: bool = True) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        encode_request(build_request(params, publisher_model=publisher_model), params)
    )
    return decoded


# --- extra_body ---------------------------------------------------------------------------------


def test_both_extra_body_spellings_send_the_same_bytes() -> None:
    sample = json.loads((SAMPLES / "thinking_extra_body.request.json").read_text())
    expected = (SAMPLES / "thinking_extra_body.request.json").read_text()
    compact = json.dumps(json.loads(expected), ensure_ascii=False, separators=(",", ":")).encode()
    sdk_spelling = {**sample, "extra_body": {"extra_body": sample["extra_body"]}}
    for params in (sample, sdk_spelling):
        assert encode_request(build_request(params, publisher_model=True), params) == compact


def test_other_extra_body_keys_are_merged_at_the_top_level_unvalidated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = {
        "model": "meta/llama-3.3-70b-instruct-maas",
        "messages": USER,
        "extra_body": {
            "top_k": 40,
            "repetition_penalty": 1.1,
            "chat_template_kwargs": {"enable_thinking": False},
            "google": {"model_safety_settings": {"enabled": False}},
        },
    }
    with caplog.at_level(logging.DEBUG, logger="vertexchat"):
        body = body_of(params)
    assert body == {
        "model": "meta/llama-3.3-70b-instruct-maas",
        "messages": USER,
        "extra_body": {"google": {"model_safety_settings": {"enabled": False}}},
        "top_k": 40,
        "repetition_penalty": 1.1,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "top_k=40" in logged
    assert "chat_template_kwargs" in logged


def test_extra_body_overrides_a_typed_parameter_like_the_openai_sdk() -> None:
    params = {"model": "google/x", "messages": USER, "temperature": 0.2}
    params["extra_body"] = {"temperature": 0.9, "labels": {"team": "a"}}
    body = body_of(params)
    assert list(body) == ["model", "messages", "temperature", "labels"]
    assert body["temperature"] == 0.9


def test_a_new_google_field_passes_but_a_near_typo_fails() -> None:
    new = {"google": {"response_grounding": {"mode": "x"}, "thinking_config": {}}}
    assert body_of({"model": "google/x", "messages": USER, "extra_body": new})["extra_body"] == new
    typo = {"google": {"thought_tag_markr": "think"}}
    with pytest.raises(vertexchat.InvalidRequestError, match="did you mean 'thought_tag_marker'"):
        build_request(
            {"model": "google/x", "messages": USER, "extra_body": typo}, publisher_model=True
        )


@pytest.mark.parametrize(
    ("extra_body", "message"),
    [
        ({"google": {}, "extra_body": {"google": {}}}, "given twice"),
        ("google", "must be a dict"),
        ({1: 2}, "keys must be strings"),
    ],
)
def test_unusable_extra_body_is_an_invalid_request(extra_body: Any, message: str) -> None:
    params = {"model": "google/x", "messages": USER, "extra_body": extra_body}
    with pytest.raises(vertexchat.InvalidRequestError, match=message):
        build_request(params, publisher_model=True)


def test_unserialisable_extra_body_value_is_an_invalid_request() -> None:
    params = {"model": "google/x", "messages": USER, "extra_body": {"seed_obj": object()}}
    with pytest.raises(vertexchat.InvalidRequestError, match="extra_body: not JSON"):
        encode_request(build_request(params, publisher_model=True), params)


def test_unknown_parameter_names_the_closest_and_the_escape_hatch() -> None:
    params = {"model": "google/x", "messages": USER, "temprature": 0.5}
    with pytest.raises(vertexchat.InvalidRequestError) as info:
        build_request(params, publisher_model=True)
    text = str(info.value)
    assert "temprature" in text
    assert "did you mean 'temperature'" in text
    assert "extra_body=" in text


# --- OpenAI parameters Gemini ignores --------------------------------------------------------

IGNORED = {
    "user": "u-1",
    "metadata": {"k": "v"},
    "store": True,
    "service_tier": "auto",
    "parallel_tool_calls": False,
    "logprobs": True,
    "top_logprobs": 2,
}


def test_ignored_parameters_warn_once_each_on_gemini_and_are_sent() -> None:
    params = {"model": "gemini-2.5-flash", "messages": USER, **IGNORED}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        body = body_of(params)
        body_of(params)  # a second call says nothing new
    names = sorted(str(w.message).split("'")[1] for w in caught)
    assert names == sorted(IGNORED)
    assert all(w.category is vertexchat.IgnoredParameterWarning for w in caught)
    assert {key: body[key] for key in IGNORED} == IGNORED


@pytest.mark.parametrize(
    ("model", "publisher_model"),
    [("meta/llama-3.3-70b-instruct-maas", True), ("my-vllm-model", False), (None, False)],
)
def test_ignored_parameters_are_sent_silently_elsewhere(
    model: str | None, publisher_model: bool
) -> None:
    params = {"model": model, "messages": USER, **IGNORED}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = body_of(params, publisher_model=publisher_model)
    assert {key: body[key] for key in IGNORED} == IGNORED


# --- developer role -----------------------------------------------------------------------------


def test_developer_role_is_system_on_gemini_and_as_is_elsewhere() -> None:
    messages = [{"role": "developer", "content": "Be terse."}, *USER]
    gemini = body_of({"model": "google/gemini-2.5-flash", "messages": messages})
    assert gemini["messages"][0] == {"role": "system", "content": "Be terse."}
    maas = body_of({"model": "deepseek-ai/deepseek-r1-0528-maas", "messages": messages})
    assert maas["messages"][0] == {"role": "developer", "content": "Be terse."}
    vllm = body_of({"messages": messages}, publisher_model=False)
    assert vllm["messages"][0]["role"] == "developer"


# --- the model-prefix rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("gemini-2.5-flash", "google/gemini-2.5-flash"),
        ("gemma-3-27b-it", "google/gemma-3-27b-it"),
        ("google/gemini-3-flash", "google/gemini-3-flash"),
        ("meta/llama-3.3-70b-instruct-maas", "meta/llama-3.3-70b-instruct-maas"),
        ("some-future-model", "google/some-future-model"),
    ],
)
def test_bare_google_ids_are_qualified(given: str, expected: str) -> None:
    assert qualify_model(given) == expected


@pytest.mark.parametrize(
    ("given", "publisher_form"),
    [
        ("llama-3.3-70b-instruct-maas", "meta/llama-3.3-70b-instruct-maas"),
        ("deepseek-r1-0528-maas", "deepseek-ai/deepseek-r1-0528-maas"),
        ("qwen3-235b-a22b-instruct-2507-maas", "qwen/qwen3-235b-a22b-instruct-2507-maas"),
        ("gpt-oss-120b-maas", "openai/gpt-oss-120b-maas"),
        ("glm-4.7-maas", "zai-org/glm-4.7-maas"),
    ],
)
def test_bare_maas_id_is_a_local_error_naming_the_publisher_form(
    given: str, publisher_form: str
) -> None:
    with pytest.raises(vertexchat.InvalidRequestError, match="model:") as info:
        build_request({"model": given, "messages": USER}, publisher_model=True)
    assert repr(publisher_form) in str(info.value)


def test_unknown_bare_maas_id_is_a_local_error() -> None:
    with pytest.raises(vertexchat.InvalidRequestError, match="publisher/model"):
        build_request({"model": "acme-7b-maas", "messages": USER}, publisher_model=True)


VERTEX = "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi"
EMULATOR = "http://127.0.0.1:8080/v1beta1/projects/p/locations/us-central1/endpoints/openapi/"
DEDICATED = (
    "https://1.us-central1-5.prediction.vertexai.goog/v1/projects/p/locations/l/endpoints/1"
)


@pytest.mark.parametrize(
    ("base_url", "openapi"),
    [
        (VERTEX, True),
        (EMULATOR, True),
        (DEDICATED, False),
        ("http://127.0.0.1:8000/v1", False),
        ("https://proxy.example/openapi", False),
    ],
)
def test_openapi_path_is_recognised_on_any_host(base_url: str, openapi: bool) -> None:
    assert is_openapi_base_url(base_url) is openapi


async def test_emulator_base_url_gets_the_same_prefix_rule_as_vertex() -> None:
    emulator = Emulator()
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth="any-token")
        async with client:
            completion = await client.chat.completions.create(
                model="gemini-2.5-flash", messages=USER
            )
            with pytest.raises(vertexchat.InvalidRequestError, match="meta/llama"):
                await client.chat.completions.create(
                    model="llama-3.3-70b-instruct-maas", messages=USER
                )
    assert completion.choices[0].message.content
    assert emulator.requests[0].body["model"] == "google/gemini-2.5-flash"
    assert len(emulator.requests) == 1  # the MaaS mistake never left the process


async def test_plain_base_url_keeps_the_model_as_given() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(400, json={"error": {"code": 400, "message": "stop"}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with vertexchat.Client(
        base_url="http://127.0.0.1:9/v1", auth=None, http_client=http
    ) as c:
        with pytest.raises(vertexchat.BadRequestError):
            await c.chat.completions.create(model="llama-3.3-70b", messages=USER, max_retries=0)
    assert seen[0]["model"] == "llama-3.3-70b"


async def test_a_request_model_keeps_its_unvalidated_keys_through_a_batch() -> None:
    params = {"model": "google/x", "messages": USER, "extra_body": {"top_k": 3, "google": {}}}
    request = build_request(params, publisher_model=True)
    assert request.extra_json == {"top_k": 3}
    emulator = Emulator()
    async with (
        serve(emulator) as server,
        vertexchat.Client(base_url=server.base_url(), auth="t") as client,
        client.batch([request]) as results,
    ):
        outcome = [result async for result in results]
    assert outcome[0].ok
    assert emulator.requests[0].body["top_k"] == 3
    assert emulator.requests[0].body["extra_body"] == {"google": {}}
