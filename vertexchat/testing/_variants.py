"""Pure: the ways Vertex may behave where the wire facts are unknown (vertex-api.md §10).

``Emulator(wire=WireVariant(...))`` answers the way one variant says, so a client — and
``vertexchat doctor --probe-wire`` — can be tested against each possibility. The default is
what the emulator has always done (and what ``vertexchat._wire_facts`` assumes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._script import Script
from ._validate import ChatRequest

__all__ = ["WireVariant"]

ErrorBody = Literal["vertex", "object", "array"]
StreamUsage = Literal["final-chunk", "include-usage-only", "separate-chunk"]


@dataclass(frozen=True)
class WireVariant:
    """One set of answers to the open questions.

    * ``error_body``: ``"vertex"`` (arrays for the 400 bad-model and 429, objects otherwise),
      or every error as an ``"object"`` or as an ``"array"``.
    * ``stream_usage``: usage on the last content chunk always (``"final-chunk"``), only when
      ``stream_options.include_usage`` is set (``"include-usage-only"``), or OpenAI's way, in
      a separate chunk with empty ``choices`` and only when asked (``"separate-chunk"``).
    * ``split_thought_tags``: whether ``<marker>``/``</marker>`` may be cut across chunks.
    * ``request_id_header``: a response header carrying a request id, if any.
    * ``honours_thinking_config``: whether ``extra_body.google.thinking_config`` is obeyed.
    * ``honours_top_level_google``: whether a top-level ``google`` key acts as
      ``extra_body.google``.
    """

    error_body: ErrorBody = "vertex"
    stream_usage: StreamUsage = "final-chunk"
    split_thought_tags: bool = True
    request_id_header: str | None = None
    honours_thinking_config: bool = True
    honours_top_level_google: bool = False

    def effective(self, request: ChatRequest) -> ChatRequest:
        """The request as this variant's server would understand it."""
        body = dict(request.body)
        google = dict(request.google)
        top = body.get("google")
        if self.honours_top_level_google and isinstance(top, Mapping):
            google = {**top, **google}
        if not self.honours_thinking_config:
            google.pop("thinking_config", None)
        if google == dict(request.google):
            return request
        extra = body.get("extra_body")
        body["extra_body"] = {**(extra if isinstance(extra, Mapping) else {}), "google": google}
        return replace(request, body=body)

    def place_usage(self, events: list[dict[str, Any]], request: ChatRequest) -> None:
        """Move or drop the usage the emulator puts on the last chunk (in place)."""
        if self.stream_usage == "final-chunk" or not events:
            return
        options = request.body.get("stream_options")
        asked = isinstance(options, Mapping) and options.get("include_usage") is True
        usage = events[-1].pop("usage", None)
        if not asked or usage is None:
            return
        if self.stream_usage == "include-usage-only":
            events[-1]["usage"] = usage
        else:
            events.append({**events[-1], "choices": [], "usage": usage})

    def shape(self, script: Script, sequence: int) -> Script:
        """The script with this variant's error body form and request-id header."""
        headers = script.headers
        if self.request_id_header:
            headers = (*headers, (self.request_id_header, f"emulator-{sequence:08d}"))
        pieces = script.pieces
        if self.error_body != "vertex" and script.status >= 400 and len(pieces) == 1:
            body = _reshaped(script.body, array=self.error_body == "array")
            pieces = (body,)
            headers = tuple(
                (k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers
            )
        if headers is script.headers and pieces is script.pieces:
            return script
        return replace(script, headers=headers, pieces=pieces)


def _reshaped(body: bytes, *, array: bool) -> bytes:
    value = json.loads(body)
    error = value[0] if isinstance(value, list) else value
    text = json.dumps(error, indent=2)
    return (f"[{text}\n]\n" if array else text + "\n").encode()
