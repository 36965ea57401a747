"""The ``emulator`` sub-command's parser, its failure paths and its request log."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from vertexchat.testing._command import add_emulator_parser, emulator_from_args, run_emulator


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vertexchat")
    add_emulator_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


def test_defaults() -> None:
    args = parse()
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    emulator = emulator_from_args(args)
    assert emulator.tokens is None
    assert emulator.require_auth
    assert emulator.faults.rate == 0.0


def test_options_build_the_emulator() -> None:
    args = parse("--token", "a", "--token", "b", "--fault-rate", "0.25", "--fault", "503",
                 "--latency", "0.1", "--max-concurrency", "4", "--seed", "9", "--no-auth",
                 "--schedule", "429", "--remote-media")  # fmt: skip
    emulator = emulator_from_args(args)
    assert emulator.tokens == frozenset({"a", "b"})
    assert not emulator.require_auth
    assert emulator.remote_media
    faults = emulator.faults
    assert (faults.rate, faults.kinds, faults.schedule) == (0.25, ("503",), ("429",))
    assert (faults.latency, faults.max_concurrency, faults.seed) == (0.1, 4, 9)


def test_bad_fault_is_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_emulator(parse("--fault", "teapot")) == 2
    assert "teapot" in capsys.readouterr().err


def test_busy_port_is_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run_emulator(parse("--port", str(port))) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_request_log_has_each_request_received_as_a_json_line(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    command = [sys.executable, "-m", "vertexchat", "emulator", "--port", "0", "--no-auth"]
    server = subprocess.Popen(
        [*command, "--request-log", str(log)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    try:
        base_url = next(line for line in server.stdout if "base URL:" in line).split()[-1]
        payload = {
            "model": "google/gemini-2.5-flash",
            "messages": [{"role": "user", "content": "hi"}],
        }
        for _ in range(2):
            assert httpx.post(f"{base_url}/chat/completions", json=payload).status_code == 200
        assert httpx.post(f"{base_url}/chat/completions", content=b"{").status_code == 400
    finally:
        server.terminate()
        server.wait()
        server.stdout.close()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry["body"] for entry in entries] == [payload, payload, None]  # received, as sent
    assert all(
        entry["method"] == "POST" and entry["path"].endswith("/chat/completions")
        for entry in entries
    )


def test_an_unwritable_request_log_is_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_emulator(parse("--request-log", str(tmp_path / "missing" / "log"))) == 2
    assert "No such file or directory" in capsys.readouterr().err
