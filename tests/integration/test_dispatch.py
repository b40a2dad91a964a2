"""Dispatch exactly once, through the real vendor client over HTTP to the vendor sandbox."""

from __future__ import annotations

import threading
from collections import Counter

from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select, update

from gifting import ledger
from gifting.dispatch import (
    dispatch_due_gifts,
    recover_interrupted_sends,
    send_ready_gifts,
    track_deliveries,
)
from gifting.salesforce.writeback import TaskWriter
from gifting.sandbox.org import OrgStore
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.base import OrderRequest
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Contact, Gift, GiftEvent
from tests.integration.ledger_fixtures import AS_OF


def _statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        return Counter(
            dict(connection.execute(select(Gift.status, func.count()).group_by(Gift.status)).all())
        )


def test_each_due_gift_is_sent_once(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    first = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    orders = vendor_sandbox.order_count
    second = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    assert first["sent"] > 0
    assert orders == first["sent"]
    assert second["sent"] == 0
    assert vendor_sandbox.order_count == orders


def test_every_sent_gift_has_note_and_order(
    planned: Engine, vendor: SandboxVendorClient, kinds: dict[str, str]
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    with planned.connect() as connection:
        sent = connection.execute(
            select(
                Gift.note, Gift.vendor_order_id, Gift.price, Gift.budget_min, Gift.budget_max
            ).where(Gift.status == ledger.SENT)
        ).all()
    assert sent
    for gift in sent:
        assert gift.note
        assert gift.vendor_order_id
        assert gift.budget_min <= gift.price <= gift.budget_max


def test_crash_after_vendor_call_repaired(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.SENT).limit(1))
        # Put the gift back as a crashed worker would leave it: claimed, order placed, not recorded.
        connection.execute(
            update(Gift)
            .where(Gift.id == gift_id)
            .values(status=ledger.SENDING, vendor_order_id=None)
        )
    orders = vendor_sandbox.order_count
    outcome = recover_interrupted_sends(planned, vendor, as_of=AS_OF)
    assert outcome["recovered"] == 1
    assert vendor_sandbox.order_count == orders
    with planned.connect() as connection:
        gift = connection.execute(
            select(Gift.status, Gift.vendor_order_id).where(Gift.id == gift_id)
        ).one()
    assert gift.status == ledger.SENT
    assert gift.vendor_order_id is not None


def test_crash_before_vendor_call_requeues_and_sends_once(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        claimed = ledger.claim_ready(connection, as_of=AS_OF, limit=1, actor="test")
    assert claimed == []  # nothing left ready after a full dispatch
    with planned.begin() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.SKIPPED).limit(1))
    assert gift_id is not None
    # A fresh gift claimed and then abandoned before any vendor call:
    with planned.begin() as connection:
        connection.execute(
            update(Gift)
            .where(Gift.id == gift_id)
            .values(status=ledger.SENDING, sku="GMT-COFFEE-05", price=75, note="Thank you.")
        )
    orders = vendor_sandbox.order_count
    assert recover_interrupted_sends(planned, vendor, as_of=AS_OF)["requeued"] == 1
    assert send_ready_gifts(planned, vendor, kinds, as_of=AS_OF)["sent"] == 1
    assert vendor_sandbox.order_count == orders + 1


def test_timeout_after_accept_is_retried_with_same_key(
    planned: Engine, vendor_sandbox: VendorSandbox, kinds: dict[str, str]
) -> None:
    vendor_sandbox.inject_fault("timeout_after_accept", count=1, delay_s=1.0)
    with SandboxVendorClient(
        vendor_sandbox.base_url,
        vendor_sandbox.api_key,
        timeout=0.3,
        rate_limit_per_second=1000,
        sleep=lambda _: None,
    ) as client:
        outcome = dispatch_due_gifts(planned, client, kinds, as_of=AS_OF, backfill=True)
    assert outcome["sent"] == vendor_sandbox.order_count
    assert not any(key.startswith("failed") for key in outcome)


