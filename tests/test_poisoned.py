"""One poisoned reply among many: ``client.batch`` and ``vertexchat batch`` finish the rest.

The server here is ``http.server`` (not our emulator): it answers like Vertex except for the one
request whose prompt says ``POISON``, which gets a hostile reply that once escaped the error
tree (issue 14) and killed the whole run.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import vertexchat
from tests._cli_support import by_id, run_cli

MODEL = "google/gemini-2.5-flash"
COUNT = 300
POISON_AT = 137


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


COMPLETION = {
    "choices": [
        {"finish_reason": "stop", "index": 0, "message": {"content": "ok", "role": "assistant"}}
    ],
    "created": 1,
    "id": "r",
    "model": MODEL,
    "object": "chat.completion",
    "usage": {"completion_tokens": 1, "prompt_tokens": 2, "total_tokens": 3},
}
# name: (status, headers, body, is_stream)
POISONS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "string-token-count": (
        200,
        {},
        json.dumps({**COMPLETION, "usage": {"total_tokens": "7"}}).encode(),
    ),
    "true-token-count": (
        200,
        {},
        json.dumps({**COMPLETION, "usage": {"total_tokens": True}}).encode(),
    ),
    "empty-object": (200, {}, b"{}"),
    "error-in-200": (
        200,
        {},
        b'{"error": {"code": 400, "message": "no", "status": "INVALID_ARGUMENT"}}',
    ),
    "deep-error-body": (400, {}, ('{"error": ' + _deep(1001) + "}").encode()),
    "superscript-retry-after": (429, {"retry-after": "\u00b2"}, b'{"error": {"code": 429}}'),
    "huge-retry-delay": (
        429,
        {},
        json.dumps(
            {
                "error": {
                    "code": 429,
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": {"seconds": 10**400},
                        }
                    ],
                }
            }
        ).encode(),
    ),
    "redirect": (302, {"location": "http://127.0.0.1:1/elsewhere"}, b""),
    "not-json": (200, {}, b"<html>proxy error</html>"),
}


@contextmanager
def poisoned_server(poison: str) -> Iterator[tuple[str, list[str]]]:
    """``(base_url, prompts seen)`` of a loopback server that poisons one prompt's reply."""
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            prompt = body["messages"][-1]["content"]
            with lock:
                seen.append(prompt)
            status, headers, content = (
                POISONS[poison]
                if "POISON" in prompt
                else (200, {}, json.dumps(COMPLETION).encode())
            )
            self.send_response(status)
            for name, value in {"content-type": "application/json", **headers}.items():
                self.send_header(name, value.encode("utf-8").decode("latin-1"))
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield f"http://127.0.0.1:{port}/v1/projects/p/locations/global/endpoints/openapi", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _prompt(number: int) -> str:
    return "POISON" if number == POISON_AT else f"question {number}"


@pytest.mark.parametrize("poison", sorted(POISONS))
async def test_one_poisoned_reply_leaves_client_batch_finishing_every_other_item(
    poison: str,
) -> None:
    requests = [
        {"model": MODEL, "messages": [{"role": "user", "content": _prompt(n)}]}
        for n in range(COUNT)
    ]
    with poisoned_server(poison) as (base_url, seen):
        async with vertexchat.Client(base_url=base_url, auth=None, max_retries=2) as client:
            results = [result async for result in client.batch(requests, concurrency=16)]
    assert len(results) == COUNT
    by_index = {result.index: result for result in results}
    assert sorted(by_index) == list(range(COUNT))
    poisoned = by_index[POISON_AT]
    assert poisoned.error is not None
    assert isinstance(poisoned.error, vertexchat.VertexChatError)
    assert str(poisoned.error)
    others = [result for index, result in by_index.items() if index != POISON_AT]
    assert all(result.error is None for result in others)
    assert all(
        result.response is not None and result.response.choices[0].message.content == "ok"
        for result in others
    )
    assert len(seen) - seen.count("POISON") == COUNT - 1  # every good item sent exactly once


@pytest.mark.parametrize("poison", ["string-token-count", "deep-error-body", "redirect"])
def test_one_poisoned_reply_leaves_the_cli_finishing_every_other_line(
    poison: str, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        json.dumps(
            {
                "custom_id": f"id-{n}",
                "body": {"messages": [{"role": "user", "content": _prompt(n)}]},
            }
        )
        for n in range(COUNT)
    ]
    source.write_text("\n".join(lines) + "\n")
    with poisoned_server(poison) as (base_url, _):
        result = run_cli(
            [
                "batch",
                str(source),
                "-o",
                str(output),
                "--base-url",
                base_url,
                "--no-auth",
                "-q",
                "--max-retries",
                "1",
            ]
        )
    assert result.returncode in (0, 1), result.stderr  # 1: some line failed; not a crash
    assert b"Traceback" not in result.stderr
    records = by_id(output)
    assert sorted(records) == sorted(f"id-{n}" for n in range(COUNT))
    assert "error" in records[f"id-{POISON_AT}"]
    assert all("response" in records[f"id-{n}"] for n in range(COUNT) if n != POISON_AT)
