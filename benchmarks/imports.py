"""Workload 4: import time and RSS after import, each in repeated fresh processes.

Measured per candidate and round, in a fresh interpreter: the wall time of the import statement
(``time.perf_counter`` around it), the whole process's wall time, and VmRSS right after the import;
separately, ``python -X importtime -c "import …"``, summing the "self" column and subtracting the
same sum for an empty interpreter (site and encodings imports). litellm cannot share the bench venv
(it pins ``openai<3``), so it is measured with the same Python in a side venv under
benchmarks/.work/ that the harness creates with uv on first use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import stats
from benchmarks.report import headline_row, ratio_target
from benchmarks.runner import Context, Section, Target, child_environment, rotated
from benchmarks.server import WORK_DIR

CANDIDATES = {
    "vertexchat": "import vertexchat",
    "bare stack": "import httpx, pydantic, anyio, google.auth",
    "openai": "import openai",
    "google.genai": "import google.genai",
    "litellm": "import litellm",
    "empty interpreter": "pass",
}
# (plain rounds, -X importtime rounds); litellm, a slow reference point, gets fewer.
ROUNDS = {"full": (10, 5), "quick": (3, 1)}
LITELLM_ROUNDS = {"full": (3, 2), "quick": (1, 1)}
LITELLM_VENV = WORK_DIR / "litellm-venv"
# litellm otherwise downloads its model price list from the internet while being imported.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}

_PROBE = """\
import time
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
print(elapsed, rss)
"""


def litellm_python(log: Any) -> tuple[str | None, str]:
    """The side venv's python (created on first use) or None, and a note on what was used."""
    python = LITELLM_VENV / "bin" / "python"
    uv = os.environ.get("UV") or shutil.which("uv")
    if not python.exists():
        if uv is None:
            return None, "litellm not measured: uv not found to create its side venv"
        log("  creating the litellm side venv (once)")
        made = _make_litellm_venv(uv)
        if made is not None:
            return None, f"litellm not measured: {made}"
    return str(python), f"litellm {_side_version(python)} in a side venv (same Python)"


def _make_litellm_venv(uv: str) -> str | None:
    venv = [uv, "venv", "--quiet", "--python", sys.executable, str(LITELLM_VENV)]
    install = [uv, "pip", "install", "--quiet", "--python", str(LITELLM_VENV / "bin" / "python")]
    for command in (venv, [*install, "litellm"]):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(LITELLM_VENV, ignore_errors=True)
            return result.stderr.strip()[-300:]
    return None


def _side_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


def probe(python: str, statement: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh process: import wall (ms), process wall (ms), RSS after import (MiB)."""
    started = time.perf_counter()
    result = subprocess.run(
        [python, "-c", _PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        env={**child_environment(), **env},
        check=True,
    )
    process_ms = 1000 * (time.perf_counter() - started)
    elapsed, rss_kb = result.stdout.split()
    return {
        "import_ms": 1000 * float(elapsed),
        "process_ms": process_ms,
        "rss_mib": int(rss_kb) / 1024,
    }


def importtime_ms(python: str, statement: str, env: dict[str, str]) -> float:
    """Sum of the "self" column of ``-X importtime`` in one fresh process, in ms."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        env={**child_environment(), **env},
        check=True,
    )
    total_us = 0
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            field = line.split(":", 1)[1].split("|")[0].strip()
            if field.isdigit():
                total_us += int(field)
    return total_us / 1000


Samples = dict[str, list[dict[str, float]]]
Pythons = dict[str, tuple[str, dict[str, str]]]


def measure_once(
    python: str, statement: str, env: dict[str, str], importtime: bool
) -> dict[str, float]:
    """One probe process, plus one ``-X importtime`` process when asked."""
    sample = probe(python, statement, env)
    if importtime:
        sample["importtime_ms"] = importtime_ms(python, statement, env)
    return sample


def rounds_for(name: str, quick: bool) -> tuple[int, int]:
    """(plain rounds, -X importtime rounds) for one candidate."""
    table = LITELLM_ROUNDS if name == "litellm" else ROUNDS
    return table["quick" if quick else "full"]


def collect(ctx: Context, pythons: Pythons) -> tuple[Samples, dict[str, str]]:
    """Alternate all candidates over the rounds; a candidate that fails once is dropped."""
    samples: Samples = {name: [] for name in pythons}
    errors: dict[str, str] = {}
    # Round -1 is not recorded: it compiles .pyc files and warms the page cache.
    for round_index in range(-1, ROUNDS["quick" if ctx.quick else "full"][0]):
        for name in rotated(list(pythons), round_index):
            plain_rounds, importtime_rounds = rounds_for(name, ctx.quick)
            if name in errors or round_index >= plain_rounds:
                continue
            python, env = pythons[name]
            try:
                sample = measure_once(
                    python, CANDIDATES[name], env, round_index < importtime_rounds
                )
            except subprocess.CalledProcessError as exc:
                errors[name] = _last_line(exc.stderr)
                ctx.log(f"    {name}: FAILED: {errors[name]}")
                continue
            if round_index >= 0:
                samples[name].append(sample)
    return samples, errors


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "failed without output"


