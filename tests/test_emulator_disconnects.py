"""The loopback emulator outlives clients that hang up before a ``reset``/``cut`` fault fires."""

from __future__ import annotations

import json

import anyio
import httpx

from vertexchat.testing import Emulator, serve

BODY = json.dumps(
    {"model": "google/gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi"}]}
).encode()
FAULTS = ["latency=0.02, reset", "latency=0.02, cut", "slow-first-byte=0.02, cut"]


def _request(port: int, fault: str, *, stream: bool) -> bytes:
    body = json.loads(BODY)
    body["stream"] = stream
    raw = json.dumps(body).encode()
    head = (
        "POST /v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions HTTP/1.1\r\n"
        f"host: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer x\r\nx-emulator-fault: {fault}\r\n"
        f"content-length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


async def _hang_up_early(port: int, number: int) -> None:
    fault = FAULTS[number % len(FAULTS)]
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        await stream.send(_request(port, fault, stream=number % 2 == 0))
    # Closed before the fault's delay ends: the server meets a socket the client has left.


async def test_server_survives_1000_early_disconnects_under_reset_and_cut_faults() -> None:
    emulator = Emulator()
    async with serve(emulator) as server:
        port = int(server.url.rsplit(":", 1)[1])
        for wave in range(20):
            async with anyio.create_task_group() as tasks:
                for number in range(50):
                    tasks.start_soon(_hang_up_early, port, wave * 50 + number)
        # Every connection must be handled to the end (its abort run) before the check: a
        # handler that crashes takes the whole server down. The bound only catches a hang; on a
        # loaded machine 1,000 emulator replies can take a while.
        with anyio.fail_after(120):
            while emulator.open_connections:  # noqa: ASYNC110 - a counter, no event to wait on
                await anyio.sleep(0.01)
        async with httpx.AsyncClient(verify=False, timeout=10) as http:
            response = await http.post(
                server.base_url() + "/chat/completions",
                content=BODY,
                headers={"authorization": "Bearer x", "content-type": "application/json"},
            )
        assert response.status_code == 200
        assert response.json()["object"] == "chat.completion"
