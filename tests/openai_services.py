"""Service code written the way people write it for ``AsyncOpenAI``.

Every function takes ``sdk`` (the module: ``openai``, or ``vertexchat`` imported in its place)
and ``client`` (``openai.AsyncOpenAI(...)`` or ``vertexchat.Client(...)``) and uses nothing
else: ``tests/test_openai_services.py`` runs each one unchanged with both, against the Vertex
emulator, which is "changing only the import and the constructor".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel

MODEL = "google/gemini-2.5-flash"
GEMINI_3 = "google/gemini-3-flash"


# --- a FastAPI streaming proxy ------------------------------------------------------------------


def streaming_proxy_app(sdk: Any, client: Any) -> Any:
    """``POST /chat`` → Server-Sent Events of the model's text; errors become HTTP errors."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()

    @app.post("/chat")
    async def chat(body: dict[str, Any]) -> Any:
        try:
            stream = await client.chat.completions.create(
                model=body.get("model", MODEL),
                messages=body["messages"],
                stream=True,
                stream_options={"include_usage": True},
            )
        except sdk.APIStatusError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status_code)

        async def events() -> Any:
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield f"data: {json.dumps({'text': chunk.choices[0].delta.content})}\n\n"
                    if chunk.usage:
                        yield f"data: {json.dumps({'usage': chunk.usage.total_tokens})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


# --- a 200-way fan-out with per-error handling -------------------------------------------------


async def fan_out(sdk: Any, client: Any, questions: list[str]) -> dict[str, Any]:
    """``asyncio.gather`` of one call per question; every failure is recorded by kind."""
    outcome: dict[str, Any] = {"answers": {}, "rate_limited": [], "server": [], "other": []}

    async def one(index: int, question: str) -> None:
        try:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=64
            )
            outcome["answers"][index] = completion.choices[0].message.content
        except sdk.RateLimitError as exc:
            outcome["rate_limited"].append((index, exc.status_code))
        except sdk.InternalServerError as exc:
            outcome["server"].append((index, exc.status_code))
        except sdk.APIStatusError as exc:
            outcome["other"].append((index, exc.status_code, exc.message))
        except sdk.APIConnectionError as exc:
            outcome["other"].append((index, None, str(exc)))

    await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
    return outcome


# --- a Gemini 3 tool loop whose history lives in JSON ------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "celsius": 21}


async def tool_loop_with_stored_history(client: Any, store: dict[str, str]) -> str:
    """Each turn reloads the conversation from JSON, as a stateless web service does."""
    store["history"] = json.dumps([{"role": "user", "content": "Weather in Zürich?"}])
    for _ in range(5):
        history = json.loads(store["history"])
        response = await client.chat.completions.create(
            model=GEMINI_3, messages=history, tools=[WEATHER_TOOL]
        )
        message = response.choices[0].message
        history.append(json.loads(message.model_dump_json()))
        if not message.tool_calls:
            store["history"] = json.dumps(history)
            return str(message.content)
        for call in message.tool_calls:
            result = get_weather(**json.loads(call.function.arguments))
            history.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
        store["history"] = json.dumps(history)
    raise RuntimeError("the model kept calling tools")


# --- parse() with Pydantic ---------------------------------------------------------------------


class Station(BaseModel):
    name: str
    readings: list[float]


async def parse_station(client: Any) -> Station:
    completion = await client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a weather station"}],
        response_format=Station,
    )
    parsed = completion.choices[0].message.parsed
    assert parsed is not None
    assert completion.choices[0].message.refusal is None
    return parsed


# --- raw responses -----------------------------------------------------------------------------


async def raw_response(client: Any) -> tuple[int, str, str | None]:
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}]
    )
    completion = raw.parse()
    return (
        raw.status_code,
        raw.headers.get("content-type", ""),
        completion.choices[0].message.content,
    )


# --- the stream helper -------------------------------------------------------------------------


async def stream_helper(client: Any) -> tuple[str, Any]:
    parts: list[str] = []
    async with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "Tell me a story"}]
    ) as stream:
        async for event in stream:
            if event.type == "content.delta":
                parts.append(event.delta)
            elif event.type == "content.done":
                assert event.content == "".join(parts)
        final = await stream.get_final_completion()
    return "".join(parts), final


async def stream_helper_tool_arguments(client: Any) -> list[tuple[str, Any]]:
    latest: dict[int, tuple[str, str]] = {}
    async with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Bern?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    ) as stream:
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                latest[event.index] = (event.name, event.arguments)
        final = await stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [call.function.arguments for call in calls] == [a for _, a in latest.values()]
    return [(name, json.loads(arguments)) for name, arguments in latest.values()]


# --- per-request options -----------------------------------------------------------------------


async def per_request_options(sdk: Any, client: Any) -> dict[str, Any]:
    """The emulator answers the first request 503 (a schedule the test sets), then normally."""
    seen: dict[str, Any] = {}
    patient = client.with_options(timeout=30, max_retries=3)
    completion = await patient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], timeout=20
    )
    seen["retried"] = completion.choices[0].message.content
    try:
        await client.with_options(max_retries=0).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hello"}],
            extra_headers={"x-emulator-fault": "429"},
        )
    except sdk.RateLimitError as exc:
        seen["no_retry"] = exc.status_code
    thinking = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Think first: 2+2?"}],
        extra_body={"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}},
        user="user-42",
        metadata={"team": "search"},
    )
    seen["thinking"] = thinking.choices[0].message.content
    return seen


# --- a synchronous script ----------------------------------------------------------------------


def synchronous_script(client: Any) -> dict[str, Any]:
    """What Google's own samples look like: blocking calls, a plain ``for`` over a stream."""
    out: dict[str, Any] = {}
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a haiku."}]
    )
    out["text"] = completion.choices[0].message.content
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write a haiku."}], stream=True
    )
    out["streamed"] = "".join(
        chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
    )
    parsed = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a weather station"}],
        response_format=Station,
    )
    out["parsed"] = parsed.choices[0].message.parsed
    return out
