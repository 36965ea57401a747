"""A Vertex AI emulator for tests: in process through an httpx transport, or on 127.0.0.1.

Pass ``Emulator().transport()`` to ``httpx.AsyncClient(transport=...)`` for socket-free tests,
or run ``async with serve(emulator) as server:`` and point any client at
``server.base_url()``. See ``Emulator`` and ``Faults`` for behaviour and fault injection.
"""

from __future__ import annotations

from ._emulator import Emulator, RecordedRequest
from ._faults import Faults, parse_fault
from ._script import Delay, Reset, Script
from ._server import EmulatorServer, serve
from ._transport import EmulatorTransport
from ._variants import WireVariant

__all__ = [
    "Delay",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "Faults",
    "parse_fault",
    "RecordedRequest",
    "Reset",
    "Script",
    "serve",
    "WireVariant",
]
