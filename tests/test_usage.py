"""Usage totals by model, and their cost from a user-supplied price table."""

from __future__ import annotations

import threading

import httpx
import pytest

from vertexchat._exceptions import APIStatusError, status_error_from_response
from vertexchat._response_models import Usage
from vertexchat._usage import ModelPrice, ModelUsage, UsageTotals, error_kind

FLASH = "google/gemini-2.5-flash"
PRO = "google/gemini-2.5-pro"


def _status_error(code: int) -> APIStatusError:
    request = httpx.Request("POST", "https://aiplatform.googleapis.com/v1/chat/completions")
    return status_error_from_response(httpx.Response(code, request=request), b"")


def _usage(prompt: int, completion: int, reasoning: int = 0, cached: int | None = None) -> Usage:
    data: dict[str, object] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
    }
    if reasoning:
        data["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    if cached is not None:
        data["prompt_tokens_details"] = {"cached_tokens": cached}
    return Usage.model_validate(data)


def test_totals_count_calls_requests_tokens_and_errors_by_model() -> None:
    totals = UsageTotals()
    totals.record_attempt_error(FLASH, _status_error(429))
    totals.record_call(FLASH, _usage(10, 5, reasoning=20, cached=4), ok=True, sent=True)
    totals.record_call(PRO, _usage(7, 3), ok=True, sent=True)
    totals.record_attempt_error(PRO, _status_error(503))
    totals.record_call(PRO, None, ok=False, sent=False)

    flash = totals.by_model()[FLASH]
    assert flash == ModelUsage(
        calls=1,
        succeeded=1,
        requests=2,
        input_tokens=10,
        output_tokens=25,  # thinking is billed as output
        reasoning_tokens=20,
        cached_tokens=4,
        errors={"RateLimitError": 1},
    )
    pro = totals.by_model()[PRO]
    assert (pro.calls, pro.succeeded, pro.requests) == (2, 1, 2)
    assert pro.errors == {"InternalServerError": 1}
    total = totals.total()
    assert (total.calls, total.requests, total.input_tokens, total.output_tokens) == (3, 4, 17, 28)
    assert total.errors == {"RateLimitError": 1, "InternalServerError": 1}
    assert total.total_tokens == 45


def test_a_final_error_not_seen_as_an_attempt_error_is_counted_once() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, None, ok=False, sent=True, error=TimeoutError())
    assert totals.by_model()[FLASH].errors == {"TimeoutError": 1}
    assert totals.by_model()[FLASH].requests == 1


def test_snapshots_do_not_change_when_counting_goes_on() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(1, 1), ok=True, sent=True)
    before = totals.by_model()
    totals.record_attempt_error(FLASH, _status_error(429))
    assert before[FLASH].requests == 1
    assert before[FLASH].errors == {}
    assert totals.by_model()[FLASH].errors == {"RateLimitError": 1}


def test_cost_uses_the_price_table_with_cached_and_thinking_tokens() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(1_000_000, 500_000, reasoning=500_000, cached=400_000),
                       ok=True, sent=True)  # fmt: skip
    prices = {FLASH: ModelPrice(input=0.30, output=2.50, cached_input=0.03)}
    # 600k uncached input * 0.30 + 400k cached * 0.03 + 1M output (thinking included) * 2.50
    assert totals.cost(prices) == pytest.approx(0.18 + 0.012 + 2.50)
    assert totals.cost_by_model(prices) == {FLASH: pytest.approx(2.692)}


def test_cached_tokens_cost_the_input_price_when_no_cached_price_is_given() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(2_000_000, 0, cached=1_000_000), ok=True, sent=True)
    assert totals.cost({FLASH: ModelPrice(input=1.0, output=0.0)}) == pytest.approx(2.0)


def test_a_price_applies_with_or_without_the_google_prefix() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(1_000_000, 0), ok=True, sent=True)
    totals.record_call("gemini-2.5-pro", _usage(1_000_000, 0), ok=True, sent=True)
    prices = {"gemini-2.5-flash": ModelPrice(1.0, 0.0), PRO: ModelPrice(2.0, 0.0)}
    assert totals.cost_by_model(prices) == {FLASH: 1.0, "gemini-2.5-pro": 2.0}


def test_a_used_model_without_a_price_is_named_in_the_error() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(5, 5), ok=True, sent=True)
    totals.record_call(PRO, None, ok=False, sent=True)  # no tokens: needs no price
    with pytest.raises(ValueError, match=r"google/gemini-2\.5-flash"):
        totals.cost({PRO: ModelPrice(1.0, 1.0)})
    assert totals.cost({FLASH: ModelPrice(1.0, 1.0)}) == pytest.approx(10 / 1_000_000)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input": -1.0, "output": 1.0}, "input"),
        ({"input": 1.0, "output": "2"}, "output"),
        ({"input": 1.0, "output": 1.0, "cached_input": True}, "cached_input"),
    ],
)
def test_bad_prices_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"ModelPrice.{field}"):
        ModelPrice(**kwargs)  # type: ignore[arg-type]


def test_a_price_table_value_that_is_not_a_model_price_is_named() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(1, 1), ok=True, sent=True)
    with pytest.raises(ValueError, match=r"prices\['google/gemini-2.5-flash'\]"):
        totals.cost({FLASH: (0.3, 2.5)})  # type: ignore[dict-item]


def test_reset_starts_from_zero() -> None:
    totals = UsageTotals()
    totals.record_call(FLASH, _usage(1, 1), ok=True, sent=True)
    totals.reset()
    assert totals.by_model() == {}
    assert totals.total() == ModelUsage()


def test_cancellation_is_one_kind_on_every_event_loop() -> None:
    class CancelledError(BaseException):
        pass

    class Cancelled(BaseException):
        pass

    assert error_kind(CancelledError()) == error_kind(Cancelled()) == "Cancelled"


def test_totals_stay_exact_under_threads() -> None:
    totals = UsageTotals()

    def work() -> None:
        for _ in range(2_000):
            totals.record_call(FLASH, _usage(1, 2), ok=True, sent=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flash = totals.by_model()[FLASH]
    assert (flash.calls, flash.input_tokens, flash.output_tokens) == (8_000, 8_000, 16_000)
