"""OpenTelemetry spans and metrics from real calls, against the emulator, on asyncio and trio.

The application's side is written the way OpenTelemetry's docs write it: the SDK's providers
set as the global ones, an in-memory span exporter and metric reader.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode

import vertexchat
from tests._otel import Telemetry, install, installed, reset_globals
from vertexchat.testing import Emulator, Faults

MODEL = "google/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "Tell me about observability"}]
FAST = vertexchat.RetryPolicy(initial_delay=0.001, max_delay=0.001, jitter=0.0)


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    yield from installed()


def _client(emulator: Emulator, **options: Any) -> vertexchat.Client:
    http = httpx.AsyncClient(transport=emulator.transport())
    options.setdefault("retry_policy", FAST)
    return vertexchat.Client("p", "global", auth="token", http_client=http, **options)


def _attributes(item: Any) -> dict[str, Any]:
    return dict(item.attributes or {})


async def test_a_plain_call_is_one_chat_span_with_usage(otel: Telemetry) -> None:
    emulator = Emulator()
    async with _client(emulator) as client:
        completion = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=MESSAGES, temperature=0.3, max_tokens=200
        )
    span = otel.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = _attributes(span)
    usage = completion.usage
    assert usage is not None
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.request.temperature"] == 0.3
    assert attributes["gen_ai.request.max_tokens"] == 200
    assert attributes["gen_ai.response.model"] == completion.model
    assert attributes["gen_ai.response.id"] == completion.id
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert attributes["server.address"] == "aiplatform.googleapis.com"
    assert attributes["server.port"] == 443
    assert attributes["vertexchat.attempts"] == 1
    assert "error.type" not in attributes
    assert not any("messages" in key for key in attributes)  # content is opt-in
    points = otel.points()
    [duration] = points["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert _attributes(duration)["gen_ai.request.model"] == MODEL
    tokens = {
        _attributes(p)["gen_ai.token.type"]: p.sum for p in points["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": usage.prompt_tokens, "output": usage.output_tokens}


async def test_a_stream_span_has_time_to_first_chunk_and_final_usage(otel: Telemetry) -> None:
    emulator = Emulator()
    async with _client(emulator) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            chunks = []
            async for chunk in stream:
                assert otel.spans() == []  # the call is not over until the stream is
                chunks.append(chunk)
        completion = stream.completion
    assert len(chunks) > 1
    span = otel.span()
    attributes = _attributes(span)
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    usage = completion.usage
    assert usage is not None
    assert attributes["gen_ai.usage.output_tokens"] == usage.output_tokens
    [first_chunk] = otel.points()["gen_ai.client.operation.time_to_first_chunk"]
    assert first_chunk.count == 1


async def test_a_retried_call_has_a_retry_event_per_failed_attempt(otel: Telemetry) -> None:
    emulator = Emulator(faults=Faults(schedule=("429", "503", "ok")))
    async with _client(emulator) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = otel.span()
    assert span.status.status_code is StatusCode.UNSET
    assert _attributes(span)["vertexchat.attempts"] == 3
    events = [(e.name, _attributes(e)) for e in span.events]
    assert [name for name, _ in events] == ["vertexchat.retry", "vertexchat.retry"]
    assert [(a["vertexchat.attempt"], a["http.response.status_code"]) for _, a in events] == [
        (1, 429),
        (2, 503),
    ]
    assert all(a["vertexchat.retry.delay"] == pytest.approx(0.001) for _, a in events)
    [duration] = otel.points()["gen_ai.client.operation.duration"]
    assert "error.type" not in _attributes(duration)  # the call itself succeeded


async def test_a_failed_call_records_error_type_and_status(otel: Telemetry) -> None:
    emulator = Emulator(faults=Faults(schedule=("500", "500")))
    async with _client(emulator, max_retries=1) as client:
        with pytest.raises(vertexchat.InternalServerError):
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert _attributes(span)["error.type"] == "500"
    assert [e.name for e in span.events] == ["vertexchat.retry", "exception"]
    [duration] = otel.points()["gen_ai.client.operation.duration"]
    assert _attributes(duration)["error.type"] == "500"
    assert "gen_ai.client.token.usage" not in otel.points()


async def test_a_stream_cut_before_any_chunk_is_retried_inside_one_span(otel: Telemetry) -> None:
    emulator = Emulator(faults=Faults(schedule=("cut-after=0", "ok")))
    async with _client(emulator) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            completion = await stream.get_final_completion()
    span = otel.span()
    assert span.status.status_code is StatusCode.UNSET
    assert [e.name for e in span.events] == ["vertexchat.retry"]
    assert _attributes(span)["gen_ai.response.id"] == completion.id


async def test_a_batch_makes_one_span_per_item(otel: Telemetry) -> None:
    emulator = Emulator(faults=Faults(schedule=("429",)))
    requests = [
        {"model": MODEL, "messages": [{"role": "user", "content": f"n{i}"}]} for i in range(5)
    ]
    async with _client(emulator) as client, client.batch(requests, concurrency=2) as run:
        results = [result async for result in run]
    assert all(result.ok for result in results)
    spans = otel.spans()
    assert len(spans) == 5
    assert sum(len(span.events) for span in spans) == 1  # the one 429, retried


async def test_the_switch_turns_it_all_off(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEXCHAT_OTEL", "off")
    async with _client(Emulator(faults=Faults(schedule=("429",)))) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            await stream.get_final_completion()
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert otel.spans() == []
    assert otel.points() == {}


async def test_with_no_provider_nothing_is_asked_of_opentelemetry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset_globals()
    asked: list[str] = []
    proxy_tracers, proxy_meters = trace.get_tracer_provider(), metrics.get_meter_provider()
    monkeypatch.setattr(type(proxy_tracers), "get_tracer", lambda *a, **k: asked.append("tracer"))
    monkeypatch.setattr(type(proxy_meters), "get_meter", lambda *a, **k: asked.append("meter"))
    async with _client(Emulator(faults=Faults(schedule=("429",)))) as client:
        await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            await stream.get_final_completion()
    assert asked == []


async def test_message_content_only_when_opted_in(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    async with _client(Emulator()) as client:
        completion = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    attributes = _attributes(otel.span())
    assert "Tell me about observability" in attributes["gen_ai.input.messages"]
    content = completion.choices[0].message.content
    assert content
    assert content[:40] in attributes["gen_ai.output.messages"]


IMPORT_CHECK = """
import sys, anyio, httpx, vertexchat
from vertexchat.testing import Emulator

