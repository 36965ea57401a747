"""Peak memory stays bounded by ``ResponseLimits`` when a server sends far too much.

Each case runs in a fresh interpreter: a raw socket server thread in that process streams the
hostile reply from one reused 1 MiB buffer (so the server itself holds almost nothing), the
client reads it with the default limits, and the process reports how far its peak RSS
(``ru_maxrss``) grew during the call. Select these with ``-m memory``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vertexchat import ResponseLimits

pytestmark = pytest.mark.memory

MiB = 1024 * 1024
LIMITS = ResponseLimits()
# What the process may grow beyond the limit in force: httpx's and the decoder's buffers, the
# exception and its traceback, allocator slack. The unbounded code grew 837 MB for a 200 MB line.
MARGIN = 48 * MiB

PROBE = Path(__file__).with_name("_memory_probe.py")


def _run(mode: str, size: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(PROBE), mode, str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return outcome


def test_a_200_mb_stream_line_without_newline_is_refused_within_its_limit() -> None:
    outcome = _run("line", 200 * MiB)
    assert outcome["type"] == "ResponseTooLargeError"
    assert outcome["limit"] == "max_sse_line_bytes"
    assert outcome["growth"] < LIMITS.max_sse_line_bytes + MARGIN, outcome


def test_a_300_mb_body_is_refused_within_its_limit() -> None:
    outcome = _run("body", 300 * MiB)
    assert outcome["type"] == "ResponseTooLargeError"
    assert outcome["limit"] == "max_body_bytes"
    assert outcome["growth"] < LIMITS.max_body_bytes + MARGIN, outcome


def test_a_50_mb_error_message_is_read_only_up_to_the_error_body_limit_and_clipped() -> None:
    outcome = _run("error", 50 * MiB)
    assert outcome["type"] == "BadRequestError"
    assert outcome["growth"] < LIMITS.max_error_body_bytes + MARGIN, outcome
    assert outcome["str_len"] <= LIMITS.max_error_message_chars + 200, outcome


def test_a_50_mb_error_message_inside_a_stream_is_clipped_in_str() -> None:
    outcome = _run("stream-error", 50 * MiB)
    assert outcome["type"] == "StreamError"
    assert outcome["str_len"] <= LIMITS.max_error_message_chars + 200, outcome
    # The event (under max_sse_event_chars) is held while parsed: its text, the decoded JSON
    # and the validated model each hold the message once.
    assert outcome["growth"] < 4 * 50 * MiB + MARGIN, outcome
