"""Server-Sent Events decoder, usable on its own: ``SSEDecoder().feed(bytes)`` returns events.

Pure (no I/O, no httpx or anyio import); see ``vertexchat._sse`` for the spec it follows.
"""

from __future__ import annotations

from vertexchat._sse import ServerSentEvent, SSEDecoder, SSELimitError

__all__ = ["SSEDecoder", "SSELimitError", "ServerSentEvent"]
