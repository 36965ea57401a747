"""One call pipeline: plain calls, streams and batch items retry through the same loop.

The same fault script (the emulator's ``Faults(schedule=…)``) must give the same attempt log
whichever way the call is made: which attempts failed, how, and whether another followed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import vertexchat
from vertexchat._call import Call, CallObserver
from vertexchat._request_models import ChatCompletionRequest
from vertexchat._response_models import ChatCompletion
from vertexchat.testing import Emulator, Faults, serve

MODEL = "google/gemini-2.5-flash"
NO_WAIT = vertexchat.RetryPolicy(max_attempts=6, initial_delay=0.0, max_delay=0.0)
# "reset" first, on a fresh connection: the pool resends once what dies unanswered on a
# reused one.
SCRIPT = ("reset", "503", "cut", "429", "ok")
Entry = tuple[int, str, bool]


class AttemptLog:
    """A ``CallObserver``: records (attempt, what went wrong, whether another attempt follows)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.events: list[str] = []
        self.attempts = 0

    def observe(self, request: ChatCompletionRequest, call: Call) -> CallObserver:
        self.events.append(f"start {request.model}")
        return self

    def attempt_started(self) -> None:
        self.attempts += 1

    def response_received(self, status: int, request_id: str | None = None) -> None:
        self.events.append(f"{self.attempts}: {status}")

    def attempt_failed(self, error: BaseException, *, retry_in: float | None = None) -> None:
        label = getattr(error, "status_code", None) or type(error).__name__
        self.entries.append((self.attempts, str(label), retry_in is not None))

    def first_chunk(self) -> None:
        self.events.append("first chunk")

    def finished(
        self, completion: ChatCompletion | None = None, error: BaseException | None = None
    ) -> None:
        outcome = "" if completion is None else " " + str(completion.choices[0].message.content)
        self.events.append("end" + (f" {type(error).__name__}" if error else outcome))


def ask(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}


async def plain(client: vertexchat.Client) -> Any:
    return await client.chat.completions.create(**ask())


async def streamed(client: vertexchat.Client) -> Any:
    stream = await client.chat.completions.create(**ask(stream=True))
    return await stream.get_final_completion()


async def batch_plain(client: vertexchat.Client) -> Any:
    return await _one_batch_item(client, ask())


async def batch_streamed(client: vertexchat.Client) -> Any:
    return await _one_batch_item(client, ask(stream=True))


async def _one_batch_item(client: vertexchat.Client, item: dict[str, Any]) -> Any:
    async with client.batch([item]) as run:
        results = [result async for result in run]
    (result,) = results
    if result.error is not None:
        raise result.error
    return result


WAYS: dict[str, Callable[[vertexchat.Client], Awaitable[Any]]] = {
    "create": plain,
    "stream + get_final_completion": streamed,
    "batch": batch_plain,
    "batch of a stream": batch_streamed,
}


async def _run(way: str, script: tuple[str, ...], max_retries: int) -> tuple[Any, AttemptLog, int]:
    emulator = Emulator(require_auth=False, faults=Faults(schedule=script))
    log = AttemptLog()
    async with serve(emulator) as server:
        client = vertexchat.Client(
            base_url=server.base_url(), auth=None, retry_policy=NO_WAIT, max_retries=max_retries
        )
        client._pipeline.observe = log.observe
        async with client:
            try:
                outcome: Any = await WAYS[way](client)
            except vertexchat.APIError as error:
                outcome = error
    return outcome, log, len(emulator.requests)


@pytest.mark.parametrize("way", list(WAYS))
async def test_the_same_fault_script_gives_the_same_attempt_log(way: str) -> None:
    outcome, log, sent = await _run(way, SCRIPT, max_retries=5)
    assert log.entries == [
        (1, "APIConnectionError", True),
        (2, "503", True),
        (3, "APIConnectionError", True),
        (4, "429", True),
    ]
    assert sent == 5
    assert log.events[0] == f"start {MODEL}"
    assert log.events[-1].startswith("end ")
    assert "InternalServerError" not in log.events[-1]
    if isinstance(outcome, vertexchat.BatchResult):
        assert outcome.attempts == 5
        outcome = outcome.response
    assert outcome.choices[0].message.content


