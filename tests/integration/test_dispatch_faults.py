"""Dispatch against a failing vendor, two runs at once, and a quarantined recipient.

Every test talks to the vendor sandbox over HTTP through ``SandboxVendorClient``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select, update

from gifting import ledger
from gifting.claims import DispatchBusy, run_lock
from gifting.config import Catalog, ProgramConfig
from gifting.dispatch import dispatch_due_gifts, release_due_gifts
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.resend import resend_failed
from gifting.salesforce.sync import sync_org
from gifting.sandbox.due_gifts import seed_due_gifts
from gifting.sandbox.org import OrgStore
from gifting.sandbox.vendor_faults import FaultRates
from gifting.sandbox.vendor_server import VendorSandbox
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Contract, Gift, GiftEvent
from tests.integration.ledger_fixtures import AS_OF, CONFIG

UNKNOWN_CONTACT = "003000000000999AAA"


def _statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(Gift.status, func.count()).group_by(Gift.status)).all()
    return Counter({status: count for status, count in rows})


def _orders_per_reference(sandbox: VendorSandbox) -> Counter[str]:
    return Counter(str(order["reference"]) for order in sandbox.orders())


def _client(sandbox_url: str, **options: object) -> SandboxVendorClient:
    defaults: dict[str, object] = {
        "rate_limit_per_second": 10_000,
        "backoff_base": 0.01,
        "sleep": lambda _: None,
    }
    return SandboxVendorClient(sandbox_url, "sandbox-vendor-key", **{**defaults, **options})  # type: ignore[arg-type]


def test_vendor_down_defers_queue_within_budget(
    engine: Engine, catalog: Catalog, kinds: dict[str, str]
) -> None:
    items = [item.model_dump(mode="json") for item in catalog.items]
    gift_ids = seed_due_gifts(engine, catalog, 12, as_of=AS_OF, status=ledger.READY)
    with engine.begin() as connection:
        stuck = ledger.claim_ready(connection, as_of=AS_OF, limit=1, actor="crashed worker")
    assert stuck == gift_ids[:1]

    sandbox = VendorSandbox(items).start()
    port = sandbox.port
    sandbox.stop()  # the port now refuses connections
    waits: list[float] = []
    with _client(
        f"http://127.0.0.1:{port}", backoff_base=0.5, retry_budget_s=1.0, sleep=waits.append
    ) as client:
        outcome = dispatch_due_gifts(engine, client, kinds, as_of=AS_OF, batch_size=5)

    assert outcome["unrecovered:vendor_unavailable"] == 1
    assert outcome["failed:vendor_unavailable"] == 2
    # The rest of the first batch, plus the second when it was claimed before the breaker opened.
    assert outcome["deferred:vendor_unavailable"] in (3, 8)
    assert sum(waits) <= 1.0
    statuses = _statuses(engine)
    assert statuses[ledger.SENDING] == 1
    assert statuses[ledger.FAILED] == 2
    assert statuses[ledger.READY] == 9

    with VendorSandbox(items, port=port) as restarted, _client(restarted.base_url) as client:
        again = dispatch_due_gifts(engine, client, kinds, as_of=AS_OF, batch_size=5)
        resent = resend_failed(engine, client, kinds, as_of=AS_OF, actor="ops@example.com")
        orders = _orders_per_reference(restarted)
    assert again["requeued"] == 1
    assert again["sent"] == 10
    assert resent.counts() == {"sent": 2}
    assert _statuses(engine) == Counter({ledger.SENT: 12})
    assert orders == Counter({gift_id: 1 for gift_id in gift_ids})


def test_failed_lookup_leaves_gift_and_sends_rest(
    engine: Engine, catalog: Catalog, vendor_sandbox: VendorSandbox, kinds: dict[str, str]
) -> None:
    gift_ids = seed_due_gifts(engine, catalog, 6, as_of=AS_OF, status=ledger.READY)
    with engine.begin() as connection:
        ledger.claim_ready(connection, as_of=AS_OF, limit=1, actor="crashed worker")
    # The lookup of the stuck gift gets 503 on all four tries; the orders after it go through.
    vendor_sandbox.inject_fault("http_503", count=4)
    with _client(vendor_sandbox.base_url) as client:
        outcome = dispatch_due_gifts(engine, client, kinds, as_of=AS_OF)
        assert outcome["unrecovered:vendor_unavailable"] == 1
        assert outcome["sent"] == 5
        assert _statuses(engine)[ledger.SENDING] == 1

        assert dispatch_due_gifts(engine, client, kinds, as_of=AS_OF)["requeued"] == 1
    assert _statuses(engine) == Counter({ledger.SENT: 6})
    assert _orders_per_reference(vendor_sandbox) == Counter({gift_id: 1 for gift_id in gift_ids})


def test_flaky_vendor_sends_each_gift_once(
    engine: Engine, catalog: Catalog, vendor_sandbox: VendorSandbox, kinds: dict[str, str]
) -> None:
    gift_ids = seed_due_gifts(engine, catalog, 150, as_of=AS_OF)
    rates = FaultRates(
        http_5xx=0.20, timeout_after_accept=0.05, rate_limit_every=80, burst_s=0.3, delay_s=0.6
    )
    vendor_sandbox.inject_random_faults(rates, seed=7)
    # The client sleeps for real here, so it waits out each burst as its Retry-After asks. The
    # circuit breaker is set out of reach: this test is about each gift's own outcome.
    with _client(vendor_sandbox.base_url, timeout=0.3, sleep=time.sleep) as client:
        outcome = dispatch_due_gifts(
            engine, client, kinds, as_of=AS_OF, concurrency=4, outage_after=1000
        )
    served = vendor_sandbox.faults_served
    assert served["http_500"] + served["http_503"] > 0
    assert served["timeout_after_accept"] > 0
    assert served["http_429"] > 0

    with engine.connect() as connection:
        gifts = connection.execute(
            select(Gift.id, Gift.status, Gift.reason, Gift.vendor_order_id)
        ).all()
    assert len(gifts) == 150
    assert {gift.status for gift in gifts} <= {ledger.SENT, ledger.FAILED}
    assert all(gift.reason for gift in gifts if gift.status == ledger.FAILED)
    orders = {str(order["reference"]): order for order in vendor_sandbox.orders()}
    assert max(_orders_per_reference(vendor_sandbox).values()) == 1
    for gift in gifts:
        if gift.status == ledger.SENT:
            assert orders[gift.id]["id"] == gift.vendor_order_id
    assert outcome["sent"] == sum(1 for gift in gifts if gift.status == ledger.SENT)

    # Once the vendor is healthy, a resend finishes every failed gift without a second order.
    vendor_sandbox.inject_random_faults(None)
    with _client(vendor_sandbox.base_url) as client:
        resend_failed(engine, client, kinds, as_of=AS_OF, actor="ops@example.com")
    assert _statuses(engine) == Counter({ledger.SENT: 150})
    assert _orders_per_reference(vendor_sandbox) == Counter({gift_id: 1 for gift_id in gift_ids})


def test_two_sqlite_runs_take_turns(
    sqlite_engine: Engine, catalog: Catalog, vendor_sandbox: VendorSandbox, kinds: dict[str, str]
) -> None:
    gift_ids = seed_due_gifts(sqlite_engine, catalog, 300, as_of=AS_OF)
    results: list[Counter[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with _client(vendor_sandbox.base_url) as client:
                results.append(
                    dispatch_due_gifts(sqlite_engine, client, kinds, as_of=AS_OF, batch_size=50)
                )
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(result["sent"] for result in results) == [0, 300]
    assert _orders_per_reference(vendor_sandbox) == Counter({gift_id: 1 for gift_id in gift_ids})


def test_busy_sqlite_run_names_lock_and_fix(
    sqlite_engine: Engine, vendor: SandboxVendorClient, kinds: dict[str, str]
) -> None:
    with run_lock(sqlite_engine), pytest.raises(DispatchBusy) as raised:
        dispatch_due_gifts(sqlite_engine, vendor, kinds, as_of=AS_OF, run_lock_wait_s=0.2)
    message = str(raised.value)
    assert f"{sqlite_engine.url.database}.dispatch.lock" in message
    assert "one sending run at a time" in message
    assert "GIFTING_DATABASE_URL" in message


def _plan_and_personalize(
    engine: Engine, salesforce: Salesforce, program: ProgramConfig, catalog: Catalog
) -> None:
    sync_org(salesforce, engine, now=datetime.now(UTC))
    plan_gifts(engine, program, as_of=AS_OF, backfill=True)
    personalize_gifts(engine, program, catalog, note_environment(CONFIG / "templates"), as_of=AS_OF)


def test_contact_without_last_name_waits_for_fix(
    engine: Engine,
    salesforce: Salesforce,
    sample_org: OrgStore,
    program: ProgramConfig,
    catalog: Catalog,
    vendor: SandboxVendorClient,
    kinds: dict[str, str],
) -> None:
    won = {deal["Id"] for deal in sample_org.records("Opportunity") if deal.get("IsWon")}
    contact_id = next(
        role["ContactId"]
        for role in sample_org.records("OpportunityContactRole")
        if role.get("IsPrimary") and role["OpportunityId"] in won
    )
    last_name = sample_org.get("Contact", contact_id)["LastName"]  # type: ignore[index]
    sample_org.update("Contact", contact_id, {"LastName": None})
    _plan_and_personalize(engine, salesforce, program, catalog)
    with engine.connect() as connection:
        held = set(
            connection.scalars(
                select(Gift.id).where(
                    Gift.contact_id == contact_id,
                    Gift.status == ledger.PLANNED,
                    Gift.due_at <= AS_OF,
                )
            )
        )
    assert held

    outcome = dispatch_due_gifts(engine, vendor, kinds, as_of=AS_OF, backfill=True)
    assert outcome["waiting:contact_quarantined"] == len(held)
    with engine.connect() as connection:
        rows = connection.execute(select(Gift.status, Gift.reason).where(Gift.id.in_(held))).all()
    assert {row.status for row in rows} == {ledger.PLANNED}
    assert {row.reason for row in rows} == {"contact_quarantined: missing LastName on Contact"}

    # Fixing the name in Salesforce releases the gifts on the next sync and dispatch.
    sample_org.update("Contact", contact_id, {"LastName": last_name})
    _plan_and_personalize(engine, salesforce, program, catalog)
    dispatch_due_gifts(engine, vendor, kinds, as_of=AS_OF, backfill=True)
    with engine.connect() as connection:
        statuses = set(connection.scalars(select(Gift.status).where(Gift.id.in_(held))))
    assert statuses == {ledger.SENT}


def test_unknown_contact_still_skipped(
    engine: Engine, catalog: Catalog, kinds: dict[str, str]
) -> None:
    gift_ids = seed_due_gifts(engine, catalog, 2, as_of=AS_OF)
    with engine.begin() as connection:
        # A contract whose contact row never arrived and is not quarantined: nobody to send to.
        connection.execute(update(Contract).values(contact_id=UNKNOWN_CONTACT))
        connection.execute(update(Gift).values(contact_id=UNKNOWN_CONTACT))
    outcome = release_due_gifts(engine, as_of=AS_OF)
    assert outcome["skipped:recipient_gone"] == len(gift_ids)
    with engine.connect() as connection:
        events = connection.scalar(
            select(func.count()).select_from(GiftEvent).where(GiftEvent.reason == "recipient_gone")
        )
    assert events == len(gift_ids)
