"""The call observer, driven the way the call pipeline drives it: totals, logs, spans, metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests._otel import Telemetry, installed
from vertexchat._exceptions import APIConnectionError, status_error_from_response
from vertexchat._observe import CallRecord, Observability
from vertexchat._request import build_request
from vertexchat._response_models import ChatCompletion

URL = "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi/chat/completions"
MODEL = "google/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "Say hi"}]


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    yield from installed()


def _completion(**usage: Any) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "resp-1",
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage
            or {
                "prompt_tokens": 3,
                "completion_tokens": 1,
                "total_tokens": 24,
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        }
    )


def _status_error(code: int, request_id: str | None = None) -> Exception:
    request = httpx.Request("POST", URL)
    headers = {"x-request-id": request_id} if request_id else {}
    return status_error_from_response(httpx.Response(code, headers=headers, request=request), b"")


def _call(obs: Observability, **params: Any) -> CallRecord:
    request = build_request({"model": MODEL, "messages": MESSAGES, **params}, publisher_model=True)
    return obs.start(request, url=URL, max_attempts=3, model=request.model or "")


def _retried_then_ok(obs: Observability, **params: Any) -> CallRecord:
    call = _call(obs, **params)
    call.attempt_started()
    call.attempt_failed(_status_error(429, "rid-429"), retry_in=0.25)
    call.attempt_started()
    call.response_received(200, [(b"x-request-id", b"rid-ok"), (b"x-cloud-trace-context", b"t/1")])
    call.finished(_completion())
    return call


# --- usage totals -------------------------------------------------------------------------------


def test_a_retried_call_counts_both_requests_one_call_and_the_error() -> None:
    obs = Observability(environ={})
    _retried_then_ok(obs)
    usage = obs.usage.by_model()[MODEL]
    assert (usage.calls, usage.succeeded, usage.requests) == (1, 1, 2)
    assert usage.errors == {"RateLimitError": 1}
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (3, 21, 20)


def test_a_failed_call_counts_its_final_error_once() -> None:
    obs = Observability(environ={})
    call = _call(obs)
    error = _status_error(503)
    for _ in range(3):
        call.attempt_started()
        call.attempt_failed(error, retry_in=None)
    call.finished(error=error)
    call.finished(error=error)  # a second report of the end changes nothing
    usage = obs.usage.by_model()[MODEL]
    assert (usage.calls, usage.succeeded, usage.requests) == (1, 0, 3)
    assert usage.errors == {"InternalServerError": 3}


def test_an_error_after_the_response_started_counts_the_request_and_the_error() -> None:
    obs = Observability(environ={})
    call = _call(obs, stream=True)
    call.attempt_started()
    call.response_received(200)
    call.first_chunk()
    call.finished(error=APIConnectionError("stream cut"))
    usage = obs.usage.by_model()[MODEL]
    assert (usage.calls, usage.succeeded, usage.requests) == (1, 0, 1)
    assert usage.errors == {"APIConnectionError": 1}


def test_extra_totals_such_as_a_batch_count_too() -> None:
    obs = Observability(environ={})
    batch_totals = type(obs.usage)()
    request = build_request({"model": MODEL, "messages": MESSAGES}, publisher_model=True)
    call = obs.start(request, url=URL, max_attempts=1, model=MODEL, usage=[batch_totals])
    call.attempt_started()
    call.finished(_completion())
    assert batch_totals.by_model() == obs.usage.by_model()
    assert batch_totals.total().calls == 1


# --- logs ---------------------------------------------------------------------------------------


def test_debug_lines_per_attempt_and_an_info_line_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="vertexchat")
    _retried_then_ok(Observability(environ={}), temperature=0.5)
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert [(name, level) for name, level, _ in lines] == [
        ("vertexchat.request", "DEBUG"),
        ("vertexchat.retry", "INFO"),
        ("vertexchat.request", "DEBUG"),
    ]
    failed, retry, ok = (message for _, _, message in lines)
    assert failed.startswith(f"POST {URL} -> HTTP 429 (attempt 1/3, ")
    assert "request_id=rid-429" in failed
    assert f"model={MODEL}" in failed
    assert retry == "attempt 1/3 failed (HTTP 429, request_id=rid-429); retrying in 0.25s"
    assert ok.startswith(f"POST {URL} -> 200 (attempt 2/3, ")
    assert ok.endswith(f"request_id=rid-ok, model={MODEL}, tokens=3 in/21 out)")
    assert "Say hi" not in caplog.text  # never message content


def test_nothing_is_formatted_when_logging_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vertexchat")
    _retried_then_ok(Observability(environ={}))
    assert caplog.records == []


# --- OpenTelemetry ------------------------------------------------------------------------------


def test_a_retried_call_is_one_span_with_a_retry_event(otel: Telemetry) -> None:
    _retried_then_ok(Observability(environ={}), temperature=0.5, max_tokens=64, top_p=0.9)
    span = otel.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gcp.vertex_ai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "server.address": "aiplatform.googleapis.com",
        "server.port": 443,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 21,
        "gen_ai.usage.reasoning.output_tokens": 20,
        "vertexchat.attempts": 2,
        "vertexchat.request_id": "rid-ok",
        "http.response.header.x-request-id": ("rid-ok",),
        "http.response.header.x-cloud-trace-context": ("t/1",),
    }
    [event] = span.events
    assert event.name == "vertexchat.retry"
    assert dict(event.attributes or {}) == {
        "vertexchat.attempt": 1,
        "error.type": "429",
        "http.response.status_code": 429,
        "vertexchat.retry.delay": 0.25,
        "vertexchat.request_id": "rid-429",
    }


def test_duration_and_token_histograms_with_the_conventions_buckets(otel: Telemetry) -> None:
    _retried_then_ok(Observability(environ={}))
    points = otel.points()
    [duration] = points["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert tuple(duration.explicit_bounds)[:3] == (0.01, 0.02, 0.04)
    assert dict(duration.attributes)["gen_ai.response.model"] == MODEL
    assert "error.type" not in dict(duration.attributes)
    tokens = {
        dict(p.attributes)["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]
    }
    assert (tokens["input"].sum, tokens["output"].sum) == (3, 21)
    assert tuple(tokens["input"].explicit_bounds)[:4] == (1, 4, 16, 64)
    assert "gen_ai.client.operation.time_to_first_chunk" not in points  # not a stream


def test_a_failed_call_sets_error_type_and_status(otel: Telemetry) -> None:
    obs = Observability(environ={})
    call = _call(obs)
    error = _status_error(503)
    call.attempt_started()
    call.attempt_failed(error, retry_in=None)
    call.finished(error=error)
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "503"
    assert [e.name for e in span.events] == ["exception"]  # final failure: no retry event
    [duration] = otel.points()["gen_ai.client.operation.duration"]
    assert dict(duration.attributes)["error.type"] == "503"


def test_a_stream_records_time_to_first_chunk(otel: Telemetry) -> None:
    call = _call(Observability(environ={}), stream=True)
    call.attempt_started()
    call.response_received(200)
    call.first_chunk()
    call.first_chunk()
    call.finished(_completion())
    attributes = dict(otel.span().attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    [ttfc] = otel.points()["gen_ai.client.operation.time_to_first_chunk"]
    assert ttfc.count == 1


def test_no_content_unless_opted_in(otel: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    _retried_then_ok(Observability(environ={}))
    assert not any("messages" in key for key in otel.span().attributes or {})
    otel.exporter.clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    _retried_then_ok(Observability(environ={}))
    attributes = dict(otel.span().attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "hi"}],
            "finish_reason": "stop",
        }
    ]


def test_the_switch_turns_opentelemetry_off(otel: Telemetry) -> None:
    _retried_then_ok(Observability(environ={"VERTEXCHAT_OTEL": "off"}))
    assert otel.spans() == []
    assert otel.points() == {}


def test_a_call_without_model_is_named_by_the_operation(otel: Telemetry) -> None:
    obs = Observability(environ={})
    request = build_request({"messages": MESSAGES}, publisher_model=False)
    call = obs.start(request, url="http://127.0.0.1:8080/v1/chat/completions", max_attempts=1,
                     model="endpoints/123")  # fmt: skip
    call.attempt_started()
    call.finished(_completion())
    span = otel.span()
    assert span.name == "chat"
    attributes = dict(span.attributes or {})
    assert "gen_ai.request.model" not in attributes
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", 8080)


# --- event hooks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hooks", "error", "match"),
    [
        ({"requests": []}, ValueError, "unknown event.*requests"),
        ({"request": [42]}, TypeError, r"event_hooks\['request'\]"),
        ([("request", print)], TypeError, "event_hooks must be a dict"),
    ],
)
def test_bad_event_hooks_are_named(hooks: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Observability(event_hooks=hooks, environ={})


async def test_event_hooks_run_in_order() -> None:
    seen: list[str] = []

    async def first(message: object) -> None:
        seen.append(f"first {message}")

    async def second(message: object) -> None:
        seen.append(f"second {message}")

    obs = Observability(event_hooks={"request": [first, second], "response": [second]}, environ={})
    await obs.on_request("req")
    await obs.on_response("resp")
    assert seen == ["first req", "second req", "second resp"]
