"""``vertexchat batch --engine ray`` as a subprocess joining a real local Ray cluster: the early
stop on a systematic error, the progress line and summary, bounded batches, shard directories.

Run with ``uv sync --extra ray && uv run pytest -m ray``. The CLI joins the module's cluster
(``--ray-address``); the emulator runs in a thread of this process (its request log is read)
or as a subprocess.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests._cli_support import (
    CLI,
    ROOT,
    cli_env,
    emulator_server,
    records,
    request_line,
    run_cli,
    stderr_lines,
    write_input,
)
from tests._ray_support import Emulator, cluster, emulator
from tests.test_cli_progress import _PROGRESS as PROGRESS
from tests.test_cli_progress import capture, tmux, visible
from tests.test_cli_shards import wait_for_lines
from vertexchat.testing import Emulator as EmulatorLogic
from vertexchat.testing import Faults

__all__ = ["cluster", "emulator"]  # fixtures, imported for pytest

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
]


def on_ray(ray: Any, source: Path | str, output: Path | str, url: str, *extra: str) -> list[str]:
    address = ray.get_runtime_context().gcs_address
    return [
        "batch", str(source), "-o", str(output), "--base-url", url, "--no-auth",
        "--engine", "ray", "--ray-address", address, *extra,
    ]  # fmt: skip


def test_a_wrong_base_url_stops_on_ray_within_the_first_requests(
    cluster: Any, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 600)
    with emulator_server() as (emulator, url):
        wrong = url.replace("/v1/", "/v2/")
        result = run_cli(on_ray(cluster, source, output, wrong, "--ray-batch-size", "100"))
        sent = len(emulator.requests)
        assert result.returncode == 3, result.stderr
        assert sent <= 16  # not a batch of 100 per actor
        last = stderr_lines(result)[-1]
        assert last.startswith(
            "vertexchat: stopped: the first 8 requests all failed with NotFoundError"
        ), result.stderr
        assert "check --base-url" in last
        written = records(output)
        assert 1 <= len(written) <= sent  # what came back is kept; the rest was never sent
        assert {line["error"]["status_code"] for line in written} == {404}
        # Nothing unwritten counts as done: the fixed rerun runs exactly the rest, once each.
        fixed = run_cli(on_ray(cluster, source, output, url, "--retry-failed", "-q"))
        assert fixed.returncode == 0, fixed.stderr
    final = records(output)
    assert Counter(line["custom_id"] for line in final) == Counter(ids)
    assert all("response" in line for line in final)


def test_a_wrong_model_stops_on_ray_and_names_the_flag(cluster: Any, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 500)
    emulator = EmulatorLogic(require_auth=False, models={"google/gemini-2.5-flash"})
    with emulator_server(emulator) as (_, url):
        result = run_cli(on_ray(cluster, source, output, url, "--model", "google/gemini-9"))
        assert len(emulator.requests) <= 16
    assert result.returncode == 3, result.stderr
    assert "check --model" in stderr_lines(result)[-1]


def test_the_ray_run_prints_progress_as_batches_arrive_and_a_summary(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 400)
    url = emulator("--no-auth", "--latency", "0.05")
    command = on_ray(cluster, source, output, url, "--concurrency", "8", "--ray-batch-size",
                     "40", "--progress-interval", "0.05", "--quota", "lease")  # fmt: skip
    result = run_cli(command, env=cli_env())
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    assert "Traceback" not in err  # nothing is left to fail at exit (actor classes, clients)
    assert "Exception ignored" not in err
    assert "\r" not in err
    assert "\x1b" not in err
    periodic = [line for line in err.splitlines() if re.match(r"\d+/400 +\d+% ", line)]
    assert all("/s ETA " in line and "inflight " in line for line in periodic), periodic
    counts = {int(line.split("/")[0]) for line in periodic}
    assert len(counts - {0, 400}) >= 2, periodic  # it moved while the batches arrived
    assert max(int(re.search(r"inflight (\d+)/", line)[1]) for line in periodic) > 0  # type: ignore[index]
    assert any(line.startswith("done 400: 400 ok") for line in err.splitlines()), err
    assert len(records(output)) == 400


def test_shard_directories_on_ray_kill_and_rerun_is_exactly_once(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    ids = write_input(source / "a.jsonl", 400)
    (source / "b.jsonl").write_text(
        "".join(request_line(f"b-{n}", f"question b-{n}") + "\n" for n in range(400))
    )
    ids += [f"b-{n}" for n in range(400)]
    url = emulator("--no-auth", "--latency", "0.02")
    command = [*CLI, *on_ray(cluster, source, f"{output}/", url, "--concurrency", "8",
                             "--ray-batch-size", "50", "-q")]  # fmt: skip
    first = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stderr=subprocess.DEVNULL)
    wait_for_lines(output / "part-00000.jsonl", 100, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    written = (output / "part-00000.jsonl").read_bytes().count(b"\n")
    assert 100 <= written < 800
    second = run_cli(on_ray(cluster, source, output, url, "--concurrency", "8"))
    assert second.returncode == 0, second.stderr
    assert f"resuming: {written} of 800 already done" in second.stderr.decode()
    final = [line for shard in sorted(output.glob("*.jsonl")) for line in records(shard)]
    assert Counter(line["custom_id"] for line in final) == Counter(ids)
    assert all("response" in line for line in final)
    assert len(records(output / "part-00001.jsonl")) == 800 - written


def test_the_ray_run_redraws_its_progress_in_a_terminal(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    source, output, done = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "exit"
    write_input(source, 300)
    url = emulator("--no-auth", "--latency", "0.05")
    command = [*CLI, *on_ray(cluster, source, output, url, "--concurrency", "8",
                             "--ray-batch-size", "30", "--progress-interval", "0.05")]  # fmt: skip
    shell = f"cd {shlex.quote(str(ROOT))} && env -u NO_COLOR {shlex.join(command)}; "
    shell += f"echo $? > {done}; sleep 600"
    with tmux(120) as prefix:
        subprocess.run(
            [*prefix, "new-session", "-d", "-s", "run", "-x", "120", "-y", "30", shell],
            check=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        live: set[str] = set()
        deadline = time.monotonic() + 300
        while not done.exists() and time.monotonic() < deadline:
            screen = visible(capture(prefix))
            live |= {line for line in screen.splitlines() if PROGRESS.search(line)}
            time.sleep(0.02)
        assert done.read_text().strip() == "0"
        final = visible(capture(prefix)).splitlines()
    counts = {int(found[1]) for line in live if (found := re.search(r"(\d+)/300 ", line))}
    assert len(counts - {0, 300}) >= 1, live  # seen while the batches arrived
    drawn = [line for line in final if PROGRESS.search(line)]
    assert len(drawn) == 1, final  # redrawn in place
    assert "300/300 100%" in drawn[0]
    assert any(line.startswith("done 300: 300 ok") for line in final), final


def test_the_driver_starts_before_the_input_ends(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    # The driver reads the input as batches go out, not all of it first: fed through a pipe,
    # the first results are written while the rest of the input is still to come.
    output = tmp_path / "out.jsonl"
    url = emulator("--no-auth")
    lines = [request_line(f"id-{n}", f"question {n}") + "\n" for n in range(1000)]
    command = [*CLI, *on_ray(cluster, "-", output, url, "--ray-batch-size", "100", "-q")]
    process = subprocess.Popen(
        command, cwd=ROOT, env=cli_env(), stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin is not None
    assert process.stderr is not None
    try:
        process.stdin.write("".join(lines[:8]).encode())  # the probe batch
        process.stdin.flush()
        wait_for_lines(output, 8, process)
        process.stdin.write("".join(lines[8:]).encode())
        process.stdin.close()
        err = process.stderr.read()
        assert process.wait(timeout=600) == 0, err
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stderr.close()
    assert Counter(line["custom_id"] for line in records(output)) == Counter(
        f"id-{n}" for n in range(1000)
    )


def test_a_target_that_breaks_mid_run_stops_on_ray_keeping_what_arrived(
    cluster: Any, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 2000)
    breaking = EmulatorLogic(
        require_auth=False, faults=Faults(schedule=("ok",) * 200, rate=1.0, kinds=("404",))
    )
    with emulator_server(breaking) as (emulator, url):  # 200 answers, then only 404s
        result = run_cli(on_ray(cluster, source, output, url, "--ray-batch-size", "50"))
        sent = len(emulator.requests)
    assert result.returncode == 3, result.stderr
    assert stderr_lines(result)[-1].startswith(
        "vertexchat: stopped: the last 50 requests all failed with NotFoundError 404"
    ), result.stderr
    written = records(output)
    assert Counter(line["custom_id"] for line in written).most_common(1)[0][1] == 1
    errors = [line for line in written if "error" in line]
    assert {line["error"]["status_code"] for line in errors} == {404}
    assert len(errors) >= 50
    # The batches still out were stopped, not run out (no call started after the stop), and
    # every call made is written: the 200 answers were all kept, none to be paid again.
    assert len(written) == sent < 2000
    assert sum("response" in line for line in written) == 200
    with emulator_server() as (_, url):
        fixed = run_cli(on_ray(cluster, source, output, url, "--retry-failed", "-q"))
    assert fixed.returncode == 0, fixed.stderr
    final = records(output)
    assert Counter(line["custom_id"] for line in final) == Counter(ids)
    assert all("response" in line for line in final)
