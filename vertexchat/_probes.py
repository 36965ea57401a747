"""``vertexchat doctor --probe-wire``: ask a live endpoint the open wire questions.

Edge module. The probes send raw JSON through httpx (not through vertexchat's typed layer,
which would smooth over exactly what is being observed) and compare each answer with the
assumption recorded in ``_wire_facts``. Five requests; three of them generate, each capped at
``max_tokens`` 512.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ._wire_facts import fact

__all__ = ["COST_NOTE", "ProbeResult", "run_probes"]

COST_NOTE = (
    "--probe-wire sends 5 requests to {model}: two that fail on purpose (an unknown model, a "
    "bare model id) and three that generate, each capped at 512 output tokens — at most about "
    "1,700 tokens in all, billed to the project."
)
Verdict = Literal["consistent", "differs", "inconclusive", "not probed"]
_MARKER = "vcprobe"
_PROMPT = "Is 221 a prime number? Answer in one short sentence."
_THINKING = {
    "thinking_config": {"include_thoughts": True, "thinking_budget": 256},
    "thought_tag_marker": _MARKER,
}
_ID_HINTS = ("request-id", "requestid", "trace", "x-goog", "x-guploader")


@dataclass
class ProbeResult:
    """What one fact turned out to be here, against what vertexchat assumes."""

    fact_id: str
    observed: str
    verdict: Verdict
    assumed: str = ""
    relied_on_by: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = fact(self.fact_id)
        self.assumed, self.relied_on_by = known.assumed, known.relied_on_by


@dataclass
class _Seen:
    responses: list[httpx.Response] = field(default_factory=list)


async def run_probes(http: httpx.AsyncClient, url: str, model: str) -> list[ProbeResult]:
    """Every probe, in order, against ``url`` (…/chat/completions) through ``http``."""
    seen = _Seen()
    results = await _error_probes(http, url, model, seen)
    thinking_stream = await _stream(
        http, url, seen, _body(model, extra_body={"google": _THINKING})
    )
    plain_usage = await _stream(http, url, seen, _body(model, stream_options=True))
    results.append(_stream_usage(thinking_stream, plain_usage))
    results += _thought_results(thinking_stream)
    top_level = await _post(http, url, seen, _body(model, google=_THINKING))
    results.append(_top_level_google(top_level))
    results.append(_request_ids(seen))
    results.append(ProbeResult("finish_reasons", "cannot be provoked cheaply", "not probed"))
    return results


def _body(model: str, *, stream_options: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": _PROMPT}],
        "max_tokens": 512,
    }
    if stream_options:
        body["stream_options"] = {"include_usage": True}
    return {**body, **extra}


# --- sending ------------------------------------------------------------------------------------


async def _post(
    http: httpx.AsyncClient, url: str, seen: _Seen, body: Mapping[str, Any]
) -> httpx.Response:
    response = await http.post(url, json=body)
    seen.responses.append(response)
    return response


@dataclass
class _StreamSeen:
    status: int
    events: list[Any] = field(default_factory=list)
    raw_pieces: list[str] = field(default_factory=list)
    error: str | None = None


async def _stream(
    http: httpx.AsyncClient, url: str, seen: _Seen, body: dict[str, Any]
) -> _StreamSeen:
    from ._sse import SSEDecoder

    async with http.stream("POST", url, json={**body, "stream": True}) as response:
        seen.responses.append(response)
        result = _StreamSeen(response.status_code)
        if response.status_code != 200:
            await response.aread()
            result.error = response.text[:300]
            return result
        decoder = SSEDecoder()
        async for data in response.aiter_bytes():
            for event in decoder.feed(data):
                if event.data != "[DONE]":
                    result.events.append(_json(event.data))
        result.events += [_json(event.data) for event in decoder.close()]
    return result


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- the facts ----------------------------------------------------------------------------------


async def _error_probes(
    http: httpx.AsyncClient, url: str, model: str, seen: _Seen
) -> list[ProbeResult]:
    shapes: dict[str, str] = {}
    retry_after: dict[str, str] = {}
    publisher = model.split("/", 1)[0] if "/" in model else "google"
    for body in (
        _body(f"{publisher}/vertexchat-doctor-no-such-model"),
        _body(model.rsplit("/", 1)[-1]),
    ):
        response = await _post(http, url, seen, body)
        if response.status_code >= 400:
            shapes[str(response.status_code)] = _shape(response.content)
            if "retry-after" in response.headers:
                retry_after[str(response.status_code)] = response.headers["retry-after"]
    if not shapes:
        shape = ProbeResult("error_body_shape", "no error could be provoked", "inconclusive")
    else:
        observed = "; ".join(f"{status}: {form}" for status, form in sorted(shapes.items()))
        odd = any(form not in ("object", "array") for form in shapes.values())
        shape = ProbeResult(
            "error_body_shape", observed, "differs" if odd else "consistent", evidence=shapes
        )
    seen_retry = ", ".join(f"{k}: {v}" for k, v in retry_after.items()) or "none on 400/404"
    return [
        shape,
        ProbeResult("retry_after_header", f"{seen_retry} (no 429 provoked)", "not probed"),
    ]


def _shape(content: bytes) -> str:
    try:
        value = json.loads(content)
    except ValueError:
        return "not JSON"
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return "array" if "error" in value[0] else "other"
    if isinstance(value, dict):
        return "object" if "error" in value else "other"
    return "other"


def _usage_place(stream: _StreamSeen) -> str:
    if stream.error is not None:
        return f"the request failed ({stream.status})"
    places = []
    for event in stream.events:
        if isinstance(event, dict) and event.get("usage"):
            has_content = bool(event.get("choices"))
            places.append("last content chunk" if has_content else "separate empty-choices chunk")
    return " and ".join(places) or "absent"


def _stream_usage(without: _StreamSeen, with_options: _StreamSeen) -> ProbeResult:
    plain, asked = _usage_place(without), _usage_place(with_options)
    observed = f"without stream_options: {plain}; with include_usage: {asked}"
    if without.error is not None or with_options.error is not None:
        return ProbeResult("stream_usage", observed, "inconclusive")
    verdict: Verdict = "consistent" if plain == asked == "last content chunk" else "differs"
    return ProbeResult("stream_usage", observed, verdict)


def _thought_results(stream: _StreamSeen) -> list[ProbeResult]:
    if stream.error is not None:
        failed = f"the thinking request failed ({stream.status}): {stream.error}"
        return [
            ProbeResult("thought_tag_bytes", failed, "inconclusive"),
            ProbeResult("thinking_config_honoured", failed, "inconclusive"),
        ]
    pieces = [_delta_text(event) for event in stream.events]
    text = "".join(pieces)
    opening, closing = f"<{_MARKER}>", f"</{_MARKER}>"
    tagged = text.startswith(opening) and closing in text
    split = any(
        _cuts_tag(pieces, i, tag) for tag in (opening, closing) for i in range(len(pieces))
    )
    after = text.split(closing, 1)[1][:2] if closing in text else ""
    observed = (
        f"{text.count(opening)} thought block(s); starts with the tag: "
        f"{'yes' if text.startswith(opening) else 'no'}; after the closing tag: {after!r}; "
        f"tags cut across chunks: {'yes' if split else 'no'}"
    )
    verdict: Verdict = "consistent" if tagged else "differs"
    reasoning = _reasoning_tokens(stream.events)
    honoured = tagged and reasoning > 0
    return [
        ProbeResult("thought_tag_bytes", observed, verdict, evidence={"sample": text[:200]}),
        ProbeResult(
            "thinking_config_honoured",
            f"thought summary {'returned' if tagged else 'missing'}; reasoning tokens {reasoning}",
            "consistent" if honoured else "differs",
        ),
    ]


def _delta_text(event: Any) -> str:
    try:
        content = event["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return content if isinstance(content, str) else ""


def _cuts_tag(pieces: list[str], index: int, tag: str) -> bool:
    """Whether the boundary after ``pieces[index]`` falls inside an occurrence of ``tag``."""
    before = "".join(pieces[: index + 1])
    after = "".join(pieces[index + 1 :])
    return any(before.endswith(tag[:k]) and after.startswith(tag[k:]) for k in range(1, len(tag)))


def _reasoning_tokens(events: list[Any]) -> int:
    total = 0
    for event in events:
        usage = event.get("usage") if isinstance(event, dict) else None
        details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
        value = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            total = max(total, value)
    return total


def _top_level_google(response: httpx.Response) -> ProbeResult:
    if response.status_code != 200:
        observed = f"the request failed ({response.status_code}): {response.text[:200]}"
        return ProbeResult("top_level_google", observed, "inconclusive")
    try:
        content = response.json()["choices"][0]["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        content = ""
    took_effect = f"<{_MARKER}>" in content
    observed = "takes effect (thoughts came back tagged)" if took_effect else "no effect"
    return ProbeResult("top_level_google", observed, "differs" if took_effect else "consistent")


def _request_ids(seen: _Seen) -> ProbeResult:
    names = sorted(
        {
            name.lower()
            for response in seen.responses
            for name in response.headers
            if any(hint in name.lower() for hint in _ID_HINTS)
        }
    )
    observed = ", ".join(names) if names else "no request-id or trace header"
    return ProbeResult("request_id_headers", observed, "consistent", evidence={"headers": names})
