"""Unit tests for the vendor client's retry timing, rate limiter and error mapping.

Retry and rate-limit bugs show up only under load or outages, so their bounds are pinned here
with fake clocks and an in-process httpx transport instead of waiting on a real server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from gifting.errors import ConfigurationError, PermanentError, RetriableError
from gifting.vendors import OrderRequest, SandboxVendorClient, VendorStatus
from gifting.vendors.retry import MAX_BACKOFF_S, TokenBucket, backoff_delay, parse_retry_after

ORDER_JSON = {
    "id": "ord_1",
    "reference": "gift-1",
    "sku": "EGIFT-50",
    "status": "accepted",
    "created_at": "2025-01-02T03:04:05.000Z",
    "updated_at": "2025-01-02T03:04:05.000Z",
    "failure_reason": None,
}
EGIFT = OrderRequest(
    reference="gift-1",
    sku="EGIFT-50",
    amount=Decimal("50.00"),
    currency="USD",
    recipient_name="Ada Lovelace",
    recipient_email="ada@example.com",
    note="Thank you for signing.",
    kind="egift",
)


class FakeClock:
    """Monotonic clock that only moves when a test advances it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client_with(
    handler: Callable[[httpx.Request], httpx.Response], waits: list[float], **options: object
) -> SandboxVendorClient:
    return SandboxVendorClient(
        "http://vendor.test",
        "test-key",
        sleep=waits.append,
        rate_limit_per_second=1000.0,
        transport=httpx.MockTransport(handler),
        **options,  # type: ignore[arg-type]
    )


def error_response(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} from the test vendor"}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_backoff_delay_upper_bound_doubles(attempt: int) -> None:
    assert backoff_delay(attempt, 0.2, random_fraction=lambda: 1.0) == pytest.approx(
        0.2 * 2 ** (attempt - 1)
    )
    assert backoff_delay(attempt, 0.2, random_fraction=lambda: 0.0) == 0.0


def test_backoff_delay_capped() -> None:
    assert backoff_delay(20, 0.2, random_fraction=lambda: 1.0) == MAX_BACKOFF_S
    assert backoff_delay(3, 1.0, cap=2.5, random_fraction=lambda: 1.0) == 2.5


def test_backoff_delay_full_jitter_spread() -> None:
    delays = [backoff_delay(3, 0.5) for _ in range(500)]

    assert all(0.0 <= delay <= 2.0 for delay in delays)
    assert min(delays) < 0.5, "full jitter should reach the bottom quarter of the window"
    assert max(delays) > 1.5, "full jitter should reach the top quarter of the window"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-4", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

    future = format_datetime(now + timedelta(seconds=30), usegmt=True)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)

    assert parse_retry_after(future, now=now) == pytest.approx(30.0)
    assert parse_retry_after(past, now=now) == 0.0


def test_token_bucket_allows_burst_then_paces() -> None:
    clock = FakeClock()
    waits: list[float] = []
    bucket = TokenBucket(5.0, clock=clock, sleep=waits.append)

    burst = [bucket.acquire() for _ in range(5)]
    sixth = bucket.acquire()

    assert burst == [0.0] * 5
    assert sixth == pytest.approx(0.2)
    assert waits == [pytest.approx(0.2)]


def test_token_bucket_refills_with_time() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock, sleep=lambda _: None)
    bucket.acquire()
    bucket.acquire()

    clock.now += 0.5

    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)


def test_token_bucket_refill_capped_at_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, capacity=2.0, clock=clock, sleep=lambda _: None)

    clock.now += 60.0
    waits = [bucket.acquire() for _ in range(3)]

    assert waits == [0.0, 0.0, pytest.approx(0.1)]


def test_token_bucket_threads_queue_distinct_waits() -> None:
    clock = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(round(seconds, 6))

    bucket = TokenBucket(10.0, capacity=1.0, clock=clock, sleep=record)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # One caller takes the only token; each later caller queues 0.1 s behind the one before.
    assert sorted(waits) == [round(0.1 * k, 6) for k in range(1, 21)]


def test_token_bucket_rejects_zero_rate() -> None:
    with pytest.raises(ConfigurationError, match="rate_per_second"):
        TokenBucket(0.0)


