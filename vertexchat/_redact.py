"""Pure: scrub secrets from text and from an exception chain before anyone can print it.

A token endpoint may echo what it was sent (a refresh token, a client secret, a signed JWT
assertion) in its error body, and google-auth copies that body into its exception. Every
exception in the chain (``__cause__`` and ``__context__``) gets its ``args`` scrubbed in place,
so ``str()``, ``repr()`` and a printed traceback all show ``***`` instead.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["redact_chain", "redact_text"]

MASK = "***"
_MIN_SECRET = 6  # shorter values would blank out ordinary words
# Access tokens, bearer values, JWTs (a signed assertion or id token), PEM private keys, and
# the value of any field whose name says it is secret, in JSON, form or header spelling.
_PEM = r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
_PATTERNS = re.compile(
    r"ya29\.[\w.~+/=-]+"
    r"|(?i:bearer)\s+[^\s\"',}]+"
    r"|eyJ[\w-]*\.[\w-]*\.[\w-]*"
    rf"|{_PEM}"
    r"|(?P<field>(?i:refresh_token|client_secret|assertion|access_token|id_token|private_key"
    r"|subject_token|code_verifier|password)[\"']?\s*[:=]\s*[\"']?)"
    rf"(?:{_PEM}|[^\"'&\s,}}]+)",
    re.DOTALL,
)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets (also URL-encoded) and known secret shapes masked."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            quoted = urllib.parse.quote(secret, safe="")
            for form in {secret, quoted, urllib.parse.quote_plus(secret)}:
                text = text.replace(form, MASK)
    return _PATTERNS.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    field = match.group("field")
    return field + MASK if field else MASK


def redact_chain(exc: BaseException, secrets: Iterable[str] = ()) -> None:
    """Scrub ``args`` of ``exc`` and of every exception it was raised from or during."""
    known = [secret for secret in secrets if secret]
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        with contextlib.suppress(AttributeError, TypeError):  # a type with read-only args
            current.args = tuple(_redact_value(arg, known) for arg in current.args)
        pending += [current.__cause__, current.__context__]


def _redact_value(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, (bytes, bytearray)):
        return redact_text(bytes(value).decode("utf-8", "replace"), secrets)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # Anything else (a response body as a dict, a response object) becomes scrubbed text.
    try:
        text = repr(value)
    except Exception:  # a hostile object's repr must not stop the scrubbing
        text = type(value).__name__
    return redact_text(text, secrets)
