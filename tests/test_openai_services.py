"""OpenAI-SDK service code (``tests/openai_services.py``) runs on vertexchat unchanged.

Each scenario runs twice against the same loopback emulator: with ``import openai`` and
``openai.AsyncOpenAI(...)`` — proof that it is genuine OpenAI-SDK code — and with ``vertexchat``
imported in its place and ``vertexchat.Client(...)`` as the constructor. Nothing else changes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import vertexchat
from tests import openai_services as services
from vertexchat.testing import Emulator, Faults, serve

BOTH = [("openai", "asyncio"), ("vertexchat", "asyncio"), ("vertexchat", "trio")]
ASYNCIO = [("openai", "asyncio"), ("vertexchat", "asyncio")]  # asyncio.gather, uvicorn


@pytest.fixture
def anyio_backend(combo: tuple[str, str]) -> str:
    return combo[1]


_ASYNCIO_ONLY: set[str] = set()


def asyncio_only(test: Any) -> Any:
    """Run ``test`` on asyncio only: the service code itself is asyncio code."""
    _ASYNCIO_ONLY.add(test.__name__)
    return test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "combo" in metafunc.fixturenames:
        combos = ASYNCIO if metafunc.function.__name__ in _ASYNCIO_ONLY else BOTH
        metafunc.parametrize("combo", combos, ids=["-".join(c) for c in combos])


@asynccontextmanager
async def ported(combo: tuple[str, str], emulator: Emulator) -> AsyncIterator[tuple[Any, Any]]:
    """``(sdk, client)``: the import and the constructor, the only lines a port changes."""
    async with serve(emulator) as server:
        if combo[0] == "openai":
            import openai as sdk

            client: Any = sdk.AsyncOpenAI(base_url=server.base_url(), api_key="any-token")
        else:
            import vertexchat as sdk  # type: ignore[no-redef]

            client = sdk.Client(
                base_url=server.base_url(),
                auth="any-token",
                retry_policy=sdk.RetryPolicy(initial_delay=0, max_delay=0),
            )
        async with client:
            yield sdk, client


async def answer_of(emulator: Emulator, text: str) -> str | None:
    """The emulator's (deterministic) answer to one user message, asked directly."""
    async with (
        serve(emulator) as server,
        vertexchat.Client(base_url=server.base_url(), auth="t") as client,
    ):
        completion = await client.chat.completions.create(
            model=services.MODEL, messages=[{"role": "user", "content": text}]
        )
    return completion.choices[0].message.content


@asyncio_only
async def test_fastapi_streaming_proxy(combo: tuple[str, str]) -> None:
    import uvicorn

    emulator = Emulator(models=[services.MODEL])  # any other model: 404, as on Vertex
    async with ported(combo, emulator) as (sdk, client):
        app = services.streaming_proxy_app(sdk, client)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve)
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await anyio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            texts, usage, error = await _consume_proxy(f"http://127.0.0.1:{port}")
            server.should_exit = True
    expected = await answer_of(Emulator(), "Tell me about rivers")
    assert "".join(texts) == expected
    assert len(texts) > 1  # really streamed, chunk by chunk
    assert usage is not None
    assert usage > 0
    assert error == (404, True)


async def _consume_proxy(url: str) -> tuple[list[str], int | None, tuple[int, bool]]:
    texts: list[str] = []
    usage = None
    body = {"messages": [{"role": "user", "content": "Tell me about rivers"}]}
    async with httpx.AsyncClient(timeout=30) as http:
        async with http.stream("POST", f"{url}/chat", json=body) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    event = json.loads(line[6:])
                    if "text" in event:
                        texts.append(event["text"])
                    usage = event.get("usage", usage)
        missing = await http.post(
            f"{url}/chat", json={**body, "model": "google/no-such-model-404"}
        )
    return texts, usage, (missing.status_code, bool(missing.json()["error"]))


