"""Exactly once against a vendor that ignores idempotency keys, through the dispatch path.

The vendor sandbox runs with ``honour_idempotency_keys=False``, so every create request makes
a new order, which Sendoso's API FAQ says Sendoso does. A response held back past the client's
timeout (``timeout_after_accept``) is the ambiguous failure: the order exists but the client
does not know it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from gifting import ledger
from gifting.config import Catalog
from gifting.dispatch import dispatch_due_gifts, release_due_gifts
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.base import OrderRequest
from gifting.vendors.find_first import FindBeforeCreate
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Gift
from tests.integration.ledger_fixtures import AS_OF


@pytest.fixture
def forgetful_vendor(catalog: Catalog) -> Iterator[VendorSandbox]:
    items = [item.model_dump(mode="json") for item in catalog.items]
    with VendorSandbox(items, honour_idempotency_keys=False) as sandbox:
        yield sandbox


def _client(sandbox: VendorSandbox, *, retry_place_order: bool) -> SandboxVendorClient:
    return SandboxVendorClient(
        sandbox.base_url,
        sandbox.api_key,
        timeout=0.3,
        rate_limit_per_second=1000,
        retry_place_order=retry_place_order,
        sleep=lambda _: None,
    )


def _orders_per_reference(sandbox: VendorSandbox) -> Counter[str]:
    return Counter(str(order["reference"]) for order in sandbox.orders())


def test_sandbox_mode_duplicates_blind_retries(forgetful_vendor: VendorSandbox) -> None:
    forgetful_vendor.inject_fault("timeout_after_accept", count=1, delay_s=1.0)
    item = forgetful_vendor.book.catalog_json()[0]
    request = OrderRequest(
        reference="gift-control",
        sku=item["sku"],
        amount=Decimal(item["price"]),
        currency=item["currency"],
        recipient_name="Grace Hopper",
        recipient_email="grace@example.com",
        note="Welcome aboard.",
        kind="egift",
    )

    with _client(forgetful_vendor, retry_place_order=True) as client:
        order = client.place_order(request, "gift-control")

    # The control case: the client's blind retry sent the same key again and made a second
    # order, so this mode really behaves like a vendor that does not deduplicate.
    assert order.replayed is False
    assert forgetful_vendor.order_count == 2
    assert _orders_per_reference(forgetful_vendor)["gift-control"] == 2


def test_timeouts_after_accept_make_no_duplicates(
    planned: Engine, forgetful_vendor: VendorSandbox, kinds: dict[str, str]
) -> None:
    forgetful_vendor.inject_fault("timeout_after_accept", count=3, delay_s=1.0)

    with _client(forgetful_vendor, retry_place_order=False) as client:
        vendor = FindBeforeCreate(client, sleep=lambda _: None)
        outcome = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
        again = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)

    per_reference = _orders_per_reference(forgetful_vendor)
    assert outcome["sent"] > 3
    assert not any(key.startswith("failed") for key in outcome)
    assert again["sent"] == 0
    assert forgetful_vendor.order_count == outcome["sent"]
    assert set(per_reference.values()) == {1}
    with planned.connect() as connection:
        recorded = dict(
            connection.execute(
                select(Gift.id, Gift.vendor_order_id).where(Gift.status == ledger.SENT)
            ).all()
        )
    by_reference = {str(order["reference"]): order["id"] for order in forgetful_vendor.orders()}
    assert recorded == by_reference


def test_gift_left_sending_is_recovered_not_resent(
    planned: Engine, forgetful_vendor: VendorSandbox, kinds: dict[str, str]
) -> None:
    release_due_gifts(planned, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        gift = connection.execute(
            select(Gift.id, Gift.sku, Gift.price, Gift.note).where(Gift.status == ledger.READY)
        ).first()
        assert gift is not None
        ledger.move(connection, gift.id, ledger.READY, ledger.SENDING, at=AS_OF, actor="test")
    request = OrderRequest(
        reference=gift.id,
        sku=gift.sku,
        amount=Decimal(gift.price),
        currency="USD",
        recipient_name="Grace Hopper",
        recipient_email="grace@example.com",
        note=gift.note,
        kind="egift",
    )

    with _client(forgetful_vendor, retry_place_order=False) as client:
        # A worker placed the order, then crashed before recording it.
        placed = client.place_order(request, f"gift-{gift.id}")
        outcome = dispatch_due_gifts(
            planned, FindBeforeCreate(client), kinds, as_of=AS_OF, backfill=True
        )

    assert outcome["recovered"] == 1
    assert _orders_per_reference(forgetful_vendor)[gift.id] == 1
    assert set(_orders_per_reference(forgetful_vendor).values()) == {1}
    with planned.connect() as connection:
        recorded = connection.scalar(select(Gift.vendor_order_id).where(Gift.id == gift.id))
    assert recorded == placed.id
