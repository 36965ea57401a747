"""Per-call options: the "use the client's setting" sentinel, the default timeout, resolution.

Edge module (it names ``httpx.Timeout``). ``USE_CLIENT_DEFAULT`` means "what the client was
configured with"; ``None`` disables (httpx's convention).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import httpx

from ._retry import RetryPolicy
from ._sentinel import USE_CLIENT_DEFAULT, UseClientDefault

__all__ = ["DEFAULT_TIMEOUT", "USE_CLIENT_DEFAULT", "TimeoutLike", "UseClientDefault"]

_T = TypeVar("_T")


DEFAULT_TIMEOUT: Final = httpx.Timeout(600.0, connect=10.0, write=60.0, pool=60.0)
"""10 minutes to read (thinking models answer slowly), 10 s to connect, 60 s to write or queue."""

TimeoutLike = float | httpx.Timeout | None


def resolve(value: _T | UseClientDefault, default: _T) -> _T:
    """The per-call ``value``, or the client's ``default`` for ``USE_CLIENT_DEFAULT``."""
    return default if isinstance(value, UseClientDefault) else value


def timeout_extension(timeout: TimeoutLike) -> dict[str, Any]:
    """httpx's per-request ``timeout`` extension: connect/read/write/pool seconds or None."""
    return httpx.Timeout(timeout).as_dict()


def retry_policy(default: RetryPolicy, max_retries: int | UseClientDefault) -> RetryPolicy:
    """The client's policy, or a copy of it allowing ``max_retries`` retries."""
    if isinstance(max_retries, UseClientDefault):
        return default
    return default.with_max_retries(max_retries)
