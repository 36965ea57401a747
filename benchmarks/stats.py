"""Medians, ratios and number formatting for the results tables."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is zero."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    """A number for a table cell; an em dash when it is missing."""
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def fmt_ratio(value: float | None) -> str:
    """A ratio such as ``0.42x``."""
    return fmt(value, "x")


def spread(values: Sequence[float]) -> str:
    """min-max of the runs, to show how noisy a median is."""
    if not values:
        return "—"
    return f"{min(values):,.2f}-{max(values):,.2f}"
