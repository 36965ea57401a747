"""Workload 5: cold start as a user feels it, in repeated fresh processes.

One fresh interpreter per sample runs a script that imports the library, builds its client and
completes one non-streaming call against the benchmark server on 127.0.0.1, then prints the
time from its first line (before any import) to the validated answer, and the answer's text.
The parent checks the text against benchmarks.canned, so a fast wrong path cannot win, and also
times the whole process from outside. Candidates alternate with a rotating order after one
unrecorded warm-up round (compiles .pyc files, warms the page cache).

The bare script is what someone would write without a client library: httpx for the call and a
three-class pydantic model for the answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from benchmarks import canned, stats
from benchmarks.report import headline_row, ratio_target
from benchmarks.runner import Context, Section, Target, child_environment, rotated

ROUNDS = {"full": 10, "quick": 3}

_PRELUDE = """\
import time
_started, _cpu_started = time.perf_counter(), time.process_time()
import asyncio
"""
_REPORT = """\
asyncio.run(main())
_cpu = time.process_time() - _cpu_started
_wall = time.perf_counter() - _started
print(json.dumps({"ms": 1000 * _wall, "cpu_ms": 1000 * _cpu, "text": text}))
"""
_CALL = {"model": canned.MODEL, "messages": canned.REQUEST_MESSAGES}

SCRIPTS = {
    "vertexchat": f"""\
import json
import vertexchat

async def main():
    global text
    async with vertexchat.Client(base_url=BASE_URL, auth=None) as client:
        completion = await client.chat.completions.create(**{_CALL!r})
    text = completion.choices[0].message.content
""",
    "openai": f"""\
import json
import openai

async def main():
    global text
    async with openai.AsyncOpenAI(base_url=BASE_URL, api_key="x") as client:
        completion = await client.chat.completions.create(**{_CALL!r})
    text = completion.choices[0].message.content
""",
    "bare httpx + pydantic": f"""\
import json
import httpx
import pydantic

class Message(pydantic.BaseModel):
    content: str | None = None

class Choice(pydantic.BaseModel):
    message: Message

class Completion(pydantic.BaseModel):
    choices: list[Choice]

async def main():
    global text
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(BASE_URL + "/chat/completions", json={_CALL!r})
        response.raise_for_status()
    text = Completion.model_validate_json(response.content).choices[0].message.content
""",
}


def script(name: str, base_url: str) -> str:
    """The whole program one sample runs."""
    return f"{_PRELUDE}BASE_URL = {base_url!r}\n{SCRIPTS[name]}{_REPORT}"


def probe(name: str, base_url: str) -> dict[str, float]:
    """One fresh process: script time to the validated answer and process wall, in ms."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script(name, base_url)],
        capture_output=True,
        text=True,
        env=child_environment(),
        check=True,
        timeout=120,
    )
    process_ms = 1000 * (time.perf_counter() - started)
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if report["text"] != canned.COMPLETION_TEXT:
        raise ValueError(f"{name}: wrong answer {str(report['text'])[:60]!r}")
    return {
        "cold_ms": float(report["ms"]),
        "cpu_ms": float(report["cpu_ms"]),
        "process_ms": process_ms,
    }


Samples = dict[str, list[dict[str, float]]]


def collect(ctx: Context, base_url: str) -> tuple[Samples, dict[str, str]]:
    """Alternate all candidates over the rounds; a candidate that fails once is dropped."""
    samples: Samples = {name: [] for name in SCRIPTS}
    errors: dict[str, str] = {}
    for round_index in range(-1, ROUNDS["quick" if ctx.quick else "full"]):
        for name in rotated(list(SCRIPTS), round_index):
            if name in errors:
                continue
            try:
                sample = probe(name, base_url)
            except (subprocess.SubprocessError, ValueError, KeyError) as exc:
                stderr = getattr(exc, "stderr", None) or str(exc)
                errors[name] = stderr.strip().splitlines()[-1] if stderr.strip() else repr(exc)
                ctx.log(f"    {name}: FAILED: {errors[name]}")
                continue
            if round_index >= 0:
                samples[name].append(sample)
    return samples, errors


def medians(samples: Samples, key: str) -> dict[str, float | None]:
    """Median of one measured key per candidate."""
    return {name: stats.median([s[key] for s in runs]) for name, runs in samples.items()}


def run(ctx: Context) -> Section:
    """Measure every candidate and evaluate the cold-start target."""
    header = [
        "script",
        "to first answer ms (median)",
        "spread",
        "vs openai",
        "CPU ms (median)",
        "CPU vs openai",
        "process wall ms",
    ]
    section = Section("4b. Cold start: import, build a client, one call", header)
    ctx.log("  cold start")
    samples, errors = collect(ctx, ctx.server.base_url("json"))
    cold = medians(samples, "cold_ms")
    cpu = medians(samples, "cpu_ms")
    process = medians(samples, "process_ms")
    for name in SCRIPTS:
        if name in errors:
            section.rows.append([name, f"FAILED: {errors[name][:160]}", "", "", "", "", ""])
            continue
        section.rows.append(
            [
                name,
                stats.fmt(cold[name], "", 1),
                stats.spread([s["cold_ms"] for s in samples[name]]),
                stats.fmt_ratio(stats.ratio(cold[name], cold.get("openai"))),
                stats.fmt(cpu[name], "", 1),
                stats.fmt_ratio(stats.ratio(cpu[name], cpu.get("openai"))),
                stats.fmt(process[name], "", 0),
            ]
        )
    section.targets = [_target("wall", cold), _target("CPU", cpu)]
    floors = {**cold, "httpx": cold.get("bare httpx + pydantic")}
    row = headline_row("cold start (import, client, one call)", floors, " ms", 0)
    section.headline.append(row)
    rounds = ROUNDS["quick" if ctx.quick else "full"]
    section.notes = [
        f"Medians of {rounds} fresh processes per script, alternating in rotating order, after "
        "one unrecorded warm-up round. 'To first answer' is measured inside the script from its "
        "first line (before `import asyncio`) to the answer's text; process wall is the whole "
        "`python -c` run seen from outside (interpreter start and exit included). CPU = "
        "`time.process_time()` over the same span as 'to first answer': less sensitive than "
        "wall time to other load on the machine.",
        "Each script's answer is checked against the canned completion text.",
    ]
    return section


def _target(what: str, values: dict[str, float | None]) -> Target:
    return ratio_target(
        f"cold start ({what}) ≤ 0.3x the OpenAI SDK's",
        values.get("vertexchat"),
        values.get("openai"),
        0.3,
        "vertexchat or openai",
    )
