"""Pure: vertexchat's loggers, the ``VERTEXCHAT_LOG`` switch and credential-free log lines.

Loggers: ``vertexchat.request`` (DEBUG, one line per HTTP attempt), ``vertexchat.retry``
(INFO, one line per retry), ``vertexchat.batch`` (INFO, batch milestones); all under
``vertexchat``. Lines carry method, URL (credentials removed), status, attempt, latency, request
id, model and token counts; never a token and never message content.

``VERTEXCHAT_LOG=debug|info`` works like the OpenAI SDK's ``OPENAI_LOG``: it sets the level of
the ``vertexchat`` logger and, if the application has not configured logging, a basic
configuration on the root logger so the lines appear on stderr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "BATCH_LOG",
    "LOG_ENV",
    "REQUEST_LOG",
    "RETRY_LOG",
    "attempt_line",
    "batch_milestone",
    "configure_from_env",
    "redact_url",
    "retry_line",
]

LOG_ENV = "VERTEXCHAT_LOG"
REQUEST_LOG = logging.getLogger("vertexchat.request")
RETRY_LOG = logging.getLogger("vertexchat.retry")
BATCH_LOG = logging.getLogger("vertexchat.batch")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "[%(asctime)s - %(name)s - %(levelname)s] %(message)s"
# Query parameters that carry a credential (API keys, OAuth tokens, signed URLs).
_SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "access_token", "token", "sig", "signature", "x-goog-signature"}
)
_REDACTED = "REDACTED"
_configured = False


def configure_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """Apply ``VERTEXCHAT_LOG`` once per process; the level set, or None when unset/unknown."""
    global _configured
    if _configured and environ is None:
        return None
    _configured = True
    value = (os.environ if environ is None else environ).get(LOG_ENV, "").strip().lower()
    level = _LEVELS.get(value)
    if level is None:
        return None
    logging.basicConfig(format=_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")  # no-op if configured
    logging.getLogger("vertexchat").setLevel(level)
    return level


def redact_url(url: str) -> str:
    """``url`` without user info and with credential query parameters replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, _REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="/"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def attempt_line(
    *,
    method: str,
    url: str,
    outcome: str,
    attempt: int,
    max_attempts: int,
    latency: float,
    request_id: str | None,
    model: str | None,
    tokens: tuple[int, int] | None = None,
) -> str:
    """The DEBUG line for one HTTP attempt (``outcome`` is a status or an error kind)."""
    line = (
        f"{method} {redact_url(url)} -> {outcome} "
        f"(attempt {attempt}/{max_attempts}, {latency * 1000:.0f} ms"
        f", request_id={request_id or '-'}, model={model or '-'}"
    )
    if tokens is not None:
        line += f", tokens={tokens[0]} in/{tokens[1]} out"
    return line + ")"


def retry_line(
    *, attempt: int, max_attempts: int, reason: str, delay: float, request_id: str | None
) -> str:
    """The INFO line for one retry."""
    rid = f", request_id={request_id}" if request_id else ""
    return f"attempt {attempt}/{max_attempts} failed ({reason}{rid}); retrying in {delay:.2f}s"


def batch_milestone(done: int) -> bool:
    """Whether the ``done``-th finished batch item earns an INFO line: 1, 10, 100, then every
    1,000 (a long batch logs steadily, a short one still shows it started moving)."""
    return done in (1, 10, 100) or (done > 0 and done % 1000 == 0)
