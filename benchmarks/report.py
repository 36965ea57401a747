"""Turn workload sections into benchmarks/RESULTS.md: targets first, then a table per workload."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Sequence
from typing import Any

from benchmarks import stats
from benchmarks.contenders import LABELS
from benchmarks.runner import REPO_ROOT, Section, Target, failure, per_request_ms, throughput
from benchmarks.server import ServerInfo

COMPARISON_HEADER = [
    "setting",
    "client",
    "CPU ms/request (median)",
    "runs min-max",
    "requests/s (wall)",
    "CPU vs OpenAI SDK",
    "CPU vs raw httpx",
    "CPU vs raw aiohttp",
]
NOTES = REPO_ROOT / "benchmarks" / "NOTES.md"
VERSIONED_PACKAGES = (
    "httpx",
    "httpcore",
    "pydantic",
    "anyio",
    "openai",
    "httpx2",
    "google-genai",
    "aiohttp",
)


def cpu_medians(results: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    """Median CPU milliseconds per request for each contender (None when it failed)."""
    return {
        name: None if failure(runs) else stats.median(per_request_ms(runs))
        for name, runs in results.items()
    }


def comparison_rows(setting: str, results: dict[str, list[dict[str, Any]]]) -> list[list[str]]:
    """One row per contender: CPU per request, spread, throughput and the two ratios."""
    medians = cpu_medians(results)
    rows = []
    for name, runs in results.items():
        error = failure(runs)
        if error is not None:
            rows.append([setting, LABELS[name], f"FAILED: {_cell(error)}", "", "", "", "", ""])
            continue
        cpu = medians[name]
        rows.append(
            [
                setting,
                LABELS[name],
                stats.fmt(cpu, " ms", 3),
                stats.spread(per_request_ms(runs)),
                stats.fmt(stats.median(throughput(runs)), "", 0),
                stats.fmt_ratio(stats.ratio(cpu, medians.get("openai"))),
                stats.fmt_ratio(stats.ratio(cpu, medians.get("httpx"))),
                stats.fmt_ratio(stats.ratio(cpu, medians.get("aiohttp"))),
            ]
        )
    return rows


HEADLINE_HEADER = [
    "metric",
    "vertexchat",
    "OpenAI SDK",
    "floor (raw httpx; bare stack)",
    "physical floor (raw aiohttp)",
]


def headline_row(
    metric: str, values: dict[str, float | None], unit: str, digits: int
) -> list[str]:
    """One README headline row: vertexchat, OpenAI SDK, the floor ("httpx") and aiohttp."""
    cells = [
        stats.fmt(values.get(name), unit, digits)
        for name in ("vertexchat", "openai", "httpx", "aiohttp")
    ]
    return [metric, *cells]


def ratio_target(
    name: str,
    value: float | None,
    reference: float | None,
    limit: float,
    what: str,
    *,
    at_least: bool = False,
) -> Target:
    """``value / reference ≤ limit`` (or ``≥`` with at_least) as a Target; None when unmeasured."""
    found = stats.ratio(value, reference)
    if found is None:
        return Target(name, None, f"not measured ({what} missing)")
    sign = "≥" if at_least else "≤"
    shown = f"{stats.fmt(value, '', 3)} / {stats.fmt(reference, '', 3)}"
    met = found >= limit if at_least else found <= limit
    return Target(name, met, f"{shown} = {found:.2f}x (needs {sign} {limit:g}x)")


def _cell(text: str) -> str:
    """Make text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def machine_lines(server: ServerInfo) -> list[str]:
    """Machine, interpreter, library versions, server and date."""
    cpu = _cpu_model()
    memory = _memory_gib()
    lines = [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- Machine: {platform.system()} {platform.release()}, {cpu}, "
        f"{os.cpu_count()} CPUs, {memory} GiB RAM",
        f"- Python: {platform.python_version()} ({platform.python_implementation()}), "
        "default asyncio event loop",
        f"- vertexchat: {_vertexchat_version()}",
        "- Libraries: " + ", ".join(f"{p} {_version(p)}" for p in VERSIONED_PACKAGES),
        f"- Server: {server.kind} at {server.origin}",
    ]
    if server.warning:
        lines.append(f"- **WARNING: {server.warning}**")
    return lines


def source_digest() -> str:
    """A digest of vertexchat's and the harness's source, to notice edits made during a run."""
    digest = hashlib.sha256()
    for folder in ("vertexchat", "benchmarks"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(REPO_ROOT).parts):
                continue  # benchmarks/.work holds venvs the harness itself builds mid-run
            digest.update(str(path.relative_to(REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _vertexchat_version() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{_version('vertexchat')} (git {commit or 'unknown'})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return "?"
    return f"{pages / 2**30:.0f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _target_rows(sections: Sequence[Section]) -> list[list[str]]:
    verdict = {True: "met", False: "**not met**", None: "not measured"}
    return [
        [target.name, verdict[target.met], target.detail]
        for section in sections
        for target in section.targets
    ]


def render(
    sections: Sequence[Section],
    server: ServerInfo,
    command: str,
    elapsed: float,
    warnings: Sequence[str] = (),
) -> str:
    """The whole RESULTS.md text."""
    lines = ["# Benchmark results", "", f"Produced by `{command}` in {elapsed:.0f} s.", ""]
    lines += machine_lines(server)
    lines += [f"- **WARNING: {warning}**" for warning in warnings]
    headline = [row for section in sections for row in section.headline]
    lines += ["", "## Headline (medians; lower is better except MB/s and requests/s)", ""]
    lines += _table(HEADLINE_HEADER, headline)
    lines += ["", "## Targets (issue #7)", ""]
    lines += _table(["target", "verdict", "numbers"], _target_rows(sections))
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines += _table(section.header, section.rows)
        if section.notes:
            lines.append("")
            lines += [f"- {note}" for note in section.notes]
    if NOTES.exists():
        lines += ["", "## Analysis (hand-written: benchmarks/NOTES.md)", ""]
        lines.append(NOTES.read_text().strip())
    lines.append("")
    return "\n".join(lines)
