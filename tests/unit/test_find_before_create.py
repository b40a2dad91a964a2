"""Unit tests of FindBeforeCreate's decisions, with a scripted in-memory vendor.

The integration tests prove the no-duplicate property over HTTP; these pin each branch: when
it looks up, when it creates, when it gives up, and that a dead order is not adopted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gifting.errors import PermanentError, RetriableError
from gifting.vendors.base import CatalogEntry, OrderRequest, VendorOrder, VendorStatus
from gifting.vendors.find_first import FindBeforeCreate

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
REQUEST = OrderRequest(
    reference="G-1",
    sku="EGIFT-50",
    amount=Decimal("50.00"),
    currency="USD",
    recipient_name="Ada Lovelace",
    recipient_email="ada@example.com",
    note="Thank you.",
    kind="egift",
)


def _order(status: VendorStatus = VendorStatus.ACCEPTED, order_id: str = "ord_1") -> VendorOrder:
    return VendorOrder(order_id, "G-1", "EGIFT-50", status, NOW, NOW)


class ScriptedVendor:
    """Vendor whose create outcomes are scripted and whose orders a lookup can see."""

    def __init__(self, creates: list[VendorOrder | Exception], stored: list[VendorOrder]) -> None:
        self.creates = creates
        self.stored = stored
        self.calls: list[str] = []

    def place_order(self, request: OrderRequest, idempotency_key: str) -> VendorOrder:
        self.calls.append("create")
        outcome = self.creates.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def find_by_reference(self, reference: str) -> VendorOrder | None:
        self.calls.append("find")
        return self.stored[-1] if self.stored else None

    def catalog(self) -> list[CatalogEntry]:
        return []

    def get_order(self, order_id: str) -> VendorOrder:
        return _order()

    def cancel(self, order_id: str) -> VendorOrder:
        return _order(VendorStatus.CANCELLED)

    def close(self) -> None:
        self.calls.append("close")


def test_existing_order_returned_without_create() -> None:
    vendor = ScriptedVendor(creates=[], stored=[_order()])

    order = FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1")

    assert order.id == "ord_1"
    assert order.replayed is True
    assert vendor.calls == ["find"]


def test_new_order_created_after_empty_lookup() -> None:
    vendor = ScriptedVendor(creates=[_order()], stored=[])

    order = FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1")

    assert order.replayed is False
    assert vendor.calls == ["find", "create"]


@pytest.mark.parametrize("status", [VendorStatus.FAILED, VendorStatus.CANCELLED])
def test_dead_order_not_adopted(status: VendorStatus) -> None:
    vendor = ScriptedVendor(creates=[_order(order_id="ord_2")], stored=[_order(status)])

    order = FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1-r1")

    assert order.id == "ord_2"
    assert vendor.calls == ["find", "create"]


def test_timeout_then_found_is_not_recreated() -> None:
    vendor = ScriptedVendor(creates=[RetriableError("timed out")], stored=[])
    finder = FindBeforeCreate(vendor, sleep=lambda _: None)

    def store_then_time_out(request: OrderRequest, key: str) -> VendorOrder:
        vendor.calls.append("create")
        vendor.stored.append(_order())
        raise RetriableError("timed out after the vendor stored the order")

    vendor.place_order = store_then_time_out  # type: ignore[method-assign]
    order = finder.place_order(REQUEST, "gift-G-1")

    assert order.replayed is True
    assert vendor.calls == ["find", "create", "find"]


def test_gives_up_after_max_attempts() -> None:
    errors: list[VendorOrder | Exception] = [RetriableError(f"HTTP 503 #{n}") for n in range(3)]
    vendor = ScriptedVendor(creates=errors, stored=[])
    waits: list[float] = []

    with pytest.raises(RetriableError, match="#2"):
        FindBeforeCreate(vendor, max_attempts=3, sleep=waits.append).place_order(
            REQUEST, "gift-G-1"
        )

    assert vendor.calls == ["find", "create"] * 3 + ["find"]
    assert len(waits) == 2


def test_long_retry_after_stops_at_once() -> None:
    vendor = ScriptedVendor(creates=[RetriableError("HTTP 429", retry_after=3600)], stored=[])

    with pytest.raises(RetriableError):
        FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1")

    assert vendor.calls == ["find", "create", "find"]


def test_permanent_rejection_raised_without_lookup() -> None:
    rejection = PermanentError("address invalid", reason="address_invalid")
    vendor = ScriptedVendor(creates=[rejection], stored=[])

    with pytest.raises(PermanentError) as caught:
        FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1")

    assert caught.value.reason == "address_invalid"
    assert vendor.calls == ["find", "create"]


def test_failed_lookup_blocks_create() -> None:
    vendor = ScriptedVendor(creates=[_order()], stored=[])

    def unreachable(reference: str) -> VendorOrder | None:
        raise RetriableError("lookup timed out")

    vendor.find_by_reference = unreachable  # type: ignore[method-assign]

    with pytest.raises(RetriableError, match="lookup"):
        FindBeforeCreate(vendor, sleep=lambda _: None).place_order(REQUEST, "gift-G-1")

    assert vendor.creates, "no create request may be sent while the lookup fails"
