"""Integration tests: SandboxVendorClient against a real VendorSandbox over HTTP on 127.0.0.1.

These pin the guarantee the gift pipeline depends on: retries after a lost response, a 5xx or
a rate limit never create a second order. They also check that every vendor rejection reaches
the caller as the right ``PermanentError.reason``.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gifting.errors import PermanentError, RetriableError
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors import Address, OrderRequest, SandboxVendorClient, VendorStatus

API_KEY = "test-vendor-key"
CATALOG = [
    {"sku": "MUG-01", "name": "Branded mug", "price": "18.50", "currency": "USD", "weight": 1},
    {"sku": "EGIFT-50", "name": "E-gift card", "price": 50, "currency": "USD"},
]
MUG = OrderRequest(
    reference="gift-100",
    sku="MUG-01",
    amount=Decimal("18.50"),
    currency="USD",
    recipient_name="Grace Hopper",
    recipient_email="grace@example.com",
    note="Thanks for choosing us.",
    kind="physical",
    address=Address("1 Harbor Way", "Arlington", "VA", "22201", "US"),
)
EGIFT = OrderRequest(
    reference="gift-200",
    sku="EGIFT-50",
    amount=Decimal("50"),
    currency="USD",
    recipient_name="Ada Lovelace",
    recipient_email="ada@example.com",
    note="Welcome aboard.",
    kind="egift",
)


@pytest.fixture
def sandbox() -> Iterator[VendorSandbox]:
    with VendorSandbox(CATALOG, api_key=API_KEY) as running:
        yield running


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(sandbox: VendorSandbox, waits: list[float]) -> Iterator[SandboxVendorClient]:
    with SandboxVendorClient(
        sandbox.base_url, API_KEY, timeout=2.0, rate_limit_per_second=1000.0, sleep=waits.append
    ) as vendor:
        yield vendor


def started(**options: object) -> VendorSandbox:
    return VendorSandbox(CATALOG, api_key=API_KEY, **options).start()  # type: ignore[arg-type]


def test_catalog_lists_items(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    sandbox.set_stock("MUG-01", 0)

    entries = {entry.sku: entry for entry in client.catalog()}

    assert set(entries) == {"MUG-01", "EGIFT-50"}
    assert entries["MUG-01"].price == Decimal("18.50")
    assert entries["EGIFT-50"].price == Decimal("50.00")
    assert entries["MUG-01"].in_stock is False
    assert entries["EGIFT-50"].in_stock is True


def test_same_key_replays_order(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    first = client.place_order(MUG, "gift-100-v1")
    second = client.place_order(MUG, "gift-100-v1")

    assert second.id == first.id
    assert first.replayed is False
    assert second.replayed is True
    assert sandbox.order_count == 1


def test_same_key_other_body_rejected(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    client.place_order(MUG, "gift-100-v1")

    with pytest.raises(PermanentError) as caught:
        client.place_order(replace(MUG, note="A different note."), "gift-100-v1")

    assert caught.value.reason == "idempotency_key_reused"
    assert "gift-100-v1" in str(caught.value)
    assert sandbox.order_count == 1


def test_503_retried_transparently(
    sandbox: VendorSandbox, client: SandboxVendorClient, waits: list[float]
) -> None:
    sandbox.inject_fault("http_503")

    order = client.place_order(MUG, "gift-100-v1")

    assert order.replayed is False
    assert sandbox.order_count == 1
    assert sandbox.request_count == 2
    assert len(waits) == 1
    assert 0.0 <= waits[0] <= 0.2


def test_429_honours_retry_after(
    sandbox: VendorSandbox, client: SandboxVendorClient, waits: list[float]
) -> None:
    sandbox.inject_fault("http_429", count=2)

    client.place_order(MUG, "gift-100-v1")

    assert waits == [1.0, 1.0]
    assert sandbox.order_count == 1


def test_retries_exhausted_raise_retriable(
    sandbox: VendorSandbox, client: SandboxVendorClient, waits: list[float]
) -> None:
    sandbox.inject_fault("http_500", count=4)

    with pytest.raises(RetriableError, match="HTTP 500"):
        client.place_order(MUG, "gift-100-v1")

    assert sandbox.request_count == 4
    assert len(waits) == 3
    assert sandbox.order_count == 0


def test_lost_response_retry_returns_first_order(
    sandbox: VendorSandbox, waits: list[float]
) -> None:
    sandbox.inject_fault("timeout_after_accept", delay_s=1.0)
    with SandboxVendorClient(
        sandbox.base_url, API_KEY, timeout=0.2, rate_limit_per_second=1000.0, sleep=waits.append
    ) as client:
        order = client.place_order(MUG, "gift-100-v1")

    stored = sandbox.orders()
    assert len(stored) == 1
    assert order.id == stored[0]["id"]
    assert order.replayed is True
    assert sandbox.order_count == 1
    assert len(waits) == 1


def test_dropped_connection_retried(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    sandbox.inject_fault("drop_connection")

    order = client.place_order(EGIFT, "gift-200-v1")

    assert order.replayed is False
    assert sandbox.order_count == 1
    assert sandbox.request_count == 2


def test_fault_only_hits_its_path(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    sandbox.inject_fault("http_503", path_prefix="/v1/catalog")

    client.place_order(MUG, "gift-100-v1")

    assert sandbox.request_count == 1
    assert len(client.catalog()) == 2
    assert sandbox.request_count == 3


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (replace(MUG, sku="NOPE-1"), "sku_unknown"),
        (replace(MUG, address=None), "address_invalid"),
        (replace(MUG, address=Address("", "Arlington", "VA", "22201", "US")), "address_invalid"),
        (
            replace(MUG, address=Address("INVALID street", "Arlington", "VA", "22201", "US")),
            "address_invalid",
        ),
        (replace(MUG, note=""), "invalid_request"),
        (replace(MUG, amount=Decimal("18.505")), "invalid_request"),
        (replace(MUG, currency="EUR"), "invalid_request"),
        (replace(EGIFT, recipient_email="someone@declined.example"), "recipient_declined"),
        (replace(EGIFT, recipient_email="someone@blocked.example"), "policy_blocked"),
    ],
)
def test_rejections_map_to_reason(
    sandbox: VendorSandbox,
    client: SandboxVendorClient,
    waits: list[float],
    request_: OrderRequest,
    reason: str,
) -> None:
    with pytest.raises(PermanentError) as caught:
        client.place_order(request_, "key-1")

    assert caught.value.reason == reason
    assert sandbox.order_count == 0
    assert sandbox.request_count == 1, "permanent errors must not be retried"
    assert waits == []


def test_egift_needs_no_address(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    assert client.place_order(EGIFT, "gift-200-v1").sku == "EGIFT-50"


def test_out_of_stock(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    sandbox.set_stock("MUG-01", 1)
    client.place_order(MUG, "gift-100-v1")

    with pytest.raises(PermanentError) as caught:
        client.place_order(replace(MUG, reference="gift-101"), "gift-101-v1")

    assert caught.value.reason == "out_of_stock"
    assert sandbox.order_count == 1


def test_insufficient_funds(waits: list[float]) -> None:
    sandbox = started(balance=Decimal("60.00"))
    try:
        with SandboxVendorClient(
            sandbox.base_url, API_KEY, rate_limit_per_second=1000.0, sleep=waits.append
        ) as client:
            client.place_order(EGIFT, "gift-200-v1")
            with pytest.raises(PermanentError) as caught:
                client.place_order(replace(EGIFT, reference="gift-201"), "gift-201-v1")
    finally:
        sandbox.stop()

    assert caught.value.reason == "insufficient_funds"
    assert sandbox.order_count == 1


def test_find_by_reference(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    assert client.find_by_reference("gift-100") is None

    first = client.place_order(MUG, "gift-100-v1")
    second = client.place_order(MUG, "gift-100-v2")
    client.place_order(EGIFT, "gift-200-v1")

    found = client.find_by_reference("gift-100")
    assert found is not None
    assert found.id == second.id
    assert found.id != first.id
    assert found.replayed is False


def test_get_unknown_order(client: SandboxVendorClient) -> None:
    with pytest.raises(PermanentError) as caught:
        client.get_order("ord_missing")

    assert caught.value.reason == "not_found"


def test_cancel_before_shipping(waits: list[float]) -> None:
    sandbox = started(ship_after_s=60.0)
    try:
        with SandboxVendorClient(sandbox.base_url, API_KEY, sleep=waits.append) as client:
            order = client.place_order(MUG, "gift-100-v1")
            cancelled = client.cancel(order.id)
            again = client.cancel(order.id)
            read_back = client.get_order(order.id)
    finally:
        sandbox.stop()

    assert order.status is VendorStatus.ACCEPTED
    assert cancelled.status is VendorStatus.CANCELLED
    assert again.status is VendorStatus.CANCELLED
    assert read_back.status is VendorStatus.CANCELLED
    assert read_back.updated_at >= read_back.created_at


def test_cancel_after_shipping(waits: list[float]) -> None:
    sandbox = started(ship_after_s=0.0, deliver_after_s=60.0)
    try:
        with SandboxVendorClient(sandbox.base_url, API_KEY, sleep=waits.append) as client:
            order = client.place_order(MUG, "gift-100-v1")
            with pytest.raises(PermanentError) as caught:
                client.cancel(order.id)
            status = client.get_order(order.id).status
    finally:
        sandbox.stop()

    assert order.status is VendorStatus.SHIPPED
    assert caught.value.reason == "already_shipped"
    assert status is VendorStatus.SHIPPED


def test_cancel_returns_stock(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    sandbox.set_stock("MUG-01", 1)
    sandbox.book.ship_after_s = 60.0
    order = client.place_order(MUG, "gift-100-v1")

    client.cancel(order.id)

    assert client.place_order(replace(MUG, reference="gift-101"), "gift-101-v1").id != order.id


def test_status_progression_physical(waits: list[float]) -> None:
    sandbox = started(ship_after_s=0.1, deliver_after_s=0.1)
    try:
        with SandboxVendorClient(sandbox.base_url, API_KEY, sleep=waits.append) as client:
            order = client.place_order(MUG, "gift-100-v1")
            time.sleep(0.12)  # the server's clock is the subject here
            shipped = client.get_order(order.id)
            time.sleep(0.12)
            delivered = client.get_order(order.id)
    finally:
        sandbox.stop()

    assert order.status is VendorStatus.ACCEPTED
    assert shipped.status is VendorStatus.SHIPPED
    assert delivered.status is VendorStatus.DELIVERED
    assert order.updated_at < shipped.updated_at < delivered.updated_at
    assert delivered.created_at == order.created_at


def test_status_progression_egift_skips_shipped(waits: list[float]) -> None:
    # Status follows the sandbox's wall clock, so the delays leave a busy machine a second of
    # slack between placing the order and reading it midway.
    sandbox = started(ship_after_s=1.0, deliver_after_s=1.0)
    try:
        with SandboxVendorClient(sandbox.base_url, API_KEY, sleep=waits.append) as client:
            order = client.place_order(EGIFT, "gift-200-v1")
            midway = client.get_order(order.id)
            time.sleep(2.2)
            delivered = client.get_order(order.id)
    finally:
        sandbox.stop()

    assert midway.status is VendorStatus.ACCEPTED
    assert delivered.status is VendorStatus.DELIVERED


def test_default_delays_deliver_at_once(client: SandboxVendorClient) -> None:
    assert client.place_order(MUG, "gift-100-v1").status is VendorStatus.DELIVERED


def test_failure_hooks_read_as_failed(client: SandboxVendorClient) -> None:
    undeliverable = replace(MUG, address=Address("UNDELIVERABLE 9", "Arlington", "VA", "1", "US"))
    bounced = replace(EGIFT, recipient_email="ada@bounce.example")

    physical = client.place_order(undeliverable, "gift-100-v1")
    egift = client.place_order(bounced, "gift-200-v1")

    assert physical.status is VendorStatus.FAILED
    assert physical.failure_reason == "address_undeliverable"
    assert egift.status is VendorStatus.FAILED
    assert egift.failure_reason == "email_bounced"


def test_bad_api_key_rejected(sandbox: VendorSandbox) -> None:
    client = SandboxVendorClient(sandbox.base_url, "wrong-key", sleep=lambda _: None)
    with pytest.raises(PermanentError) as caught:
        client.catalog()
    client.close()

    assert caught.value.reason == "unauthorized"
    assert "HTTP 401" in str(caught.value)
    assert "GIFTING_VENDOR_API_KEY" in str(caught.value)
    assert "wrong-key" not in str(caught.value)


def test_missing_idempotency_key_rejected(sandbox: VendorSandbox) -> None:
    response = httpx.post(
        f"{sandbox.base_url}/v1/orders",
        json={"reference": "gift-1"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "Idempotency-Key" in response.json()["error"]["message"]


def test_control_endpoints_over_http(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    created = httpx.post(
        f"{sandbox.base_url}/_sandbox/faults",
        json={"kind": "http_503", "count": 1},
        headers=headers,
    )
    rejected = httpx.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"kind": "meteor"}, headers=headers
    )

    client.place_order(MUG, "gift-100-v1")
    stats = httpx.get(f"{sandbox.base_url}/_sandbox/stats", headers=headers).json()

    assert created.status_code == 201
    assert rejected.status_code == 422
    assert stats == {"order_count": 1, "request_count": 2}


def test_keep_alive_reuses_connection(sandbox: VendorSandbox) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(sandbox.base_url.rsplit(":", 1)[1]))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    try:
        connection.request("GET", "/v1/catalog", headers=headers)
        first = connection.getresponse()
        first_body = first.read()
        first_socket = connection.sock
        connection.request("GET", "/v1/catalog", headers=headers)
        second = connection.getresponse()
        second.read()
        second_socket = connection.sock
    finally:
        connection.close()

    assert first.version == 11
    assert first.will_close is False
    assert first.getheader("Content-Length") == str(len(first_body))
    assert len(json.loads(first_body)["items"]) == 2
    assert second.status == 200
    assert first_socket is not None
    assert second_socket is first_socket, "the second request must reuse the first connection"


def test_keep_alive_responses_are_fast(sandbox: VendorSandbox, client: SandboxVendorClient) -> None:
    # With Nagle's algorithm on, each response waits about 40 ms for the client's delayed ACK.
    durations = []
    for _ in range(11):
        started_at = time.perf_counter()
        client.catalog()
        durations.append(time.perf_counter() - started_at)

    assert statistics.median(durations) < 0.02


def test_state_file_survives_restart(tmp_path: Path, waits: list[float]) -> None:
    state_path = tmp_path / "vendor_orders.json"
    first_run = started(state_path=state_path)
    try:
        first_run.set_stock("MUG-01", 5)
        with SandboxVendorClient(first_run.base_url, API_KEY, sleep=waits.append) as client:
            placed = client.place_order(MUG, "gift-100-v1")
    finally:
        first_run.stop()

    second_run = started(state_path=state_path)
    try:
        with SandboxVendorClient(second_run.base_url, API_KEY, sleep=waits.append) as client:
            replayed = client.place_order(MUG, "gift-100-v1")
            found = client.find_by_reference("gift-100")
    finally:
        second_run.stop()

    assert replayed.id == placed.id
    assert replayed.replayed is True
    assert replayed.created_at == placed.created_at
    assert found is not None
    assert found.id == placed.id
    assert second_run.order_count == 1
    assert second_run.book.stock["MUG-01"] == 4


def test_physical_order_without_email(client: SandboxVendorClient) -> None:
    order = client.place_order(replace(MUG, recipient_email=""), "gift-100-v1")

    assert order.sku == "MUG-01"
