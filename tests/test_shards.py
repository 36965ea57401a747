"""Result shards (``_shards``): journals written line by line, read back once per id.

The engine integrations (Ray, Dask) are tested on real clusters in their own modules; these
tests pin what every engine relies on: a kill loses at most a journal's unfinished last line,
readers never see it, and an id written twice reads once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vertexchat
from vertexchat._jsonl import error_line, success_line
from vertexchat._rows import row_from_line, run_rows
from vertexchat._shards import Journal, ShardIndex, read_index, shard_paths, whole_lines
from vertexchat.testing import Emulator

MODEL = "google/gemini-2.5-flash"
BASE_URL = "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi"


def answer(custom_id: str) -> dict[str, Any]:
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    return {"custom_id": custom_id, "response": {"id": "r", "choices": [], "usage": usage}}


def failure(custom_id: str, kind: str, status: int | None = None) -> dict[str, Any]:
    error = {"type": "X", "message": "m", "status_code": status, "kind": kind}
    return {"custom_id": custom_id, "error": error}


def test_each_journal_line_is_in_the_file_when_write_returns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing created before the first row
    journal.write(answer("a"))
    assert [json.loads(raw)["custom_id"] for raw in whole_lines(journal.path)] == ["a"]
    journal.write(failure("b", "permanent"))
    assert read_index(tmp_path / "out").outcomes == {"a": "ok", "b": "permanent"}
    journal.close()
    journal.close()  # twice is harmless (an actor's close() and its __del__)


def test_two_journals_in_one_directory_never_share_a_file(tmp_path: Path) -> None:
    first, second = Journal(tmp_path), Journal(tmp_path)
    first.write(answer("a"))
    second.write(answer("b"))
    first.close()
    second.close()
    assert len(shard_paths(tmp_path)) == 2


def test_an_id_written_twice_reads_once_and_the_best_outcome_wins() -> None:
    index = ShardIndex()
    lines = [
        failure("a", "transient", 429),
        answer("a"),
        failure("a", "permanent", 400),  # an answer beats a later failure
        failure("b", "transient", 503),
        failure("b", "permanent", 400),  # a permanent error beats a transient one
        failure("c", "permanent", 400),
        failure("c", "transient", 503),
    ]
    for line in lines:
        index.feed(json.dumps(line).encode() + b"\n")
    assert index.outcomes == {"a": "ok", "b": "permanent", "c": "permanent"}
    assert index.duplicates == 4
    assert index.finished() == {"a", "b", "c"}
    assert index.finished(retry_failed=True) == {"a"}


def test_readers_skip_a_cut_last_line_hidden_files_and_foreign_lines(tmp_path: Path) -> None:
    shard = tmp_path / "part-1.jsonl"
    whole = json.dumps(answer("a")) + "\n"
    cut = json.dumps(answer("b"))[:-7]  # a kill in the middle of a line
    shard.write_text(whole + "not json\n" + cut)
    (tmp_path / ".part-2.jsonl").write_text(json.dumps(answer("c")) + "\n")
    (tmp_path / "notes.txt").write_text(json.dumps(answer("d")) + "\n")
    index = read_index(tmp_path)
    assert index.outcomes == {"a": "ok"}
    assert index.foreign == 1
    assert shard_paths(tmp_path) == [shard]


def test_an_absent_output_is_empty_and_a_file_is_refused(tmp_path: Path) -> None:
    assert read_index(tmp_path / "missing").outcomes == {}
    (tmp_path / "file.jsonl").write_text("")
    with pytest.raises(NotADirectoryError, match="not a directory of result shards"):
        read_index(tmp_path / "file.jsonl")


KILLED_WRITER = """
import sys
from vertexchat._shards import Journal
journal = Journal(sys.argv[1])
print(journal.path, flush=True)
n = 0
while True:
    journal.write({"custom_id": f"id-{n}", "response": {"text": "x" * 4096}})
    n += 1
"""


def test_a_writer_killed_mid_stream_leaves_only_whole_rows(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    path = Path(writer.stdout.readline().strip())
    while not path.exists() or path.stat().st_size < 4_000_000:
        assert writer.poll() is None, "the writer ended early"
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    index = read_index(tmp_path)
    assert index.foreign == 0  # every line a reader sees is a whole result
    assert len(index.outcomes) >= 900
    assert set(index.outcomes) == {f"id-{n}" for n in range(len(index.outcomes))}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_any_bytes_in_a_shard_index_as_results_or_foreign_lines(lines: list[bytes]) -> None:
    index = ShardIndex()
    for raw in lines:
        index.feed(raw)
    assert index.lines == len(lines)
    assert index.foreign + len(index.outcomes) + index.duplicates == len(lines)


def test_a_row_read_back_from_its_line_counts_tokens_as_the_live_row(tmp_path: Path) -> None:
    async def live() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines: list[dict[str, Any]] = []
        requests = [json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})]
        async with httpx.AsyncClient(transport=Emulator(require_auth=False).transport()) as http:
            client = vertexchat.Client(base_url=BASE_URL, auth=None, http_client=http)
            async with client:
                rows = await run_rows(client, ["a"], requests, on_line=lines.append)
        return rows, lines

    import anyio

    rows, lines = anyio.run(live)
    assert lines == [success_line("a", _response(rows[0]))]
    again = row_from_line(json.loads(json.dumps(lines[0])))
    for key in ("custom_id", "response", "prompt_tokens", "completion_tokens", "total_tokens"):
        assert again[key] == rows[0][key]
    assert rows[0]["total_tokens"] > 0
    assert again["attempts"] is None  # not stored: unknown, not zero
    assert again["latency"] is None
    assert rows[0]["attempts"] == 1


def _response(row: dict[str, Any]) -> vertexchat.ChatCompletion:
    return vertexchat.ChatCompletion.model_validate_json(row["response"])


def test_a_line_with_counts_that_are_not_counts_reads_as_zero_tokens() -> None:
    line = answer("a")
    line["response"]["usage"] = {"prompt_tokens": "many", "total_tokens": True}
    row = row_from_line(line)
    assert (row["prompt_tokens"], row["total_tokens"]) == (0, 0)
    assert row_from_line(error_line("b", "request: bad"))["error_type"] == "InvalidRequestError"
