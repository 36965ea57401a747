"""Batch rows for data engines: run_rows, result rows, output lines, the picklable ClientRecipe."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat._jsonl import error_line
from vertexchat._rows import RESULT_COLUMNS, ClientRecipe, output_line, run_rows
from vertexchat.testing import Emulator, Faults, serve

BASE_URL = "http://emulator/v1/projects/p/locations/global/endpoints/openapi"
MODEL = "google/gemini-2.5-flash"
FAST_RETRIES = vertexchat.RetryPolicy(max_attempts=6, initial_delay=0.001, max_delay=0.002)


def request(n: int, **extra: Any) -> str:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"question {n}"}], **extra}
    return json.dumps(body)


@asynccontextmanager
async def connect(emulator: Emulator, **options: Any) -> AsyncIterator[vertexchat.Client]:
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        # An in-process transport: the plain-http URL never reaches a network.
        client = vertexchat.Client(
            base_url=BASE_URL,
            http_client=http,
            retry_policy=FAST_RETRIES,
            allow_insecure_http=True,
            **options,
        )
        async with client:
            yield client


async def test_rows_come_back_in_input_order_with_flat_columns() -> None:
    ids = [f"id-{n}" for n in range(30)]
    async with connect(Emulator(require_auth=False), auth=None) as client:
        rows = await run_rows(client, ids, [request(n) for n in range(30)], concurrency=8)
    assert [row["custom_id"] for row in rows] == ids
    for row in rows:
        assert tuple(row) == RESULT_COLUMNS
        response = json.loads(row["response"])
        assert response["object"] == "chat.completion"
        assert row["error"] is None
        assert row["error_type"] is None
        assert row["attempts"] == 1
        assert row["latency"] > 0
        assert row["total_tokens"] == response["usage"]["total_tokens"] > 0
        assert row["prompt_tokens"] == response["usage"]["prompt_tokens"]
        assert output_line(row) == {"custom_id": row["custom_id"], "response": response}


async def test_a_stop_starts_no_new_call_and_returns_every_call_made() -> None:
    # What an actor hands back when a run stops early: no call starts after the stop, the
    # calls in flight finish, and every call made is a row (nothing paid for is dropped).
    emulator = Emulator(require_auth=False, faults=Faults(latency=0.02))
    stop = threading.Event()
    lines: list[dict[str, Any]] = []

    def journal(line: dict[str, Any]) -> None:
        lines.append(line)
        if len(lines) == 5:
            stop.set()

    ids = [f"id-{n}" for n in range(40)]
    async with connect(emulator, auth=None) as client:
        rows = await run_rows(
            client, ids, [request(n) for n in range(40)], concurrency=2, on_line=journal, stop=stop
        )
        sent = len(emulator.requests)
    assert sorted(row["custom_id"] for row in rows) == sorted(line["custom_id"] for line in lines)
    assert 5 <= len(rows) <= 5 + 2 + 2  # + the calls in flight + the finished ones buffered
    assert all(row["response"] is not None for row in rows)
    assert sent == len(rows)


async def test_unusable_requests_are_error_rows_and_never_sent() -> None:
    emulator = Emulator(require_auth=False)
    requests = [
        "{not json",
        "[1, 2]",
        json.dumps({"model": MODEL, "messages": [], "temprature": 0.5}),
        request(3),
    ]
    async with connect(emulator, auth=None) as client:
        rows = await run_rows(client, ["a", "b", "c", "d"], requests)
    bad, array, typo, good = rows
    assert bad["error_type"] == "InvalidRequestError"
    assert bad["error_kind"] == "permanent"
    assert "not valid JSON" in bad["error_message"]
    assert "not list" in array["error_message"]
    assert typo["error_type"] == "InvalidRequestError"
    assert "temprature" in typo["error_message"]
    assert [row["attempts"] for row in rows] == [0, 0, 0, 1]
    assert good["response"] is not None
    assert len(emulator.requests) == 1  # only the valid one reached the server
    assert output_line(bad) == error_line("a", f"request: {bad['error_message'][9:]}")


async def test_model_fills_in_requests_without_one() -> None:
    emulator = Emulator(require_auth=False)
    bare = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    async with connect(emulator, auth=None) as client:
        rows = await run_rows(client, ["x", "y"], [bare, request(1)], model="google/other")
    assert rows[0]["response"] is not None
    assert sorted(r.body["model"] for r in emulator.requests) == sorted(["google/other", MODEL])


async def test_faults_lose_nothing_and_duplicate_nothing() -> None:
    faults = Faults(rate=0.2, kinds=("429", "500", "503", "reset"), seed=7)
    emulator = Emulator(require_auth=False, faults=faults)
    ids = [f"row-{n}" for n in range(300)]
    async with connect(emulator, auth=None) as client:
        rows = await run_rows(client, ids, [request(n) for n in range(300)], concurrency=32)
    assert [row["custom_id"] for row in rows] == ids
    retried = [row for row in rows if row["attempts"] > 1]
    assert retried, "with 20 % faults some rows must have needed retries"
    for row in rows:  # after up to 6 attempts every row got an answer or an error row
        assert (row["response"] is None) != (row["error"] is None)
    assert sum(row["attempts"] for row in rows) == len(emulator.requests)


async def test_a_final_error_is_a_row_with_its_status() -> None:
    emulator = Emulator(require_auth=False)
    failing = request(1, extra_headers={"x-emulator-fault": "503"})
    async with connect(emulator, auth=None, max_retries=1) as client:
        rows = await run_rows(client, ["ok", "down"], [request(0), failing])
    down = rows[1]
    assert down["error_type"] == "InternalServerError"
    assert down["status_code"] == 503
    assert down["attempts"] == 2
    assert json.loads(down["error"])["status_code"] == 503
    assert output_line(down)["error"]["type"] == "InternalServerError"


async def test_rejected_token_stops_the_chunk() -> None:
    emulator = Emulator(tokens=["right"])
    async with connect(emulator, auth="wrong") as client:
        with pytest.raises(vertexchat.AuthenticationError):
            await run_rows(client, ["a", "b"], [request(0), request(1)])


@pytest.mark.parametrize("ids", [["a", "a"], ["a", ""], ["a", 3]])
async def test_ids_must_be_unique_strings(ids: list[Any]) -> None:
    async with connect(Emulator(require_auth=False), auth=None) as client:
        with pytest.raises(ValueError, match="custom_id"):
            await run_rows(client, ids, [request(0), request(1)])


def test_recipe_is_picklable_and_hides_its_token() -> None:
    recipe = ClientRecipe(base_url="http://127.0.0.1:1/x", auth="token", token="s3cret")
    assert "s3cret" not in repr(recipe)
    assert pickle.loads(pickle.dumps(recipe)) == recipe


def test_recipe_share_divides_the_job_limits() -> None:
    recipe = ClientRecipe(
        project="p", max_concurrency=10, requests_per_minute=600, tokens_per_minute=90_000
    )
    share = recipe.share(4)
    assert share.max_concurrency == 2
    assert share.requests_per_minute == 150
    assert share.tokens_per_minute == 22_500
    assert recipe.share(20).max_concurrency == 1  # never below one call
    assert ClientRecipe(project="p").share(3).max_concurrency is None


@pytest.mark.parametrize(
    "options",
    [
        {"auth": "token"},
        {"auth": "none", "token": "t"},
        {"auth": "bearer"},
        {"max_concurrency": 0},
    ],
)
def test_recipe_rejects_inconsistent_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"auth|token|max_concurrency"):
        ClientRecipe(project="p", **options)


async def test_recipe_builds_a_client_that_talks_to_a_server() -> None:
    emulator = Emulator(tokens=["s3cret"])
    async with serve(emulator, host="127.0.0.1", port=0) as server:
        recipe = ClientRecipe(
            base_url=server.base_url(), auth="token", token="s3cret", max_concurrency=4
        )
        async with recipe.client() as client:
            assert client.limiter is not None
            assert client.limiter.ceiling == 4
            rows = await run_rows(client, ["one"], [request(1)])
    assert rows[0]["response"] is not None
    assert emulator.requests[0].headers["authorization"] == "Bearer <redacted>"


def test_vertexchat_and_its_cli_never_import_ray_or_dask() -> None:
    engines = ("ray", "pyarrow", "pandas", "dask", "distributed", "vertexchat.dask")
    code = (
        "import sys, vertexchat, vertexchat._cli, vertexchat._rows\n"
        "parser = vertexchat._cli.build_parser()\n"
        "parser.parse_args(['batch', 'in', '-o', 'out', '--engine', 'ray'])\n"
        f"print(sorted(name for name in {engines!r} if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
