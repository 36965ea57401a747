"""Run by test_memory_limits in a fresh interpreter: ``python _memory_probe.py MODE SIZE``.

A raw socket server thread sends a hostile reply of SIZE bytes from one reused 1 MiB buffer (so
it holds almost nothing itself); the client reads it with the default ResponseLimits. Prints
the outcome and how far the process's peak RSS grew during the call, as one JSON line.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import threading
from typing import Any

import anyio

import vertexchat

PIECE = b"x" * (1024 * 1024)
# mode: (status, content type, bytes before the SIZE filler, bytes after it)
REPLIES = {
    "line": (200, "text/event-stream", b"data: ", b""),
    "body": (200, "application/json", b'{"choices": [], "id": "', b'"}'),
    "error": (400, "application/json", b'{"error": {"code": 400, "message": "', b'"}}'),
    "stream-error": (
        200,
        "text/event-stream",
        b'data: {"error": {"code": 500, "message": "',
        b'"}}\n\n',
    ),
}
WARM_UP = json.dumps({"choices": [], "usage": {"total_tokens": 1}}).encode()


def _head(status: int, kind: str) -> bytes:
    return f"HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\nconnection: close\r\n\r\n".encode()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = int(next(line for line in lines if line.startswith(b"content-length")).split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
    return body


def _serve(listener: socket.socket, mode: str, size: int) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            body = _read_request(conn)
            try:
                if b"warm-up" in body:
                    conn.sendall(_head(200, "application/json") + WARM_UP)
                    continue
                status, kind, before, after = REPLIES[mode]
                conn.sendall(_head(status, kind) + before)
                for _ in range(size // len(PIECE)):
                    conn.sendall(PIECE)
                conn.sendall(after)
            except OSError:
                pass  # the client stopped reading at its limit and hung up


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def _call(base_url: str, mode: str) -> dict[str, Any]:
    async with vertexchat.Client(base_url=base_url, auth=None, max_retries=0) as client:
        warm = [{"role": "user", "content": "warm-up"}]
        await client.chat.completions.create(model="m", messages=warm)
        before = _peak()
        messages = [{"role": "user", "content": "hostile"}]
        outcome: dict[str, Any] = {"type": None}
        try:
            if mode in ("line", "stream-error"):
                stream = await client.chat.completions.create(
                    model="m", messages=messages, stream=True
                )
                async for _ in stream:
                    pass
            else:
                await client.chat.completions.create(model="m", messages=messages)
        except vertexchat.VertexChatError as exc:
            outcome = {
                "type": type(exc).__name__,
                "limit": getattr(exc, "limit", None),
                "str_len": len(str(exc)),
            }
        outcome["growth"] = _peak() - before
        return outcome


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_serve, args=(listener, mode, size), daemon=True).start()
    port = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1/projects/p/locations/global/endpoints/openapi"
    print(json.dumps(anyio.run(_call, base_url, mode)))


if __name__ == "__main__":
    main()
