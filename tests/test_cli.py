"""The vertexchat command line: batch (resume, invalid lines, duplicates, kill -9), chat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import vertexchat
from vertexchat import ChatCompletion
from vertexchat._cli import DEFAULT_MODEL, main
from vertexchat._cli_files import BatchInput
from vertexchat._jsonl import parse_input_line
from vertexchat.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://emulator/v1/projects/p/locations/global/endpoints/openapi"


def request_line(custom_id: str, text: str = "hello") -> str:
    body = {"messages": [{"role": "user", "content": text}]}
    return json.dumps(
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    )


def write_input(path: Path, count: int) -> list[str]:
    ids = [f"req-{n:04d}" for n in range(count)]
    path.write_text("".join(request_line(i, f"question {i}") + "\n" for i in ids))
    return ids


def output_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def ids_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["custom_id"] for record in records]


def test_parse_input_line_formats() -> None:
    line = parse_input_line(request_line("a"), 1)
    assert line.custom_id == "a"
    assert line.body == {"messages": [{"role": "user", "content": "hello"}]}
    bare = parse_input_line('{"messages": [{"role": "user", "content": "x"}], "model": "m"}', 7)
    assert bare.custom_id == "line-7"
    assert bare.body == {"messages": [{"role": "user", "content": "x"}], "model": "m"}
    assert parse_input_line("{nope", 3).problem == "line 3: not valid JSON " + (
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    )
    assert parse_input_line("[1]", 4).problem == "line 4: expected a JSON object"
    embeddings = parse_input_line('{"custom_id": "e", "url": "/v1/embeddings", "body": {}}', 5)
    assert embeddings.custom_id == "e"
    assert embeddings.body is None
    assert parse_input_line('{"custom_id": 5, "body": {}}', 6).problem is not None


def test_batch_happy_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 30)
    assert main(["batch", str(source), "-o", str(output), "--emulator"]) == 0
    records = output_records(output)
    assert sorted(ids_of(records)) == ids
    for record in records:
        completion = ChatCompletion.model_validate(record["response"])
        assert completion.model == "google/gemini-2.5-flash"  # the default model was filled in
        assert completion.choices[0].message.content
    err = capsys.readouterr().err
    assert "done 30: 30 ok, 0 failed" in err
    assert "latency p50" in err


def test_batch_resumes_and_repairs_a_partial_last_line(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 10)
    earlier = {"custom_id": ids[3], "response": {"id": "from-an-earlier-run"}}
    output.write_text(json.dumps(earlier) + "\n" + '{"custom_id": "' + ids[4] + '", "resp')
    assert main(["batch", str(source), "-o", str(output), "--emulator", "-q"]) == 0
    records = output_records(output)
    assert sorted(ids_of(records)) == ids
    assert records[0] == earlier  # kept, not run again
    # nothing left: a rerun writes nothing
    assert main(["batch", str(source), "-o", str(output), "--emulator", "-q"]) == 0
    assert len(output_records(output)) == 10


def test_invalid_lines_become_error_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        request_line("good-1"),
        "this is not json",
        "",
        '{"custom_id": "no-body"}',
        '{"custom_id": "empty", "body": {"messages": []}}',
        request_line("good-2"),
    ]
    source.write_text("\n".join(lines) + "\n")
    assert main(["batch", str(source), "-o", str(output), "--emulator"]) == 1
    records = {r["custom_id"]: r for r in output_records(output)}
    assert set(records) == {"good-1", "line-2", "no-body", "empty", "good-2"}
    assert "response" in records["good-1"]
    assert "response" in records["good-2"]
    assert records["line-2"]["error"]["type"] == "InvalidRequestError"
    assert records["line-2"]["error"]["message"].startswith("line 2: not valid JSON")
    assert records["no-body"]["error"]["message"].startswith("line 4:")
    assert records["empty"]["error"]["type"] == "InvalidRequestError"
    assert records["empty"]["error"]["status_code"] is None
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err
    assert "3 failed" in err


def test_duplicate_custom_ids_are_rejected_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join([request_line("a"), request_line("b"), request_line("a")]))
    assert main(["batch", str(source), "-o", str(output), "--emulator"]) == 2
    assert not output.exists()
    assert "duplicate custom_id 'a' on lines 1 and 3" in capsys.readouterr().err


def test_missing_credentials_give_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 5)
    assert main(["batch", str(source), "-o", str(output), "--project", "p", "-q"]) == 2
    assert not output.exists()  # nothing created: a rerun with credentials starts afresh
    assert main(["chat", "hi", "--project", "p"]) == 2
    err = capsys.readouterr().err
    assert "gcloud auth application-default login" in err
    assert "Traceback" not in err


def test_chat_streams_the_answer_and_shows_thoughts_apart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["chat", "Why is the sky blue?", "--emulator", "--think", "256"]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    assert "<thought>" not in out
    assert "Planning the answer" in err  # the emulator's thought summary
    assert "Planning the answer" not in out
    command = ["chat", "Why is the sky blue?", "--emulator", "--think", "256", "--no-stream"]
    assert main(command) == 0
    assert capsys.readouterr().out == out  # the same deterministic answer, thoughts apart


def test_chat_with_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from make_prompts import png
    finally:
        sys.path.remove(str(ROOT / "examples"))
    picture = tmp_path / "gradient.png"
    picture.write_bytes(png(16, (200, 50, 50), 0.5))
    assert main(["chat", "Describe this.", "--image", str(picture), "--emulator"]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["chat", "Describe this.", "--image", str(tmp_path / "nope.png")]) == 2


async def test_example_prompts_all_succeed() -> None:
    lines = list(BatchInput.open(str(ROOT / "examples" / "prompts.jsonl")).lines())
    assert len(lines) >= 300
    requests = [{"model": DEFAULT_MODEL, **line.body} for line in lines if line.body]
    assert len(requests) == len(lines)
    emulator = Emulator(require_auth=False)
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        client = vertexchat.Client(base_url=BASE_URL, auth=None, http_client=http)
        async with client.batch(requests) as results:
            failures = [(r.index, r.error) async for r in results if not r.ok]
    assert failures == []
    kinds = {line.custom_id.rsplit("-", 1)[0] for line in lines}
    assert kinds == {"plain", "system", "multiturn", "image", "thinking", "structured", "tools"}


# --- real processes -------------------------------------------------------------------------


def start_batch(
    source: Path, output: Path, *extra: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "vertexchat", "batch", str(source), "-o", str(output)]
    with (log or Path(os.devnull)).open("wb") as stderr:
        return subprocess.Popen(
            [*command, "--emulator", *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr
        )


def wait_for_lines(process: subprocess.Popen[bytes], output: Path, lines: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if output.exists() and output.read_bytes().count(b"\n") >= lines:
            return
        assert process.poll() is None, "the batch ended before it could be interrupted"
        time.sleep(0.02)
    process.kill()
    pytest.fail("no results appeared within 60 s")


def test_sigkill_then_rerun_gives_exactly_one_line_per_input(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 150)
    process = start_batch(source, output, "--concurrency", "4", "--emulator-latency", "0.1")
    wait_for_lines(process, output, 10)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    written = output.read_bytes().count(b"\n")
    assert 10 <= written < 150  # killed mid-way
    with output.open("ab") as file:  # as if the kill had cut a line in half
        file.write(b'{"custom_id": "req-0149", "response": {"id": "cut sh')
    rerun = start_batch(source, output)
    assert rerun.wait(timeout=120) == 0
    assert sorted(ids_of(output_records(output))) == ids


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child is POSIX here")
def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 150)
    log = tmp_path / "stderr.txt"
    slow = ("--concurrency", "4", "--emulator-latency", "0.1")
    process = start_batch(source, output, *slow, log=log)
    wait_for_lines(process, output, 10)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert "interrupted: rerun the same command" in log.read_text()
    assert "Traceback" not in log.read_text()
    partial = output_records(output)  # whole lines only
    assert len(partial) < 150
    assert len(set(ids_of(partial))) == len(partial)
    assert start_batch(source, output).wait(timeout=120) == 0
    assert sorted(ids_of(output_records(output))) == ids
