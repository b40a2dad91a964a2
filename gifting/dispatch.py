"""Release due gifts, send them exactly once, recover interrupted sends and track delivery.

Exactly once rests on three rules. A gift is claimed (``ready`` → ``sending``) by a compare-and-set
before the vendor call. The call carries the gift's idempotency key, so a repeat returns the first
order. And a gift found in ``sending`` at the start of a run is repaired by asking the vendor about
its reference, never by sending blindly.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, exists, func, or_, select, update
from sqlalchemy.orm import Session

from gifting import ledger, progress
from gifting.config import ReviewConfig
from gifting.errors import GiftingError, PermanentError, RetriableError
from gifting.review import apply_review_gate
from gifting.vendors.base import Address, GiftVendor, OrderRequest, VendorOrder, VendorStatus
from gifting.warehouse.schema import Account, Contact, Contract, Gift, Outcome, SupportCase

logger = logging.getLogger(__name__)

ACTOR = "dispatch_gifts"
HIGH_PRIORITY = "High"


class ActivityWriter(Protocol):
    """Writes a gift's activity to the CRM and returns the created record's Id."""

    def __call__(self, gift: dict[str, Any]) -> str: ...


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
    return (
        select(
            Gift.id,
            Gift.window_ends_at,
            Gift.note,
            Contract.status.label("contract_status"),
            Contact.gift_opt_out,
            Contact.is_deleted.label("contact_deleted"),
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
    if gift.contact_deleted or gift.contact_deleted is None:
        return ledger.SKIPPED, "recipient_gone"
    if gift.gift_opt_out:
        return ledger.SKIPPED, "opted_out"
    if gift.churned:
        return ledger.SKIPPED, "churned"
    if as_of > gift.window_ends_at and not backfill:
        return ledger.SKIPPED, "window_missed"
    if gift.open_case:
        return ledger.PLANNED, "support_case_open"
    if not gift.note:
        return ledger.PLANNED, "not_personalized"
    return ledger.READY, None


def release_due_gifts(engine: Engine, *, as_of: datetime, backfill: bool = False) -> Counter[str]:
    """Re-check eligibility of every due planned gift and move it to ready, skipped or cancelled."""
    outcome: Counter[str] = Counter()
    with engine.begin() as connection:
        for gift in connection.execute(_release_query(as_of)).all():
            status, reason = _release_decision(gift, as_of, backfill)
            if status == ledger.PLANNED:
                connection.execute(update(Gift).where(Gift.id == gift.id).values(reason=reason))
                outcome[f"waiting:{reason}"] += 1
                continue
            ledger.move(
                connection, gift.id, ledger.PLANNED, status, at=as_of, actor=ACTOR, reason=reason
            )
            outcome[status if reason is None else f"{status}:{reason}"] += 1
    return outcome


def _order_request(
    engine: Engine, gift_id: str, kinds: dict[str, str]
) -> tuple[OrderRequest, dict[str, Any]]:
    query = (
        select(Gift, Contact, Account.name.label("company"))
        .join(Contact, Contact.id == Gift.contact_id)
        .join(Account, Account.id == Gift.account_id)
        .where(Gift.id == gift_id)
    )
    with Session(engine) as session:
        gift, contact, company = session.execute(query).one()
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    address = None
    if contact.street:
        address = Address(
            street=contact.street,
            city=contact.city or "",
            state=contact.state or "",
            postal_code=contact.postal_code or "",
            country=contact.country or "",
        )
    request = OrderRequest(
        reference=gift.id,
        sku=gift.sku,
        amount=gift.price,
        currency=gift.currency,
        recipient_name=name,
        recipient_email=contact.email or "",
        address=address,
        note=gift.note,
        kind=kinds.get(gift.sku, "egift"),
    )
    summary = {
        "id": gift.id,
        "contract_id": gift.contract_id,
        "account_id": gift.account_id,
        "contact_id": gift.contact_id,
        "stage": gift.stage,
        "item_name": gift.item_name,
        "price": gift.price,
        "note": gift.note,
        "company": company,
        "transfer_of_value": gift.transfer_of_value,
    }
    return request, summary


def send_ready_gifts(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    *,
    as_of: datetime,
    limit: int = 500,
    write_activity: ActivityWriter | None = None,
) -> Counter[str]:
    """Claim up to ``limit`` due ready gifts and place one vendor order for each.

    Args:
        engine: The warehouse.
        vendor: The gift vendor client.
        kinds: Catalog item kind (``physical`` or ``egift``) per SKU.
        as_of: The dispatch time (naive UTC), recorded as the send time.
        limit: Maximum number of gifts one call claims, so one batch stays bounded.
        write_activity: Writes a "gift sent" activity to the CRM; ``None`` skips the write-back.
    """
    with engine.begin() as connection:
        claimed = ledger.claim_ready(connection, as_of=as_of, limit=limit, actor=ACTOR)
    outcome: Counter[str] = Counter()
    for gift_id in claimed:
        request, summary = _order_request(engine, gift_id, kinds)
        result = _send_one(engine, vendor, request, as_of)
        outcome[result] += 1
        progress.advance("dispatch", detail=result)
        if write_activity is not None and result == "sent":
            _write_back(engine, gift_id, summary, write_activity)
    if claimed:
        logger.info("dispatched %d gifts as of %s: %s", len(claimed), as_of, dict(outcome))
    return outcome


def _send_one(engine: Engine, vendor: GiftVendor, request: OrderRequest, as_of: datetime) -> str:
    # Remedy hook: a gift reordered with a different item carries its new key in the ledger.
    key = idempotency_key(engine, request.reference)
    try:
        order = vendor.place_order(request, idempotency_key=key)
    except PermanentError as error:
        logger.error("gift %s failed permanently: %s", request.reference, error)
        _finish(engine, request.reference, ledger.FAILED, as_of, reason=error.reason)
        return f"failed:{error.reason}"
    except RetriableError as error:
        # The order may exist at the vendor; a resend reuses the same key, so it cannot double.
        logger.error("gift %s: vendor unavailable after retries: %s", request.reference, error)
        _finish(engine, request.reference, ledger.FAILED, as_of, reason="vendor_unavailable")
        return "failed:vendor_unavailable"
    _finish(engine, request.reference, ledger.SENT, as_of, order=order)
    return "sent"


def _finish(
    engine: Engine,
    gift_id: str,
    status: str,
    as_of: datetime,
    *,
    reason: str | None = None,
    order: VendorOrder | None = None,
) -> None:
    values: dict[str, Any] = {}
    if order is not None:
        values = {"vendor_order_id": order.id, "sent_at": as_of}
    try:
        with engine.begin() as connection:
            ledger.move(
                connection,
                gift_id,
                ledger.SENDING,
                status,
                at=as_of,
                actor=ACTOR,
                reason=reason,
                **values,
            )
    except ledger.LedgerConflict:
        if order is None or not _already_recorded(engine, gift_id, order.id):
            raise
        # A delivery webhook for this very order arrived while the vendor call was in flight.
        logger.info("gift %s: order %s was already recorded by a webhook", gift_id, order.id)


def _already_recorded(engine: Engine, gift_id: str, order_id: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            select(Gift.status, Gift.vendor_order_id).where(Gift.id == gift_id)
        ).one_or_none()
    return (
        row is not None
        and row.status in (ledger.SENT, ledger.DELIVERED)
        and row.vendor_order_id == order_id
    )


def recover_interrupted_sends(
    engine: Engine, vendor: GiftVendor, *, as_of: datetime
) -> Counter[str]:
    """Repair gifts left in ``sending`` by a crash: ask the vendor, never send blindly.

    A gift the vendor has an order for becomes ``sent``. Any other goes back to ``ready`` and
    keeps its idempotency key, so the next send cannot create a second order.
    """
    with engine.connect() as connection:
        stuck = connection.scalars(select(Gift.id).where(Gift.status == ledger.SENDING)).all()
    outcome: Counter[str] = Counter()
    for gift_id in stuck:
        order = vendor.find_by_reference(gift_id)
        with engine.begin() as connection:
            if order is None:
                ledger.move(
                    connection,
                    gift_id,
                    ledger.SENDING,
                    ledger.READY,
                    at=as_of,
                    actor=ACTOR,
                    reason="not at vendor after interruption",
                )
                outcome["requeued"] += 1
            else:
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
                outcome["recovered"] += 1
    if stuck:
        logger.warning("repaired %d gifts left in sending: %s", len(stuck), dict(outcome))
    return outcome


def track_deliveries(engine: Engine, vendor: GiftVendor, *, as_of: datetime) -> Counter[str]:
    """Poll the vendor for every sent gift and record deliveries and failures."""
    with engine.connect() as connection:
        sent = connection.execute(
            select(Gift.id, Gift.vendor_order_id).where(Gift.status == ledger.SENT)
        ).all()
    outcome: Counter[str] = Counter()
    for gift in sent:
        order = vendor.get_order(gift.vendor_order_id)
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
    return outcome


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _write_back(
    engine: Engine, gift_id: str, summary: dict[str, Any], write: ActivityWriter
) -> None:
    """Record the sent gift as a CRM activity once; a gift that has an activity Id is skipped."""
    with engine.connect() as connection:
        if connection.scalar(select(Gift.crm_task_id).where(Gift.id == gift_id)):
            return
    try:
        task_id = write(summary)
    except GiftingError as error:
        # The gift is sent either way; the next dispatch run writes the activity again.
        logger.warning("gift %s: CRM activity not written: %s", gift_id, error)
        return
    with engine.begin() as connection:
        connection.execute(update(Gift).where(Gift.id == gift_id).values(crm_task_id=task_id))


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
) -> Counter[str]:
    """Repair interrupted sends, release due gifts, then send ready ones batch by batch.

    With a ``review`` policy, released gifts that need a person's approval are held in
    ``needs_review`` before the send loop; ``None`` sends every ready gift.
    """
    outcome: Counter[str] = Counter()
    outcome.update(recover_interrupted_sends(engine, vendor, as_of=as_of))
    outcome.update(release_due_gifts(engine, as_of=as_of, backfill=backfill))
    if review is not None:
        outcome.update(apply_review_gate(engine, review, as_of=as_of))
    if not backfill:
        outcome.update(expire_missed_windows(engine, as_of=as_of))
    progress.start("dispatch", total=count_ready(engine, as_of=as_of))
    while True:
        sent = send_ready_gifts(
            engine, vendor, kinds, as_of=as_of, limit=batch_size, write_activity=write_activity
        )
        outcome.update(sent)
        if sum(sent.values()) < batch_size:
            progress.finish("dispatch")
            return outcome


def count_ready(engine: Engine, *, as_of: datetime) -> int:
    """Count the ready gifts due by ``as_of``, which the next sends will claim."""
    with engine.connect() as connection:
        due = select(func.count()).select_from(Gift)
        due = due.where(Gift.status == ledger.READY, Gift.due_at <= as_of)
        return connection.scalar(due) or 0


def idempotency_key(engine: Engine, gift_id: str) -> str:
    """Return the gift's stored idempotency key, or ``gift-<id>`` for a row planned without one.

    The key changes only when the exception queue reorders a gift with a different item, since
    the vendor rejects a known key sent with a different body.
    """
    with engine.connect() as connection:
        stored = connection.scalar(select(Gift.idempotency_key).where(Gift.id == gift_id))
    return stored or f"gift-{gift_id}"


def send_claimed(
    engine: Engine,
    vendor: GiftVendor,
    kinds: dict[str, str],
    gift_id: str,
    *,
    as_of: datetime,
    write_activity: ActivityWriter | None = None,
) -> str:
    """Place the vendor order for one gift the caller already moved to ``sending``.

    Manual resends and the exception queue claim chosen gifts themselves, then send through
    the same path as ``send_ready_gifts``. Returns ``sent`` or ``failed:<reason>``.
    """
    request, summary = _order_request(engine, gift_id, kinds)
    result = _send_one(engine, vendor, request, as_of)
    if write_activity is not None and result == "sent":
        _write_back(engine, gift_id, summary, write_activity)
    return result


def expire_missed_windows(engine: Engine, *, as_of: datetime) -> Counter[str]:
    """Skip ready and held gifts whose window has passed, so a late approval sends nothing stale.

    A welcome gift approved a week after signing would arrive out of place. A backfill run, which
    does not call this, is the way to send such gifts on purpose.
    """
    query = select(Gift.id, Gift.status).where(
        Gift.status.in_([ledger.READY, ledger.NEEDS_REVIEW]), Gift.window_ends_at < as_of
    )
    outcome: Counter[str] = Counter()
    with engine.begin() as connection:
        for gift in connection.execute(query).all():
            reason = "review_expired" if gift.status == ledger.NEEDS_REVIEW else "window_missed"
            ledger.move(
                connection,
                gift.id,
                gift.status,
                ledger.SKIPPED,
                at=as_of,
                actor=ACTOR,
                reason=reason,
            )
            outcome[f"skipped:{reason}"] += 1
    return outcome
