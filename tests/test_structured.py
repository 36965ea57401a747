"""Structured output: schema conversion for Vertex, parsing, and parse() against the emulator."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any, Literal, Optional

import httpx
import pytest
from pydantic import BaseModel, Field

import vertexchat
from vertexchat import InvalidRequestError, OutputParseError
from vertexchat._response_models import ChatCompletion
from vertexchat._structured import (
    ParsedChatCompletion,
    ParsedChatCompletionStream,
    parse,
    parse_completion,
    response_format_from_model,
    vertex_schema,
)
from vertexchat.testing import Emulator


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str
    zip_code: str | None = None


class Reading(BaseModel):
    value: float
    unit: Unit


class Station(BaseModel):
    """A weather station and what it measured."""

    name: str = Field(description="station name")
    kind: Literal["manual", "automatic"]
    address: Address
    backup_address: Optional[Address] = None  # noqa: UP045 - the spelling under test
    readings: list[Reading]
    code: int | str
    labels: dict[str, int] = {}


class Node(BaseModel):
    label: str
    children: list[Node] = []


class Tree(BaseModel):
    name: str
    root: Node


class Left(BaseModel):
    right: Right | None = None


class Right(BaseModel):
    left: Left | None = None


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(n for value in node.values() for n in _walk(value))]
    if isinstance(node, list):
        return [n for value in node for n in _walk(value)]
    return []


# --- schema conversion ---------------------------------------------------------------------------


def test_schema_inlines_refs_and_drops_titles() -> None:
    schema = vertex_schema(Station)
    keys = {key for node in _walk(schema) for key in node}
    assert not keys & {"$ref", "$defs", "title", "allOf", "const"}
    address = schema["properties"]["address"]
    assert address["type"] == "object"
    assert address["required"] == ["street", "city"]
    assert address["description"] == "A postal address."
    assert schema["description"] == "A weather station and what it measured."
    assert schema["properties"]["name"] == {"description": "station name", "type": "string"}


def test_schema_optional_becomes_nullable() -> None:
    schema = vertex_schema(Station)
    backup = schema["properties"]["backup_address"]
    assert backup["nullable"] is True
    assert backup["type"] == "object"
    assert "anyOf" not in backup
    assert schema["properties"]["address"]["properties"]["zip_code"] == {
        "type": "string",
        "default": None,
        "nullable": True,
    }
    assert "backup_address" not in schema["required"]


def test_schema_enums_literals_lists_unions() -> None:
    props = vertex_schema(Station)["properties"]
    unit = props["readings"]["items"]["properties"]["unit"]
    assert unit == {"enum": ["celsius", "fahrenheit"], "type": "string"}
    assert props["kind"] == {"enum": ["manual", "automatic"], "type": "string"}
    assert props["readings"]["type"] == "array"
    assert props["code"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["labels"]["additionalProperties"] == {"type": "integer"}


def test_schema_single_literal_becomes_enum() -> None:
    class Ack(BaseModel):
        status: Literal["ok"]

    assert vertex_schema(Ack)["properties"]["status"] == {"type": "string", "enum": ["ok"]}


def test_schema_drops_formats_vertex_rejects() -> None:
    class Contact(BaseModel):
        email: str = Field(json_schema_extra={"format": "email"})
        seen: str = Field(json_schema_extra={"format": "date-time"})

    props = vertex_schema(Contact)["properties"]
    assert "format" not in props["email"]
    assert props["seen"]["format"] == "date-time"


@pytest.mark.parametrize(
    ("model", "where", "target"),
    [(Node, "Node.children[]", "Node"), (Tree, "Tree.root.children[]", "Node")],
)
def test_recursive_model_is_a_local_error(model: type[BaseModel], where: str, target: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        vertex_schema(model)
    message = str(info.value)
    assert f"{model.__name__} is recursive" in message
    assert f"{where} refers back to {target}" in message


def test_mutually_recursive_models_are_detected() -> None:
    with pytest.raises(InvalidRequestError, match=r"Left is recursive: Left\.right\.left"):
        vertex_schema(Left)


def test_same_model_used_twice_is_not_recursion() -> None:
    class Pair(BaseModel):
        first: Address
        second: Address

    props = vertex_schema(Pair)["properties"]
    assert props["first"] == props["second"]


def test_response_format_shape() -> None:
    fmt = response_format_from_model(Address)
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "Address", "schema": vertex_schema(Address)},
    }
    named = response_format_from_model(Address, name="addr", strict=True)
    assert named["json_schema"]["name"] == "addr"
    assert named["json_schema"]["strict"] is True


# --- parsing a completion ------------------------------------------------------------------------


def _completion(content: str | None, finish: str = "stop") -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "x",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }
    )


def test_parse_completion_valid() -> None:
    parsed = parse_completion(_completion('{"street": "Main 1", "city": "Oslo"}'), Address)
    assert isinstance(parsed, ParsedChatCompletion)
    address = parsed.choices[0].message.parsed
    assert address == Address(street="Main 1", city="Oslo")
    assert parsed.choices[0].message.content == '{"street": "Main 1", "city": "Oslo"}'
    dumped = json.loads(parsed.model_dump_json())
    assert dumped["choices"][0]["message"]["parsed"] == {
        "street": "Main 1",
        "city": "Oslo",
        "zip_code": None,
    }


def test_parse_completion_strips_markdown_fence() -> None:
    text = '```json\n{"street": "a", "city": "b"}\n```'
    assert parse_completion(_completion(text), Address).choices[0].message.parsed == Address(
        street="a", city="b"
    )


def test_parse_completion_invalid_output_carries_content() -> None:
    with pytest.raises(OutputParseError, match=r"not a valid Address: city: Field required") as e:
        parse_completion(_completion('{"street": "a"}'), Address)
    assert e.value.content == '{"street": "a"}'


def test_parse_completion_not_json() -> None:
    with pytest.raises(OutputParseError) as info:
        parse_completion(_completion("Sorry, I can't help."), Address)
    assert info.value.content == "Sorry, I can't help."


@pytest.mark.parametrize(
    ("content", "finish", "needle"),
    [
        (None, "content_filter", "safety filter"),
        ('{"street": "a", "ci', "length", "token limit"),
        (None, "stop", "no content"),
        ("  ", "stop", "no content"),
    ],
)
def test_parse_completion_unusable_answers(content: str | None, finish: str, needle: str) -> None:
    with pytest.raises(OutputParseError, match=needle) as info:
        parse_completion(_completion(content, finish), Address)
    assert info.value.content == content


def test_parsed_message_is_appendable_to_history() -> None:
    from vertexchat._request import build_request

    parsed = parse_completion(_completion('{"street": "a", "city": "b"}'), Address)
    request = build_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}, parsed.choices[0].message]},
        publisher_model=True,
    )
    assert request.messages[1].content == '{"street": "a", "city": "b"}'


# --- parse() against the emulator and a handler --------------------------------------------------


def _client(transport: httpx.AsyncBaseTransport) -> vertexchat.Client:
    return vertexchat.Client(
        project="p",
        location="us-central1",
        auth="t",
        http_client=httpx.AsyncClient(transport=transport),
    )


async def test_parse_end_to_end_nested_models_and_enums() -> None:
    emulator = Emulator()
    async with _client(emulator.transport()) as client:
        result = await parse(
            client.chat.completions,
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Describe a station"}],
            response_format=Station,
        )
    station = result.choices[0].message.parsed
    assert isinstance(station, Station)
    assert isinstance(station.address, Address)
    assert all(isinstance(r.unit, Unit) for r in station.readings)
    sent = emulator.requests[-1].body["response_format"]
    assert sent == response_format_from_model(Station)


async def test_parse_stream_end_to_end() -> None:
    emulator = Emulator()
    async with _client(emulator.transport()) as client:
        stream = await parse(
            client.chat.completions,
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Describe a station"}],
            response_format=Station,
            stream=True,
        )
        assert isinstance(stream, ParsedChatCompletionStream)
        async with stream:
            chunks = [chunk async for chunk in stream]
            result = await stream.get_final_completion()
    assert len(chunks) > 1
    assert isinstance(result.choices[0].message.parsed, Station)
    assert emulator.requests[-1].body["stream"] is True


def _answering(content: str, finish: str = "stop") -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "id": "r",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "finish_reason": finish, "message": {"content": content}},
            ],
        }
        return httpx.Response(200, json=body)

    return handler


async def test_parse_invalid_output_raises_with_content() -> None:
    async with _client(httpx.MockTransport(_answering('{"street": 1}'))) as client:
        with pytest.raises(OutputParseError) as info:
            await parse(
                client.chat.completions,
                model="m",
                messages=[{"role": "user", "content": "x"}],
                response_format=Address,
            )
    assert info.value.content == '{"street": 1}'


async def test_parse_rejects_recursive_model_before_sending() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    async with _client(httpx.MockTransport(handler)) as client:
        with pytest.raises(InvalidRequestError, match="recursive"):
            await parse(
                client.chat.completions,
                model="m",
                messages=[{"role": "user", "content": "x"}],
                response_format=Tree,
            )
    assert sent == []


async def test_parse_rejects_non_model_response_format() -> None:
    async with _client(httpx.MockTransport(_answering("{}"))) as client:
        with pytest.raises(TypeError, match="Pydantic model class"):
            await parse(
                client.chat.completions,
                model="m",
                messages=[{"role": "user", "content": "x"}],
                response_format={"type": "json_object"},  # type: ignore[call-overload]
            )


def test_parse_completion_skips_tagged_thoughts() -> None:
    text = '<think>Plan: an address.</think>\n\n{"street": "a", "city": "b"}'
    parsed = parse_completion(_completion(text), Address, thought_tag_marker="think")
    assert parsed.choices[0].message.parsed == Address(street="a", city="b")
    with pytest.raises(OutputParseError) as info:
        parse_completion(_completion(text), Address)  # no marker: the tags are not JSON
    assert info.value.content == text


@pytest.mark.parametrize("stream", [False, True])
async def test_parse_with_thoughts_and_marker_end_to_end(stream: bool) -> None:
    emulator = Emulator()
    extra_body = {
        "google": {
            "thinking_config": {"include_thoughts": True},
            "thought_tag_marker": "vertex_think_tag",
        }
    }
    async with _client(emulator.transport()) as client:
        if stream:
            opened = await parse(
                client.chat.completions,
                model="gemini-2.5-flash",
                messages=[{"role": "user", "content": "Describe a station"}],
                response_format=Station,
                extra_body=extra_body,
                stream=True,
            )
            async with opened:
                result = await opened.get_final_completion()
        else:
            result = await parse(
                client.chat.completions,
                model="gemini-2.5-flash",
                messages=[{"role": "user", "content": "Describe a station"}],
                response_format=Station,
                extra_body=extra_body,
            )
    assert result.usage is not None
    assert result.usage.reasoning_tokens > 0  # the model did think, and showed it
    assert isinstance(result.choices[0].message.parsed, Station)
