"""A Vertex AI emulator for tests: in process through an httpx transport, or on 127.0.0.1.

emulator = Emulator()
async with httpx.AsyncClient(transport=emulator.transport()) as http: ...
async with serve(emulator) as server: print(server.base_url())
"""

from __future__ import annotations

from ._emulator import Emulator, RecordedRequest
from ._faults import Faults, parse_fault
from ._script import Delay, Reset, Script
from ._server import EmulatorServer, serve
from ._transport import EmulatorTransport

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
]
