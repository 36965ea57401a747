"""A loopback OAuth token endpoint for tests: a real HTTP server on 127.0.0.1, one handler."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Handler = Callable[[http.server.BaseHTTPRequestHandler, bytes], None]


@contextmanager
def token_endpoint(handle: Handler) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback HTTP server answering every POST with ``handle``; yields (url, bodies)."""
    bodies: list[bytes] = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            bodies.append(body)
            handle(self, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
