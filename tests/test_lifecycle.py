"""A Client's end: at interpreter exit it prints nothing; ``close()`` works without a loop."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import warnings

import httpx
import pytest

import vertexchat
from tests._wire import MESSAGES, completion

SCRIPT_HEAD = """
import {runner}
import vertexchat
from vertexchat.testing import Emulator, serve

async def call(client_holder):
    async with serve(Emulator(require_auth=False)) as server:
        client_holder.append(vertexchat.Client(base_url=server.base_url(), auth=None))
        answer = await client_holder[0].chat.completions.create(
            model="google/gemini-2.5-flash", messages=[{{"role": "user", "content": "hi"}}]
        )
        print("answered", bool(answer.choices))
"""


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("runner", ["asyncio", "trio"])
def test_a_module_level_client_left_open_prints_nothing_at_exit(runner: str) -> None:
    script = SCRIPT_HEAD.format(runner=runner) + "\nCLIENTS = []\n"
    script += (
        "asyncio.run(call(CLIENTS))\n" if runner == "asyncio" else "trio.run(call, CLIENTS)\n"
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "answered True\n"
    assert done.stderr == ""


def test_close_from_an_actors_finalizer_at_exit_prints_nothing() -> None:
    script = SCRIPT_HEAD.format(runner="asyncio") + textwrap.dedent(
        """
        class Actor:
            def __init__(self):
                self.clients = []
                asyncio.run(call(self.clients))

            def __del__(self):
                self.clients[0].close()

        import asyncio
        ACTOR = Actor()
        """
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "answered True\n"
    assert done.stderr == ""


def test_close_without_a_loop_silences_the_unclosed_warning_and_ends_the_client() -> None:
    clients = [vertexchat.Client(base_url="http://127.0.0.1:9/v1", auth=None, max_retries=0)]

    async def call() -> None:
        with pytest.raises(vertexchat.APIConnectionError):
            await clients[0].chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(call())
    clients[0].close()
    clients[0].close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(call())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clients.clear()
        gc.collect()
    assert [w for w in caught if "not closed" in str(w.message)] == []


def test_close_leaves_a_borrowed_http_client_open() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=completion())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = vertexchat.Client(base_url="http://emulator/v1", auth=None, http_client=http)
    client.close()

    async def call() -> None:
        async with http:
            await client.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(call())  # the borrowed client still sends after close()
    assert seen == ["/v1/chat/completions"]
