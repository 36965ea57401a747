"""Stored histories come back: every message we return, in every dump form, is accepted as input.

A service that persists a conversation as JSON sends back ``message``, ``message.model_dump()``,
``model_dump(mode="json")`` or ``json.loads(message.model_dump_json())``; a service ported from
the OpenAI SDK has messages stored by the SDK (``refusal: null``, ``annotations: []``, …). Each
must go out with exactly the wire fields Vertex needs: thought signatures and ``extra_content``
kept, response-only fields (``index``, ``refusal``, ``annotations``, ``audio``) dropped, and
tagged thoughts sent back as Vertex sent them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai.types.chat as openai_chat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests._wire import client_for, sse
from vertexchat import ChatCompletion, ChatCompletionMessage
from vertexchat._request import build_request, encode_request
from vertexchat._separate import separate_completion

SIG = "c2lnbmF0dXJlLW9uZQ=="
MARKER = "think"

Dump = Callable[[BaseModel], Any]
DUMPS: dict[str, Dump] = {
    "live": lambda m: m,
    "model_dump": lambda m: m.model_dump(),
    "model_dump_json_mode": lambda m: m.model_dump(mode="json"),
    "model_dump_json": lambda m: json.loads(m.model_dump_json()),
    "exclude_none": lambda m: m.model_dump(exclude_none=True),
    "exclude_none_json": lambda m: json.loads(m.model_dump_json(exclude_none=True)),
    "exclude_unset": lambda m: m.model_dump(exclude_unset=True),
    "exclude_unset_json": lambda m: json.loads(m.model_dump_json(exclude_unset=True)),
    "by_alias": lambda m: m.model_dump(by_alias=True),
    "round_trip": lambda m: m.model_dump(round_trip=True),
    "round_trip_json": lambda m: json.loads(m.model_dump_json(round_trip=True)),
}


def sent(message: Any) -> bytes:
    """The wire bytes of ``message`` as the second message of a request to Gemini."""
    params = {
        "model": "google/gemini-3-flash",
        "messages": [{"role": "user", "content": "question"}, message],
    }
    body = json.loads(encode_request(build_request(params, publisher_model=True), params))
    return json.dumps(body["messages"][1], separators=(",", ":")).encode()


def vertex_completion(message: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming body as Vertex writes it (sorted keys, index on tool calls)."""
    return {
        "choices": [{"finish_reason": "stop", "index": 0, "logprobs": None, "message": message}],
        "created": 1770852204,
        "id": "bA-NacCPKoae_9MPsNCn6Qc",
        "model": "google/gemini-3-flash",
        "object": "chat.completion",
        "system_fingerprint": "",
        "usage": {"completion_tokens": 3, "prompt_tokens": 5, "total_tokens": 8},
    }


TOOL_CALLS = {
    "role": "assistant",
    "tool_calls": [
        {
            "extra_content": {"google": {"thought_signature": SIG}},
            "function": {"arguments": '{"city":"Zürich"}', "name": "get_weather"},
            "id": "function-call-1",
            "index": 0,
            "type": "function",
        },
        {
            "function": {"arguments": '{"city":"Bern"}', "name": "get_weather"},
            "id": "function-call-2",
            "index": 1,
            "type": "function",
        },
    ],
}
TAGGED = {
    "content": "<think>The user wants a haiku.</think>Autumn moonlight",
    "extra_content": {"google": {"thought_signature": SIG}},
    "role": "assistant",
}
IMAGE = {
    "audio": {"data": "iVBORw0KGgo=", "extra_content": {"google": {"mime_type": "image/png"}}},
    "content": None,
    "extra_content": {"google": {"thought_signature": SIG}},
    "role": "assistant",
}
WIRE = {
    "tool_calls": {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "function-call-1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Zürich"}'},
                "extra_content": {"google": {"thought_signature": SIG}},
            },
            {
                "id": "function-call-2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Bern"}'},
            },
        ],
    },
    "tagged": {
        "role": "assistant",
        "content": TAGGED["content"],
        "extra_content": {"google": {"thought_signature": SIG}},
    },
    "image": {
        "role": "assistant",
        "extra_content": {"google": {"thought_signature": SIG}},
    },
}


