"""The emulator's pure core: request in, Script out, no sockets and no event loop."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from vertexchat.testing import Delay, Emulator, Faults, Reset, Script, parse_fault
from vertexchat.testing._faults import Fault

PATH = "/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
AUTH = {"Authorization": "Bearer token-1"}
MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["city", "days"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def post(emulator: Emulator, body: Any, headers: dict[str, str] | None = None) -> Script:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return emulator.respond("POST", PATH, {**AUTH, **(headers or {})}, raw)


def chat(emulator: Emulator | None = None, **fields: Any) -> Script:
    return post(emulator or Emulator(), {"model": MODEL, "messages": HELLO, **fields})


def events(script: Script) -> list[Any]:
    """The JSON of every ``data:`` event; ``"[DONE]"`` kept as a string."""
    body = script.body.decode()
    assert body.endswith("\n\n")
    result: list[Any] = []
    for block in body.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        result.append(data if data == "[DONE]" else json.loads(data))
    return result


def error_of(script: Script) -> dict[str, Any]:
    body = json.loads(script.body)
    return dict(body[0]["error"] if isinstance(body, list) else body["error"])


# --- purity ---------------------------------------------------------------------------------

PURE = ["_errors", "_text", "_schema", "_validate", "_reply", "_wire", "_faults", "_script",
        "_emulator"]  # fmt: skip


@pytest.mark.parametrize("name", PURE)
def test_core_modules_do_no_io(name: str) -> None:
    source = Path(__file__).parent.parent / "vertexchat" / "testing" / f"{name}.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"httpx", "anyio", "h11", "trio", "asyncio", "socket", "vertexchat"}


# --- routing, auth, validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/projects/p/locations/l/endpoints/openapi/embeddings"),
        ("POST", "/v2/projects/p/locations/l/endpoints/openapi/chat/completions"),
        ("POST", "/v1/projects/p/locations/l/endpoints/abc/chat/completions"),
        ("GET", PATH),
    ],
)
def test_unknown_routes_get_google_404(method: str, path: str) -> None:
    script = Emulator().respond(method, path, AUTH, b"{}")
    assert script.status == 404
    assert error_of(script)["status"] == "NOT_FOUND"


def test_both_api_versions_numeric_endpoints_and_query_strings_route() -> None:
    emulator = Emulator()
    path = "/v1beta1/projects/p/locations/global/endpoints/1234567/chat/completions?alt=sse"
    script = emulator.respond("POST", path, AUTH, json.dumps({"messages": HELLO}).encode())
    assert script.status == 200  # self-deployed endpoints need no model


def test_missing_token_is_401_with_error_info() -> None:
    script = Emulator().respond("POST", PATH, {}, b"{}")
    error = error_of(script)
    assert (script.status, error["code"], error["status"]) == (401, 401, "UNAUTHENTICATED")
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"


def test_token_allow_list_rejects_others() -> None:
    emulator = Emulator(tokens=["good"])
    rejected = emulator.respond("POST", PATH, {"authorization": "Bearer bad"}, b"{}")
    assert rejected.status == 401
    assert error_of(rejected)["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    accepted = post(
        emulator, {"model": MODEL, "messages": HELLO}, {"Authorization": "Bearer good"}
    )
    assert accepted.status == 200


def test_auth_can_be_switched_off() -> None:
    body = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    assert Emulator(require_auth=False).respond("POST", PATH, {}, body).status == 200


def test_request_log_redacts_the_token_and_keeps_the_body() -> None:
    emulator = Emulator()
    chat(emulator, temperature=0.5)
    (recorded,) = emulator.requests
    assert recorded.headers["authorization"] == "Bearer <redacted>"
    assert "token-1" not in repr(recorded)
    assert recorded.body["temperature"] == 0.5
    assert (recorded.method, recorded.path) == ("POST", PATH)


def test_bare_model_is_rejected_as_a_one_element_array() -> None:
    script = post(Emulator(), {"model": "gemini-2.5-flash", "messages": HELLO})
    body = json.loads(script.body)
    assert script.status == 400
    assert isinstance(body, list)
    assert len(body) == 1
    assert body[0]["error"]["message"] == (
        "Malformed publisher model (`model`: 'gemini-2.5-flash') for the 'openapi' request "
        "endpoint ID; expected '<publisher>/<model>'."
    )
    assert body[0]["error"]["status"] == "INVALID_ARGUMENT"


def test_missing_model_on_openapi_is_400() -> None:
    assert post(Emulator(), {"messages": HELLO}).status == 400


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "Invalid JSON payload"),
        (b"[1, 2]", "Invalid JSON payload"),
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL}, "messages"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "role"),
        ({"model": MODEL, "messages": HELLO, "reasoning_effort": "extreme"}, "reasoning_effort"),
        (
            {
                "model": MODEL,
                "messages": HELLO,
                "reasoning_effort": "low",
                "extra_body": {"google": {"thinking_config": {"thinking_budget": 10}}},
            },
            "cannot be set together",
        ),
        ({"model": MODEL, "messages": HELLO, "tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_invalid_requests_get_400_invalid_argument(body: Any, needle: str) -> None:
    script = post(Emulator(), body)
    error = error_of(script)
    assert (script.status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]


def tool_turn(arguments: str = '{"city":"Paris","days":2}', **extra: Any) -> list[Any]:
    call = {
        "id": "function-call-1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
        **extra,
    }
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "function-call-1", "content": "sunny, 21 C"},
    ]


def test_assistant_tool_call_with_empty_string_content_is_400() -> None:
    messages = tool_turn()
    messages[1]["content"] = ""
    script = post(Emulator(), {"model": MODEL, "messages": messages})
    assert script.status == 400
    assert "empty text parameter" in error_of(script)["message"]


@pytest.mark.parametrize("arguments", ["not json", "[1]", '"x"'])
def test_tool_call_arguments_must_be_a_json_object_string(arguments: str) -> None:
    script = post(Emulator(), {"model": MODEL, "messages": tool_turn(arguments)})
    assert script.status == 400
    assert "arguments" in error_of(script)["message"]


def test_missing_tool_result_is_400() -> None:
    messages = [*tool_turn()[:2], {"role": "user", "content": "and?"}]
    assert post(Emulator(), {"model": MODEL, "messages": messages}).status == 400


def test_gemini_3_requires_the_first_call_signature() -> None:
    model = "google/gemini-3-flash-preview"
    script = post(Emulator(), {"model": model, "messages": tool_turn()})
    assert script.status == 400
    assert "thought_signature" in error_of(script)["message"]
    signed = tool_turn(extra_content={"google": {"thought_signature": "c2ln"}})
    assert post(Emulator(), {"model": model, "messages": signed}).status == 200
    assert post(Emulator(), {"model": MODEL, "messages": tool_turn()}).status == 200


def test_unknown_parameters_are_ignored() -> None:
    assert chat(temprature=2, extra_body={"google": {"thinking_cofig": {}}}).status == 200


def test_restricted_model_list_gives_404() -> None:
    script = chat(Emulator(models=["google/gemini-2.0-flash"]))
    assert script.status == 404
    assert "publishers/google/models/gemini-2.5-flash" in error_of(script)["message"]


# --- response shapes ---------------------------------------------------------------------------


def test_non_streaming_completion_shape() -> None:
    script = chat(Emulator(clock=lambda: 1770852204.5))
    raw = script.body.decode()
    body = json.loads(raw)
    assert raw == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert script.header("content-type") == "application/json; charset=UTF-8"
    assert script.header("content-length") == str(len(script.body))
    assert body["object"] == "chat.completion"
    assert body["system_fingerprint"] == ""
    assert body["created"] == 1770852204
    assert body["model"] == MODEL
    assert len(body["id"]) >= 20
    assert not body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["logprobs"] is None
    assert (choice["finish_reason"], choice["index"]) == ("stop", 0)
    assert choice["message"]["role"] == "assistant"
    assert 20 <= len(choice["message"]["content"].split()) <= 60
    usage = body["usage"]
    assert "completion_tokens_details" not in usage
    assert usage["extra_properties"] == {"google": {"traffic_type": "ON_DEMAND"}}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_answers_are_deterministic_and_depend_on_the_prompt() -> None:
    def content(messages: list[Any]) -> str:
        body = json.loads(post(Emulator(), {"model": MODEL, "messages": messages}).body)
        return str(body["choices"][0]["message"]["content"])

    assert content(HELLO) == content(HELLO)
    assert content(HELLO) != content([{"role": "user", "content": "Something else"}])


def test_response_ids_differ_between_requests() -> None:
    emulator = Emulator()
    first, second = (json.loads(chat(emulator).body)["id"] for _ in range(2))
    assert first != second


def test_stream_shape_and_same_text_as_non_streaming() -> None:
    script = chat(stream=True)
    assert script.streaming
    assert script.header("content-type") == "text/event-stream"
    *chunks, done = events(script)
    assert done == "[DONE]"
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] == ""
        (choice,) = chunk["choices"]
        assert (choice["index"], choice["logprobs"], choice["delta"]["role"]) == (
            0,
            None,
            "assistant",
        )
    assert all("finish_reason" not in c["choices"][0] for c in chunks[:-1])
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert text == json.loads(chat().body)["choices"][0]["message"]["content"]


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    body = json.loads(chat(max_tokens=5).body)
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5


# --- thinking ---------------------------------------------------------------------------------


def thinking(marker: str | None = None, **config: Any) -> dict[str, Any]:
    google: dict[str, Any] = {"thinking_config": config}
    if marker:
        google["thought_tag_marker"] = marker
    return {"google": google}


def test_thought_summary_is_tagged_with_the_marker() -> None:
    body = json.loads(chat(extra_body=thinking("think", include_thoughts=True)).body)
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("<think>")
    thoughts, _, answer = content[len("<think>") :].partition("</think>")
    assert thoughts
    assert answer
    usage = body["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + reasoning


def test_streamed_tags_are_split_inside_the_tags() -> None:
    script = chat(stream=True, extra_body=thinking("think", include_thoughts=True))
    pieces = [c["choices"][0]["delta"]["content"] for c in events(script)[:-1]]
    assert pieces[0] == "<th"
    assert any(p.endswith("</th") for p in pieces)
    assert "".join(pieces).count("<think>") == 1


def test_thoughts_without_marker_are_inline_and_untagged() -> None:
    body = json.loads(chat(extra_body=thinking(include_thoughts=True)).body)
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("**Planning the answer**")
    assert "<" not in content


def test_thinking_budget_zero_means_no_thoughts_and_no_reasoning_tokens() -> None:
    body = json.loads(
        chat(extra_body=thinking("t", include_thoughts=True, thinking_budget=0)).body
    )
    assert "completion_tokens_details" not in body["usage"]
    assert "<t>" not in body["choices"][0]["message"]["content"]


def test_reasoning_effort_counts_reasoning_without_showing_it() -> None:
    body = json.loads(chat(reasoning_effort="low").body)
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert not body["choices"][0]["message"]["content"].startswith("**")


def test_gemini_3_text_answers_carry_a_message_signature() -> None:
    body = json.loads(post(Emulator(), {"model": "google/gemini-3-pro", "messages": HELLO}).body)
    assert body["choices"][0]["message"]["extra_content"]["google"]["thought_signature"]
    assert "extra_content" not in json.loads(chat().body)["choices"][0]["message"]


# --- tools -------------------------------------------------------------------------------------


def test_tools_produce_a_schema_valid_call_with_signature() -> None:
    body = json.loads(chat(tools=[WEATHER_TOOL]).body)
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("function-call-")
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    assert isinstance(arguments["city"], str)
    assert 1 <= arguments["days"] <= 5
    assert call["extra_content"]["google"]["thought_signature"]


def test_named_tools_in_the_prompt_are_all_called_signature_on_first_only() -> None:
    messages = [{"role": "user", "content": "use get_time and get_weather"}]
    body = json.loads(post(Emulator(), {"model": MODEL, "messages": messages,
                                        "tools": [WEATHER_TOOL, TIME_TOOL]}).body)  # fmt: skip
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert "extra_content" in calls[0]
    assert "extra_content" not in calls[1]
    assert calls[0]["id"] != calls[1]["id"]


def test_tool_choice_object_picks_the_tool_and_none_disables_calls() -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    body = json.loads(chat(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named).body)
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    body = json.loads(chat(tools=[WEATHER_TOOL], tool_choice="none").body)
    assert "tool_calls" not in body["choices"][0]["message"]


def test_tool_results_get_a_text_answer_mentioning_them() -> None:
    script = post(Emulator(), {"model": MODEL, "messages": tool_turn(), "tools": [WEATHER_TOOL]})
    message = json.loads(script.body)["choices"][0]["message"]
    assert "The tool get_weather returned: sunny, 21 C." in message["content"]
    assert "tool_calls" not in message


def test_streamed_whole_calls_arrive_in_one_chunk() -> None:
    *chunks, _ = events(chat(stream=True, tools=[WEATHER_TOOL]))
    (last,) = chunks
    (item,) = last["choices"][0]["delta"]["tool_calls"]
    assert item["index"] == 0
    assert json.loads(item["function"]["arguments"])["city"]
    assert last["choices"][0]["finish_reason"] == "tool_calls"


def test_streamed_argument_fragments_repeat_ids_with_unreliable_indexes() -> None:
    messages = [{"role": "user", "content": "use get_weather and get_time"}]
    google = {"google": {"stream_function_call_arguments": True}}
    body = {"model": MODEL, "messages": messages, "stream": True, "extra_body": google,
            "tools": [WEATHER_TOOL, TIME_TOOL]}  # fmt: skip
    *chunks, _ = events(post(Emulator(), body))
    items = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks]
    ids = list(dict.fromkeys(item["id"] for item in items))
    assert len(ids) == 2
    first = [i for i in items if i["id"] == ids[0]]
    second = [i for i in items if i["id"] == ids[1]]
    assert [i["index"] for i in first] == [1] + [0] * (len(first) - 1)
    assert [i["index"] for i in second] == [0] + [1] * (len(second) - 1)
    assert len(first) > 1
    assert all(i["type"] == "function" and i["function"]["name"] for i in items)
    assert ["extra_content" in i for i in first] == [True] + [False] * (len(first) - 1)
    arguments = json.loads("".join(i["function"]["arguments"] for i in first))
    assert set(arguments) == {"city", "days"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_json_schema_response_format_gives_valid_json() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    content = json.loads(chat(response_format=response_format).body)["choices"][0]["message"]
    assert isinstance(json.loads(content["content"])["n"], int)
    content = json.loads(chat(response_format={"type": "json_object"}).body)["choices"][0]
    assert isinstance(json.loads(content["message"]["content"]), dict)


# --- media -------------------------------------------------------------------------------------


def media_message(*parts: Any) -> list[Any]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]}]


def test_media_parts_are_decoded_and_counted() -> None:
    png = base64.b64encode(b"\x89PNG" + b"\x00" * 96).decode()
    parts = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": "gs://bucket/cat.jpg"},
        {"type": "input_audio", "input_audio": {"data": png, "format": "wav"}},
    ]
    body = json.loads(post(Emulator(), {"model": MODEL, "messages": media_message(*parts)}).body)
    assert "I received 3 media part(s) (200 bytes)." in body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("data:image/png;base64,@@@not-base64", "base64"),
        ("data:image/png,rawtext", "base64"),
        ("https://example.com/cat.png", "Cannot fetch content from the provided URL"),
        ("ftp://example.com/cat.png", "unsupported URL"),
    ],
)
def test_bad_media_is_400(url: str, needle: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    script = post(Emulator(), {"model": MODEL, "messages": media_message(part)})
    assert script.status == 400
    assert needle in error_of(script)["message"]


def test_remote_media_can_be_allowed() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {"model": MODEL, "messages": media_message(part)}
    assert post(Emulator(remote_media=True), body).status == 200


# --- faults ------------------------------------------------------------------------------------


def test_fault_grammar() -> None:
    assert parse_fault("429, retry-after=2 retry-delay=27") == Fault(
        status=429, retry_after=2.0, retry_delay=27.0
    )
    assert parse_fault("cut-with-error,cut-after=3") == Fault(cut="error", cut_after=3)
    assert parse_fault("slow-first-byte=0.5 latency=1 no-done") == Fault(
        latency=1.0, slow_first_byte=0.5, no_done=True
    )
    assert parse_fault("ok") == Fault()
    for bad in ["teapot", "latency=soon", "latency=-1", "200"]:
        with pytest.raises(ValueError, match="fault token"):
            parse_fault(bad)


def test_fault_header_gives_429_with_retry_hints() -> None:
    script = chat_with_fault("429, retry-after=3, retry-delay=27")
    error = error_of(script)
    assert isinstance(json.loads(script.body), list)
    assert (script.status, error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["message"].startswith("Resource exhausted. Please try again later.")
    assert script.header("retry-after") == "3"
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}
    ]


def chat_with_fault(fault: str, emulator: Emulator | None = None, **fields: Any) -> Script:
    body = {"model": MODEL, "messages": HELLO, **fields}
    return post(emulator or Emulator(), body, {"x-emulator-fault": fault})


@pytest.mark.parametrize(
    ("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")]
)
def test_server_error_faults(code: int, status: str) -> None:
    script = chat_with_fault(str(code))
    assert (script.status, error_of(script)["status"]) == (code, status)


def test_malformed_fault_header_is_400() -> None:
    script = chat_with_fault("explode")
    assert script.status == 400
    assert "x-emulator-fault" in error_of(script)["message"]


def test_stream_faults_shape_the_pieces() -> None:
    full = chat(stream=True)
    assert chat_with_fault("reset", stream=True).reset
    cut = chat_with_fault("cut", stream=True).pieces
    assert isinstance(cut[-1], Reset)
    assert len(cut) == 1 + (len(full.pieces) - 1) // 2
    with_error = chat_with_fault("cut-with-error, cut-after=2", stream=True).pieces
    assert with_error[:2] == full.pieces[:2]
    assert with_error[2] == (
        b'[{\n  "error": {\n    "code": 499,\n    "message": "The operation was cancelled.",\n'
        b'    "status": "CANCELLED"\n  }\n}\n]\n'
    )
    assert chat_with_fault("no-done", stream=True).pieces == full.pieces[:-1]
    slow = chat_with_fault("slow-first-byte=0.25, latency=0.5", stream=True)
    assert (slow.delay, slow.pieces[0]) == (0.5, Delay(0.25))


def test_cut_non_streaming_body_sends_half_then_resets() -> None:
    script = chat_with_fault("cut")
    full = chat()
    assert script.pieces == (full.body[: len(full.body) // 2], Reset())
    assert script.header("content-length") == str(len(full.body))


def test_schedule_is_consumed_in_order_then_ok() -> None:
    emulator = Emulator(faults=Faults(schedule=("429", "ok", "503")))
    assert [chat(emulator).status for _ in range(5)] == [429, 200, 503, 200, 200]


def test_schedule_is_not_consumed_by_invalid_requests() -> None:
    emulator = Emulator(faults=Faults(schedule=("429",)))
    assert post(emulator, {"model": "bare", "messages": HELLO}).status == 400
    assert chat(emulator).status == 429


def test_fault_rate_is_seeded_and_roughly_respected() -> None:
    def statuses(seed: int) -> list[int]:
        emulator = Emulator(faults=Faults(rate=0.3, kinds=("429", "503"), seed=seed))
        return [chat(emulator).status for _ in range(200)]

    first = statuses(1)
    assert first == statuses(1)
    assert first != statuses(2)
    assert 30 <= sum(s != 200 for s in first) <= 90
    assert {429, 503, 200} == set(first)


def test_default_latency_and_retry_after_apply_to_every_request() -> None:
    emulator = Emulator(faults=Faults(latency=0.2, retry_after=4, schedule=("429",)))
    script = chat(emulator)
    assert (script.delay, script.header("retry-after")) == (0.2, "4")


def test_capacity_limit_answers_429_above_max_concurrency() -> None:
    emulator = Emulator(faults=Faults(max_concurrency=2))
    raw = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    held = [emulator.begin("POST", PATH, AUTH, raw) for _ in range(3)]
    assert [s.status for s in held] == [200, 200, 429]
    assert (emulator.in_flight, emulator.peak_in_flight) == (3, 3)
    for _ in held:
        emulator.finish()
    assert emulator.in_flight == 0
    assert chat(emulator).status == 200
    emulator.clear()
    assert (emulator.requests, emulator.peak_in_flight) == ([], 0)


def test_invalid_fault_configuration_fails_early() -> None:
    with pytest.raises(ValueError, match="fault token"):
        Faults(schedule=("boom",))
    with pytest.raises(ValueError, match="rate"):
        Faults(rate=1.5)


def test_faults_can_be_queued_at_run_time() -> None:
    emulator = Emulator()
    emulator.schedule("503", "429")
    assert [chat(emulator).status for _ in range(3)] == [503, 429, 200]
    with pytest.raises(ValueError, match="fault token"):
        emulator.schedule("ok", "typo")
    assert chat(emulator).status == 200


def test_required_tool_choice_calls_even_after_a_tool_result() -> None:
    body = {"model": MODEL, "messages": tool_turn(), "tools": [WEATHER_TOOL]}
    message = json.loads(post(Emulator(), {**body, "tool_choice": "required"}).body)
    assert message["choices"][0]["message"]["tool_calls"]
    message = json.loads(post(Emulator(), {**body, "tool_choice": "auto"}).body)
    assert "tool_calls" not in message["choices"][0]["message"]


def test_public_names_are_sorted_and_exported() -> None:
    import vertexchat.testing as testing

    assert testing.__all__ == sorted(testing.__all__, key=str.casefold)
    assert all(getattr(testing, name).__doc__ for name in testing.__all__)


@pytest.mark.parametrize(
    "fields",
    [
        {"messages": [{"role": ["user"], "content": "x"}]},
        {"messages": [{"role": "system", "content": "x", "tool_calls": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {"messages": [{"role": "user", "content": [7]}]},
        {"response_format": {"type": "json_schema", "json_schema": True}},
        {"response_format": "json"},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
        {"tools": "all"},
    ],
)
def test_malformed_shapes_are_400_not_crashes(fields: dict[str, Any]) -> None:
    assert chat(**fields).status == 400


def test_odd_but_legal_schemas_still_give_object_arguments() -> None:
    odd = {
        "type": "object",
        "required": 3,
        "properties": {"n": {"type": "string", "minLength": {}}},
    }
    tool = {"type": "function", "function": {"name": "odd", "parameters": odd}}
    call = json.loads(chat(tools=[tool]).body)["choices"][0]["message"]["tool_calls"][0]
    assert isinstance(json.loads(call["function"]["arguments"])["n"], str)
