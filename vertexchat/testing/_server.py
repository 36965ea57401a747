"""Adapter: serve an Emulator over real HTTP/1.1 on a loopback socket (anyio + h11).

Keep-alive, concurrent connections, ``Content-Length`` bodies and chunked streams; a
``Reset`` in a script closes the socket with an RST so clients see a true connection reset.
"""

from __future__ import annotations

import contextlib
import http
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import anyio
import h11
from anyio.abc import SocketAttribute, SocketStream

from ._emulator import Emulator
from ._errors import ErrorReply
from ._script import Delay, Reset, Script, error_script

_MAX_RECEIVE = 65536
_REASONS = {status.value: status.phrase for status in http.HTTPStatus}
_DISCONNECTS = (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError)


@dataclass(frozen=True)
class EmulatorServer:
    """A running loopback emulator: its root ``url`` and the ``emulator`` behind it."""

    url: str
    emulator: Emulator

    def base_url(
        self,
        project: str = "p",
        location: str = "us-central1",
        endpoint: str = "openapi",
        api_version: str = "v1",
    ) -> str:
        """The base URL a client appends ``/chat/completions`` to."""
        return (
            f"{self.url}/{api_version}/projects/{project}/locations/{location}"
            f"/endpoints/{endpoint}"
        )


@asynccontextmanager
async def serve(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[EmulatorServer]:
    """Serve ``emulator`` (a default one if None) on ``host:port`` (0 = ephemeral) while open."""
    emulator = emulator if emulator is not None else Emulator()
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, partial(_serve_connection, emulator))
        bound = listener.extra(SocketAttribute.local_port)
        shown = f"[{host}]" if ":" in host else host
        try:
            yield EmulatorServer(f"http://{shown}:{bound}", emulator)
        finally:
            tasks.cancel_scope.cancel()


async def _serve_connection(emulator: Emulator, stream: SocketStream) -> None:
    connection = h11.Connection(h11.SERVER)
    emulator.open_connections += 1
    try:
        async with stream:
            while await _exchange(emulator, connection, stream):
                connection.start_next_cycle()
    except (h11.ProtocolError, *_DISCONNECTS):
        return  # a broken or rude client only loses its own connection
    finally:
        emulator.open_connections -= 1


async def _exchange(emulator: Emulator, connection: h11.Connection, stream: SocketStream) -> bool:
    """Serve one request; True when the connection can carry another."""
    received = await _read_request(connection, stream)
    if received is None:
        return False
    request, body = received
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
    target = request.target.decode("latin-1")
    try:
        script = emulator.begin(request.method.decode("ascii"), target, headers, body)
    except Exception as exc:  # an emulator bug must fail one request, not the whole server
        return await _play(connection, stream, error_script(ErrorReply(500, f"emulator: {exc!r}")))
    try:
        return await _play(connection, stream, script)
    finally:
        emulator.finish()


async def _play(connection: h11.Connection, stream: SocketStream, script: Script) -> bool:
    if script.delay:
        await anyio.sleep(script.delay)
    if script.reset:
        return await _abort(stream)
    headers = [*script.headers, ("server", "vertexchat-emulator")]
    reason = _REASONS.get(script.status, "").encode()
    await _send(
        connection, stream, h11.Response(status_code=script.status, headers=headers, reason=reason)
    )
    for piece in script.pieces:
        if isinstance(piece, Delay):
            await anyio.sleep(piece.seconds)
        elif isinstance(piece, Reset):
            return await _abort(stream)
        else:
            await _send(connection, stream, h11.Data(data=piece))
    await _send(connection, stream, h11.EndOfMessage())
    return connection.our_state is h11.DONE and connection.their_state is h11.DONE


async def _read_request(
    connection: h11.Connection, stream: SocketStream
) -> tuple[h11.Request, bytes] | None:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(_MAX_RECEIVE)
            except anyio.EndOfStream:
                data = b""
            connection.receive_data(data)
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, bytes(body)
        else:  # ConnectionClosed or PAUSED: the client is done with this connection
            return None


async def _send(connection: h11.Connection, stream: SocketStream, event: h11.Event) -> None:
    data = connection.send(event)
    if data:
        await stream.send(data)


async def _abort(stream: SocketStream) -> bool:
    # SO_LINGER 0 turns close() into an RST: the client sees "connection reset by peer".
    raw = stream.extra(SocketAttribute.raw_socket)
    # If the client hung up first, the event loop may have closed the socket already.
    with contextlib.suppress(OSError):
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()
    return False