def received(name: str) -> ChatCompletionMessage:
    body = {"tool_calls": TOOL_CALLS, "tagged": TAGGED, "image": IMAGE}[name]
    completion = ChatCompletion.model_validate_json(json.dumps(vertex_completion(body)))
    if name == "tagged":
        separate_completion(completion, MARKER)
        assert completion.choices[0].message.content == "Autumn moonlight"
    return completion.choices[0].message


@pytest.mark.parametrize("dump", DUMPS)
@pytest.mark.parametrize("name", ["tool_calls", "tagged", "image"])
def test_every_dump_form_sends_what_vertex_needs(name: str, dump: str) -> None:
    message = received(name)
    wire = json.loads(sent(DUMPS[dump](message)))
    assert wire == WIRE[name]
    assert sent(DUMPS[dump](message)) == sent(message)  # byte for byte, key order included


def stream_chunks() -> list[dict[str, Any]]:
    base = {"id": "r1", "model": "google/gemini-3-flash", "object": "chat.completion.chunk"}
    call = TOOL_CALLS["tool_calls"][0]
    return [
        {**base, "choices": [{"delta": {"content": "<thi", "role": "assistant"}, "index": 0}]},
        {**base, "choices": [{"delta": {"content": "nk>plan</think>", "role": "assistant"}}]},
        {**base, "choices": [{"delta": {"role": "assistant", "tool_calls": [call]}}]},
        {
            **base,
            "choices": [{"delta": {"role": "assistant"}, "finish_reason": "tool_calls"}],
            "usage": {"completion_tokens": 3, "prompt_tokens": 5, "total_tokens": 8},
        },
    ]


async def test_streamed_message_round_trips_in_every_dump_form() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"".join(sse(*stream_chunks())))

    think = {"google": {"thought_tag_marker": MARKER}}
    async with client_for(handler) as client:
        stream = await client.chat.completions.create(
            model="google/gemini-3-flash", messages=[{"role": "user", "content": "q"}],
            stream=True, extra_body=think,
        )  # fmt: skip
        async with stream:
            async for _ in stream:
                pass
        message = stream.completion.choices[0].message
    assert (message.thoughts, message.raw_content) == ("plan", "<think>plan</think>")
    expected = {
        "role": "assistant",
        "content": "<think>plan</think>",
        "tool_calls": [WIRE["tool_calls"]["tool_calls"][0]],
    }
    for dump in DUMPS.values():
        assert json.loads(sent(dump(message))) == expected


def openai_message(body: dict[str, Any]) -> openai_chat.ChatCompletionMessage:
    """The message as the OpenAI SDK itself builds it from Vertex's body (``extra_content`` kept).

    The SDK constructs response models without validation (``construct``), which is how it
    copes with Vertex's ``audio`` lacking OpenAI's required ``id``.
    """
    completion = openai_chat.ChatCompletion.construct(**vertex_completion(body))
    return completion.choices[0].message


@pytest.mark.parametrize("dump", [d for d in DUMPS if d != "live"])
def test_messages_stored_by_the_openai_sdk_are_accepted(dump: str) -> None:
    message = openai_message(TOOL_CALLS)
    stored = DUMPS[dump](message)
    if dump == "model_dump":
        assert {"refusal", "annotations", "audio", "function_call"} <= set(stored)
    assert json.loads(sent(stored)) == WIRE["tool_calls"]


def test_openai_sdk_text_message_with_empty_annotations() -> None:
    stored = {
        "content": "Hello!",
        "refusal": None,
        "role": "assistant",
        "annotations": [],
        "audio": None,
        "function_call": None,
        "tool_calls": None,
    }
    assert json.loads(sent(stored)) == {"role": "assistant", "content": "Hello!"}


