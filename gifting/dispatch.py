"""Release due gifts, send them exactly once, recover interrupted sends and track delivery.

Exactly once rests on three rules. A gift is claimed (``ready`` → ``sending``) by a compare-and-set
before the vendor call. The call carries the gift's idempotency key, so a repeat returns the first
order. And a gift found in ``sending`` at the start of a run is repaired by asking the vendor about
its reference, never by sending blindly. ``gifting.claims`` keeps that repair away from gifts a
live worker is still sending, and ``gifting.sending`` places and records the orders.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, exists, func, or_, select, update

from gifting import ledger, progress
from gifting.claims import DEFAULT_RUN_LOCK_WAIT_S, ClaimLease, run_lock
from gifting.config import ReviewConfig
from gifting.crm_activity import write_missing_activities
from gifting.errors import RetriableError
from gifting.review import apply_review_gate
from gifting.sending import (
    ACTOR,
    DEFAULT_OUTAGE_AFTER,
    VENDOR_UNAVAILABLE,
    ActivityWriter,
    CircuitBreaker,
    send_claimed,
    send_ready_gifts,
)
from gifting.vendors.base import GiftVendor, VendorStatus
from gifting.warehouse.schema import (
    Contact,
    Contract,
    Gift,
    Outcome,
    QuarantinedRecord,
    SupportCase,
)

__all__ = [
    "ActivityWriter",
    "count_ready",
    "dispatch_due_gifts",
    "expire_missed_windows",
    "recover_interrupted_sends",
    "release_due_gifts",
    "send_claimed",
    "send_ready_gifts",
    "track_deliveries",
]

logger = logging.getLogger(__name__)

HIGH_PRIORITY = "High"
CONTACT_QUARANTINED = "contact_quarantined"


def _release_query(as_of: datetime) -> Any:
    churned = exists().where(
        Outcome.account_id == Gift.account_id,
        Outcome.kind == "churn",
        Outcome.occurred_on.is_not(None),
        Outcome.occurred_on <= as_of.date(),
    )
    open_case = exists().where(
        SupportCase.account_id == Gift.account_id,
        SupportCase.priority == HIGH_PRIORITY,
        SupportCase.is_deleted.is_(False),
        SupportCase.opened_at <= as_of,
        or_(SupportCase.closed_at.is_(None), SupportCase.closed_at > as_of),
    )
    # The sync quarantines a Contact that breaks a data rule instead of storing it, so a gift
    # for it finds no contact row. The newest reason names the field to fix.
    quarantine_reason = (
        select(QuarantinedRecord.reason)
        .where(
            QuarantinedRecord.source == "Contact", QuarantinedRecord.record_id == Gift.contact_id
        )
        .order_by(QuarantinedRecord.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Gift.id,
            Gift.window_ends_at,
            Gift.note,
            Contract.status.label("contract_status"),
            Contact.gift_opt_out,
            Contact.is_deleted.label("contact_deleted"),
            quarantine_reason.label("contact_quarantine"),
            churned.label("churned"),
            open_case.label("open_case"),
        )
        .join(Contract, Contract.id == Gift.contract_id)
        .outerjoin(Contact, Contact.id == Gift.contact_id)
        .where(Gift.status == ledger.PLANNED, Gift.due_at <= as_of)
        .order_by(Gift.due_at, Gift.id)
    )


def _release_decision(gift: Any, as_of: datetime, backfill: bool) -> tuple[str, str | None]:
    """Return the status a due planned gift moves to now, and why; ``planned`` means it waits."""
    if gift.contract_status != "won":
        return ledger.CANCELLED, f"contract_{gift.contract_status}"
    missing_contact = gift.contact_deleted is None
    if gift.contact_deleted or (missing_contact and gift.contact_quarantine is None):
        return ledger.SKIPPED, "recipient_gone"
    if gift.gift_opt_out:
        return ledger.SKIPPED, "opted_out"
    if gift.churned:
        return ledger.SKIPPED, "churned"
    if as_of > gift.window_ends_at and not backfill:
        return ledger.SKIPPED, "window_missed"
    if missing_contact:
        # Quarantine reasons read "missing LastName on Contact: set it in Salesforce, …".
        problem = gift.contact_quarantine.split(": ", 1)[0]
        return ledger.PLANNED, f"{CONTACT_QUARANTINED}: {problem}"
    if gift.open_case:
        return ledger.PLANNED, "support_case_open"
    if not gift.note:
        return ledger.PLANNED, "not_personalized"
    return ledger.READY, None


def release_due_gifts(engine: Engine, *, as_of: datetime, backfill: bool = False) -> Counter[str]:
    """Re-check eligibility of every due planned gift and move it to ready, skipped or cancelled.

    A gift that must wait stays ``planned`` with the reason in ``gifts.reason``. Counts are keyed
    ``ready``, ``<status>:<reason>`` or ``waiting:<reason code>``.
    """
    query = _release_query(as_of)
    if engine.dialect.name == "postgresql":
        # Workers releasing at once each take the gifts the others have not locked.
        query = query.with_for_update(of=Gift, skip_locked=True)
    outcome: Counter[str] = Counter()
    with engine.begin() as connection:
        decisions: defaultdict[tuple[str, str | None], list[str]] = defaultdict(list)
        for gift in connection.execute(query).all():
            decisions[_release_decision(gift, as_of, backfill)].append(gift.id)
        for (status, reason), gift_ids in decisions.items():
            if status == ledger.PLANNED:
                _note_wait(connection, gift_ids, reason)
                outcome[f"waiting:{str(reason).split(':')[0]}"] += len(gift_ids)
                continue
            moved = ledger.move_many(
                connection, gift_ids, ledger.PLANNED, status, at=as_of, actor=ACTOR, reason=reason
            )
            outcome[status if reason is None else f"{status}:{reason}"] += len(moved)
    return outcome


def _note_wait(connection: Any, gift_ids: list[str], reason: str | None) -> None:
    for start in range(0, len(gift_ids), ledger.MOVE_CHUNK):
        chunk = gift_ids[start : start + ledger.MOVE_CHUNK]
        connection.execute(
            update(Gift)
            .where(Gift.id.in_(chunk), Gift.status == ledger.PLANNED)
            .values(reason=ledger.short_reason(reason))
        )


def recover_interrupted_sends(
    engine: Engine,
    vendor: GiftVendor,
    *,
    as_of: datetime,
    breaker: CircuitBreaker | None = None,
) -> Counter[str]:
    """Repair gifts left in ``sending`` by a crash: ask the vendor, never send blindly.

    A gift the vendor has an order for becomes ``sent``. Any other goes back to ``ready`` and
    keeps its idempotency key, so the next send cannot create a second order. A gift another
    live worker is sending is left alone (``in_flight``). While its vendor lookup fails, a gift
    stays in ``sending`` for the next run (``unrecovered:vendor_unavailable``) and the others go
    on, until ``breaker`` opens.
    """
    breaker = breaker or CircuitBreaker()
    with engine.connect() as connection:
        stuck = connection.scalars(
            select(Gift.id).where(Gift.status == ledger.SENDING).order_by(Gift.id)
        ).all()
    outcome: Counter[str] = Counter()
    with ClaimLease(engine) as lease:
        for gift_id in stuck:
            if breaker.is_open:
                outcome[f"unrecovered:{VENDOR_UNAVAILABLE}"] += 1
            elif not lease.take(gift_id):
                outcome["in_flight"] += 1
            else:
                try:
                    outcome[_recover_one(engine, vendor, gift_id, as_of, breaker)] += 1
                finally:
                    lease.release([gift_id])
    if stuck:
        logger.warning("repaired gifts left in sending: %s", dict(outcome))
    return outcome


def _recover_one(
    engine: Engine, vendor: GiftVendor, gift_id: str, as_of: datetime, breaker: CircuitBreaker
) -> str:
    with engine.connect() as connection:
        gift = connection.execute(
            select(Gift.status, Gift.sku).where(Gift.id == gift_id)
        ).one_or_none()
    if gift is None or gift.status != ledger.SENDING:
        return "in_flight"  # its worker recorded it between the listing and the lease
    try:
        order = vendor.find_by_reference(gift_id)
    except RetriableError as error:
        breaker.record(False)
        logger.error("gift %s: left in sending, the vendor lookup failed: %s", gift_id, error)
        return f"unrecovered:{VENDOR_UNAVAILABLE}"
    breaker.record(True)
    # An order for another SKU belongs to an item the exception queue replaced.
    ours = order is not None and order.sku == gift.sku and order.status != VendorStatus.CANCELLED
    try:
        with engine.begin() as connection:
            if not ours:
                ledger.move(
                    connection,
                    gift_id,
                    ledger.SENDING,
                    ledger.READY,
                    at=as_of,
                    actor=ACTOR,
                    reason="not at vendor after interruption",
                )
                return "requeued"
            assert order is not None
            ledger.move(
                connection,
                gift_id,
                ledger.SENDING,
                ledger.SENT,
                at=as_of,
                actor=ACTOR,
                reason="found at vendor after interruption",
                vendor_order_id=order.id,
                sent_at=as_of,
            )
            return "recovered"
    except ledger.LedgerConflict:
        return "in_flight"  # a delivery webhook recorded the order meanwhile


def track_deliveries(
    engine: Engine,
    vendor: GiftVendor,
    *,
    as_of: datetime,
    breaker: CircuitBreaker | None = None,
    write_activity: ActivityWriter | None = None,
) -> Counter[str]:
    """Poll the vendor for every sent gift and record deliveries and failures.

    A gift whose poll fails is left ``sent`` for the next run, and polling stops once
    ``breaker`` opens (``unpolled:vendor_unavailable``). With ``write_activity``, the CRM
    activity every gift lacks for its current state is written afterwards.
    """
    breaker = breaker or CircuitBreaker()
    with engine.connect() as connection:
        sent = connection.execute(
            select(Gift.id, Gift.vendor_order_id).where(Gift.status == ledger.SENT)
        ).all()
    outcome: Counter[str] = Counter()
    for gift in sent:
        if breaker.is_open:
            outcome[f"unpolled:{VENDOR_UNAVAILABLE}"] += 1
            continue
        try:
            order = vendor.get_order(gift.vendor_order_id)
        except RetriableError as error:
            breaker.record(False)
            logger.error("gift %s: delivery status unknown: %s", gift.id, error)
            outcome[f"unpolled:{VENDOR_UNAVAILABLE}"] += 1
            continue
        breaker.record(True)
        with engine.begin() as connection:
            if order.status == VendorStatus.DELIVERED:
                delivered_at = _naive_utc(order.updated_at)
                ledger.move(
                    connection,
                    gift.id,
                    ledger.SENT,
                    ledger.DELIVERED,
                    at=as_of,
                    actor="vendor",
                    delivered_at=delivered_at,
                )
                outcome["delivered"] += 1
            elif order.status in (VendorStatus.FAILED, VendorStatus.CANCELLED):
                ledger.move(
                    connection,
                    gift.id,
                    ledger.SENT,
                    ledger.FAILED,
                    at=as_of,
                    actor="vendor",
                    reason=order.failure_reason or order.status.value,
                )
                outcome["failed"] += 1
            else:
                outcome[f"in_transit:{order.status.value}"] += 1
    if write_activity is not None:
        outcome.update(write_missing_activities(engine, write_activity, as_of=as_of))
    return outcome


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def dispatch_due_gifts(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    *,
    as_of: datetime,
    backfill: bool = False,
    batch_size: int = 500,
    write_activity: ActivityWriter | None = None,
    review: ReviewConfig | None = None,
    concurrency: int = 1,
    outage_after: int = DEFAULT_OUTAGE_AFTER,
    run_lock_wait_s: float = DEFAULT_RUN_LOCK_WAIT_S,
) -> Counter[str]:
    """Repair interrupted sends, release due gifts, then send ready ones batch by batch.

    With a ``review`` policy, released gifts that need a person's approval are held in
    ``needs_review`` before the send loop; ``None`` sends every ready gift.

    A vendor outage does not fail the run. After ``outage_after`` vendor calls in a row failed
    despite the client's retries, the run stops calling the vendor, leaves the rest of the queue
    ``ready`` and returns. On a SQLite warehouse a second run waits up to ``run_lock_wait_s``
    seconds for the first, then raises ``DispatchBusy``.

    With ``write_activity``, each batch's CRM activity is written once it is recorded, and then
    the activity earlier runs failed to write (a CRM outage) is written, a bounded number a run.
    """
    outcome: Counter[str] = Counter()
    breaker = CircuitBreaker(outage_after)
    with run_lock(engine, wait_s=run_lock_wait_s):
        outcome.update(recover_interrupted_sends(engine, vendor, as_of=as_of, breaker=breaker))
        outcome.update(release_due_gifts(engine, as_of=as_of, backfill=backfill))
        if review is not None:
            outcome.update(apply_review_gate(engine, review, as_of=as_of))
        if not backfill:
            outcome.update(expire_missed_windows(engine, as_of=as_of))
        progress.start("dispatch", total=count_ready(engine, as_of=as_of))
        if not breaker.is_open:
            sent = send_ready_gifts(
                engine,
                vendor,
                kinds,
                as_of=as_of,
                limit=batch_size,
                write_activity=write_activity,
                concurrency=concurrency,
                breaker=breaker,
                max_batches=None,
            )
            outcome.update(sent)
        progress.finish("dispatch")
    if write_activity is not None:
        outcome.update(write_missing_activities(engine, write_activity, as_of=as_of))
    if breaker.is_open:
        logger.error(
            "vendor unavailable: stopped after %d failed calls in a row; the next run sends "
            "the gifts left ready and repairs those left in sending",
            breaker.threshold,
        )
    return outcome


def count_ready(engine: Engine, *, as_of: datetime) -> int:
    """Count the ready gifts due by ``as_of``, which the next sends will claim."""
    with engine.connect() as connection:
        due = select(func.count()).select_from(Gift)
        due = due.where(Gift.status == ledger.READY, Gift.due_at <= as_of)
        return connection.scalar(due) or 0


def expire_missed_windows(engine: Engine, *, as_of: datetime) -> Counter[str]:
    """Skip ready and held gifts whose window has passed, so a late approval sends nothing stale.

    A welcome gift approved a week after signing would arrive out of place. A backfill run, which
    does not call this, is the way to send such gifts on purpose.
    """
    query = select(Gift.id, Gift.status).where(
        Gift.status.in_([ledger.READY, ledger.NEEDS_REVIEW]), Gift.window_ends_at < as_of
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    outcome: Counter[str] = Counter()
    with engine.begin() as connection:
        by_status: defaultdict[str, list[str]] = defaultdict(list)
        for gift in connection.execute(query).all():
            by_status[gift.status].append(gift.id)
        for status, gift_ids in by_status.items():
            reason = "review_expired" if status == ledger.NEEDS_REVIEW else "window_missed"
            moved = ledger.move_many(
                connection, gift_ids, status, ledger.SKIPPED, at=as_of, actor=ACTOR, reason=reason
            )
            outcome[f"skipped:{reason}"] += len(moved)
    return outcome
