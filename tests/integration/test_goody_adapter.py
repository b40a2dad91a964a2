"""The Goody adapter against recorded Goody responses, served over real HTTP on 127.0.0.1.

The responses under ``tests/fixtures/goody`` follow the shapes in Goody's API reference, so
these tests pin how the adapter reads them: order batches, statuses, errors, paging and the
duplicate ``customer_reference_id`` rejection.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gifting.errors import PermanentError, RetriableError
from gifting.vendors.base import Address, OrderRequest, VendorStatus
from gifting.vendors.goody import STATUS_MAP, GoodyVendorClient
from tests.integration.goody_replay import GoodyReplay, Reply, fixture

API_KEY = "goody-test-key-5f2c"
ORDER_ID = "11112222-3333-4444-8555-666677778888"
BATCH_ID = "0f0e0d0c-1b1a-4928-8776-a5a4a3a2a1a0"
CAKE_PRODUCT = "7c1f4a52-0d4e-4b8e-9a61-2f3b8c9d0e11"
CAKE = OrderRequest(
    reference="G-1",
    sku="CEL-CAKE-02",
    amount=Decimal("120.00"),
    currency="USD",
    recipient_name="Grace Brewster Hopper",
    recipient_email="grace@example.com",
    note="Welcome aboard, Grace.",
    kind="physical",
    address=Address("1 Harbor Way", "Arlington", "VA", "22201", "US"),
)
EGIFT = OrderRequest(
    reference="G-2",
    sku="EGIFT-50",
    amount=Decimal("50.00"),
    currency="USD",
    recipient_name="Ada",
    recipient_email="ada@example.com",
    note="Thank you for signing.",
    kind="egift",
)


@pytest.fixture
def goody() -> Iterator[GoodyReplay]:
    with GoodyReplay() as server:
        yield server


def client_for(server: GoodyReplay, waits: list[float] | None = None, **options: Any) -> Any:
    recorded = waits if waits is not None else []
    return GoodyVendorClient(
        API_KEY,
        from_name="Ops Team",
        card_id="c0ffee00-1111-4222-8333-944455556666",
        base_url=server.base_url,
        product_ids={"CEL-CAKE-02": CAKE_PRODUCT},
        sleep=recorded.append,
        **{"rate_limit_per_second": 1000.0, **options},
    )


def test_place_order_sends_documented_batch(goody: GoodyReplay) -> None:
    goody.script("POST /v1/order_batches", Reply(201, fixture("order_batch_created")))

    with client_for(goody) as client:
        order = client.place_order(CAKE, "gift-G-1")

    sent = goody.requests_to("POST /v1/order_batches")
    assert len(sent) == 1
    assert sent[0].headers["authorization"] == f"Bearer {API_KEY}"
    body = sent[0].body
    assert body["customer_reference_id"] == "G-1/gift-G-1"
    assert body["send_method"] == "direct_send"
    assert body["from_name"] == "Ops Team"
    assert body["message"] == CAKE.note
    assert body["card_id"] == "c0ffee00-1111-4222-8333-944455556666"
    assert body["cart"] == {"items": [{"product_id": CAKE_PRODUCT, "quantity": 1}]}
    recipient = body["recipients"][0]
    assert (recipient["first_name"], recipient["last_name"]) == ("Grace", "Brewster Hopper")
    assert recipient["mailing_address"]["address_1"] == "1 Harbor Way"
    assert recipient["mailing_address"]["country"] == "US"
    assert order.id == ORDER_ID
    assert order.reference == "G-1"
    assert order.sku == "CEL-CAKE-02"
    assert order.status is VendorStatus.ACCEPTED
    assert order.replayed is False


def test_egift_uses_email_and_link(goody: GoodyReplay) -> None:
    goody.script("POST /v1/order_batches", Reply(201, fixture("order_batch_created")))

    with client_for(goody) as client:
        client.place_order(EGIFT, "gift-G-2")

    body = goody.requests_to("POST /v1/order_batches")[0].body
    assert body["send_method"] == "email_and_link"
    assert "mailing_address" not in body["recipients"][0]
    assert body["cart"]["items"][0]["product_id"] == "EGIFT-50"


def test_non_us_address_rejected_before_sending(goody: GoodyReplay) -> None:
    abroad = dataclasses.replace(CAKE, address=Address("5 Canal St", "Amsterdam", "", "1011", "NL"))
    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.place_order(abroad, "gift-G-1")

    assert caught.value.reason == "address_invalid"
    assert "'NL'" in str(caught.value)
    assert goody.received == []


def test_retries_5xx_and_429_with_same_reference(goody: GoodyReplay) -> None:
    goody.script(
        "POST /v1/order_batches",
        Reply(503, {"error": "Service unavailable"}),
        Reply(429, {"error": "Too many requests"}, headers={"Retry-After": "2"}),
        Reply(201, fixture("order_batch_created")),
    )
    waits: list[float] = []

    with client_for(goody, waits, backoff_base=0.2) as client:
        order = client.place_order(CAKE, "gift-G-1")

    references = [r.body["customer_reference_id"] for r in goody.received]
    assert references == ["G-1/gift-G-1"] * 3
    assert order.id == ORDER_ID
    assert 0.0 <= waits[0] <= 0.2
    assert waits[1] == 2.0


def test_timeout_then_duplicate_rejection_replays(goody: GoodyReplay) -> None:
    goody.script(
        "POST /v1/order_batches",
        Reply(201, fixture("order_batch_created"), delay_s=1.0),
        Reply(422, {"error": "Customer reference has already been taken"}),
    )
    goody.script("GET /v1/order_batches", Reply(200, fixture("order_batches_page")))

    with client_for(goody, timeout=0.3) as client:
        order = client.place_order(CAKE, "gift-G-1")

    assert len(goody.requests_to("POST /v1/order_batches")) == 2
    assert order.id == ORDER_ID
    assert order.reference == "G-1"
    assert order.replayed is True


def test_bad_request_is_permanent_with_message(goody: GoodyReplay) -> None:
    goody.script("POST /v1/order_batches", Reply(400, fixture("error_bad_request")))
    goody.script("GET /v1/order_batches", Reply(200, {"data": [], "list_meta": {"total_count": 0}}))

    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.place_order(CAKE, "gift-G-1")

    assert caught.value.reason == "invalid_request"
    assert "Cart items can't be blank" in str(caught.value)
    assert len(goody.requests_to("POST /v1/order_batches")) == 1


def test_unauthorized_names_setting_not_key(
    goody: GoodyReplay, caplog: pytest.LogCaptureFixture
) -> None:
    goody.script("POST /v1/order_batches", Reply(401, fixture("error_unauthorized")))

    with (
        caplog.at_level(logging.DEBUG),
        client_for(goody) as client,
        pytest.raises(PermanentError) as caught,
    ):
        client.place_order(CAKE, "gift-G-1")

    assert caught.value.reason == "unauthorized"
    assert "GIFTING_GOODY_API_KEY" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert API_KEY not in caplog.text
    assert goody.requests_to("GET /v1/order_batches") == []


def test_pending_batch_without_order_is_retriable(goody: GoodyReplay) -> None:
    goody.script("POST /v1/order_batches", Reply(201, fixture("order_batch_pending")))
    goody.script(
        f"GET /v1/order_batches/{BATCH_ID}/orders",
        Reply(200, {"data": [], "list_meta": {"total_count": 0}}),
    )

    with client_for(goody) as client, pytest.raises(RetriableError, match="no order yet"):
        client.place_order(CAKE, "gift-G-1")


def test_get_order_reads_event_times(goody: GoodyReplay) -> None:
    goody.script(f"GET /v1/orders/{ORDER_ID}", Reply(200, fixture("order_shipped")))
    goody.script(f"GET /v1/order_batches/{BATCH_ID}", Reply(200, fixture("order_batch_created")))

    with client_for(goody) as client:
        order = client.get_order(ORDER_ID)
        again = client.get_order(ORDER_ID)

    assert order.status is VendorStatus.SHIPPED
    assert order.reference == "G-1"
    assert order.sku == "CEL-CAKE-02"
    assert order.created_at == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 6, 2, 15, 30, tzinfo=UTC)
    assert again == order
    assert len(goody.requests_to(f"GET /v1/order_batches/{BATCH_ID}")) == 1


def test_get_unknown_order_not_found(goody: GoodyReplay) -> None:
    goody.script("GET /v1/orders/missing", Reply(404, fixture("error_not_found")))

    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.get_order("missing")

    assert caught.value.reason == "not_found"
    assert "Order not found" in str(caught.value)


@pytest.mark.parametrize(
    ("goody_status", "expected"),
    [
        ("created", "accepted"),
        ("notified", "accepted"),
        ("opened", "accepted"),
        ("accepted", "accepted"),
        ("pending_payment", "accepted"),
        ("paid", "accepted"),
        ("ordered", "accepted"),
        ("shipped", "shipped"),
        ("delivered", "delivered"),
        ("failed", "failed"),
        ("canceled", "cancelled"),
    ],
)
def test_status_mapping_covers_documented_statuses(goody_status: str, expected: str) -> None:
    assert STATUS_MAP[goody_status] == expected


def test_undocumented_status_is_invalid_response(goody: GoodyReplay) -> None:
    body = fixture("order_shipped")
    body["status"] = "teleported"
    goody.script(f"GET /v1/orders/{ORDER_ID}", Reply(200, body))
    goody.script(f"GET /v1/order_batches/{BATCH_ID}", Reply(200, fixture("order_batch_created")))

    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.get_order(ORDER_ID)

    assert caught.value.reason == "invalid_response"


def test_find_by_reference_reads_pages(goody: GoodyReplay) -> None:
    filler = fixture("order_batches_page")["data"][0]
    first_page = {"data": [filler] * 100, "list_meta": {"total_count": 103}}
    goody.script(
        "GET /v1/order_batches",
        Reply(200, first_page),
        Reply(200, fixture("order_batches_page")),
    )

    with client_for(goody) as client:
        order = client.find_by_reference("G-1")
        missing = client.find_by_reference("G-404")

    pages = [r.query["page"] for r in goody.requests_to("GET /v1/order_batches")]
    assert pages[:2] == [["1"], ["2"]]
    assert goody.received[0].query["per_page"] == ["100"]
    assert order is not None
    assert order.id == ORDER_ID
    assert order.reference == "G-1"
    assert missing is None


def test_cancel_created_order(goody: GoodyReplay) -> None:
    goody.script(f"GET /v1/orders/{ORDER_ID}", Reply(200, fixture("order_created")))
    goody.script(f"GET /v1/order_batches/{BATCH_ID}", Reply(200, fixture("order_batch_created")))
    goody.script(f"POST /v1/orders/{ORDER_ID}/cancel", Reply(200, fixture("order_cancel")))

    with client_for(goody) as client:
        order = client.cancel(ORDER_ID)

    assert order.status is VendorStatus.CANCELLED
    assert order.failure_reason is None
    assert len(goody.requests_to(f"POST /v1/orders/{ORDER_ID}/cancel")) == 1


def test_cancel_shipped_order_rejected(goody: GoodyReplay) -> None:
    goody.script(f"GET /v1/orders/{ORDER_ID}", Reply(200, fixture("order_shipped")))
    goody.script(f"GET /v1/order_batches/{BATCH_ID}", Reply(200, fixture("order_batch_created")))

    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.cancel(ORDER_ID)

    assert caught.value.reason == "already_shipped"
    assert goody.requests_to(f"POST /v1/orders/{ORDER_ID}/cancel") == []


def test_catalog_maps_skus_and_cents(goody: GoodyReplay) -> None:
    goody.script("GET /v1/products", Reply(200, fixture("products")))

    with client_for(goody) as client:
        entries = client.catalog()

    cake, plant = entries
    assert cake.sku == "CEL-CAKE-02"
    assert cake.price == Decimal("120.00")
    assert cake.currency == "USD"
    assert cake.in_stock is True
    assert plant.sku == "8d2e5b63-1e5f-4c9f-8b72-3a4c9daf1f22"
    assert plant.price == Decimal("45.50")
    assert plant.in_stock is False


def test_client_side_rate_limit_paces_requests(goody: GoodyReplay) -> None:
    goody.script(f"GET /v1/orders/{ORDER_ID}", Reply(200, fixture("order_shipped")))
    goody.script(f"GET /v1/order_batches/{BATCH_ID}", Reply(200, fixture("order_batch_created")))
    waits: list[float] = []

    with client_for(goody, waits, rate_limit_per_second=1.0) as client:
        client.get_order(ORDER_ID)
        client.get_order(ORDER_ID)

    # Three requests at one a second: the first is free, each later one waits its turn.
    assert len(goody.received) == 3
    assert len(waits) == 2
    assert all(wait > 0.5 for wait in waits)


def test_malformed_batch_is_invalid_response(goody: GoodyReplay) -> None:
    goody.script("POST /v1/order_batches", Reply(201, ["not", "a", "batch"]))

    with client_for(goody) as client, pytest.raises(PermanentError) as caught:
        client.place_order(CAKE, "gift-G-1")

    assert caught.value.reason == "invalid_response"