def test_client_rejects_empty_api_key() -> None:
    with pytest.raises(ConfigurationError, match="GIFTING_VENDOR_API_KEY"):
        SandboxVendorClient("http://vendor.test", "")


def test_client_sends_bearer_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=ORDER_JSON)

    order = client_with(handler, []).place_order(EGIFT, "gift-1-v1")

    assert seen[0].headers["Authorization"] == "Bearer test-key"
    assert seen[0].headers["Idempotency-Key"] == "gift-1-v1"
    assert order.status is VendorStatus.ACCEPTED
    assert order.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert order.replayed is False


def test_client_reads_replayed_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=ORDER_JSON, headers={"Idempotent-Replayed": "true"})

    assert client_with(handler, []).place_order(EGIFT, "gift-1-v1").replayed is True


def test_client_retries_same_key_with_backoff() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) < 3:
            return error_response(503, "service_unavailable")
        return httpx.Response(201, json=ORDER_JSON)

    waits: list[float] = []
    order = client_with(handler, waits, backoff_base=0.2).place_order(EGIFT, "gift-1-v1")

    assert order.id == "ord_1"
    assert keys == ["gift-1-v1"] * 3
    assert len(waits) == 2
    assert 0.0 <= waits[0] <= 0.2
    assert 0.0 <= waits[1] <= 0.4


def test_client_gives_up_after_max_attempts() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_response(500, "internal_error")

    waits: list[float] = []
    with pytest.raises(RetriableError, match="HTTP 500"):
        client_with(handler, waits, max_attempts=3).get_order("ord_1")

    assert len(calls) == 3
    assert len(waits) == 2


def test_client_honours_retry_after() -> None:
    responses = iter(
        [
            error_response(429, "rate_limited", {"Retry-After": "3"}),
            httpx.Response(200, json=ORDER_JSON),
        ]
    )
    waits: list[float] = []

    client_with(lambda request: next(responses), waits).get_order("ord_1")

    assert waits == [3.0]


def test_client_raises_when_retry_after_too_long() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_response(503, "service_unavailable", {"Retry-After": "3600"})

    waits: list[float] = []
    with pytest.raises(RetriableError) as caught:
        client_with(handler, waits).get_order("ord_1")

    assert caught.value.retry_after == 3600.0
    assert calls == [1]
    assert waits == []


def test_client_retries_transport_errors() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("read timed out", request=request)
        if len(calls) == 2:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=ORDER_JSON)

    assert client_with(handler, []).get_order("ord_1").id == "ord_1"
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (422, "address_invalid", "address_invalid"),
        (409, "out_of_stock", "out_of_stock"),
        (402, "insufficient_funds", "insufficient_funds"),
        (422, "policy_blocked", "policy_blocked"),
        (422, "recipient_declined", "recipient_declined"),
        (422, "sku_unknown", "sku_unknown"),
        (422, "idempotency_key_reused", "idempotency_key_reused"),
        (400, "invalid_request", "invalid_request"),
        (409, "already_shipped", "already_shipped"),
        (404, "not_found", "not_found"),
        (401, "anything", "unauthorized"),
        (418, "teapot", "invalid_request"),
    ],
)
def test_client_maps_4xx_to_reason(status: int, code: str, reason: str) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error_response(status, code)

    with pytest.raises(PermanentError) as caught:
        client_with(handler, []).place_order(EGIFT, "gift-1-v1")

    assert caught.value.reason == reason
    assert "gift-1" in str(caught.value)
    assert calls == [1], "permanent errors must not be retried"


def test_client_error_without_json_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad gateway page")

    with pytest.raises(PermanentError, match="http_400"):
        client_with(handler, []).get_order("ord_1")


def test_client_rejects_malformed_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"unexpected": True})

    with pytest.raises(PermanentError) as caught:
        client_with(handler, []).get_order("ord_1")

    assert caught.value.reason == "invalid_response"


def test_client_rejects_empty_idempotency_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent without an idempotency key")

    with pytest.raises(PermanentError, match="idempotency key"):
        client_with(handler, []).place_order(EGIFT, "")
