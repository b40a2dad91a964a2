"""Cancel the gifts of contracts that left the won state (lost or deleted).

An unsent gift is cancelled in the ledger only. Planning does that on every run
(``cancel_gifts_of_lost_contracts``), and dispatch re-checks the contract before it releases a
gift. A gift already ordered (``sent``) needs the vendor, because vendors cancel an order only
until it ships. So ``cancel_ordered_gifts`` sends one cancel request per such gift and records the
outcome in the ledger:

- the vendor cancelled the order: the gift moves ``sent`` → ``cancelled``;
- the order had shipped, or the vendor rejected the request for another permanent reason: the
  gift stays ``sent`` and an event with reason ``cancel_too_late: …`` or ``cancel_failed: …``
  records it, so the next run sends no second request;
- the vendor was unreachable: nothing is recorded, and the next run sends the request again.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, exists, or_, select

from gifting import ledger
from gifting.errors import PermanentError, RetriableError
from gifting.vendors.base import GiftVendor, VendorErrorCode, VendorStatus
from gifting.warehouse.schema import Contract, Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "cancel_orders"
TOO_LATE = "cancel_too_late"
CANCEL_FAILED = "cancel_failed"


def cancel_gifts_of_lost_contracts(connection: Connection, *, as_of: datetime, actor: str) -> int:
    """Cancel every unsent gift of a contract that is no longer won (lost or deleted)."""
    query = (
        select(Gift.id, Gift.status, Contract.status.label("contract_status"))
        .join(Contract, Contract.id == Gift.contract_id)
        .where(Contract.status != "won", Gift.status.in_(ledger.UNSENT))
    )
    cancelled = 0
    for gift in connection.execute(query).all():
        ledger.move(
            connection,
            gift.id,
            gift.status,
            ledger.CANCELLED,
            at=as_of,
            actor=actor,
            reason=f"contract_{gift.contract_status}",
        )
        cancelled += 1
    return cancelled


def _ordered_gifts_of_lost_contracts() -> Any:
    """Return the query of sent gifts of lost contracts with no cancel request recorded."""
    already_requested = exists().where(
        GiftEvent.gift_id == Gift.id,
        or_(GiftEvent.reason.like(f"{TOO_LATE}%"), GiftEvent.reason.like(f"{CANCEL_FAILED}%")),
    )
    return (
        select(Gift.id, Gift.vendor_order_id, Contract.status.label("contract_status"))
        .join(Contract, Contract.id == Gift.contract_id)
        .where(
            Gift.status == ledger.SENT,
            Gift.vendor_order_id.is_not(None),
            Contract.status != "won",
            ~already_requested,
        )
        .order_by(Gift.id)
    )


def cancel_ordered_gifts(engine: Engine, vendor: GiftVendor, *, as_of: datetime) -> Counter[str]:
    """Request a vendor cancel for each ordered gift of a lost or deleted contract.

    Returns counts of ``cancelled_at_vendor``, ``cancel_too_late``, ``cancel_failed`` and
    ``cancel_retry_later``.
    """
    with engine.connect() as connection:
        gifts = connection.execute(_ordered_gifts_of_lost_contracts()).all()
    outcome: Counter[str] = Counter()
    for gift in gifts:
        outcome[_cancel_one(engine, vendor, gift, as_of)] += 1
    if gifts:
        logger.info("requested cancel of %d vendor orders as of %s: %s", len(gifts), as_of, outcome)
    return outcome


def _cancel_one(engine: Engine, vendor: GiftVendor, gift: Any, as_of: datetime) -> str:
    contract = f"contract_{gift.contract_status}"
    try:
        order = vendor.cancel(gift.vendor_order_id)
    except RetriableError as error:
        logger.warning(
            "gift %s: vendor unavailable for cancel, retrying next run: %s", gift.id, error
        )
        return "cancel_retry_later"
    except PermanentError as error:
        kind = TOO_LATE if error.reason == VendorErrorCode.ALREADY_SHIPPED else CANCEL_FAILED
        _annotate(engine, gift.id, as_of, f"{kind}: {contract}, vendor said: {error}")
        return kind
    if order.status != VendorStatus.CANCELLED:
        reason = f"{TOO_LATE}: {contract}, vendor order {order.id} is {order.status.value}"
        _annotate(engine, gift.id, as_of, reason)
        return TOO_LATE
    try:
        with engine.begin() as connection:
            ledger.move(
                connection,
                gift.id,
                ledger.SENT,
                ledger.CANCELLED,
                at=as_of,
                actor=ACTOR,
                reason=f"{contract}: cancelled at vendor",
            )
    except ledger.LedgerConflict:
        # The vendor's cancellation webhook or a delivery poll recorded the order first.
        logger.info("gift %s: order %s cancelled, already recorded", gift.id, order.id)
    return "cancelled_at_vendor"


def _annotate(engine: Engine, gift_id: str, as_of: datetime, reason: str) -> None:
    logger.warning("gift %s: vendor did not cancel: %s", gift_id, reason)
    try:
        with engine.begin() as connection:
            ledger.record_event(
                connection, gift_id, ledger.SENT, at=as_of, actor=ACTOR, reason=reason
            )
    except ledger.LedgerConflict as error:
        # Delivered or failed meanwhile: that move is already in the ledger.
        logger.info("gift %s: rejected cancel not recorded: %s", gift_id, error)