def test_permanent_rejection_fails_with_reason(
    planned: Engine, vendor: SandboxVendorClient, kinds: dict[str, str]
) -> None:
    with planned.begin() as connection:
        connection.execute(update(Contact).values(street="INVALID 1 Nowhere Rd"))
    outcome = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    assert outcome["failed:address_invalid"] > 0
    with planned.connect() as connection:
        reasons = set(connection.scalars(select(Gift.reason).where(Gift.status == ledger.FAILED)))
    assert reasons == {"address_invalid"}


def test_concurrent_workers_claim_each_gift_once(
    planned: Engine, vendor_sandbox: VendorSandbox, kinds: dict[str, str]
) -> None:
    from gifting.dispatch import release_due_gifts

    release_due_gifts(planned, as_of=AS_OF, backfill=True)
    ready = _statuses(planned)[ledger.READY]
    results: list[Counter[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with SandboxVendorClient(
                vendor_sandbox.base_url, vendor_sandbox.api_key, rate_limit_per_second=1000
            ) as client:
                while sent := send_ready_gifts(planned, client, kinds, as_of=AS_OF, limit=5):
                    results.append(sent)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r["sent"] for r in results) == ready
    assert vendor_sandbox.order_count == ready
    with planned.connect() as connection:
        claims = connection.execute(
            select(GiftEvent.gift_id, func.count())
            .where(GiftEvent.to_status == ledger.SENDING)
            .group_by(GiftEvent.gift_id)
        ).all()
    assert all(count == 1 for _, count in claims)


def test_delivery_tracking_records_delivered(
    planned: Engine, vendor: SandboxVendorClient, kinds: dict[str, str]
) -> None:
    sent = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)["sent"]
    outcome = track_deliveries(planned, vendor, as_of=AS_OF)
    assert outcome["delivered"] == sent
    assert _statuses(planned)[ledger.DELIVERED] == sent


def test_crm_write_back_once_per_gift(
    planned: Engine,
    vendor: SandboxVendorClient,
    salesforce: Salesforce,
    sample_org: OrgStore,
    kinds: dict[str, str],
) -> None:
    def gift_tasks() -> int:
        return sum(1 for task in sample_org.records("Task") if task.get("Type") == "Gift")

    writer = TaskWriter(salesforce, today=AS_OF.date())
    sent = dispatch_due_gifts(
        planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer
    )["sent"]
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True, write_activity=writer)
    assert gift_tasks() == sent
    with planned.connect() as connection:
        missing = connection.scalar(
            select(func.count())
            .select_from(Gift)
            .where(Gift.status == ledger.SENT, Gift.crm_task_id.is_(None))
        )
    assert missing == 0


def test_order_request_carries_idempotency_reference(vendor: SandboxVendorClient) -> None:
    from decimal import Decimal

    request = OrderRequest(
        reference="gift-x",
        sku="CHC-EGIFT-50",
        amount=Decimal(50),
        currency="USD",
        recipient_name="Ana",
        recipient_email="ana@example.com",
        note="Hi",
        kind="egift",
    )
    first = vendor.place_order(request, idempotency_key="gift-gift-x")
    again = vendor.place_order(request, idempotency_key="gift-gift-x")
    assert again.id == first.id
    assert again.replayed


def test_late_approval_sends_nothing_stale(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    from datetime import timedelta

    from gifting.dispatch import expire_missed_windows, release_due_gifts

    release_due_gifts(planned, as_of=AS_OF, backfill=True)
    with planned.begin() as connection:
        gift_id = connection.scalar(select(Gift.id).where(Gift.status == ledger.READY).limit(1))
        ledger.move(connection, gift_id, ledger.READY, ledger.NEEDS_REVIEW, at=AS_OF, actor="test")
        window_ends = connection.scalar(select(Gift.window_ends_at).where(Gift.id == gift_id))
    later = max(window_ends, AS_OF) + timedelta(days=1)
    outcome = expire_missed_windows(planned, as_of=later)
    with planned.connect() as connection:
        gift = connection.execute(select(Gift.status, Gift.reason).where(Gift.id == gift_id)).one()
    assert gift.status == ledger.SKIPPED
    assert gift.reason == "review_expired"
    assert outcome["skipped:review_expired"] == 1
    send_ready_gifts(planned, vendor, kinds, as_of=later)
    assert vendor.find_by_reference(gift_id) is None