@asyncio_only
async def test_gather_fan_out_with_per_error_handling(combo: tuple[str, str]) -> None:
    emulator = Emulator(faults=Faults(rate=0.2, kinds=("429", "503"), seed=7))
    questions = [f"question {i}" for i in range(200)]
    async with ported(combo, emulator) as (sdk, client):
        outcome = await services.fan_out(sdk, client.with_options(max_retries=0), questions)
    failed = outcome["rate_limited"] + outcome["server"]
    assert len(outcome["answers"]) + len(failed) == 200  # every call accounted for
    assert not outcome["other"]
    assert outcome["rate_limited"]
    assert outcome["server"]
    assert {status for _, status in outcome["rate_limited"]} == {429}
    assert {status for _, status in outcome["server"]} == {503}
    assert all(outcome["answers"].values())


async def test_gemini_3_tool_loop_with_json_history(combo: tuple[str, str]) -> None:
    emulator = Emulator()
    store: dict[str, str] = {}
    async with ported(combo, emulator) as (_, client):
        final = await services.tool_loop_with_stored_history(client, store)
    assert final
    history = json.loads(store["history"])
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"]
    second_request = emulator.requests[1].body["messages"]
    sent_call = second_request[1]["tool_calls"][0]
    assert sent_call["extra_content"]["google"]["thought_signature"]  # echoed from JSON


async def test_parse_with_pydantic(combo: tuple[str, str]) -> None:
    async with ported(combo, Emulator()) as (_, client):
        station = await services.parse_station(client)
    assert isinstance(station, services.Station)
    assert station.name


async def test_raw_response(combo: tuple[str, str]) -> None:
    async with ported(combo, Emulator()) as (_, client):
        status, content_type, text = await services.raw_response(client)
    assert status == 200
    assert content_type.startswith("application/json")
    assert text


async def test_stream_helper(combo: tuple[str, str]) -> None:
    async with ported(combo, Emulator()) as (_, client):
        streamed, final = await services.stream_helper(client)
        calls = await services.stream_helper_tool_arguments(client)
    assert streamed == final.choices[0].message.content
    assert calls
    assert all(name == "get_weather" and "city" in args for name, args in calls)


async def test_per_request_options(combo: tuple[str, str]) -> None:
    emulator = Emulator()
    emulator.schedule("503", "ok")
    # On Gemini, vertexchat says once that Vertex ignores user= and metadata=.
    said = (
        pytest.warns(vertexchat.IgnoredParameterWarning, match="'metadata'|'user'")
        if combo[0] == "vertexchat"
        else contextlib.nullcontext()
    )
    async with ported(combo, emulator) as (sdk, client):
        with said:
            seen = await services.per_request_options(sdk, client)
    assert seen["retried"]
    assert seen["no_retry"] == 429
    assert seen["thinking"]
    thinking_request = emulator.requests[-1].body
    assert thinking_request["extra_body"] == {
        "google": {"thinking_config": {"include_thoughts": True}}
    }
    assert thinking_request["user"] == "user-42"


# --- the synchronous script ---------------------------------------------------------------------


@pytest.fixture
def loopback_emulator() -> Iterator[str]:
    """A loopback emulator served from a background event loop; yields its base URL."""
    with anyio.from_thread.start_blocking_portal() as portal:
        server = portal.wrap_async_context_manager(serve(Emulator()))
        with server as running:
            yield running.base_url()


@pytest.mark.parametrize("flavor", ["openai", "vertexchat"])
def test_synchronous_script(flavor: str, loopback_emulator: str) -> None:
    if flavor == "openai":
        import openai

        client: Any = openai.OpenAI(base_url=loopback_emulator, api_key="any-token")
    else:
        client = vertexchat.SyncClient(base_url=loopback_emulator, auth="any-token")
    with client:
        out = services.synchronous_script(client)
    assert out["text"]
    assert out["streamed"] == out["text"]  # same prompt, deterministic emulator
    assert isinstance(out["parsed"], services.Station)
