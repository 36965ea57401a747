"""``vertexchat batch`` with directories of JSONL shards, as a subprocess on real files: an input
directory is its ``*.jsonl`` files in name order, an output directory gets one new shard per
run and is resumed from all of them; the safety rules of a single file still hold.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests._cli_support import (
    CLI,
    ROOT,
    cli_env,
    emulator_server,
    records,
    request_line,
    run_cli,
    stderr_lines,
    without_dac_override,
)
from vertexchat.testing import Emulator, Faults


def batch(source: Path | str, output: Path | str, base_url: str, *extra: str) -> list[str]:
    return ["batch", str(source), "-o", str(output), "--base-url", base_url, "--no-auth", *extra]


def write_shards(directory: Path, counts: dict[str, int]) -> list[str]:
    """Shards named as given, ids unique across them; returns every id."""
    directory.mkdir(exist_ok=True)
    ids: list[str] = []
    for name, count in counts.items():
        stem = name.removesuffix(".jsonl")
        shard = [f"{stem}-{n:04d}" for n in range(count)]
        (directory / name).write_text("".join(request_line(i, f"q {i}") + "\n" for i in shard))
        ids += shard
    return ids


def shard_records(directory: Path) -> list[dict[str, Any]]:
    return [line for shard in sorted(directory.glob("*.jsonl")) for line in records(shard)]


def test_an_input_directory_is_its_jsonl_shards_in_name_order(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out.jsonl"
    ids = write_shards(source, {"b.jsonl": 3, "a.jsonl": 2, "c.jsonl": 4})
    (source / "notes.txt").write_text("not a shard\n")
    (source / ".hidden.jsonl").write_text("{broken\n")
    bare = {"messages": [{"role": "user", "content": "no id"}]}
    (source / "d.jsonl").write_text("\n" + json.dumps(bare) + "\n{broken\n")
    with emulator_server() as (emulator, url):
        result = run_cli(batch(source, output, url, "--concurrency", "1"))
        sent = [request.body["messages"][0]["content"] for request in emulator.requests]
    assert result.returncode == 1, result.stderr  # the broken line is a permanent failure
    assert "vertexchat: d.jsonl line 3: not valid JSON" in result.stderr.decode()
    assert sent == [f"q {i}" for i in sorted(ids)] + ["no id"]  # a, b, c, then d, in order
    lines = {line["custom_id"]: line for line in records(output)}
    assert sorted(lines) == sorted([*ids, "d.jsonl:line-2", "d.jsonl:line-3"])
    assert "response" in lines["d.jsonl:line-2"]  # a bare request's id names its shard
    assert lines["d.jsonl:line-3"]["error"]["kind"] == "permanent"


def test_an_id_repeated_across_shards_is_refused_naming_both(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    write_shards(source, {"one.jsonl": 2, "two.jsonl": 2})
    with (source / "two.jsonl").open("a") as file:
        file.write(request_line("one-0001") + "\n")
    result = run_cli(batch(source, f"{output}/", "http://127.0.0.1:9/v1"))
    assert result.returncode == 2
    assert stderr_lines(result) == [
        "vertexchat: duplicate custom_id 'one-0001' on one.jsonl line 2 and two.jsonl line 3"
    ]
    assert not output.exists()


def test_an_output_directory_gets_a_new_shard_per_run_and_resumes_from_all(
    tmp_path: Path,
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out"
    ids = write_shards(tmp_path, {"in.jsonl": 60})
    faulty = Emulator(require_auth=False, faults=Faults(rate=0.3, kinds=("503", "429"), seed=3))
    with emulator_server(faulty) as (_, url):
        first = run_cli(batch(source, f"{output}/", url, "--max-retries", "0", "-q"))
    assert first.returncode == 1, first.stderr
    assert sorted(p.name for p in output.iterdir()) == ["part-00000.jsonl"]
    failed = {line["custom_id"] for line in shard_records(output) if "error" in line}
    assert 0 < len(failed) < 60
    with emulator_server() as (emulator, url):
        second = run_cli(batch(source, output, url, "-q"))  # an existing directory: no slash
        sent = sorted(request.body["messages"][0]["content"] for request in emulator.requests)
    assert second.returncode == 0, second.stderr
    assert sent == sorted(f"q {cid}" for cid in failed)  # only the failures, once each
    assert sorted(p.name for p in output.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl"]
    assert {line["custom_id"] for line in records(output / "part-00001.jsonl")} == failed
    final = shard_records(output)
    assert Counter(line["custom_id"] for line in final) == Counter(ids)
    assert all("response" in line for line in final)
    with emulator_server() as (emulator, url):
        third = run_cli(batch(source, output, url))
        assert emulator.requests == []
    assert third.returncode == 0
    assert "nothing to do" in third.stderr.decode()
    assert len(list(output.iterdir())) == 2  # a run that writes nothing leaves no shard


def test_directories_keep_the_safety_rules(tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_shards(source, {"a.jsonl": 2})
    empty = tmp_path / "empty"
    empty.mkdir()
    holder = tmp_path / "holder"
    write_shards(holder, {"x.jsonl": 2})
    cases = [
        (source, source, f"output directory {source} is the input directory; name another"),
        (source, f"{source}/", f"output directory {source}/ is the input directory; name another"),
        (holder / "x.jsonl", holder, f"output directory {holder} holds the input file; name"),
        (source, source / "out.jsonl", f"output {source / 'out.jsonl'} is in the input directory"),
        (empty, tmp_path / "o.jsonl", f"input directory {empty} holds no *.jsonl files"),
        (source, tmp_path / "no" / "out/", f"output directory {tmp_path / 'no'} does not exist"),
        (source, f"{holder / 'x.jsonl'}/", f"output {holder / 'x.jsonl'}/ is not a directory"),
    ]
    before = sorted(tmp_path.rglob("*"))
    with emulator_server() as (emulator, url):
        for input_, output, message in cases:
            result = run_cli(batch(input_, output, url))
            assert result.returncode == 2, (input_, output, result.stderr)
            assert len(stderr_lines(result)) == 1, result.stderr
            assert stderr_lines(result)[0].startswith(f"vertexchat: {message}"), result.stderr
        assert emulator.requests == []
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


def test_unreadable_shards_and_read_only_directories_give_one_line(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    write_shards(source, {"a.jsonl": 2, "b.jsonl": 2})
    output.mkdir()
    (output / "part-00000.jsonl").write_text("")
    locked = source / "b.jsonl", output / "part-00000.jsonl"
    try:
        with emulator_server() as (emulator, url):
            os.chmod(locked[0], 0)
            unreadable_input = run_cli(batch(source, output, url), prefix=without_dac_override())
            os.chmod(locked[0], 0o644)
            os.chmod(locked[1], 0)
            unreadable_output = run_cli(batch(source, output, url), prefix=without_dac_override())
            os.chmod(locked[1], 0o644)
            os.chmod(output, 0o555)
            read_only = run_cli(batch(source, output, url), prefix=without_dac_override())
            assert emulator.requests == []
    finally:
        for path in (*locked, output):
            os.chmod(path, stat.S_IRWXU)
    for result, path in [
        (unreadable_input, locked[0]),
        (unreadable_output, locked[1]),
        (read_only, output / "part-00001.jsonl"),
    ]:
        assert result.returncode == 2, result.stderr
        assert stderr_lines(result) == [f"vertexchat: Permission denied: {path} [errno 13]"]
    assert [p.name for p in output.iterdir()] == ["part-00000.jsonl"]


def test_kill_and_rerun_into_an_output_directory_is_exactly_once(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    ids = write_shards(source, {"a.jsonl": 400, "b.jsonl": 400})
    command = [*CLI, "batch", str(source), "-o", f"{output}/", "--emulator", "-q",
               "--concurrency", "4", "--emulator-latency", "0.01"]  # fmt: skip
    first = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stderr=subprocess.DEVNULL)
    wait_for_lines(output / "part-00000.jsonl", 100, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    written = len(records_cut(output / "part-00000.jsonl"))
    assert 100 <= written < 800
    second = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, check=False)
    assert second.returncode == 0, second.stderr
    final = shard_records(output)
    assert Counter(line["custom_id"] for line in final) == Counter(ids)
    assert all("response" in line for line in final)
    assert len(records(output / "part-00001.jsonl")) == 800 - written


def records_cut(path: Path) -> list[bytes]:
    """The complete lines of a file a kill may have left with a partial last line."""
    return path.read_bytes().split(b"\n")[:-1]


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    """Block until ``path`` has ``count`` lines (the CLI writes them as results arrive)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and process.poll() is None:
            if path.exists() and path.read_bytes().count(b"\n") >= count:
                done.set()
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join(timeout=300)
    assert done.is_set(), "the CLI ended before writing enough lines"


