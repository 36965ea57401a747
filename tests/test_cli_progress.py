"""The progress display: pure rendering at any width, the recent rate, and the real CLI drawn in
a tmux terminal of 50 and 120 columns, with and without ``NO_COLOR``."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._cli_support import CLI, ROOT, write_input
from vertexchat._progress_view import ProgressSnapshot, RecentRate, plain_progress, render_progress

_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PROGRESS = re.compile(r"\b\d+/\d+ +\d+%")


def snapshot(**changes: object) -> ProgressSnapshot:
    base = ProgressSnapshot(
        done=1234, total=1_000_000, rate=57.3, in_flight=31, limit=32, ceiling=64,
        throttled=3, retries=17, transient=5, permanent=2, tokens=5_432_100,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def visible(text: str) -> str:
    return _ESCAPE.sub("", text)


@pytest.mark.parametrize("columns", [20, 50, 80, 120, 200])
@pytest.mark.parametrize("color", [False, True])
def test_the_line_fits_the_terminal(columns: int, color: bool) -> None:
    line = render_progress(snapshot(), columns, color=color)
    assert len(visible(line)) <= columns - 1
    assert visible(line).count("1234/1000000") == 1  # the count survives any width
    assert ("\x1b[32m" in line) is color  # the count is green when colour is allowed


def test_wide_terminals_show_everything_and_narrow_ones_the_essentials() -> None:
    wide = render_progress(snapshot(), 200, color=False)
    for piece in ("1234/1000000 0%", "57.3/s", "ETA 4h50m", "err 7 (5t/2p)",
                  "inflight 31/32 cut", "429 cuts 3 retries 17", "tok 5.4M", "[---"):  # fmt: skip
        assert piece in wide, piece
    narrow = render_progress(snapshot(), 50, color=False)
    assert "57.3/s" in narrow
    assert "ETA" in narrow
    assert "tok" not in narrow  # the least important piece went first


def test_plain_lines_for_logs_have_everything_and_no_escapes() -> None:
    line = plain_progress(snapshot(total=None))
    assert "1234/?" in line
    assert "ETA ?" in line
    assert "\x1b" not in line


def test_the_rate_and_eta_follow_a_slowdown() -> None:
    rate = RecentRate(window=10.0)
    done = 0
    for second in range(60):  # 57/s for a minute …
        done += 57
        rate.add(float(second), done)
    for second in range(60, 80):  # … then 429 backoff: 8/s
        done += 8
        rate.add(float(second), done)
    assert rate.rate() == pytest.approx(8.0)
    eta = snapshot(done=done, total=done + 800, rate=rate.rate()).eta
    assert eta == "1m40s"  # 800 left at 8/s, not at the average since the start


# --- the real CLI in a terminal -------------------------------------------------------------


@contextmanager
def tmux(columns: int) -> Iterator[list[str]]:
    """A private tmux server; yields the command prefix addressing it."""
    binary = shutil.which("tmux")
    assert binary, "tmux is needed (apt-get install -y tmux; .ci/run installs it)"
    prefix = [binary, "-L", f"vertexchat-test-{os.getpid()}-{columns}", "-f", "/dev/null"]
    try:
        yield prefix
    finally:
        subprocess.run([*prefix, "kill-server"], capture_output=True, check=False)


def capture(prefix: list[str], *, escapes: bool = False) -> str:
    flags = ["-p", "-e"] if escapes else ["-p"]
    return subprocess.run(
        [*prefix, "capture-pane", "-t", "run", *flags], capture_output=True, check=True
    ).stdout.decode()


@pytest.mark.parametrize("columns", [50, 120])
@pytest.mark.parametrize("no_color", [False, True], ids=["color", "NO_COLOR"])
def test_batch_progress_in_a_terminal(tmp_path: Path, columns: int, no_color: bool) -> None:
    source, output, done = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "exit"
    write_input(source, 120)
    command = [*CLI, "batch", str(source), "-o", str(output), "--emulator", "--concurrency",
               "4", "--emulator-latency", "0.05", "--progress-interval", "0.02"]  # fmt: skip
    env = "NO_COLOR=1 " if no_color else "env -u NO_COLOR "
    shell = (
        f"cd {shlex.quote(str(ROOT))} && {env}{shlex.join(command)}; echo $? > {done}; sleep 600"
    )
    with tmux(columns) as prefix:
        subprocess.run(
            [*prefix, "new-session", "-d", "-s", "run", "-x", str(columns), "-y", "30", shell],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        live: list[str] = []
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            screen = capture(prefix, escapes=True)
            live += [line for line in screen.splitlines() if _PROGRESS.search(visible(line))]
            time.sleep(0.01)
        assert done.read_text().strip() == "0"
        final = capture(prefix, escapes=True)
    assert live, "no progress line was seen while the batch ran"
    for line in live:
        assert len(visible(line).rstrip()) <= columns - 1
        assert ("\x1b[3" in line) is (not no_color)  # colour codes exactly when allowed
    screen = visible(final).splitlines()
    drawn = [line for line in screen if _PROGRESS.search(line)]
    assert len(drawn) == 1, screen  # redrawn in place: no stale or wrapped progress lines
    assert "120/120 100%" in drawn[0]
    assert any(line.startswith("done 120: 120 ok") for line in screen)


def test_not_a_terminal_gets_plain_periodic_lines(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 40)
    command = [*CLI, "batch", str(source), "-o", str(output), "--emulator", "--concurrency", "2",
               "--emulator-latency", "0.05", "--progress-interval", "0.05"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0
    err = result.stderr.decode()
    assert "\r" not in err
    assert "\x1b" not in err
    periodic = [line for line in err.splitlines() if re.match(r"\d+/40 +\d+% ", line)]
    assert periodic, err
    assert all("/s ETA " in line and "inflight " in line for line in periodic)
