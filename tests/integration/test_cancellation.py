"""Cancelling ordered gifts at the vendor when their contract is lost or deleted.

The vendor sandbox runs over HTTP with physical orders shipping at once and e-gifts staying
accepted for ten minutes. So, of two welcome gifts sent before their contracts leave the won
state, the e-gift can still be cancelled and the physical gift is too late.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, select, update

from gifting import ledger
from gifting.cancellation import cancel_ordered_gifts
from gifting.config import Catalog, ProgramConfig, load_catalog
from gifting.dispatch import dispatch_due_gifts
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.settings import PROJECT_ROOT
from gifting.vendors.base import VendorStatus
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Contract, GiftEvent
from tests.integration.test_planning_rules import NOW, _gift, _seed, program

__all__ = ["program"]

CONFIG = PROJECT_ROOT / "config"
SENT_AT = datetime(2026, 6, 1, 16, 0)  # after the 10:00 Chicago due time of the welcome gifts
LEFT_AT = datetime(2026, 6, 1, 18, 0)


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(CONFIG)


@pytest.fixture
def slow_vendor(catalog: Catalog) -> Iterator[tuple[VendorSandbox, SandboxVendorClient]]:
    """Serve a vendor whose physical orders ship at once and e-gifts stay accepted."""
    items = [item.model_dump(mode="json") for item in catalog.items]
    sandbox = VendorSandbox(items, ship_after_s=0.0, deliver_after_s=600.0)
    with (
        sandbox,
        SandboxVendorClient(
            sandbox.start().base_url,
            sandbox.api_key,
            rate_limit_per_second=1000,
            sleep=lambda _: None,
        ) as client,
    ):
        yield sandbox, client


def _send_due_gifts(
    engine: Engine, program: ProgramConfig, catalog: Catalog, vendor: SandboxVendorClient
) -> None:
    """Plan, personalize and send every gift due by ``SENT_AT``."""
    plan_gifts(engine, program, as_of=NOW)
    notes = note_environment(CONFIG / "templates")
    personalize_gifts(engine, program, catalog, notes, as_of=SENT_AT)
    kinds = {item.sku: item.kind for item in catalog.items}
    dispatch_due_gifts(engine, vendor, kinds, as_of=SENT_AT)


def _seed_recipients(engine: Engine) -> tuple[str, str, str]:
    """Seed a parcel recipient (account 1) and two e-gift recipients with no street (2 and 3)."""
    parcel = _seed(
        engine,
        1,
        NOW.date(),
        contact_city="Austin",
        contact_postal_code="73301",
        contact_email="ana@example.com",
    )
    egift = _seed(engine, 2, NOW.date(), contact_street=None, contact_email="bo@example.com")
    other = _seed(engine, 3, NOW.date(), contact_street=None, contact_email="cy@example.com")
    return parcel, egift, other


def test_lost_contract_cancels_order_before_shipping(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    slow_vendor: tuple[VendorSandbox, SandboxVendorClient],
) -> None:
    _, vendor = slow_vendor
    parcel, egift, still_won = _seed_recipients(engine)
    _send_due_gifts(engine, program, catalog, vendor)
    assert _gift(engine, parcel, "welcome").status == ledger.SENT
    assert _gift(engine, egift, "welcome").status == ledger.SENT
    with engine.begin() as connection:
        connection.execute(
            update(Contract).where(Contract.account_id == parcel).values(status="lost")
        )
        connection.execute(
            update(Contract).where(Contract.account_id == egift).values(status="deleted")
        )

    planned = plan_gifts(engine, program, as_of=LEFT_AT)
    outcome = cancel_ordered_gifts(engine, vendor, as_of=LEFT_AT)

    assert planned.cancelled == 6  # the three later stages of both contracts
    assert outcome == {"cancelled_at_vendor": 1, "cancel_too_late": 1}
    cancelled = _gift(engine, egift, "welcome")
    assert (cancelled.status, cancelled.reason) == (
        ledger.CANCELLED,
        "contract_deleted: cancelled at vendor",
    )
    assert vendor.get_order(cancelled.vendor_order_id).status is VendorStatus.CANCELLED
    shipped = _gift(engine, parcel, "welcome")
    assert shipped.status == ledger.SENT
    assert shipped.reason.startswith("cancel_too_late: contract_lost")
    assert vendor.get_order(shipped.vendor_order_id).status is VendorStatus.SHIPPED
    with engine.connect() as connection:
        events = connection.execute(
            select(GiftEvent.gift_id, GiftEvent.from_status, GiftEvent.to_status, GiftEvent.reason)
            .where(GiftEvent.occurred_at == LEFT_AT, GiftEvent.actor == "cancel_orders")
            .order_by(GiftEvent.id)
        ).all()
    by_gift = {event.gift_id: event for event in events}
    assert len(events) == 2
    assert (by_gift[cancelled.id].from_status, by_gift[cancelled.id].to_status) == (
        ledger.SENT,
        ledger.CANCELLED,
    )
    assert (by_gift[shipped.id].from_status, by_gift[shipped.id].to_status) == (
        ledger.SENT,
        ledger.SENT,
    )
    assert "shipped" in by_gift[shipped.id].reason
    still_sent = _gift(engine, still_won, "welcome")
    assert still_sent.status == ledger.SENT
    assert vendor.get_order(still_sent.vendor_order_id).status is VendorStatus.ACCEPTED


def test_vendor_asked_once_per_gift(
    engine: Engine,
    program: ProgramConfig,
    catalog: Catalog,
    slow_vendor: tuple[VendorSandbox, SandboxVendorClient],
) -> None:
    sandbox, vendor = slow_vendor
    parcel, egift, _ = _seed_recipients(engine)
    _send_due_gifts(engine, program, catalog, vendor)
    with engine.begin() as connection:
        connection.execute(
            update(Contract).where(Contract.account_id.in_([parcel, egift])).values(status="lost")
        )
    # The client tries each call four times, so eight failures use up both gifts' tries.
    sandbox.inject_fault("http_503", count=8, path_prefix="/v1/orders/")

    unreachable = cancel_ordered_gifts(engine, vendor, as_of=LEFT_AT)
    assert unreachable == {"cancel_retry_later": 2}
    assert {_gift(engine, a, "welcome").status for a in (parcel, egift)} == {ledger.SENT}

    first = cancel_ordered_gifts(engine, vendor, as_of=LEFT_AT)
    again = cancel_ordered_gifts(engine, vendor, as_of=LEFT_AT)

    assert first == {"cancelled_at_vendor": 1, "cancel_too_late": 1}
    assert again == {}
    assert _gift(engine, egift, "welcome").status == ledger.CANCELLED
    assert _gift(engine, parcel, "welcome").status == ledger.SENT
