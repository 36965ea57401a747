"""Pure: the Vertex wire facts nobody here could verify, what we assume, and who relies on it.

Each entry is an open question of ``shared/vertex-api.md`` §10. ``vertexchat doctor
--probe-wire`` asks a live project each question and compares the answer with ``assumed``;
when they differ, ``relied_on_by`` names the one place to change.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FACTS", "WireFact", "fact"]


@dataclass(frozen=True)
class WireFact:
    """One unknown: the question, our current assumption and the code that depends on it."""

    id: str
    question: str
    assumed: str
    relied_on_by: str


FACTS: tuple[WireFact, ...] = (
    WireFact(
        "error_body_shape",
        "Is an error body a JSON object or a one-element array (per status)?",
        "either form, for any status",
        "vertexchat._exceptions (reads both forms)",
    ),
    WireFact(
        "retry_after_header",
        "Does Vertex send Retry-After (or RetryInfo) with a 429?",
        "sometimes; honoured when present, else exponential backoff",
        "vertexchat._retry.RetryPolicy (server delay)",
    ),
    WireFact(
        "request_id_headers",
        "Which response headers identify a request?",
        "none documented; every x-*request-id* / trace header is kept",
        "request ids on completions, errors and logs",
    ),
    WireFact(
        "stream_usage",
        "Does usage arrive in a stream without stream_options, and where?",
        "on the last content chunk, with or without stream_options",
        "vertexchat._accumulate (takes usage from any chunk)",
    ),
    WireFact(
        "thought_tag_bytes",
        "What exactly does thought_tag_marker put in content, and do tags split across chunks?",
        "<marker>…</marker> before the answer, tags may split across chunks",
        "vertexchat._thoughts.ThoughtSplitter",
    ),
    WireFact(
        "thinking_config_honoured",
        "Does extra_body.google.thinking_config take effect (thinking_budget 0 → no thinking)?",
        "yes",
        "vertexchat._request_models.GoogleExtensions.thinking_config",
    ),
    WireFact(
        "top_level_google",
        "Does a top-level 'google' key (instead of extra_body.google) take effect?",
        "no effect; vertexchat sends extra_body.google only",
        "vertexchat._request_models.ExtraBody",
    ),
    WireFact(
        "finish_reasons",
        "How are MALFORMED_FUNCTION_CALL / RECITATION reported?",
        "a free string in finish_reason",
        "vertexchat._response_models.Choice.finish_reason (str)",
    ),
)


def fact(fact_id: str) -> WireFact:
    """The fact with this id (KeyError if there is none)."""
    for entry in FACTS:
        if entry.id == fact_id:
            return entry
    raise KeyError(fact_id)