async def main():
    http = httpx.AsyncClient(transport=Emulator().transport())
    async with vertexchat.Client("p", "global", auth="t", http_client=http) as client:
        await client.chat.completions.create(model="gemini-2.5-flash",
                                             messages=[{"role": "user", "content": "hi"}])
        async with client.batch([{"model": "gemini-2.5-flash",
                                  "messages": [{"role": "user", "content": "hi"}]}]) as run:
            [result async for result in run]

anyio.run(main)
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "vertexchat._tele"))))
"""


def test_vertexchat_never_imports_opentelemetry_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


README_PREAMBLE = """
import httpx, vertexchat
from vertexchat.testing import Emulator

_real_client = vertexchat.Client

def _emulated(*args, **kwargs):
    kwargs["http_client"] = httpx.AsyncClient(transport=Emulator().transport())
    kwargs["auth"] = "readme-token"
    return _real_client(*args, **kwargs)

vertexchat.Client = _emulated
"""


def test_the_readme_console_example_prints_the_span_and_the_metrics() -> None:
    from tests.test_readme import python_blocks

    [block] = [b for b in python_blocks() if "ConsoleSpanExporter" in b.source]
    assert block.skip_reason  # the in-process README run must not set global providers
    result = subprocess.run(
        [sys.executable, "-c", README_PREAMBLE + block.source],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"name": "chat google/gemini-2.5-flash"' in out
    assert '"kind": "SpanKind.CLIENT"' in out
    assert '"gen_ai.provider.name": "gcp.vertex_ai"' in out
    for metric in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        assert f'"name": "{metric}"' in out


async def test_a_provider_set_after_the_first_calls_is_used_from_then_on() -> None:
    reset_globals()
    try:
        async with _client(Emulator()) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            telemetry = install()
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert len(telemetry.spans()) == 1
        assert len(telemetry.points()["gen_ai.client.operation.duration"]) == 1
    finally:
        reset_globals()
