"""Pure: the headers that identify a request, and the one id to show for it.

Google's front end sends no documented request-id header on ``aiplatform.googleapis.com``
(the body's ``id``, Vertex's ``responseId``, identifies the *response*). What can arrive, in the
order ``request_id`` prefers it:

* ``x-request-id`` — the OpenAI convention: vLLM and TGI containers behind a self-deployed
  endpoint, OpenAI-compatible proxies, the emulator;
* ``x-goog-request-id`` — sent by some Google APIs, read by clients of the Gemini APIs;
* ``request-id`` — a common spelling of the same;
* ``x-cloud-trace-context`` / ``traceparent`` — Google Cloud's and W3C's trace ids, which Google
  support can look a request up by;
* ``x-vertex-ai-endpoint-id`` / ``x-vertex-ai-deployed-model-id`` — documented for Vertex
  prediction endpoints: which endpoint and deployed model served the request.

``request_ids`` keeps every header of these kinds (also ``x-…-request-id`` and ``…-trace-id``
spellings of other gateways) for logs and spans; ``request_id`` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["REQUEST_ID_HEADERS", "request_id", "request_ids"]

REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-goog-request-id",
    "request-id",
    "x-cloud-trace-context",
    "traceparent",
)
"""Headers that name one request, most specific first: ``request_id`` returns the first found."""

_SERVED_BY = ("x-vertex-ai-endpoint-id", "x-vertex-ai-deployed-model-id")
_KNOWN = frozenset(REQUEST_ID_HEADERS + _SERVED_BY)
_KNOWN_BYTES = frozenset(name.encode() for name in _KNOWN)
_ID_SUFFIXES = ("requestid", "traceid", "correlationid")

Header = tuple[str, str] | tuple[bytes, bytes]


def request_ids(headers: Iterable[Header]) -> dict[str, str]:
    """Every identifying header, names lower-cased, first value kept.

    ``headers`` are ``(name, value)`` pairs, ``str`` or ``bytes``; ``httpx.Headers.raw`` is the
    cheap argument (names are compared as bytes, only matching values are decoded).
    """
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _KNOWN_BYTES or key in _KNOWN or (key[-2:] in _ID_ENDS and _identifies(key)):
            text = key.decode("latin-1") if isinstance(key, bytes) else key
            if text not in found and value:
                found[text] = value.decode("latin-1") if isinstance(value, bytes) else value
    return found


_ID_ENDS = frozenset({"id", b"id", "ID", b"ID"})


def request_id(headers: Iterable[Header]) -> str | None:
    """The request id to show (``_request_id``, ``error.request_id``), or ``None``."""
    found = request_ids(headers)
    if not found:
        return None
    for name in REQUEST_ID_HEADERS:
        if name in found:
            return found[name]
    others = (value for name, value in found.items() if name not in _SERVED_BY)
    return next(others, None)


def _identifies(name: str | bytes) -> bool:
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.replace("-", "").replace("_", "").endswith(_ID_SUFFIXES)
