"""Fit a connection limit to the process's file-descriptor limit (``RLIMIT_NOFILE``).

A pool allowed 1,000 connections needs 1,000 descriptors on top of everything else the process
has open; the common soft limit is 1,024, so a full pool fails with ``EMFILE`` ("Too many open
files") in the middle of a fan-out. Before that can happen the pool asks for room: it raises the
soft limit up to what it needs, never past the hard limit (an unprivileged process may do that;
it changes nothing for code that does not open more files). When the hard limit is too low it
lowers its own connection limit instead. Either way it logs what it did, once per change.
"""

from __future__ import annotations

import logging

__all__ = ["RESERVED_DESCRIPTORS", "fit_connection_limit"]

logger = logging.getLogger("vertexchat")

RESERVED_DESCRIPTORS = 256
"""Descriptors left for everything else (files, pipes, other clients, the event loop)."""


def fit_connection_limit(wanted: int) -> int:
    """Return how many connections fit; raise the soft ``RLIMIT_NOFILE`` if needed and allowed."""
    try:
        import resource
    except ImportError:  # Windows: no per-process descriptor limit of this kind
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):  # e.g. macOS refuses more than OPEN_MAX
            target = soft
        else:
            logger.info(
                "vertexchat: raised the soft RLIMIT_NOFILE from %d to %d (hard limit %s) "
                "to leave room for %d pooled connections",
                soft,
                target,
                "unlimited" if hard == resource.RLIM_INFINITY else hard,
                wanted,
            )
            soft = target
    if soft >= needed:
        return wanted
    fitted = max(1, soft - min(RESERVED_DESCRIPTORS, soft // 4))
    logger.warning(
        "vertexchat: RLIMIT_NOFILE is %d (hard limit %s): the connection pool keeps at most "
        "%d connections instead of %d; raise the limit (ulimit -n) for more",
        soft,
        hard,
        fitted,
        wanted,
    )
    return fitted
