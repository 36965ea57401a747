"""Fixtures of the Ray tests: one local Ray cluster per module, ``vertexchat emulator``
subprocesses. Import them into a test module (``from tests._ray_support import cluster``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

Emulator = Callable[..., str]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local Ray cluster (2 CPUs) for the module; the CLI joins it with ``--ray-address``."""
    # Under `uv run`, Ray would rebuild the environment for its workers from the uv command
    # line (without the ray extra); a local cluster shares this interpreter instead.
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Start ``vertexchat emulator`` subprocesses; returns their base URLs."""
    processes: list[subprocess.Popen[str]] = []

    def start(*options: str) -> str:
        command = [sys.executable, "-m", "vertexchat", "emulator", "--port", "0", *options]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip().startswith("base URL:"):
                return line.split()[-1]
        raise AssertionError(f"the emulator did not start: exit {process.wait()}")

    yield start
    for process in processes:
        process.terminate()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()
