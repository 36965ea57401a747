"""Log lines without credentials, batch milestones and the VERTEXCHAT_LOG switch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vertexchat._logs import attempt_line, batch_milestone, redact_url

BASE_V1 = "https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/openapi"
BASE = "https://aiplatform.googleapis.com/v1beta1/projects/p/locations/global/endpoints/openapi"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{BASE}/chat/completions", f"{BASE}/chat/completions"),
        (f"{BASE}/chat/completions?key=AIzaSECRET", f"{BASE}/chat/completions?key=REDACTED"),
        ("https://user:pa55@proxy.example:8443/v1/x", "https://proxy.example:8443/v1/x"),
        ("http://h/x?alt=sse&access_token=ya29.SECRET&Key=K", "http://h/x?alt=sse&access_token=REDACTED&Key=REDACTED"),
        ("http://127.0.0.1:8080/v1/chat/completions?", "http://127.0.0.1:8080/v1/chat/completions"),
    ],
)  # fmt: skip
def test_urls_lose_their_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    for secret in ("SECRET", "pa55", "=K"):
        assert secret not in redact_url(url)


def test_an_attempt_line_names_everything_but_secrets() -> None:
    line = attempt_line(
        method="POST",
        url="https://u:p@h/v1/chat/completions?key=s3cr3t",
        outcome="200",
        attempt=2,
        max_attempts=3,
        latency=0.4126,
        request_id="abc123",
        model="google/gemini-2.5-flash",
        tokens=(12, 34),
    )
    assert line == (
        "POST https://h/v1/chat/completions?key=REDACTED -> 200 (attempt 2/3, 413 ms, "
        "request_id=abc123, model=google/gemini-2.5-flash, tokens=12 in/34 out)"
    )


def test_batch_milestones() -> None:
    assert [n for n in range(5_001) if batch_milestone(n)] == [1, 10, 100, 1000, 2000, 3000,
                                                               4000, 5000]  # fmt: skip


CALL = """
import anyio, httpx, vertexchat
from vertexchat.testing import Emulator

async def main():
    http = httpx.AsyncClient(transport=Emulator().transport())
    auth = "ya29.TOKEN-SECRET"
    async with vertexchat.Client("p", "global", auth=auth, http_client=http) as client:
        await client.chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=[{"role": "user", "content": "a private prompt"}])

anyio.run(main)
"""


@pytest.mark.parametrize(
    ("value", "expect_debug"), [("debug", True), ("DEBUG", True), ("info", False), ("", False)]
)
def test_vertexchat_log_switch(value: str, expect_debug: bool) -> None:
    env = {"VERTEXCHAT_LOG": value, "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", CALL], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "vertexchat.request" in line]
    if expect_debug:
        [line] = lines
        assert f"DEBUG] POST {BASE_V1}/chat/completions -> 200 (attempt 1/" in line
        assert "model=google/gemini-2.5-flash, tokens=" in line
    else:
        assert lines == []
    assert "TOKEN-SECRET" not in result.stderr
    assert "private prompt" not in result.stderr
