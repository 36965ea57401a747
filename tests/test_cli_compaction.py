"""Compaction survives ``kill -9`` at any moment: the output always keeps exactly one line per
finished id, and the rerun that follows completes it.

A rerun first drops the superseded (failed, to-be-redone) lines by writing a new file and
renaming it over the output. The test kills the real CLI while that temporary file exists (and
at random other moments) and checks the output after every kill.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from tests._cli_support import CLI, ROOT, cli_env, request_line

COUNT = 12_000
FAILED = 8


def ok_line(custom_id: str) -> bytes:
    message = {"role": "assistant", "content": f"answer for {custom_id} " + "x" * 4000}
    response = {
        "id": f"r-{custom_id}",
        "object": "chat.completion",
        "created": 0,
        "model": "google/gemini-2.5-flash",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    return json.dumps({"custom_id": custom_id, "response": response}).encode() + b"\n"


def transient_line(custom_id: str) -> bytes:
    error = {"type": "RateLimitError", "message": "Resource exhausted.", "status_code": 429}
    return (
        json.dumps({"custom_id": custom_id, "error": {**error, "kind": "transient"}}).encode()
        + b"\n"
    )


def check_output(output: Path, kept: set[bytes], ids: set[str]) -> None:
    """Whole lines (but a last one cut by the kill), no id twice, every success still there."""
    data = output.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    seen: set[str] = set()
    for raw in complete:
        custom_id = json.loads(raw)["custom_id"]
        assert custom_id in ids
        assert custom_id not in seen, f"{custom_id} has two lines"
        seen.add(custom_id)
    assert tail == b"" or not tail.endswith(b"}\n")
    missing = kept - {raw + b"\n" for raw in complete}
    assert not missing, f"{len(missing)} finished lines lost"


def leftovers(output: Path) -> list[Path]:
    return list(output.parent.glob(f".{output.name}.compacting.*"))


def start(source: Path, output: Path, *, capture: bool = False) -> subprocess.Popen[bytes]:
    command = [*CLI, "batch", str(source), "-o", str(output), "--emulator", "-q"]
    stderr = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        command, cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=stderr
    )


def kill_during_compaction(
    process: subprocess.Popen[bytes], output: Path, rng: random.Random
) -> bool:
    """Wait for the temporary file, then SIGKILL after a random few milliseconds; True if the
    kill landed while it existed."""
    deadline = time.monotonic() + 60
    while not leftovers(output) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.02))
    during = bool(leftovers(output))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return during


def test_kill_9_during_compaction_never_loses_or_duplicates_a_line(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = [f"id-{n:05d}" for n in range(COUNT)]
    source.write_text("".join(request_line(i, f"question {i}") + "\n" for i in ids))
    failed = set(ids[:: COUNT // FAILED][:FAILED])
    kept = {ok_line(i) for i in ids if i not in failed}
    with output.open("wb") as file:
        for custom_id in ids:
            file.write(transient_line(custom_id) if custom_id in failed else ok_line(custom_id))
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    hits = 0
    for attempt in range(6):
        process = start(source, output)
        if attempt % 2 == 0:
            hits += kill_during_compaction(process, output, rng)
        else:  # anywhere: while scanning, compacting, sending or writing
            time.sleep(rng.uniform(0.05, 1.5))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        check_output(output, kept, set(ids))
    assert hits >= 1, f"no kill landed during compaction (seed {seed})"
    final = start(source, output, capture=True)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    lines = output.read_bytes().splitlines(keepends=True)
    assert sorted(json.loads(raw)["custom_id"] for raw in lines) == ids
    assert kept <= set(lines)
    assert all("response" in json.loads(raw) for raw in lines)
    assert leftovers(output) == []
