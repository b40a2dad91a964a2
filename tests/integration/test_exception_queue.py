"""The exception queue: typed reasons and ages, automatic reorders, one CRM Task per failure."""

from __future__ import annotations

# The ledger fixtures are imported from test_dispatch, so test arguments shadow the imports.
from datetime import datetime, timedelta

from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select, update

from gifting import ledger
from gifting.config import Catalog, ProgramConfig
from gifting.dispatch import (
    dispatch_due_gifts,
    release_due_gifts,
    send_ready_gifts,
    track_deliveries,
)
from gifting.exception_queue import (
    ACTOR,
    REPLACE_ITEM,
    SEND_EGIFT,
    AttentionTaskWriter,
    list_exceptions,
    work_exception_queue,
)
from gifting.personalization.notes import note_environment
from gifting.personalization.selection import RECIPIENTS_CHOICE_PREFIX, primary_category
from gifting.sandbox.org import OrgStore
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Contact, Gift, GiftEvent
from tests.integration.ledger_fixtures import AS_OF, CONFIG

LATER = AS_OF + timedelta(hours=6)


def _attention_tasks(org: OrgStore) -> list[dict[str, object]]:
    return [
        task
        for task in org.records("Task")
        if str(task.get("Subject", "")).startswith("Gift needs attention: ")
    ]


def _failed(engine: Engine) -> list[Gift]:
    with engine.connect() as connection:
        return list(connection.execute(select(Gift).where(Gift.status == ledger.FAILED)).all())  # type: ignore[arg-type]


def _stock_out_most_common_sku(engine: Engine, sandbox: VendorSandbox) -> str:
    release_due_gifts(engine, as_of=AS_OF, backfill=True)
    with engine.connect() as connection:
        sku = connection.execute(
            select(Gift.sku)
            .where(Gift.status == ledger.READY)
            .group_by(Gift.sku)
            .order_by(func.count().desc(), Gift.sku)
            .limit(1)
        ).scalar_one()
    sandbox.set_stock(sku, 0)
    return str(sku)


