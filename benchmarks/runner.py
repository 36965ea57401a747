"""Run benchmark subprocesses fairly and collect what the workloads report.

Every measured run is a fresh ``python -m benchmarks.child`` process of the same interpreter and
venv, so one contender's imports, caches and pools never help or hurt another. Contenders
alternate across rounds, and each round rotates who goes first (A B C, B C A, C A B …), so slow
drift of the machine is spread over all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.server import ServerInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_SECONDS = 300


def child_environment() -> dict[str, str]:
    """This environment, minus PYTHONDONTWRITEBYTECODE: users' imports hit .pyc caches."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Target:
    """One performance target from issue #7, evaluated on this run's numbers."""

    name: str
    met: bool | None
    detail: str


@dataclass
class Section:
    """One workload's part of RESULTS.md: a table, notes and the targets it decides."""

    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    headline: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What every workload gets: the server, the size preset and the contenders to run."""

    server: ServerInfo
    quick: bool
    rounds: int
    contenders: tuple[str, ...]
    log: Callable[[str], None]


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measured child process and return its JSON result (never raises for failures).

    The child module is ``spec["module"]`` (default benchmarks.child); it prints one JSON line.
    """
    module = str(spec.get("module", "benchmarks.child"))
    command = [sys.executable, "-m", module, json.dumps(spec)]
    try:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {CHILD_TIMEOUT_SECONDS} s"}
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        return {
            "ok": False,
            "error": f"child exited {completed.returncode}: {completed.stderr[-400:]}",
        }
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """The running order for one round: the list rotated by the round number."""
    shift = round_index % len(names) if names else 0
    return list(names[shift:]) + list(names[:shift])


def alternate(
    names: Sequence[str],
    rounds: int,
    spec_for: Callable[[str], dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, list[dict[str, Any]]]:
    """Run every contender once per round, in rotating order; a failure stops that contender."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    failed: set[str] = set()
    for round_index in range(rounds):
        for name in rotated(names, round_index):
            if name in failed:
                continue
            result = run_child(spec_for(name))
            results[name].append(result)
            if not result["ok"]:
                failed.add(name)
                log(f"    {name}: FAILED: {result['error'][:300]}")
    return results


def failure(results: list[dict[str, Any]]) -> str | None:
    """The first error among a contender's runs, or None when all succeeded."""
    for result in results:
        if not result["ok"]:
            return str(result["error"])
    return None


def per_request_ms(results: list[dict[str, Any]], key: str = "cpu_s") -> list[float]:
    """``key`` per request in milliseconds, one value per successful run."""
    return [1000 * r[key] / r["requests"] for r in results if r["ok"]]


def throughput(results: list[dict[str, Any]]) -> list[float]:
    """Requests per wall-clock second, one value per successful run."""
    return [r["requests"] / r["wall_s"] for r in results if r["ok"]]
