"""Pure: the "not given" sentinel, shared by per-call options and request parameters.

``USE_CLIENT_DEFAULT`` means "what the client was configured with" for options and "not given"
for request parameters; the OpenAI SDK's ``NOT_GIVEN`` and ``omit`` are this same object, so
ported code that passes them works unchanged.
"""

from __future__ import annotations

from typing import Final

__all__ = ["USE_CLIENT_DEFAULT", "UseClientDefault"]


class UseClientDefault:
    """Per-call option value meaning "what the client was configured with"."""

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault()
"""Per-call option value meaning "what the client was configured with" (``None`` disables)."""
