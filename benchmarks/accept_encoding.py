"""Should the client send ``Accept-Encoding: gzip``? Bytes on the wire, client CPU, first token.

``python -m benchmarks.accept_encoding`` prints one table. The bodies are the benchmark's canned
Vertex-shaped ones (a ~1 KB completion, a 200-chunk stream). A streaming server that compresses
must flush the compressor after every event (``Z_SYNC_FLUSH``) or it delays tokens, so the
stream is compressed that way. Client CPU is httpx's own gzip decoder (what a response with
``Content-Encoding: gzip`` goes through), best of several passes. First-token latency is
measured end to end on loopback: a raw server sends the first event, the client times until
the decoded event is in hand, over vertexchat's pool.
"""

from __future__ import annotations

import gzip
import statistics
import time
import zlib

import anyio
import anyio.abc
import httpx
from httpx._decoders import GZipDecoder

from benchmarks import canned
from vertexchat._transport import PooledHTTP11Transport

PASSES = 200


def sync_flushed_gzip(pieces: list[bytes]) -> list[bytes]:
    """Each piece compressed and flushed at once, as a streaming gzip server must."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH) for piece in pieces]
    out[-1] += compressor.flush()
    return out


def stream_events() -> list[bytes]:
    body = canned.stream_body()
    return [event + b"\n\n" for event in body.split(b"\n\n") if event]


def decode_cpu(pieces: list[bytes]) -> float:
    """Best-of CPU seconds for httpx's gzip decoder to decode ``pieces``."""
    best = float("inf")
    for _ in range(PASSES):
        start = time.process_time_ns()
        decoder = GZipDecoder()
        for piece in pieces:
            decoder.decode(piece)
        decoder.flush()
        best = min(best, (time.process_time_ns() - start) / 1e9)
    return best


async def first_token_latency(gzip_on: bool, rounds: int = 50) -> float:
    """Median seconds from the server's first event write to the client holding it decoded."""
    event = stream_events()[0]
    sent_at: list[float] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while True:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
                headers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                payload = sync_flushed_gzip([event])[0] if gzip_on else event
                if gzip_on:
                    headers += b"Content-Encoding: gzip\r\n"
                await stream.send(headers + b"\r\n")
                sent_at.append(time.perf_counter())
                await stream.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))

    latencies: list[float] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        async with httpx.AsyncClient(transport=PooledHTTP11Transport()) as http:
            for _ in range(rounds):
                async with http.stream("GET", f"http://127.0.0.1:{port}/") as response:
                    first = True
                    async for data in response.aiter_bytes():
                        if data and first:
                            latencies.append(time.perf_counter() - sent_at[-1])
                            first = False
        group.cancel_scope.cancel()
    return statistics.median(latencies)


def main() -> None:
    completion = canned.completion_body()
    events = stream_events()
    gz_completion = gzip.compress(completion, 6)
    gz_events = sync_flushed_gzip(events)
    plain_stream, gz_stream = sum(map(len, events)), sum(map(len, gz_events))
    rows = [
        ("completion bytes (body)", f"{len(completion):,}", f"{len(gz_completion):,}"),
        ("200-chunk stream bytes (body)", f"{plain_stream:,}", f"{gz_stream:,}"),
        ("client CPU to decode a completion", "0", f"{decode_cpu([gz_completion]) * 1e6:.1f} us"),
        ("client CPU to decode a stream", "0", f"{decode_cpu(gz_events) * 1e6:.1f} us"),
        (
            "first-token latency, loopback (median)",
            f"{anyio.run(first_token_latency, False) * 1e6:.0f} us",
            f"{anyio.run(first_token_latency, True) * 1e6:.0f} us",
        ),
    ]
    print("| measure | identity | gzip |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
