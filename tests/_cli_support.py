"""Helpers for driving the real ``vertexchat`` CLI as a subprocess against a real emulator
server (running in a thread of the test process, so tests can read its request log)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anyio.from_thread import start_blocking_portal

from vertexchat.testing import Emulator, serve

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "vertexchat"]


@contextmanager
def emulator_server(emulator: Emulator | None = None) -> Iterator[tuple[Emulator, str]]:
    """``(emulator, base_url)`` of a loopback emulator served from a background thread."""
    emulator = emulator or Emulator(require_auth=False)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(emulator)) as server,
    ):
        yield emulator, server.base_url()


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no colour surprises, no credentials, no proxies."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GOOGLE_", "SSL_CERT", "NO_COLOR"))
        and key.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    }
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 180,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``vertexchat ARGS`` to the end."""
    return subprocess.run(
        [*prefix, *CLI, *args],
        input=stdin,
        capture_output=True,
        env=env or cli_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def without_dac_override() -> list[str]:
    """A command prefix that drops root's permission override, so mode bits apply to root too
    (CI runs as root); empty for other users."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root needs setpriv (util-linux) to test permission errors"
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def request_line(custom_id: str, text: str = "hello", **body: Any) -> str:
    payload = {"messages": [{"role": "user", "content": text}], **body}
    return json.dumps({"custom_id": custom_id, "body": payload})


def write_input(path: Path, count: int, **body: Any) -> list[str]:
    ids = [f"req-{n:05d}" for n in range(count)]
    path.write_text("".join(request_line(i, f"question {i}", **body) + "\n" for i in ids))
    return ids


def records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the output ends with a partial line"
    return [json.loads(line) for line in text.splitlines()]


def by_id(path: Path) -> dict[str, dict[str, Any]]:
    found = records(path)
    ids = [record["custom_id"] for record in found]
    assert len(ids) == len(set(ids)), "an id has more than one line"
    return {record["custom_id"]: record for record in found}


def stderr_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return result.stderr.decode().splitlines()
