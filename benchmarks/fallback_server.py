"""Fallback server when nginx is missing: vertexchat's emulator loopback server, canned answers.

``python -m benchmarks.fallback_server PORT`` serves the same three prefixes as the nginx site
(benchmarks.server) until killed. It is a Python server on the same machine, so it competes with
the client for CPU: the harness prints a warning and RESULTS.md records that it was used.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import anyio

from benchmarks import canned
from benchmarks.server import SLOW_BYTES_PER_SECOND
from vertexchat.testing import Emulator, Script, serve

JSON_BODY = canned.completion_body()
SSE_BODY = canned.stream_body()


def canned_script(path: str) -> Script:
    """The answer for a request path: the canned JSON, the canned stream, or the slow JSON."""
    if path.startswith("/sse/"):
        events = tuple(event + b"\n\n" for event in SSE_BODY.split(b"\n\n") if event)
        return Script(200, (("content-type", "text/event-stream"),), events, streaming=True)
    headers = (("content-type", "application/json"), ("content-length", str(len(JSON_BODY))))
    delay = len(JSON_BODY) / SLOW_BYTES_PER_SECOND if path.startswith("/slow/") else 0.0
    return Script(200, headers, (JSON_BODY,), delay=delay)


class CannedEmulator(Emulator):
    """The emulator's server loop with the benchmark's canned answers instead of generated ones."""

    def begin(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
    ) -> Script:
        self.in_flight += 1
        return canned_script(path)


async def serve_forever(port: int) -> None:
    """Serve on 127.0.0.1:port until the process is killed."""
    async with serve(CannedEmulator(), port=port):
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(serve_forever, int(sys.argv[1]))
