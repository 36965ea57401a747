"""Fixtures of the Ray tests: one local Ray cluster per module, and (re-exported) the engine
tests' ``vertexchat emulator`` subprocesses. Import them into a test module
(``from tests._ray_support import cluster, emulator``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests._engine_support import Emulator, emulator

__all__ = ["Emulator", "cluster", "emulator"]


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