def test_list_shows_reason_age_and_remedy(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    sku = _stock_out_most_common_sku(planned, vendor_sandbox)
    failed = dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    exceptions = list_exceptions(planned, as_of=LATER)
    assert len(exceptions) == failed["failed:out_of_stock"] > 0
    for exception in exceptions:
        assert exception.reason == "out_of_stock"
        assert exception.sku == sku
        assert exception.age == timedelta(hours=6)
        assert exception.remedy == REPLACE_ITEM


def test_out_of_stock_reorders_in_budget(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    salesforce: Salesforce,
    sample_org: OrgStore,
    program: ProgramConfig,
    catalog: Catalog,
    kinds: dict[str, str],
) -> None:
    sku = _stock_out_most_common_sku(planned, vendor_sandbox)
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    failed = {gift.id: gift for gift in _failed(planned)}
    assert failed
    writer = AttentionTaskWriter(salesforce, today=LATER.date())
    notes = note_environment(CONFIG / "templates")
    outcome = work_exception_queue(
        planned, program, catalog, as_of=LATER, notes=notes, notify=writer
    )
    assert outcome[f"remedied:{REPLACE_ITEM}"] == len(failed)
    assert outcome["notified"] == len(failed)
    assert len(_attention_tasks(sample_org)) == len(failed)

    items = {item.sku: item for item in catalog.items}
    stages = {stage.name: stage for stage in program.stages}
    with planned.connect() as connection:
        reordered = connection.execute(select(Gift).where(Gift.id.in_(failed))).all()
    for gift in reordered:
        stage = stages[gift.stage]
        assert gift.status == ledger.READY
        assert gift.sku != sku
        assert gift.idempotency_key == f"gift-{gift.id}-r1"
        assert stage.budget_usd[0] <= gift.price <= stage.budget_usd[1]
        old_category = primary_category(items[sku], stage)
        if not gift.sku.startswith(RECIPIENTS_CHOICE_PREFIX):
            # Otherwise every other category was taken, and the e-gift is the fallback.
            assert primary_category(items[gift.sku], stage) != old_category
        assert items[gift.sku].name.lower() in gift.note.lower()

    orders = vendor_sandbox.order_count
    sent = send_ready_gifts(planned, vendor, kinds, as_of=LATER)
    assert sent["sent"] == len(failed)
    assert vendor_sandbox.order_count == orders + len(failed)
    for gift_id in failed:
        assert f"gift-{gift_id}-r1" in vendor_sandbox.book.keys


def test_bad_address_becomes_egift(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    program: ProgramConfig,
    catalog: Catalog,
    kinds: dict[str, str],
) -> None:
    with planned.begin() as connection:
        connection.execute(update(Contact).values(street="INVALID 1 Nowhere Rd"))
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    failed = [gift.id for gift in _failed(planned)]
    assert failed
    outcome = work_exception_queue(planned, program, catalog, as_of=LATER)
    assert outcome[f"remedied:{SEND_EGIFT}"] == len(failed)
    assert send_ready_gifts(planned, vendor, kinds, as_of=LATER)["sent"] == len(failed)
    with planned.connect() as connection:
        skus = set(connection.scalars(select(Gift.sku).where(Gift.id.in_(failed))))
        events = connection.scalar(
            select(func.count())
            .select_from(GiftEvent)
            .where(GiftEvent.actor == ACTOR, GiftEvent.to_status == ledger.READY)
        )
    assert {kinds[sku] for sku in skus} == {"egift"}
    assert events == len(failed)


def test_undeliverable_order_is_reordered_without_key_clash(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    program: ProgramConfig,
    catalog: Catalog,
    kinds: dict[str, str],
) -> None:
    with planned.begin() as connection:
        connection.execute(update(Contact).values(street="1 UNDELIVERABLE Rd"))
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    track_deliveries(planned, vendor, as_of=AS_OF)
    failed = [gift.id for gift in _failed(planned)]
    assert failed
    work_exception_queue(planned, program, catalog, as_of=LATER)
    outcome = send_ready_gifts(planned, vendor, kinds, as_of=LATER)
    assert outcome == {"sent": len(failed)}


def test_unremediable_failure_notifies_owner_once(
    planned: Engine,
    vendor: SandboxVendorClient,
    salesforce: Salesforce,
    sample_org: OrgStore,
    program: ProgramConfig,
    catalog: Catalog,
    kinds: dict[str, str],
) -> None:
    with planned.begin() as connection:
        connection.execute(update(Contact).values(email="someone@declined.example"))
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    failed = _failed(planned)
    assert failed
    writer = AttentionTaskWriter(salesforce, today=LATER.date())
    first = work_exception_queue(planned, program, catalog, as_of=LATER, notify=writer)
    second = work_exception_queue(planned, program, catalog, as_of=LATER, notify=writer)
    assert first["waiting:recipient_declined"] == len(failed)
    assert first["notified"] == len(failed)
    assert second["notified"] == 0
    tasks = _attention_tasks(sample_org)
    assert len(tasks) == len(failed)
    assert all("recipient_declined" in str(task["Subject"]) for task in tasks)
    assert all(gift.status == ledger.FAILED for gift in _failed(planned))


def test_remedy_stops_after_limit(
    planned: Engine,
    vendor: SandboxVendorClient,
    vendor_sandbox: VendorSandbox,
    kinds: dict[str, str],
) -> None:
    _stock_out_most_common_sku(planned, vendor_sandbox)
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    gift = _failed(planned)[0]
    with planned.begin() as connection:
        connection.execute(
            update(Gift).where(Gift.id == gift.id).values(idempotency_key=f"gift-{gift.id}-r3")
        )
    remedies = {e.gift_id: e.remedy for e in list_exceptions(planned, as_of=datetime(2026, 6, 2))}
    assert remedies[gift.id] is None