def test_an_id_twice_in_an_output_directory_counts_by_its_best_line(tmp_path: Path) -> None:
    # Shards journalled in parallel (vertexchat.ray's result directories) say nothing about
    # time by their order: an answer in any shard beats a transient error in a later one.
    source, output = tmp_path / "in.jsonl", tmp_path / "out"
    source.write_text(request_line("x") + "\n" + request_line("y") + "\n")
    output.mkdir()
    answer = {"custom_id": "x", "response": {"id": "kept", "object": "chat.completion"}}
    late = {"error": {"type": "RateLimitError", "status_code": 429, "kind": "transient"}}
    (output / "part-a.jsonl").write_text(json.dumps(answer) + "\n")
    (output / "part-b.jsonl").write_text(json.dumps({"custom_id": "x", **late}) + "\n")
    with emulator_server() as (emulator, url):
        result = run_cli(batch(source, output, url, "-q"))
        sent = [request.body["messages"][0]["content"] for request in emulator.requests]
    assert result.returncode == 0, result.stderr
    assert sent == ["hello"]  # y only: x was answered
    lines = shard_records(output)
    assert sorted(line["custom_id"] for line in lines) == ["x", "y"]
    assert [line for line in lines if line["custom_id"] == "x"] == [answer]
    assert records(output / "part-b.jsonl") == []  # the superseded error was compacted away


def test_a_directory_journaled_by_workers_resumes_with_the_cli_and_back(tmp_path: Path) -> None:
    # One output format for every engine: what Ray/Dask workers journal (``_shards.Journal``)
    # the CLI resumes, and what the CLI writes the engines' reader (``read_index``) reads.
    from vertexchat._shards import Journal, read_index

    source, output = tmp_path / "in.jsonl", tmp_path / "out"
    ids = write_shards(tmp_path, {"in.jsonl": 30})
    journal = Journal(output)
    answered = {"id": "r", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    for custom_id in ids[:10]:
        journal.write({"custom_id": custom_id, "response": answered})
    throttled = {"type": "RateLimitError", "message": "m", "status_code": 429, "kind": "transient"}
    journal.write({"custom_id": ids[10], "error": throttled})
    journal.close()
    with emulator_server() as (emulator, url):
        resumed = run_cli(batch(source, output, url, "-q"))
        sent = sorted(request.body["messages"][0]["content"] for request in emulator.requests)
    assert resumed.returncode == 0, resumed.stderr
    assert sent == sorted(f"q {cid}" for cid in ids[10:])  # the transient failure redone
    index = read_index(output)
    assert index.outcomes == dict.fromkeys(ids, "ok")
    assert (index.lines, index.duplicates) == (30, 0)  # the CLI compacted the 429 line away
