"""``uv run --group bench python -m benchmarks``: run the workloads, write benchmarks/RESULTS.md.

Options: ``--quick`` (small sizes, one round, writes benchmarks/.work/RESULTS-quick.md unless
``--output`` says otherwise), ``--only WORKLOAD`` (repeatable), ``--contenders a,b``,
``--rounds N``, ``--emulator`` (use the fallback server even when nginx is installed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    coldstart,
    fanout,
    imports,
    nonstreaming,
    observability,
    report,
    sse_decode,
    streaming,
)
from benchmarks.contenders import CONTENDERS
from benchmarks.runner import Context, Section
from benchmarks.server import WORK_DIR, benchmark_server

WORKLOADS: dict[str, Callable[[Context], Section]] = {
    "nonstreaming": nonstreaming.run,
    "streaming": streaming.run,
    "sse": sse_decode.run,
    "imports": imports.run,
    "coldstart": coldstart.run,
    "fanout": fanout.run,
    "observability": observability.run,
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
QUICK_RESULTS = WORK_DIR / "RESULTS-quick.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes, one round")
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), help="workload")
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated client names"
    )
    parser.add_argument("--rounds", type=int, help="rounds per measurement (default 3; quick 1)")
    parser.add_argument("--output", type=Path, help="where to write the results markdown")
    parser.add_argument("--emulator", action="store_true", help="force the fallback server")
    return parser.parse_args(argv)


def log(message: str) -> None:
    """Progress on stderr, flushed, so a long run shows where it is."""
    print(message, file=sys.stderr, flush=True)


def contender_names(text: str) -> tuple[str, ...]:
    """Validate ``--contenders``."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(unknown)}; known: {list(CONTENDERS)}")
    return names


def main(argv: list[str]) -> int:
    """Start the server, run the chosen workloads, write the markdown."""
    args = parse_args(argv)
    contenders = contender_names(args.contenders)
    rounds = args.rounds or (1 if args.quick else 3)
    output = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    chosen = args.only or list(WORKLOADS)
    started, digest = time.perf_counter(), report.source_digest()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with benchmark_server(force_emulator=args.emulator) as server:
        if server.warning:
            log(f"WARNING: {server.warning}")
        log(f"server: {server.kind} at {server.origin}")
        ctx = Context(server, args.quick, rounds, contenders, log)
        sections = []
        for name in chosen:
            log(f"{name}:")
            workload_started = time.perf_counter()
            sections.append(WORKLOADS[name](ctx))
            log(f"  ({time.perf_counter() - workload_started:.0f} s)")
    elapsed = time.perf_counter() - started
    command = "uv run --group bench python -m benchmarks " + " ".join(argv)
    warnings = []
    if report.source_digest() != digest:
        warnings.append("vertexchat or benchmarks source changed during the run: rerun")
        log(f"WARNING: {warnings[-1]}")
    text = report.render(sections, server, command.strip(), elapsed, warnings)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    log(f"wrote {output} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
