"""``vertexchat batch`` as a subprocess: resume semantics, early stop, data safety, OS errors.

Every test runs the real command line in its own process against a real emulator server and
real files (devices, hard links, read-only directories), and checks exit code, stderr and the
output file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests._cli_support import (
    by_id,
    cli_env,
    emulator_server,
    records,
    request_line,
    run_cli,
    stderr_lines,
    without_dac_override,
    write_input,
)
from vertexchat.testing import Emulator, Faults

LATIN1_LINE = '{"custom_id": "b", "body": {"messages": [{"content": "caf\xe9"}]}}'.encode(
    "latin-1"
)


def batch(source: Path | str, output: Path | str, base_url: str, *extra: str) -> list[str]:
    return ["batch", str(source), "-o", str(output), "--base-url", base_url, "--no-auth", *extra]


def test_transient_failures_are_redone_on_rerun(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 60)
    faulty = Emulator(require_auth=False, faults=Faults(rate=0.3, kinds=("503", "429"), seed=3))
    with emulator_server(faulty) as (_, url):
        first = run_cli(batch(source, output, url, "--max-retries", "0", "-q"))
    assert first.returncode == 1, first.stderr
    lines = by_id(output)
    assert sorted(lines) == ids
    failed = {cid for cid, line in lines.items() if "error" in line}
    assert 0 < len(failed) < 60
    assert {lines[cid]["error"]["kind"] for cid in failed} == {"transient"}
    assert {lines[cid]["error"]["status_code"] for cid in failed} <= {503, 429}
    kept = {cid: line for cid, line in lines.items() if cid not in failed}

    with emulator_server() as (emulator, url):
        second = run_cli(batch(source, output, url, "-q"))
        sent = [request.body["messages"][0]["content"] for request in emulator.requests]
    assert second.returncode == 0, second.stderr
    assert sorted(sent) == sorted(f"question {cid}" for cid in failed)  # only those, once
    final = by_id(output)
    assert sorted(final) == ids
    assert all("response" in line for line in final.values())
    assert {cid: final[cid] for cid in kept} == kept  # successes untouched


def test_permanent_failures_are_kept_until_retry_failed(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    remote = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    lines = [request_line(f"ok-{n}") for n in range(5)]
    lines += [
        json.dumps(
            {
                "custom_id": f"remote-{n}",
                "body": {"messages": [{"role": "user", "content": remote}]},
            }
        )
        for n in range(3)
    ]
    source.write_text("\n".join(lines) + "\n")
    with emulator_server() as (_, url):  # the emulator, like Vertex, cannot fetch https media
        first = run_cli(batch(source, output, url))
        assert first.returncode == 1
        assert "3 permanent (fix them, then rerun with --retry-failed)" in first.stderr.decode()
        kinds = {cid: line.get("error", {}).get("kind") for cid, line in by_id(output).items()}
        assert sorted(cid for cid, kind in kinds.items() if kind == "permanent") == [
            "remote-0",
            "remote-1",
            "remote-2",
        ]
        again = run_cli(batch(source, output, url))
    assert again.returncode == 1  # still failed, nothing redone
    assert "nothing to do" in again.stderr.decode()
    with emulator_server(Emulator(require_auth=False, remote_media=True)) as (emulator, url):
        retried = run_cli(batch(source, output, url, "--retry-failed"))
        assert len(emulator.requests) == 3
    assert retried.returncode == 0, retried.stderr
    assert all("response" in line for line in by_id(output).values())


def test_output_equal_to_the_input_or_a_hard_link_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 3)
    before = source.read_bytes()
    link = tmp_path / "link.jsonl"
    os.link(source, link)
    symlink = tmp_path / "sym.jsonl"
    symlink.symlink_to(source)
    with emulator_server() as (emulator, url):
        for target in (source, link, symlink):
            result = run_cli(batch(source, target, url))
            assert result.returncode == 2
            assert stderr_lines(result) == [
                f"vertexchat: output {target} is the input file (or a link to it); "
                "name another file, the output is appended to"
            ]
        assert emulator.requests == []
    assert source.read_bytes() == before


def test_dev_full_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 3)
    with emulator_server() as (_, url):
        refused = run_cli(batch(source, "/dev/full", url))
        assert refused.returncode == 2
        assert len(stderr_lines(refused)) == 1
        assert "not a regular file" in refused.stderr.decode()
        with open("/dev/full", "wb") as full:  # stdout is /dev/full: ENOSPC on the first line
            result = run_cli_to(batch(source, "-", url, "-q"), stdout=full)
    assert result.returncode == 2
    assert stderr_lines(result) == ["vertexchat: No space left on device [errno 28]"]


def run_cli_to(args: list[str], *, stdout: object) -> object:
    import subprocess

    from tests._cli_support import CLI, ROOT

    return subprocess.run(
        [*CLI, *args], stdout=stdout, stderr=subprocess.PIPE, env=cli_env(), cwd=ROOT, timeout=120
    )


def test_read_only_directory_and_file_give_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 3)
    locked = tmp_path / "locked"
    locked.mkdir()
    existing = tmp_path / "existing.jsonl"
    existing.write_text("")
    os.chmod(existing, 0o444)
    os.chmod(locked, 0o555)
    try:
        with emulator_server() as (emulator, url):
            for target in (locked / "out.jsonl", existing):
                result = run_cli(batch(source, target, url), prefix=without_dac_override())
                assert result.returncode == 2, result.stderr
                assert stderr_lines(result) == [
                    f"vertexchat: Permission denied: {target} [errno 13]"
                ]
            assert emulator.requests == []  # nothing was paid for
        assert list(locked.iterdir()) == []
    finally:
        os.chmod(locked, stat.S_IRWXU)


def test_a_wrong_base_url_stops_within_the_first_requests(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 2000)
    with emulator_server() as (emulator, url):
        wrong = url.replace("/v1/", "/v2/")
        result = run_cli(batch(source, output, wrong))
        sent = len(emulator.requests)
    assert result.returncode == 3, result.stderr
    assert sent <= 16
    last = stderr_lines(result)[-1]
    assert last.startswith(
        "vertexchat: stopped: the first 8 requests all failed with NotFoundError"
    )
    assert "check --base-url" in last
    written = records(output)
    assert 1 <= len(written) <= sent  # what came back is kept; the rest was never sent
    assert {line["error"]["status_code"] for line in written} == {404}


def test_a_wrong_model_stops_and_names_the_flag(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 500)
    emulator = Emulator(require_auth=False, models={"google/gemini-2.5-flash"})
    with emulator_server(emulator) as (_, url):
        result = run_cli(batch(source, output, url, "--model", "google/gemini-9"))
        assert len(emulator.requests) <= 16
    assert result.returncode == 3
    assert "check --model" in stderr_lines(result)[-1]


def test_stdin_and_stdout_as_dash(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    ids = write_input(source, 20)
    with emulator_server() as (_, url):
        result = run_cli(batch("-", "-", url, "-q"), stdin=source.read_bytes())
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert sorted(line["custom_id"] for line in out) == ids
    assert all("response" in line for line in out)
    assert not (Path.cwd() / "-").exists()
    with emulator_server() as (_, url):
        named = run_cli(batch("/dev/stdin", "-", url, "-q"), stdin=source.read_bytes())
        into_pipe = run_cli(batch(source, "/dev/stdout", url))
    assert named.returncode == 0
    assert len(named.stdout.splitlines()) == 20
    assert into_pipe.returncode == 2  # a pipe cannot be resumed: refused, not hung
    assert "use -o - to write to stdout" in into_pipe.stderr.decode()


def test_duplicate_ids_on_stdin_become_error_lines(tmp_path: Path) -> None:
    data = "\n".join([request_line("a"), request_line("b"), request_line("a")]) + "\n"
    with emulator_server() as (_, url):
        result = run_cli(batch("-", "-", url, "-q"), stdin=data.encode())
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    errors = [line for line in out if "error" in line]
    assert [line["error"]["message"] for line in errors] == [
        "line 3: duplicate custom_id (first on line 1)"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            request_line("a").encode() + b"\n" + LATIN1_LINE + b"\n",
            "line 2: not UTF-8 text (byte 0xe9 at column 58)",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1: not UTF-8 text (byte 0x89 at column 1)"),
    ],
    ids=["latin-1", "binary"],
)
def test_latin1_or_binary_input_gives_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(content)
    result = run_cli(batch(source, output, "http://127.0.0.1:9/v1"))
    assert result.returncode == 2
    assert len(stderr_lines(result)) == 1
    assert message in result.stderr.decode()
    assert not output.exists()


def test_usage_and_file_errors_create_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 2)
    cases = [
        (
            ["batch", str(source), "-o", str(tmp_path / "no" / "dir.jsonl"), "--emulator"],
            f"vertexchat: output directory {tmp_path / 'no'} does not exist (create it first)",
        ),
        (
            [
                "batch",
                str(tmp_path / "missing.jsonl"),
                "-o",
                str(tmp_path / "o1.jsonl"),
                "--emulator",
            ],
            f"vertexchat: input file not found: {tmp_path / 'missing.jsonl'}",
        ),
        (  # a directory of shards, but the input would be read as one of them
            ["batch", str(source), "-o", str(tmp_path), "--emulator"],
            f"vertexchat: output directory {tmp_path} holds the input file; "
            "name another directory",
        ),
        (  # a directory of shards, but the output would become one of them
            ["batch", str(tmp_path), "-o", str(tmp_path / "o2.jsonl"), "--emulator"],
            f"vertexchat: output {tmp_path / 'o2.jsonl'} is in the input directory (its "
            "*.jsonl files are input shards); write it elsewhere",
        ),
    ]
    for args, line in cases:
        result = run_cli(args)
        assert result.returncode == 2
        assert stderr_lines(result) == [line]
    bad = run_cli(["batch", str(source), "-o", str(tmp_path / "o3.jsonl"), "--concurrency", "0"])
    assert bad.returncode == 2
    assert "--concurrency: must be above 0" in bad.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_credentials_and_certificate_errors_create_nothing(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 2)
    target = ["batch", str(source), "-o", str(output), "--project", "p", "--max-retries", "0"]
    env = cli_env(GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "none.json"))
    no_credentials = run_cli(target, env=env)
    assert no_credentials.returncode == 2
    assert len(stderr_lines(no_credentials)) == 1
    assert "gcloud auth application-default login" in no_credentials.stderr.decode()
    bad_bundle = tmp_path / "bad.pem"
    bad_bundle.write_text("not a certificate\n")
    for bundle in (bad_bundle, tmp_path / "missing.pem"):
        result = run_cli([*target, "--token", "t"], env=cli_env(SSL_CERT_FILE=str(bundle)))
        assert result.returncode == 2
        assert stderr_lines(result) == [
            line for line in stderr_lines(result) if line.startswith("vertexchat: cannot load")
        ]
        assert len(stderr_lines(result)) == 1
        assert str(bundle) in result.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pem", "in.jsonl"]


def test_model_overrides_and_default_model(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        request_line("named", model="google/gemini-2.0-flash-001")
        + "\n"
        + request_line("bare")
        + "\n"
    )
    with emulator_server() as (emulator, url):
        assert (
            run_cli(batch(source, output, url, "--model", "google/gemini-2.5-pro")).returncode == 0
        )
        assert {r.body["model"] for r in emulator.requests} == {"google/gemini-2.5-pro"}
        emulator.clear()
        output.unlink()
        fill = batch(source, output, url, "--default-model", "google/gemini-2.5-pro")
        assert run_cli(fill).returncode == 0
        models = sorted(r.body["model"] for r in emulator.requests)
    assert models == ["google/gemini-2.0-flash-001", "google/gemini-2.5-pro"]


def test_dry_run_checks_offline_and_estimates_tokens(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        request_line("a", "x" * 400),
        request_line("b", "y" * 40),
        "not json",
        json.dumps({"custom_id": "c", "body": {"messages": [], "temprature": 1}}),
    ]
    source.write_text("\n".join(lines) + "\n")
    with emulator_server() as (emulator, url):
        result = run_cli(batch(source, output, url, "--dry-run", "--tpm", "60"))
        assert emulator.requests == []
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "line 3: not valid JSON" in err
    assert "temprature" in err
    assert (
        "4 requests to send (0 already done): 2 valid, 2 invalid; about 110 prompt tokens" in err
    )
    assert "at --tpm 60 that is about 1.8 minutes" in err
    assert not output.exists()


def test_summary_json(tmp_path: Path) -> None:
    source, output, summary = (tmp_path / name for name in ("in.jsonl", "o.jsonl", "s.json"))
    write_input(source, 12)
    faulty = Emulator(require_auth=False, faults=Faults(schedule=("503",) * 3))
    with emulator_server(faulty) as (_, url):
        result = run_cli(
            batch(
                source,
                output,
                url,
                "--max-retries",
                "0",
                "--concurrency",
                "1",
                "--summary-json",
                str(summary),
            )
        )
    assert result.returncode == 1
    data = json.loads(summary.read_text())
    assert data["exit_code"] == 1
    assert (data["done"], data["succeeded"], data["failed_transient"]) == (12, 9, 3)
    assert data["tokens"]["total"] > 0
    assert data["stopped"] is None


def test_version_and_defaults_in_help() -> None:
    from vertexchat import __version__

    version = run_cli(["--version"])
    assert version.stdout.decode().strip() == f"vertexchat {__version__}"
    text = run_cli(["batch", "--help"]).stdout.decode()
    for needle in (
        "(default: 64",
        "--rpm",
        "--tpm",
        "--timeout",
        "--retry-failed",
        "--dry-run",
        "--summary-json",
        "--default-model",
        "Exit codes: 0",
    ):
        assert needle in text, needle


def test_resume_streams_an_output_bigger_than_its_memory_limit(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 61)
    pad = "x" * (5 * 1024 * 1024)
    with output.open("w") as file:  # 60 finished lines, 315 MB
        for custom_id in ids[:60]:
            message = {"role": "assistant", "content": pad}
            response = {"id": "r", "choices": [{"index": 0, "message": message}]}
            file.write(json.dumps({"custom_id": custom_id, "response": response}) + "\n")
    prlimit = shutil.which("prlimit")
    assert prlimit, "prlimit (util-linux) is needed"
    limit = [prlimit, f"--data={200 * 1024 * 1024}", "--"]
    control = subprocess.run(
        [*limit, sys.executable, "-c", f"open({str(output)!r}, 'rb').read()"],
        capture_output=True,
        check=False,
    )
    assert b"MemoryError" in control.stderr  # reading the whole file cannot fit
    result = run_cli(["batch", str(source), "-o", str(output), "--emulator", "-q"], prefix=limit)
    assert result.returncode == 0, result.stderr
    last = json.loads(output.read_bytes().rsplit(b"\n", 2)[-2])
    assert last["custom_id"] == ids[60]
    assert "response" in last


def test_timeout_flag_bounds_each_attempt(tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 2)
    slow = Emulator(require_auth=False, faults=Faults(latency=30.0))
    with emulator_server(slow) as (_, url):
        result = run_cli(batch(source, output, url, "--timeout", "0.5", "--max-retries", "0"))
    assert result.returncode == 1, result.stderr
    errors = [line["error"] for line in records(output)]
    assert [(e["type"], e["kind"]) for e in errors] == [("APITimeoutError", "transient")] * 2
