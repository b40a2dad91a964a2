"""The per-run retry budget of the vendor client and the dispatch circuit breaker."""

from __future__ import annotations

import httpx
import pytest

from gifting.errors import ConfigurationError, GiftingError, RetriableError
from gifting.sending import CircuitBreaker
from gifting.vendors import SandboxVendorClient
from gifting.vendors.retry import RetryBudget


def _always_503(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": "down", "message": "Retry."}})


def test_budget_caps_waits_across_calls() -> None:
    waits: list[float] = []
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return _always_503(request)

    client = SandboxVendorClient(
        "http://vendor.test",
        "key",
        max_attempts=4,
        backoff_base=1.0,
        retry_budget_s=2.5,
        rate_limit_per_second=1000,
        sleep=waits.append,
        transport=httpx.MockTransport(handler),
    )
    for _ in range(5):
        with pytest.raises(RetriableError):
            client.get_order("ord_1")
    assert sum(waits) <= 2.5
    # Once the budget is spent each call gets one try: far fewer than 5 calls x 4 tries.
    assert len(requests) < 20
    assert len(requests) >= 5
    client.close()


def test_budget_allows_until_spent() -> None:
    budget = RetryBudget(1.0)
    assert budget.allows(0.6)
    budget.charge(0.3)
    assert not budget.allows(0.2)
    assert budget.allows(0.1)
    assert budget.spent == pytest.approx(1.0)


def test_negative_budget_names_setting() -> None:
    with pytest.raises(ConfigurationError, match="GIFTING_VENDOR_RETRY_BUDGET_S"):
        RetryBudget(-1)


def test_breaker_opens_after_failures_in_row() -> None:
    breaker = CircuitBreaker(3)
    for reachable in (False, False, True, False, False):
        breaker.record(reachable)
    assert not breaker.is_open
    breaker.record(False)
    assert breaker.is_open


def test_breaker_threshold_must_be_positive() -> None:
    with pytest.raises(GiftingError, match="at least 1"):
        CircuitBreaker(0)
