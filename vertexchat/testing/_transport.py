"""Adapter: play emulator scripts through httpx in process, with real chunk boundaries.

Unlike ``httpx.ASGITransport`` nothing is buffered: each SSE event is yielded as its own
chunk, delays sleep with anyio (asyncio and trio), and connection faults raise the httpx
errors a real socket would produce.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import httpx

from ._script import Delay, Reset, Script

if TYPE_CHECKING:
    from ._emulator import Emulator


class EmulatorTransport(httpx.AsyncBaseTransport):
    """An httpx transport answering every request from an ``Emulator``, without sockets."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run the emulator for ``request`` and stream its script back."""
        body = await request.aread()
        path = request.url.raw_path.decode("ascii")
        script = self.emulator.begin(request.method, path, request.headers.multi_items(), body)
        try:
            if script.delay:
                await anyio.sleep(script.delay)
            if script.reset:
                # What httpx reports when the loopback server resets the socket.
                raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        except BaseException:
            self.emulator.finish()
            raise
        return httpx.Response(
            script.status,
            headers=list(script.headers),
            stream=_ScriptStream(self.emulator, script, request),
            request=request,
        )


class _ScriptStream(httpx.AsyncByteStream):
    def __init__(self, emulator: Emulator, script: Script, request: httpx.Request) -> None:
        self._emulator = emulator
        self._script = script
        self._request = request
        self._open = True
        self._position = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: nothing is left for the GC to finalize
        # when a caller stops early (trio warns about unfinished async generators).
        return self

    async def __anext__(self) -> bytes:
        while self._position < len(self._script.pieces):
            piece = self._script.pieces[self._position]
            self._position += 1
            if isinstance(piece, Delay):
                await anyio.sleep(piece.seconds)
            elif isinstance(piece, Reset):
                await self.aclose()
                raise httpx.ReadError(
                    "[Errno 104] Connection reset by peer", request=self._request
                )
            else:
                return piece
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._emulator.finish()
