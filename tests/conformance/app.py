"""The ASGI app uvicorn and hypercorn serve to the conformance suite (no framework, no deps).

Every response carries ``x-client-port`` (the client's source port: the same port on two
requests means the connection was reused) and ``x-via`` (the request's ``Via`` header, set by a
forward proxy). Routes:

* ``POST /echo``            body's length and sha256, as JSON; counts ``x-request-id`` values
* ``GET  /seen``            how often each ``x-request-id`` arrived, as JSON
* ``GET  /sse``             a chunked SSE stream sent in pieces of 1 to 255 bytes
* ``GET  /gzip``            a gzip-encoded JSON body
* ``GET  /big``             10 MB of a repeating pattern
* ``GET  /headers?n=&size=`` n response headers of ``size`` bytes each
* ``GET  /status/N``        an empty response with status N (204, 304, ...)
* ``GET  /close``           a response with ``Connection: close``
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BIG_SIZE = 10 * 1024 * 1024
PATTERN = bytes(range(256)) * 4


def big_body() -> bytes:
    return (PATTERN * (BIG_SIZE // len(PATTERN) + 1))[:BIG_SIZE]


def sse_body() -> bytes:
    events = [
        b'data: {"choices":[{"delta":{"content":"token %d \xc3\xa9"}}]}\n\n' % n
        for n in range(300)
    ]
    return b"".join(events) + b"data: [DONE]\n\n"


def sse_pieces(seed: int = 12) -> list[bytes]:
    """The SSE body cut into pieces of 1 to 255 bytes, the same cut on every run."""
    body, pieces, position = sse_body(), [], 0
    rng = random.Random(seed)
    while position < len(body):
        size = rng.randint(1, 255)
        pieces.append(body[position : position + size])
        position += size
    return pieces


GZIP_PLAIN = json.dumps({"object": "chat.completion", "text": "é" * 3000}).encode()
seen: Counter[str] = Counter()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"]
            await send({"type": kind + ".complete"})
            if kind == "lifespan.shutdown":
                return
    headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
    common = [
        (b"x-client-port", str(scope["client"][1]).encode()),
        (b"x-via", headers.get("via", "").encode()),
    ]
    path, query = scope["path"], parse_qs(scope.get("query_string", b"").decode())
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if "x-request-id" in headers:
        seen[headers["x-request-id"]] += 1

    async def reply(status: int, content: bytes, extra: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
        length = [] if status in (204, 304) else [(b"content-length", str(len(content)).encode())]
        await send(
            {"type": "http.response.start", "status": status, "headers": common + length + extra}
        )
        await send({"type": "http.response.body", "body": content})

    if path == "/echo":
        digest = hashlib.sha256(body).hexdigest()
        await reply(200, json.dumps({"length": len(body), "sha256": digest}).encode())
    elif path == "/seen":
        await reply(200, json.dumps(dict(seen)).encode())
    elif path == "/sse":
        start = {"type": "http.response.start", "status": 200}
        await send({**start, "headers": [*common, (b"content-type", b"text/event-stream")]})
        for piece in sse_pieces():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/gzip":
        await reply(200, gzip.compress(GZIP_PLAIN), [(b"content-encoding", b"gzip")])
    elif path == "/big":
        await reply(200, big_body())
    elif path == "/headers":
        n, size = int(query["n"][0]), int(query["size"][0])
        extra = [(b"x-h-%d" % i, b"v" * size) for i in range(n)]
        await reply(200, b"ok", extra)
    elif path.startswith("/status/"):
        await reply(int(path.rsplit("/", 1)[1]), b"")
    elif path == "/close":
        await reply(200, b"bye", [(b"connection", b"close")])
    else:
        await reply(404, b"not found")
