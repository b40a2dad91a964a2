"""Review gate and reviewer decisions on real SQLite and PostgreSQL warehouses.

Most tests seed a few hand-made gifts, so each gate rule is exercised on its own. One test runs
the gate inside ``dispatch_due_gifts`` on the synced sample org, with the vendor sandbox.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from gifting import ledger
from gifting.config import Catalog, ReviewConfig, load_catalog, load_program
from gifting.dispatch import dispatch_due_gifts
from gifting.personalization.notes import note_environment
from gifting.personalization.prepare import personalize_gifts
from gifting.planning.milestones import plan_gifts
from gifting.review import (
    FIRST_STRATEGIC_GIFT,
    GATE_ACTOR,
    HIGH_VALUE,
    WEAK_PERSONALIZATION,
    InvalidReviewDecision,
    ReviewDecision,
    apply_decision,
    apply_review_gate,
    decide,
    pending_reviews,
)
from gifting.salesforce.sync import sync_org
from gifting.settings import PROJECT_ROOT
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import Account, Contact, Contract, Gift, GiftEvent

CONFIG = PROJECT_ROOT / "config"
AS_OF = datetime(2026, 6, 1, 10)
POLICY = ReviewConfig()
PATHS = {
    ledger.READY: [ledger.READY],
    ledger.NEEDS_REVIEW: [ledger.READY, ledger.NEEDS_REVIEW],
    ledger.SENT: [ledger.READY, ledger.SENDING, ledger.SENT],
}
PERSONAL_NOTE = "Dear Ada, enjoy this single-origin coffee tasting box."


def seed_gift(
    engine: Engine,
    gift_id: str,
    *,
    status: str = ledger.READY,
    price: int = 75,
    sku: str = "GMT-COFFEE-05",
    item_name: str = "Single-origin coffee tasting box",
    first_name: str | None = "Ada",
    strategic: bool = False,
    account_id: str | None = None,
    budget: tuple[int, int] = (50, 150),
    note: str = PERSONAL_NOTE,
) -> str:
    """Insert an account, contact, contract and one gift walked through the ledger to ``status``."""
    account_id = account_id or f"001{gift_id}"
    stamps: dict[str, Any] = {"system_modstamp": AS_OF, "synced_at": AS_OF}
    with engine.begin() as connection:
        if connection.scalar(select(Account.id).where(Account.id == account_id)) is None:
            connection.execute(
                insert(Account).values(
                    id=account_id, name=f"Company {gift_id}", is_strategic=strategic, **stamps
                )
            )
        connection.execute(
            insert(Contact).values(
                id=f"003{gift_id}",
                account_id=account_id,
                first_name=first_name,
                last_name="Lovelace",
                street="1 Main St",
                country="US",
                **stamps,
            )
        )
        connection.execute(
            insert(Contract).values(
                id=f"006{gift_id}",
                account_id=account_id,
                contact_id=f"003{gift_id}",
                name="Deal",
                signed_on=(AS_OF - timedelta(days=7)).date(),
                use_case="Billing automation",
                status="won",
                first_seen_at=AS_OF,
                **stamps,
            )
        )
        row = {
            "id": gift_id,
            "contract_id": f"006{gift_id}",
            "stage": "first_week",
            "account_id": account_id,
            "contact_id": f"003{gift_id}",
            "status": ledger.PLANNED,
            "due_at": AS_OF - timedelta(hours=1),
            "window_ends_at": AS_OF + timedelta(days=3),
            "budget_min": budget[0],
            "budget_max": budget[1],
            "sku": sku,
            "item_name": item_name,
            "price": price,
            "note": note,
            "selection_reasons": [],
            "created_at": AS_OF,
            "updated_at": AS_OF,
        }
        ledger.create_gifts(connection, [row], at=AS_OF, actor="test")
        current = ledger.PLANNED
        for step in PATHS[status]:
            ledger.move(connection, gift_id, current, step, at=AS_OF, actor="test")
            current = step
    return gift_id


def _gift(engine: Engine, gift_id: str) -> Gift:
    with Session(engine) as session:
        return session.execute(select(Gift).where(Gift.id == gift_id)).scalar_one()


def _last_event(engine: Engine, gift_id: str) -> GiftEvent:
    with Session(engine) as session:
        query = select(GiftEvent).where(GiftEvent.gift_id == gift_id)
        return session.execute(query.order_by(GiftEvent.id.desc()).limit(1)).scalar_one()


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog(CONFIG)


def test_gate_passes_ordinary_gift(engine: Engine) -> None:
    seed_gift(engine, "g-plain")
    outcome = apply_review_gate(engine, POLICY, as_of=AS_OF)
    assert outcome[ledger.NEEDS_REVIEW] == 0
    assert _gift(engine, "g-plain").status == ledger.READY


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"price": 240, "sku": "PRM-SPEAKER-04", "budget": (100, 250)}, HIGH_VALUE),
        ({"first_name": None, "sku": "CHC-CHOICE-100"}, WEAK_PERSONALIZATION),
        ({"strategic": True}, FIRST_STRATEGIC_GIFT),
    ],
)
def test_gate_holds_gift_with_reason(
    engine: Engine, options: dict[str, Any], expected: str
) -> None:
    seed_gift(engine, "g-held", **options)
    outcome = apply_review_gate(engine, POLICY, as_of=AS_OF)
    gift = _gift(engine, "g-held")
    event = _last_event(engine, "g-held")
    assert outcome[ledger.NEEDS_REVIEW] == 1
    assert gift.status == ledger.NEEDS_REVIEW
    assert gift.reason == expected
    assert event.to_status == ledger.NEEDS_REVIEW
    assert event.actor == GATE_ACTOR
    assert event.reason == expected


def test_gate_records_all_reasons(engine: Engine) -> None:
    seed_gift(engine, "g-all", price=240, first_name=None, strategic=True, budget=(100, 250))
    apply_review_gate(engine, ReviewConfig(min_score=3), as_of=AS_OF)
    assert _last_event(engine, "g-all").reason == (
        f"{HIGH_VALUE};{WEAK_PERSONALIZATION};{FIRST_STRATEGIC_GIFT}"
    )


def test_gate_skips_strategic_account_after_first_send(engine: Engine) -> None:
    seed_gift(engine, "g-first", strategic=True, account_id="001STRAT", status=ledger.SENT)
    seed_gift(engine, "g-second", strategic=True, account_id="001STRAT")
    apply_review_gate(engine, POLICY, as_of=AS_OF)
    assert _gift(engine, "g-second").status == ledger.READY


def test_gate_ignores_gift_not_due(engine: Engine) -> None:
    seed_gift(engine, "g-later", price=240, budget=(100, 250))
    apply_review_gate(engine, POLICY, as_of=AS_OF - timedelta(days=1))
    assert _gift(engine, "g-later").status == ledger.READY


def test_approved_gift_is_not_held_again(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-approve", price=240, sku="PRM-SPEAKER-04", budget=(100, 250))
    apply_review_gate(engine, POLICY, as_of=AS_OF)
    decision = ReviewDecision(gift_id="g-approve", action="approve")
    status = apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer="Grace")
    again = apply_review_gate(engine, POLICY, as_of=AS_OF)
    event = _last_event(engine, "g-approve")
    assert status == ledger.READY
    assert again == Counter({"reviewed": 1})
    assert _gift(engine, "g-approve").status == ledger.READY
    assert (event.from_status, event.to_status) == (ledger.NEEDS_REVIEW, ledger.READY)
    assert (event.actor, event.reason) == ("Grace", "approved")


def test_pending_reviews_lists_held_gifts(engine: Engine) -> None:
    seed_gift(engine, "g-list", price=240, sku="PRM-SPEAKER-04", budget=(100, 250))
    seed_gift(engine, "g-ready")
    apply_review_gate(engine, POLICY, as_of=AS_OF)
    items = pending_reviews(engine)
    assert [item.gift_id for item in items] == ["g-list"]
    item = items[0]
    assert (item.company, item.first_name, item.sku) == ("Company g-list", "Ada", "PRM-SPEAKER-04")
    assert item.price == Decimal(240)
    assert item.reasons == [HIGH_VALUE]
    assert item.score == 3
    assert item.note == PERSONAL_NOTE


def test_edit_note_stores_text_as_written(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-edit", status=ledger.NEEDS_REVIEW)
    text = "Dear {{ first_name }}, thank you!"
    decision = ReviewDecision(gift_id="g-edit", action="edit_note", note=f" {text}\n")
    apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer="Grace")
    gift = _gift(engine, "g-edit")
    event = _last_event(engine, "g-edit")
    assert gift.status == ledger.READY
    assert gift.note == text
    assert event.actor == "Grace"
    assert event.reason == f"note edited: {len(PERSONAL_NOTE)} -> {len(text)} characters"


def test_swap_item_updates_price_and_name(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-swap", status=ledger.NEEDS_REVIEW)
    decision = ReviewDecision(
        gift_id="g-swap", action="swap_item", sku="USE-NOTEBOOK-07", note="Dear Ada, write on!"
    )
    apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer="Grace")
    gift = _gift(engine, "g-swap")
    notebook = next(item for item in catalog.items if item.sku == "USE-NOTEBOOK-07")
    assert (gift.status, gift.sku, gift.item_name) == (ledger.READY, notebook.sku, notebook.name)
    assert Decimal(gift.price) == notebook.price
    assert gift.note == "Dear Ada, write on!"
    assert _last_event(engine, "g-swap").reason == "item swapped: GMT-COFFEE-05 -> USE-NOTEBOOK-07"


def test_reject_records_reason(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-reject", status=ledger.NEEDS_REVIEW)
    status = decide(
        engine,
        catalog,
        gift_id="g-reject",
        action="reject",
        reason="contact left the company",
        reviewer="Grace",
        as_of=AS_OF,
    )
    event = _last_event(engine, "g-reject")
    assert status == ledger.REJECTED
    assert _gift(engine, "g-reject").status == ledger.REJECTED
    assert (event.to_status, event.actor) == (ledger.REJECTED, "Grace")
    assert event.reason == "contact left the company"


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (ReviewDecision(gift_id="nope", action="approve"), "'nope' not found"),
        (ReviewDecision(gift_id="g-bad", action="edit_note", note=" "), "empty"),
        (ReviewDecision(gift_id="g-bad", action="swap_item", sku="PRM-SPEAKER-04"), "outside"),
        (ReviewDecision(gift_id="g-bad", action="swap_item", sku="NO-SUCH"), "not in the catalog"),
        (ReviewDecision(gift_id="g-bad", action="swap_item", sku="USE-NOTEBOOK-07"), "names"),
        (ReviewDecision(gift_id="g-bad", action="reject"), "needs a reason"),
        (ReviewDecision(gift_id="g-bad", action="reject", reason="x" * 65), "1 to 64"),
    ],
)
def test_invalid_decision_changes_nothing(
    engine: Engine, catalog: Catalog, decision: ReviewDecision, message: str
) -> None:
    seed_gift(engine, "g-bad", status=ledger.NEEDS_REVIEW)
    with pytest.raises(InvalidReviewDecision, match=message):
        apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer="Grace")
    gift = _gift(engine, "g-bad")
    assert (gift.status, gift.sku, gift.note) == (
        ledger.NEEDS_REVIEW,
        "GMT-COFFEE-05",
        PERSONAL_NOTE,
    )


def test_decision_needs_gift_in_review(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-ready")
    decision = ReviewDecision(gift_id="g-ready", action="approve")
    with pytest.raises(InvalidReviewDecision, match="is ready, not needs_review"):
        apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer="Grace")


def test_decision_needs_reviewer(engine: Engine, catalog: Catalog) -> None:
    seed_gift(engine, "g-anon", status=ledger.NEEDS_REVIEW)
    decision = ReviewDecision(gift_id="g-anon", action="approve")
    with pytest.raises(InvalidReviewDecision, match="reviewer"):
        apply_decision(engine, decision, catalog=catalog, as_of=AS_OF, reviewer=" ")


def test_dispatch_holds_gifts_and_sends_rest(
    engine: Engine, salesforce: Salesforce, vendor: SandboxVendorClient
) -> None:
    program, catalog = load_program(CONFIG), load_catalog(CONFIG)
    as_of = datetime(2026, 6, 1)
    sync_org(salesforce, engine, now=as_of.replace(tzinfo=UTC))
    plan_gifts(engine, program, as_of=as_of, backfill=True)
    personalize_gifts(engine, program, catalog, note_environment(CONFIG / "templates"), as_of=as_of)
    kinds = {item.sku: item.kind for item in catalog.items}

    outcome = dispatch_due_gifts(engine, vendor, kinds, as_of=as_of, backfill=True, review=POLICY)

    with engine.connect() as connection:
        held = connection.execute(
            select(Gift.price, Gift.status).where(Gift.status == ledger.NEEDS_REVIEW)
        ).all()
        sent_over_limit = connection.scalar(
            select(func.count())
            .select_from(Gift)
            .where(Gift.status == ledger.SENT, Gift.price > POLICY.max_price_usd)
        )
    assert outcome[ledger.NEEDS_REVIEW] == len(held) > 0
    assert outcome["sent"] > 0
    assert sent_over_limit == 0