def test_a_typo_in_a_stored_message_still_fails_naming_the_field() -> None:
    from vertexchat import InvalidRequestError

    stored = {"role": "assistant", "content": "x", "refusal": None, "tool_call": []}
    with pytest.raises(InvalidRequestError, match=r"tool_call: unknown field \(did you mean"):
        sent(stored)


def test_parsed_message_round_trips() -> None:
    from vertexchat._structured import parse_completion

    class Answer(BaseModel):
        text: str

    completion = ChatCompletion.model_validate(vertex_completion({"content": '{"text":"hi"}'}))
    message = parse_completion(completion, Answer).choices[0].message
    assert message.parsed == Answer(text="hi")
    for dump in DUMPS.values():
        assert json.loads(sent(dump(message))) == {"role": "assistant", "content": '{"text":"hi"}'}


# --- property: random responses, every dump form, sent back ------------------------------------

signatures = st.text("ABCDEFabcdef0123456789+/=", min_size=4, max_size=24)
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=30
)


@st.composite
def tool_calls(draw: st.DrawFn) -> list[dict[str, Any]]:
    calls = []
    for number in range(draw(st.integers(0, 3))):
        arguments = draw(st.dictionaries(st.text(max_size=5), st.integers() | texts, max_size=3))
        call: dict[str, Any] = {
            "function": {"arguments": json.dumps(arguments), "name": f"tool_{number}"},
            "id": draw(st.text("abc-0123456789", min_size=1, max_size=12)),
        }
        if draw(st.booleans()):
            call["index"] = draw(st.integers(0, 5))  # unreliable on Vertex; response-only
        if draw(st.booleans()):
            call["type"] = "function"
        if draw(st.booleans()):
            call["extra_content"] = {"google": {"thought_signature": draw(signatures)}}
        calls.append(call)
    return calls


@st.composite
def vertex_messages(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    message: dict[str, Any] = {"role": "assistant"}
    marker = draw(st.booleans())
    calls = draw(tool_calls())
    if calls:
        message["tool_calls"] = calls
    kind = draw(st.sampled_from(["text", "tagged", "none", "image"]))
    if kind == "text":
        message["content"] = draw(texts)
    elif kind == "tagged":
        message["content"] = f"<{MARKER}>{draw(texts)}</{MARKER}>{draw(texts)}"
    elif kind == "image":
        mime = {"mime_type": draw(st.sampled_from(["image/png", "image/jpeg"]))}
        message["audio"] = {"data": "iVBORw0KGgo=", "extra_content": {"google": mime}}
    if draw(st.booleans()):
        message["extra_content"] = {"google": {"thought_signature": draw(signatures)}}
    return message, marker


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vertex_messages())
def test_random_responses_round_trip_in_every_dump_form(
    drawn: tuple[dict[str, Any], bool],
) -> None:
    body, marker = drawn
    completion = ChatCompletion.model_validate_json(json.dumps(vertex_completion(body)))
    if marker:
        separate_completion(completion, MARKER)
    message = completion.choices[0].message
    live = json.loads(sent(message))
    # What Vertex needs, and nothing it does not:
    content = body.get("content")
    if content == "" and body.get("tool_calls"):
        content = None  # Vertex answers 400 to "" next to tool calls
    assert live.get("content") == content  # as received, thoughts still tagged
    calls = live.get("tool_calls", [])
    assert [c["id"] for c in calls] == [c["id"] for c in body.get("tool_calls", [])]
    for out, given_call in zip(calls, body.get("tool_calls", []), strict=True):
        assert "index" not in out
        assert out.get("extra_content") == given_call.get("extra_content")
        assert out["function"] == given_call["function"]
    assert live.get("extra_content") == body.get("extra_content")
    assert "audio" not in live
    for name, dump in DUMPS.items():
        assert json.loads(sent(dump(message))) == live, name
    stored = json.loads(openai_message(body).model_dump_json(warnings=False))  # the SDK's form
    assert json.loads(sent(stored)) == live
