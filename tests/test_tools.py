"""Tools: definitions from functions and models, argument parsing, the tool loop end to end."""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
import httpx
import pytest
from pydantic import BaseModel, Field

import vertexchat
from vertexchat import InvalidRequestError, OutputParseError
from vertexchat._request_models import ToolCall
from vertexchat._response_models import ChatCompletion, ToolCallOut
from vertexchat._tools import (
    FunctionTool,
    function_tool,
    parse_arguments,
    result_text,
    run_tool_loop,
)
from vertexchat.testing import Emulator

GEMINI_3 = "gemini-3-flash"


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str | None = None


async def get_weather(
    city: Annotated[str, "City name, e.g. Oslo"], unit: Unit = Unit.C, days: int = 1
) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: overridden by the Annotated text
        unit: Temperature unit.
        days: How many days,
            at most 7.
    """
    return {"city": city, "unit": unit.value, "days": days, "temp": 21}


def local_time(place: Place, /) -> datetime.datetime:
    """Local time at a place."""
    return datetime.datetime(2026, 1, 15, 10, 30, tzinfo=datetime.timezone.utc)


class SearchFlights(BaseModel):
    """Search flights between two airports."""

    origin: str = Field(description="IATA code")
    destination: str
    cabin: Literal["economy", "business"] = "economy"


def _call(name: str, arguments: str, call_id: str = "c1") -> ToolCallOut:
    return ToolCallOut.model_validate(
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    )


# --- definitions --------------------------------------------------------------------------------


def test_function_tool_definition_from_signature_and_docstring() -> None:
    tool = function_tool(get_weather)
    function = tool.definition["function"]
    assert tool.definition["type"] == "function"
    assert function["name"] == "get_weather"
    assert function["description"] == "Current weather for a city."
    params = function["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {
        "description": "City name, e.g. Oslo",
        "type": "string",
    }
    assert params["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert params["properties"]["unit"]["description"] == "Temperature unit."
    assert params["properties"]["days"]["description"] == "How many days, at most 7."
    assert "title" not in json.dumps(params)


def test_function_tool_from_model() -> None:
    tool = function_tool(SearchFlights)
    function = tool.definition["function"]
    assert function["name"] == "SearchFlights"
    assert function["description"] == "Search flights between two airports."
    assert "description" not in function["parameters"]  # not repeated inside the schema
    assert function["parameters"]["properties"]["cabin"]["enum"] == ["economy", "business"]
    assert tool.arguments_model is SearchFlights


def test_function_tool_overrides_and_decorator() -> None:
    @function_tool
    def ping() -> str:
        return "pong"

    assert isinstance(ping, FunctionTool)
    assert ping.definition == {
        "type": "function",
        "function": {"name": "ping", "parameters": {"properties": {}, "type": "object"}},
    }
    renamed = function_tool(get_weather, name="weather", description="Weather.")
    assert renamed.definition["function"]["name"] == "weather"
    assert renamed.definition["function"]["description"] == "Weather."


def test_function_tool_rejects_var_args_and_bad_names() -> None:
    def anything(*args: int, **kwargs: int) -> None: ...

    with pytest.raises(TypeError, match=r"\*args"):
        function_tool(anything)
    with pytest.raises(ValueError, match="invalid tool name"):
        function_tool(get_weather, name="get weather")
    with pytest.raises(TypeError, match="function or a Pydantic model"):
        function_tool(42)  # type: ignore[call-overload]


class Folder(BaseModel):
    name: str
    children: list[Folder] = []


def test_function_tool_recursive_parameters_fail_locally() -> None:
    def make(folder: Folder) -> None: ...

    with pytest.raises(InvalidRequestError, match="recursive"):
        function_tool(make)


def test_parameter_named_like_pydantic_internals() -> None:
    def pick(model_name: str) -> str:
        return model_name

    tool = function_tool(pick)
    assert "model_name" in tool.parameters["properties"]


def test_tool_definition_is_accepted_by_request_validation() -> None:
    from vertexchat._request import build_request

    tools = [function_tool(get_weather).definition, function_tool(SearchFlights).definition]
    request = build_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools},
        publisher_model=True,
    )
    assert request.tools is not None
    assert [t.function.name for t in request.tools] == ["get_weather", "SearchFlights"]


# --- calling and parsing ------------------------------------------------------------------------


async def test_call_async_function_with_json_arguments() -> None:
    tool = function_tool(get_weather)
    text = await tool.call('{"city": "Oslo", "unit": "fahrenheit"}')
    assert json.loads(text) == {"city": "Oslo", "unit": "fahrenheit", "days": 1, "temp": 21}


async def test_call_sync_positional_only_function_with_model_argument() -> None:
    tool = function_tool(local_time)
    assert await tool.call({"place": {"city": "Oslo"}}) == '"2026-01-15T10:30:00Z"'


async def test_call_invalid_arguments_raise_output_parse_error() -> None:
    tool = function_tool(get_weather)
    with pytest.raises(OutputParseError, match=r"get_weather.*city: Field required") as info:
        await tool.call('{"unit": "celsius"}')
    assert info.value.content == '{"unit": "celsius"}'
    with pytest.raises(OutputParseError, match="not valid JSON"):
        await tool.call('{"city": ')


async def test_call_model_tool_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"tool\.parse"):
        await function_tool(SearchFlights).call("{}")


def test_result_text() -> None:
    assert result_text("plain") == "plain"
    assert result_text(Place(city="Oslo")) == '{"city":"Oslo","country":null}'
    assert (
        result_text({"n": 1, "when": datetime.date(2026, 1, 2)}) == '{"n":1,"when":"2026-01-02"}'
    )
    assert result_text(None) == "null"


def test_parse_arguments() -> None:
    assert parse_arguments(_call("f", '{"a": [1, 2]}')) == {"a": [1, 2]}
    assert parse_arguments(_call("f", "")) == {}
    request_call = ToolCall.model_validate(
        {"id": "x", "function": {"name": "f", "arguments": "{}"}}
    )
    assert parse_arguments(request_call) == {}


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [('{"a": ', "not valid JSON"), ("[1, 2]", "not a JSON object"), ('"s"', "not a JSON object")],
)
def test_parse_arguments_errors(arguments: str, needle: str) -> None:
    with pytest.raises(OutputParseError, match=needle) as info:
        parse_arguments(_call("f", arguments))
    assert info.value.content == arguments


def test_model_tool_parse() -> None:
    tool = function_tool(SearchFlights)
    flights = tool.parse(_call("SearchFlights", '{"origin": "OSL", "destination": "LHR"}'))
    assert flights == SearchFlights(origin="OSL", destination="LHR")
    with pytest.raises(ValueError, match="not for tool"):
        tool.parse(_call("other", "{}"))
    with pytest.raises(OutputParseError, match="cabin"):
        tool.parse(_call("SearchFlights", '{"origin": "a", "destination": "b", "cabin": "x"}'))


# --- against the emulator -----------------------------------------------------------------------


def _client(transport: httpx.AsyncBaseTransport) -> vertexchat.Client:
    return vertexchat.Client(
        project="p",
        location="us-central1",
        auth="t",
        http_client=httpx.AsyncClient(transport=transport),
    )


async def test_manual_multi_turn_echoes_thought_signatures_on_gemini_3() -> None:
    emulator = Emulator()
    tool = function_tool(get_weather)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    async with _client(emulator.transport()) as client:
        first = await client.chat.completions.create(
            model=GEMINI_3, messages=messages, tools=[tool.definition]
        )
        message = first.choices[0].message
        assert message.tool_calls
        call = message.tool_calls[0]
        assert call.extra_content is not None
        assert call.extra_content.thought_signature
        messages.append(message)
        messages.append(
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": await tool.call(parse_arguments(call)),
            }
        )
        second = await client.chat.completions.create(
            model=GEMINI_3, messages=messages, tools=[tool.definition]
        )
    assert second.choices[0].message.content
    sent = emulator.requests[-1].body["messages"][1]
    assert "content" not in sent  # no text next to tool calls: left out, as in Google's sample
    signature = sent["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    assert signature == call.extra_content.thought_signature


async def test_missing_signature_is_rejected_by_the_emulator() -> None:
    # Guards the test above: without the signature, a Gemini 3 model answers 400.
    emulator = Emulator()
    tool = function_tool(get_weather)
    messages: list[Any] = [{"role": "user", "content": "weather?"}]
    async with _client(emulator.transport()) as client:
        first = await client.chat.completions.create(
            model=GEMINI_3, messages=messages, tools=[tool.definition]
        )
        call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": call.function.model_dump()}
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
        with pytest.raises(vertexchat.BadRequestError, match="thought_signature"):
            await client.chat.completions.create(
                model=GEMINI_3, messages=messages, tools=[tool.definition]
            )


async def test_run_tool_loop_end_to_end_gemini_3() -> None:
    emulator = Emulator()
    tools = [function_tool(get_weather), function_tool(local_time)]
    messages: list[Any] = [{"role": "user", "content": "Use get_weather and local_time for Oslo."}]
    async with _client(emulator.transport()) as client:
        final = await run_tool_loop(
            client.chat.completions, model=GEMINI_3, messages=messages, tools=tools
        )
    assert final.choices[0].finish_reason == "stop"
    assert "The tool get_weather returned" in (final.choices[0].message.content or "")
    assert "The tool local_time returned" in (final.choices[0].message.content or "")
    assert [m["role"] if isinstance(m, dict) else m.role for m in messages] == [
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    sent = emulator.requests[-1].body
    assert sent["tools"] == [t.definition for t in tools]
    calls = sent["messages"][1]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "local_time"]
    assert calls[0]["extra_content"]["google"]["thought_signature"]
    assert "extra_content" not in calls[1]  # only the first parallel call is signed
    results = sent["messages"][2:]
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
    assert json.loads(results[0]["content"])["temp"] == 21
    assert results[1]["content"] == '"2026-01-15T10:30:00Z"'


async def test_run_tool_loop_streaming_arguments_merge_by_id() -> None:
    emulator = Emulator()
    flights = function_tool(SearchFlights)
    tools: list[FunctionTool[Any]] = [function_tool(get_weather), flights]
    async with _client(emulator.transport()) as client:
        stream = await client.chat.completions.create(
            model=GEMINI_3,
            messages=[{"role": "user", "content": "get_weather and SearchFlights please"}],
            tools=[t.definition for t in tools],
            stream=True,
            extra_body={"google": {"stream_function_call_arguments": True}},
        )
        async with stream:
            completion = await stream.get_final_completion()
    calls = completion.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "SearchFlights"]
    assert len({c.id for c in calls}) == 2
    weather = function_tool(get_weather).validate(parse_arguments(calls[0]))
    assert weather.city  # type: ignore[attr-defined]
    assert isinstance(flights.parse(calls[1]), SearchFlights)
    assert calls[0].extra_content is not None
    assert calls[0].extra_content.thought_signature


# --- the loop against scripted handlers ---------------------------------------------------------


def _scripted(
    replies: list[dict[str, Any]],
) -> tuple[Callable[[httpx.Request], httpx.Response], list[Any]]:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        message = replies[min(len(bodies), len(replies)) - 1]
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        body = {"id": "r", "choices": [{"index": 0, "finish_reason": finish, "message": message}]}
        return httpx.Response(200, json=body)

    return handler, bodies


def _asks(*calls: tuple[str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"id{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ],
    }


_ANSWER = {"role": "assistant", "content": "done"}


async def _loop(
    handler: Callable[[httpx.Request], httpx.Response], tools: list[FunctionTool[Any]], **kw: Any
) -> ChatCompletion:
    async with _client(httpx.MockTransport(handler)) as client:
        return await run_tool_loop(
            client.chat.completions,
            model="m",
            messages=[{"role": "user", "content": "go"}],
            tools=tools,
            **kw,
        )


async def test_loop_sends_model_mistakes_back_as_error_results() -> None:
    handler, bodies = _scripted(
        [_asks(("nope", "{}"), ("get_weather", '{"days": 2}'), ("get_weather", "{oops")), _ANSWER]
    )
    final = await _loop(handler, [function_tool(get_weather)])
    assert final.choices[0].message.content == "done"
    results = [m["content"] for m in bodies[1]["messages"][2:]]
    assert results[0] == "Error: there is no tool named 'nope'; available tools: get_weather"
    assert results[1].startswith("Error: invalid arguments for tool 'get_weather': city")
    assert "not valid JSON" in results[2]
    sent_calls = bodies[1]["messages"][1]["tool_calls"]
    assert [c["function"]["arguments"] for c in sent_calls] == ["{}", '{"days": 2}', "{}"]


def _boom(x: int) -> str:
    raise LookupError(f"no row {x}")


async def test_loop_tool_exception_sent_back_by_default() -> None:
    handler, bodies = _scripted([_asks(("_boom", '{"x": 3}')), _ANSWER])
    await _loop(handler, [function_tool(_boom)])
    assert bodies[1]["messages"][2]["content"] == "Error: LookupError: no row 3"


async def test_loop_tool_exception_propagates_with_raise() -> None:
    handler, bodies = _scripted([_asks(("_boom", '{"x": 3}')), _ANSWER])
    with pytest.raises(LookupError, match="no row 3"):
        await _loop(handler, [function_tool(_boom)], tool_errors="raise")
    assert len(bodies) == 1


async def test_loop_max_rounds() -> None:
    handler, bodies = _scripted([_asks(("get_weather", '{"city": "a"}'))])
    with pytest.raises(
        vertexchat.ToolLoopError, match=r"still asked for tools \(get_weather\) after 2 rounds"
    ):
        await _loop(handler, [function_tool(get_weather)], max_rounds=2)
    assert len(bodies) == 3


async def test_loop_runs_calls_of_a_round_concurrently() -> None:
    both_started = anyio.Event()
    started = 0

    async def wait_for_peer(n: int) -> str:
        nonlocal started
        started += 1
        if started == 2:
            both_started.set()
        with anyio.fail_after(5):  # a deadlock guard, not a timing assertion
            await both_started.wait()
        return f"ok {n}"

    handler, bodies = _scripted(
        [_asks(("wait_for_peer", '{"n": 1}'), ("wait_for_peer", '{"n": 2}')), _ANSWER]
    )
    await _loop(handler, [function_tool(wait_for_peer)])
    assert [m["content"] for m in bodies[1]["messages"][2:]] == ["ok 1", "ok 2"]


async def test_loop_argument_checks() -> None:
    handler, _ = _scripted([_ANSWER])
    with pytest.raises(TypeError, match="stream"):
        await _loop(handler, [function_tool(get_weather)], stream=True)
    with pytest.raises(TypeError, match="no function"):
        await _loop(handler, [function_tool(SearchFlights)])
    with pytest.raises(ValueError, match="two tools"):
        await _loop(handler, [function_tool(get_weather), function_tool(get_weather)])


async def test_model_tool_forced_with_tool_choice_for_extraction() -> None:
    emulator = Emulator()
    flights = function_tool(SearchFlights)
    async with _client(emulator.transport()) as client:
        completion = await client.chat.completions.create(
            model=GEMINI_3,
            messages=[{"role": "user", "content": "Oslo to London, business please"}],
            tools=[function_tool(get_weather).definition, flights.definition],
            tool_choice={"type": "function", "function": {"name": "SearchFlights"}},
        )
    calls = completion.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["SearchFlights"]
    search = flights.parse(calls[0])
    assert isinstance(search, SearchFlights)
    assert search.cabin in ("economy", "business")


async def test_partial_needs_a_name() -> None:
    import functools

    bound = functools.partial(get_weather, days=3)
    with pytest.raises(TypeError, match="name="):
        function_tool(bound)
    tool = function_tool(bound, name="weather_3_days")
    assert json.loads(await tool.call({"city": "Oslo"}))["days"] == 3