@pytest.mark.parametrize("way", list(WAYS))
async def test_giving_up_is_logged_the_same_way_and_counted_on_the_error(way: str) -> None:
    outcome, log, sent = await _run(way, ("503", "503", "503", "ok"), max_retries=2)
    assert log.entries == [(1, "503", True), (2, "503", True), (3, "503", False)]
    assert sent == 3
    assert isinstance(outcome, vertexchat.InternalServerError)
    assert outcome.attempts == 3
    assert log.events[-1] == "end InternalServerError"


async def test_batch_retries_a_stream_item_cancelled_mid_stream() -> None:
    # Vertex's bare 499 CANCELLED array, half-way through, no [DONE]: nobody saw the partial
    # answer, so the batch sends it again exactly as get_final_completion() does.
    emulator = Emulator(require_auth=False, faults=Faults(schedule=("cut-with-error", "ok")))
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth=None, retry_policy=NO_WAIT)
        async with client, client.batch([ask(stream=True)]) as run:
            (result,) = [result async for result in run]
    assert result.ok, result.error
    assert result.attempts == 2
    assert len(emulator.requests) == 2


async def test_an_observer_hears_the_first_chunk_of_a_stream() -> None:
    emulator = Emulator(require_auth=False)
    log = AttemptLog()
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth=None)
        client._pipeline.observe = log.observe
        async with client:
            stream = await client.chat.completions.create(**ask(stream=True))
            async with stream:
                chunks = [chunk async for chunk in stream]
    assert chunks
    assert log.events[:3] == [f"start {MODEL}", "1: 200", "first chunk"]
    assert log.events[3] == "end " + "".join(c.choices[0].delta.content or "" for c in chunks)


PACKAGE = Path(__file__).parent.parent / "vertexchat"


def test_there_is_one_retry_loop() -> None:
    # A retry loop sleeps between attempts: anyio.sleep inside a while loop. Exactly one.
    sleeps = {
        path.name: len(re.findall(r"await anyio\.sleep\(delay\)", path.read_text()))
        for path in PACKAGE.glob("*.py")
    }
    assert {name: count for name, count in sleeps.items() if count} == {"_call.py": 1}
    assert "plan_retry(" not in (PACKAGE / "_batch.py").read_text()
    assert "plan_retry(" not in (PACKAGE / "_streaming.py").read_text()


async def test_deadline_error_counts_attempts() -> None:
    emulator = Emulator(require_auth=False, faults=Faults(schedule=("503",), latency=0.0))
    slow = vertexchat.RetryPolicy(max_attempts=3, initial_delay=30.0, max_delay=30.0, jitter=0)
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth=None, retry_policy=slow)
        async with client:
            with anyio.fail_after(20):  # a hang guard, far above the deadline
                with pytest.raises(vertexchat.APITimeoutError, match="deadline") as info:
                    await client.chat.completions.create(**ask(), deadline=0.2)
    assert info.value.attempts == 1


# --- sending: an owned pool is sent to directly; a borrowed http_client keeps its semantics ---


