"""Helpers of the engine tests (Ray, Dask): ``vertexchat emulator`` subprocesses and what their
``--request-log`` says. Import the fixture into a test module (``from tests._engine_support
import emulator``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Emulator = Callable[..., str]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Start ``vertexchat emulator`` subprocesses; returns their base URLs."""
    processes: list[subprocess.Popen[str]] = []
    yield lambda *options: start_emulator(processes, *options)
    stop_emulators(processes)


def start_emulator(processes: list[subprocess.Popen[str]], *options: str) -> str:
    """Start ``vertexchat emulator OPTIONS`` (kept in ``processes``); its base URL."""
    command = [sys.executable, "-m", "vertexchat", "emulator", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    processes.append(process)
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().startswith("base URL:"):
            return line.split()[-1]
    raise AssertionError(f"the emulator did not start: exit {process.wait()}")


def stop_emulators(processes: list[subprocess.Popen[str]]) -> None:
    """Stop what ``start_emulator`` started."""
    for process in processes:
        process.terminate()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def sent_questions(log: Path) -> Counter[str]:
    """How often each question (a request's last message) reached the emulator's request log."""
    sent: Counter[str] = Counter()
    for line in log.read_text(encoding="utf-8").splitlines():
        sent[json.loads(line)["body"]["messages"][-1]["content"]] += 1
    return sent


def wait_until_quiet(log: Path) -> None:
    """Wait until the emulator has received nothing new for a second."""
    size, unchanged = -1, 0
    while unchanged < 10:
        time.sleep(0.1)
        current = log.stat().st_size
        unchanged = unchanged + 1 if current == size else 0
        size = current


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Block until ``condition()`` holds while ``process`` runs (fails if it ends first)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and process.poll() is None:
            if condition():
                done.set()
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join(timeout=600)
    assert done.is_set(), "the job ended before the condition held"