def medians(samples: Samples, key: str) -> dict[str, float | None]:
    """Median of one measured key per candidate (None when it has no samples with that key)."""
    return {
        name: stats.median([s[key] for s in runs if key in s]) for name, runs in samples.items()
    }


def run(ctx: Context) -> Section:
    """Measure every candidate and evaluate the two import targets."""
    header = [
        "import",
        "import wall ms (median)",
        "-X importtime ms",
        "process wall ms",
        "RSS after import MiB",
        "vs bare stack",
        "vs openai",
    ]
    section = Section("4. Import time and memory after import", header)
    ctx.log("  import time")
    pythons: Pythons = {name: (sys.executable, {}) for name in CANDIDATES if name != "litellm"}
    litellm, litellm_note = litellm_python(ctx.log)
    if litellm is not None:
        pythons["litellm"] = (litellm, LITELLM_ENV)
    samples, errors = collect(ctx, pythons)
    section.rows = _rows(samples, errors)
    imports_ms = medians(samples, "import_ms")
    section.targets = _targets(imports_ms)
    floors = {**imports_ms, "httpx": imports_ms.get("bare stack")}
    section.headline.append(headline_row("import time", floors, " ms", 0))
    rss = medians(samples, "rss_mib")
    floors = {**rss, "httpx": rss.get("bare stack")}
    section.headline.append(headline_row("RSS after import", floors, " MiB", 1))
    section.notes = _notes(ctx, litellm_note, medians(samples, "importtime_ms"))
    return section


def _rows(samples: Samples, errors: dict[str, str]) -> list[list[str]]:
    imports = medians(samples, "import_ms")
    importtimes = medians(samples, "importtime_ms")
    process = medians(samples, "process_ms")
    rss = medians(samples, "rss_mib")
    baseline = importtimes.get("empty interpreter")
    rows = []
    for name, statement in CANDIDATES.items():
        if name in errors or name not in samples:
            reason = errors.get(name, "not measured (see notes)")
            rows.append([f"`{statement}`", f"FAILED: {reason[:160]}", "", "", "", "", ""])
            continue
        own_importtime = _minus(importtimes[name], baseline)
        rows.append(
            [
                f"`{statement}`",
                stats.fmt(imports[name], "", 1),
                stats.fmt(own_importtime, "", 1),
                stats.fmt(process[name], "", 0),
                stats.fmt(rss[name], "", 1),
                stats.fmt_ratio(stats.ratio(imports[name], imports.get("bare stack"))),
                stats.fmt_ratio(stats.ratio(imports[name], imports.get("openai"))),
            ]
        )
    return rows


def _minus(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or baseline is None else value - baseline


def _targets(imports: dict[str, float | None]) -> list[Target]:
    mine = imports.get("vertexchat")
    return [
        ratio_target(
            "`import vertexchat` ≤ 1.3x bare stack",
            mine,
            imports.get("bare stack"),
            1.3,
            "vertexchat or bare stack",
        ),
        ratio_target(
            "`import vertexchat` ≤ 0.3x `import openai`",
            mine,
            imports.get("openai"),
            0.3,
            "vertexchat or openai",
        ),
    ]


def _notes(ctx: Context, litellm_note: str, importtimes: dict[str, float | None]) -> list[str]:
    plain_rounds, importtime_rounds = ROUNDS["quick" if ctx.quick else "full"]
    litellm_rounds = LITELLM_ROUNDS["quick" if ctx.quick else "full"]
    empty = stats.fmt(importtimes.get("empty interpreter"), " ms", 1)
    return [
        f"Medians of {plain_rounds} fresh processes per candidate ({litellm_rounds[0]} for "
        f"litellm), alternating, after one "
        "unrecorded warm-up process each (compiles .pyc). Import wall = `time.perf_counter()` "
        "around the import statement; process wall = the whole `python -c` run seen from outside.",
        f"`-X importtime` column: median over {importtime_rounds} ({litellm_rounds[1]} for "
        f"litellm) separate processes of the sum "
        f"of the 'self' column, minus the same sum for an empty interpreter ({empty}).",
        "RSS = VmRSS from /proc/self/status right after the import. Targets use import wall.",
        litellm_note + "; run with LITELLM_LOCAL_MODEL_COST_MAP=True so it does not download "
        "its price list during the import.",
    ]
