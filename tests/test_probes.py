"""``doctor --probe-wire`` reports whichever way the server behaves, one emulated variant each.

The emulator answers the open questions of vertex-api.md §10 one way or another
(``WireVariant``); the probes must tell each variant apart and judge it against the
assumptions in ``vertexchat._wire_facts``.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from vertexchat._probes import ProbeResult, run_probes
from vertexchat._wire_facts import FACTS
from vertexchat.testing import Emulator, WireVariant

MODEL = "google/gemini-2.5-flash"
URL = "https://probe.test/v1/projects/p/locations/global/endpoints/openapi/chat/completions"


async def probe(variant: WireVariant, **emulator_options: object) -> dict[str, ProbeResult]:
    emulator = Emulator(wire=variant, **emulator_options)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=emulator.transport(), headers={"authorization": "Bearer t"}
    ) as http:
        results = await run_probes(http, URL, MODEL)
    assert len(emulator.requests) == 5  # what COST_NOTE promises
    return {result.fact_id: result for result in results}


async def test_every_fact_is_reported_once_and_the_default_matches_our_assumptions() -> None:
    results = await probe(WireVariant(), models={MODEL})
    assert sorted(results) == sorted(fact.id for fact in FACTS)
    verdicts = {fact_id: result.verdict for fact_id, result in results.items()}
    assert "differs" not in verdicts.values(), results


@pytest.mark.parametrize(
    ("error_body", "observed"),
    [
        ("vertex", "400: array; 404: object"),
        ("object", "400: object; 404: object"),
        ("array", "400: array; 404: array"),
    ],
)
async def test_error_body_shape(error_body: str, observed: str) -> None:
    results = await probe(WireVariant(error_body=error_body), models={MODEL})  # type: ignore[arg-type]
    assert results["error_body_shape"].observed == observed
    assert results["error_body_shape"].verdict == "consistent"


@pytest.mark.parametrize(
    ("stream_usage", "observed", "verdict"),
    [
        (
            "final-chunk",
            "without stream_options: last content chunk; with include_usage: last content chunk",
            "consistent",
        ),
        (
            "include-usage-only",
            "without stream_options: absent; with include_usage: last content chunk",
            "differs",
        ),
        (
            "separate-chunk",
            "without stream_options: absent; with include_usage: separate empty-choices chunk",
            "differs",
        ),
    ],
)
async def test_stream_usage(stream_usage: str, observed: str, verdict: str) -> None:
    results = await probe(WireVariant(stream_usage=stream_usage))  # type: ignore[arg-type]
    assert (results["stream_usage"].observed, results["stream_usage"].verdict) == (
        observed,
        verdict,
    )


@pytest.mark.parametrize("split", [True, False])
async def test_thought_tags_split_or_whole(split: bool) -> None:
    results = await probe(WireVariant(split_thought_tags=split))
    observed = results["thought_tag_bytes"].observed
    assert observed.startswith("1 thought block(s); starts with the tag: yes")
    assert observed.endswith(f"tags cut across chunks: {'yes' if split else 'no'}")
    assert results["thought_tag_bytes"].verdict == "consistent"


@pytest.mark.parametrize("honoured", [True, False])
async def test_thinking_config_honoured_or_ignored(honoured: bool) -> None:
    results = await probe(WireVariant(honours_thinking_config=honoured))
    result = results["thinking_config_honoured"]
    assert result.verdict == ("consistent" if honoured else "differs")
    assert result.observed.startswith(
        "thought summary returned" if honoured else "thought summary missing"
    )
    if not honoured:
        assert results["thought_tag_bytes"].verdict == "differs"


@pytest.mark.parametrize("honoured", [True, False])
async def test_top_level_google(honoured: bool) -> None:
    results = await probe(WireVariant(honours_top_level_google=honoured))
    result = results["top_level_google"]
    assert result.observed.startswith("takes effect" if honoured else "no effect")
    assert result.verdict == ("differs" if honoured else "consistent")


@pytest.mark.parametrize("header", [None, "x-request-id", "x-goog-request-id"])
async def test_request_id_headers(header: str | None) -> None:
    results = await probe(WireVariant(request_id_header=header))
    expected = header or "no request-id or trace header"
    assert results["request_id_headers"].observed == expected


def test_probe_wire_asks_before_spending_and_refuses_without_a_terminal() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vertexchat", "doctor", "--emulator", "--probe-wire"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert "billed to the project" in done.stderr
    assert "pass --yes" in done.stderr
    assert done.stdout == ""  # nothing was sent, nothing reported


def test_probe_wire_report_on_the_emulator() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vertexchat", "doctor", "--emulator", "--probe-wire", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| fact | observed | vertexchat assumes | verdict |"
    assert {line.split(" | ")[0][2:] for line in table[1:]} == {fact.id for fact in FACTS}