class SwapTokenOn401(httpx.Auth):
    """Sends a stale token, and after a 401 the fresh one (what GoogleAuth does)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["authorization"] = "Bearer stale"
        self.sent.append("stale")
        response = yield request
        if response.status_code == 401:
            request.headers["authorization"] = "Bearer fresh"
            self.sent.append("fresh")
            yield request


async def test_an_owned_pool_runs_the_auth_flow_and_its_401_resend() -> None:
    emulator = Emulator(tokens=["fresh"])
    auth = SwapTokenOn401()
    async with serve(emulator) as server:
        client = vertexchat.Client(base_url=server.base_url(), auth=auth)
        async with client:
            first = await client.chat.completions.create(**ask())
            stream = await client.chat.completions.create(**ask(stream=True))
            second = await stream.get_final_completion()
            pool = client._http.direct
    assert first.choices[0].message.content
    assert second.choices[0].message.content
    assert auth.sent == ["stale", "fresh", "stale", "fresh"]
    assert len(emulator.requests) == 4
    assert isinstance(pool, vertexchat.PooledHTTP11Transport)


async def test_an_owned_client_keeps_no_cookies() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json=_completion(), headers={"set-cookie": "session=abc"})

    async with _answering_server(handler) as base_url:
        client = vertexchat.Client(base_url=base_url, auth=None)
        async with client:
            await client.chat.completions.create(**ask())
            await client.chat.completions.create(**ask())
    assert seen == [None, None]


async def test_a_borrowed_client_keeps_its_hooks_cookies_and_auth() -> None:
    seen: list[dict[str, str | None]] = []
    hooked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        names = ("authorization", "cookie", "x-goog-user-project")
        seen.append({name: request.headers.get(name) for name in names})
        return httpx.Response(200, json=_completion(), headers={"set-cookie": "session=abc"})

    async def on_request(request: httpx.Request) -> None:
        hooked.append("request")

    async def on_response(response: httpx.Response) -> None:
        hooked.append(f"response {response.status_code}")

    http = httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        auth=httpx.BasicAuth("user", "pass"),
        headers={"x-goog-user-project": "billing"},
        event_hooks={"request": [on_request], "response": [on_response]},
    )
    async with http:
        # No vertexchat auth: the borrowed client's own auth applies.
        # A mock transport: the plain-http URL never reaches a network, so opt in.
        mine = vertexchat.Client(
            base_url="http://borrowed/v1", auth=None, http_client=http, allow_insecure_http=True
        )
        await mine.chat.completions.create(**ask())
        # vertexchat auth given: it is what the request carries.
        bearer = vertexchat.Client(
            base_url="http://borrowed/v1", auth="tok", http_client=http, allow_insecure_http=True
        )
        await bearer.chat.completions.create(**ask())
    assert seen[0]["authorization"] == httpx.BasicAuth("user", "pass")._auth_header
    assert seen[1]["authorization"] == "Bearer tok"
    assert seen[0]["cookie"] is None
    assert seen[1]["cookie"] == "session=abc"  # the borrowed client's cookie jar at work
    assert [s["x-goog-user-project"] for s in seen] == ["billing", "billing"]
    assert hooked == ["request", "response 200"] * 2


def _completion() -> dict[str, Any]:
    return {
        "id": "r",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "hi"}}],
    }


@asynccontextmanager
async def _answering_server(
    handler: Callable[[httpx.Request], httpx.Response],
) -> AsyncIterator[str]:
    """A raw HTTP/1.1 server on 127.0.0.1 answering each request with ``handler``'s reply."""

    async def serve_connection(stream: anyio.abc.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = dict(line.split(": ", 1) for line in lines[1:])
                length = int(headers.get("content-length", headers.get("Content-Length", "0")))
                while len(buffer) < length:
                    buffer += await stream.receive()
                body, buffer = buffer[:length], buffer[length:]
                method, target, _ = lines[0].split(" ", 2)
                reply = handler(httpx.Request(method, target, headers=headers, content=body))
                content = reply.read()
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                await stream.send(
                    f"HTTP/1.1 {reply.status_code} OK\r\n{extra}".encode()
                    + (
                        b""
                        if "content-length" in reply.headers
                        else b"content-length: %d\r\n" % len(content)
                    )
                    + b"\r\n"
                    + content
                )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve_connection)
        yield f"http://127.0.0.1:{port}/v1"
        tasks.cancel_scope.cancel()
