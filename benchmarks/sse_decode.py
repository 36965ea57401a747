"""Workload 3: SSE decoding alone, in memory: MB/s of vertexchat's decoder vs the OpenAI SDK's.

Each decoder runs in its own fresh process (``python -m benchmarks.sse_decode '<spec>'``) over
the same realistic stream: thousands of Vertex-shaped ``data:`` chunk events and ``[DONE]``, cut
into network-sized reads two ways: one read per event (a model flushing token by token) and 64 KiB
reads (a fast reader catching up). Every pass checks the event count and every event's data.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks import canned, stats
from benchmarks.report import headline_row, ratio_target
from benchmarks.runner import Context, Section, alternate, failure

EVENTS = {"full": 10_000, "quick": 1_000}
PASSES = {"full": 5, "quick": 2}
READ_SIZE = 64 * 1024
DECODERS = ("vertexchat", "openai")
LABELS = {"vertexchat": "vertexchat SSEDecoder", "openai": "openai._streaming.SSEDecoder"}

Decode = Callable[[list[bytes]], list[str]]


def stream_events(count: int) -> list[bytes]:
    """``count`` realistic chunk events plus ``data: [DONE]``, each as its own bytes."""
    pieces = [canned.stream_pieces(1)[0] + f"#{index}" for index in range(count)]
    events = [
        b"data: "
        + json.dumps(
            canned.stream_chunk_payload(piece, last=index == count - 1),
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        + b"\n\n"
        for index, piece in enumerate(pieces)
    ]
    return [*events, b"data: [DONE]\n\n"]


def reads(events: list[bytes], per_event: bool) -> list[bytes]:
    """The stream as a reader would get it: one read per event, or fixed 64 KiB reads."""
    if per_event:
        return events
    whole = b"".join(events)
    return [whole[start : start + READ_SIZE] for start in range(0, len(whole), READ_SIZE)]


def expected_digest(events: list[bytes]) -> str:
    """A digest of every event's data field, to check a decoder's output against."""
    return _digest(event[len(b"data: ") : -2].decode() for event in events)


def _digest(datas: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for data in datas:
        digest.update(data.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def vertexchat_decoder() -> Decode:
    """vertexchat's sans-IO decoder: ``feed(bytes) -> list[event]``, then ``close()``."""
    from vertexchat._sse import SSEDecoder

    def decode(chunks: list[bytes]) -> list[str]:
        decoder = SSEDecoder()
        datas = [event.data for chunk in chunks for event in decoder.feed(chunk)]
        datas += [event.data for event in decoder.close()]
        return datas

    return decode


def openai_decoder() -> Decode:
    """The OpenAI SDK's decoder through its bytes-iterator interface."""
    from openai._streaming import SSEDecoder

    def decode(chunks: list[bytes]) -> list[str]:
        return [event.data for event in SSEDecoder().iter_bytes(iter(chunks))]

    return decode


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Decode the stream ``passes`` times; validate each pass; return the best MB/s.

    Best, not median: other processes on the machine only ever add time to a pass.
    """
    decode = {"vertexchat": vertexchat_decoder, "openai": openai_decoder}[spec["decoder"]]()
    events = stream_events(int(spec["events"]))
    chunks = reads(events, bool(spec["per_event"]))
    expected, size = expected_digest(events), sum(len(chunk) for chunk in chunks)
    decode(chunks[:100])  # warm-up: lazy imports, caches
    speeds = []
    for _ in range(int(spec["passes"])):
        start = time.process_time()
        datas = decode(chunks)
        elapsed = time.process_time() - start
        if _digest(datas) != expected:
            return {"ok": False, "error": f"decoded data differs ({len(datas)} events)"}
        speeds.append(size / elapsed / 1e6)
    return {"ok": True, "mb_per_s": max(speeds), "bytes": size}


def spec(ctx: Context, decoder: str, per_event: bool) -> dict[str, Any]:
    """The child spec for one decoder run."""
    preset = "quick" if ctx.quick else "full"
    return {
        "module": "benchmarks.sse_decode",
        "decoder": decoder,
        "per_event": per_event,
        "events": EVENTS[preset],
        "passes": PASSES[preset],
    }


def run(ctx: Context) -> Section:
    """Alternate the two decoders in fresh processes for both read patterns."""
    header = ["reads", "decoder", "MB/s (median)", "runs min-max", "vs OpenAI SDK decoder"]
    section = Section("3. SSE decoding alone (in memory)", header)
    for per_event in (True, False):
        setting = "one read per event" if per_event else "64 KiB reads"
        ctx.log(f"  SSE decoding, {setting}")
        results = alternate(
            DECODERS,
            ctx.rounds,
            functools.partial(spec, ctx, per_event=per_event),
            ctx.log,
        )
        medians = _speed_medians(results)
        section.rows += _rows(setting, results, medians)
        section.headline.append(headline_row(f"SSE decoding, {setting}", medians, " MB/s", 0))
        section.targets.append(
            ratio_target(
                f"SSE decoder throughput ({setting}) ≥ 3x OpenAI SDK decoder",
                medians.get("vertexchat"),
                medians.get("openai"),
                3.0,
                "a decoder",
                at_least=True,
            )
        )
    section.notes.append(_note(ctx))
    return section


def _speed_medians(results: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    return {
        name: None if failure(runs) else stats.median([r["mb_per_s"] for r in runs])
        for name, runs in results.items()
    }


def _rows(
    setting: str, results: dict[str, list[dict[str, Any]]], medians: dict[str, float | None]
) -> list[list[str]]:
    rows = []
    for name, runs in results.items():
        error = failure(runs)
        if error is not None:
            rows.append([setting, LABELS[name], f"FAILED: {error[:200]}", "", ""])
            continue
        speed = medians[name]
        spread = stats.spread([r["mb_per_s"] for r in runs])
        ratio = stats.fmt_ratio(stats.ratio(speed, medians.get("openai")))
        rows.append([setting, LABELS[name], stats.fmt(speed, " MB/s", 1), spread, ratio])
    return rows


def _note(ctx: Context) -> str:
    preset = "quick" if ctx.quick else "full"
    size = sum(len(event) for event in stream_events(EVENTS[preset]))
    return (
        f"{EVENTS[preset]:,} chunk events + `[DONE]` ({size / 1e6:.2f} MB); best of "
        f"{PASSES[preset]} validated passes per process (CPU time; load from other processes "
        f"only adds time), median over {ctx.rounds} processes."
    )


def main(argv: list[str]) -> int:
    """Child entry point: run the spec in argv[1] and print the JSON result."""
    try:
        result = measure(json.loads(argv[1]))
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result = {"ok": False, "error": detail}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
