"""Pure: running usage totals by model, and their cost from a price table the user supplies.

``client.usage`` (and ``batch.usage``) count every call as it ends: requests sent, tokens as
Vertex bills them (thinking tokens are output tokens), cached input tokens and errors by kind.
No prices are built in: they change, and a stale price is worse than none.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._response_models import Usage

__all__ = ["ModelPrice", "ModelUsage", "UsageTotals", "error_kind"]

_PER = 1_000_000
_PUBLISHER_PREFIX = "google/"
_CANCELLED = frozenset({"CancelledError", "Cancelled"})


@dataclass(frozen=True)
class ModelPrice:
    """Prices per million tokens, in the currency of your choice.

    ``cached_input`` is the price of input tokens served from a context cache (the ``input``
    price when not given); thinking tokens are billed as ``output``.
    """

    input: float
    output: float
    cached_input: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is None and name == "cached_input":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"ModelPrice.{name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class ModelUsage:
    """What one model has used so far (a snapshot; totals keep counting after it is taken).

    ``calls`` are logical calls that ended (``succeeded`` of them with a response);
    ``requests`` are HTTP attempts, retries included; ``output_tokens`` include
    ``reasoning_tokens`` (Vertex bills thinking as output); ``input_tokens`` include
    ``cached_tokens``; ``errors`` counts failed attempts by exception class name.
    """

    calls: int = 0
    succeeded: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (thinking included)."""
        return self.input_tokens + self.output_tokens

    def cost(self, price: ModelPrice) -> float:
        """What these tokens cost at ``price``."""
        cached = min(self.cached_tokens, self.input_tokens)
        cached_price = price.input if price.cached_input is None else price.cached_input
        return (
            (self.input_tokens - cached) * price.input
            + cached * cached_price
            + self.output_tokens * price.output
        ) / _PER

    def __add__(self, other: ModelUsage) -> ModelUsage:
        errors = dict(self.errors)
        for kind, count in other.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        return ModelUsage(
            calls=self.calls + other.calls,
            succeeded=self.succeeded + other.succeeded,
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            errors=errors,
        )


class _Counts:
    """The mutable running counts behind one model's ``ModelUsage``."""

    __slots__ = (
        "cached_tokens",
        "calls",
        "errors",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "requests",
        "succeeded",
    )

    def __init__(self) -> None:
        self.calls = self.succeeded = self.requests = 0
        self.input_tokens = self.output_tokens = self.reasoning_tokens = self.cached_tokens = 0
        self.errors: dict[str, int] = {}

    def snapshot(self) -> ModelUsage:
        return ModelUsage(
            calls=self.calls,
            succeeded=self.succeeded,
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cached_tokens=self.cached_tokens,
            errors=dict(self.errors),
        )


class UsageTotals:
    """Running totals by model, readable at any time (``by_model()``, ``total()``, ``cost()``).

    ::

        print(client.usage.by_model()["google/gemini-2.5-flash"].output_tokens)
        prices = {"google/gemini-2.5-flash": vertexchat.ModelPrice(input=0.30, output=2.50)}
        print(client.usage.cost(prices))
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one client may serve several event loops (threads)
        self._models: dict[str, _Counts] = {}

    def __repr__(self) -> str:
        total = self.total()
        return (
            f"<UsageTotals models={len(self._models)} calls={total.calls} "
            f"input_tokens={total.input_tokens} output_tokens={total.output_tokens}>"
        )

    def record_attempt_error(self, model: str, error: BaseException) -> None:
        """Count one failed HTTP attempt (retried or final)."""
        kind = error_kind(error)
        with self._lock:
            counts = self._counts(model)
            counts.requests += 1
            counts.errors[kind] = counts.errors.get(kind, 0) + 1

    def record_call(
        self,
        model: str,
        usage: Usage | None,
        *,
        ok: bool,
        sent: bool,
        error: BaseException | None = None,
    ) -> None:
        """Count one call that ended.

        ``sent``: its last attempt went out and was not counted as a failed attempt;
        ``error``: a final error not already counted by ``record_attempt_error``.
        """
        with self._lock:
            counts = self._counts(model)
            counts.calls += 1
            counts.requests += sent
            counts.succeeded += ok
            if error is not None:
                kind = error_kind(error)
                counts.errors[kind] = counts.errors.get(kind, 0) + 1
            if usage is not None:
                counts.input_tokens += usage.prompt_tokens
                counts.output_tokens += usage.output_tokens
                counts.reasoning_tokens += usage.reasoning_tokens
                details = usage.prompt_tokens_details
                counts.cached_tokens += (details.cached_tokens or 0) if details else 0

    def _counts(self, model: str) -> _Counts:
        counts = self._models.get(model)
        if counts is None:
            counts = self._models[model] = _Counts()
        return counts

    def by_model(self) -> dict[str, ModelUsage]:
        """A snapshot of the totals, by the model each request named."""
        with self._lock:
            return {model: counts.snapshot() for model, counts in self._models.items()}

    def total(self) -> ModelUsage:
        """All models added up."""
        result = ModelUsage()
        for usage in self.by_model().values():
            result = result + usage
        return result

    def cost_by_model(self, prices: Mapping[str, ModelPrice]) -> dict[str, float]:
        """The cost of each model's tokens; a model used but missing from ``prices`` raises.

        A price listed as ``"gemini-2.5-flash"`` also applies to ``"google/gemini-2.5-flash"``
        and the other way round.
        """
        usage = self.by_model()
        unpriced = [m for m, u in usage.items() if u.total_tokens and _price(prices, m) is None]
        if unpriced:
            raise ValueError(f"no price for model(s) {', '.join(sorted(unpriced))} in prices")
        return {
            model: used.cost(price)
            for model, used in usage.items()
            if (price := _price(prices, model)) is not None
        }

    def cost(self, prices: Mapping[str, ModelPrice]) -> float:
        """The cost of every token counted so far, at ``prices`` (a dict model → ModelPrice)."""
        return sum(self.cost_by_model(prices).values())

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._models.clear()


def _price(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    price = prices.get(model)
    if price is None:
        bare = model.removeprefix(_PUBLISHER_PREFIX)
        price = prices.get(bare) or prices.get(_PUBLISHER_PREFIX + bare)
    if price is not None and not isinstance(price, ModelPrice):
        raise ValueError(f"prices[{model!r}] must be a ModelPrice, got {type(price).__name__}")
    return price


def error_kind(error: BaseException) -> str:
    """The name errors are counted under: the exception's class name (``RateLimitError``).

    Cancellation is ``Cancelled`` on every event loop (asyncio's ``CancelledError``, trio's
    ``Cancelled``).
    """
    name = type(error).__name__
    return "Cancelled" if name in _CANCELLED else name
