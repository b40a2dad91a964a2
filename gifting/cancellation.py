"""Cancel vendor orders of gifts whose contract left the won state before the gift shipped.

Planning cancels every unsent gift of a lost or deleted contract, and dispatch re-checks the
contract before it releases a gift. A gift already ordered (``sent``) needs the vendor: vendors
cancel an order only until it ships. So for each such gift this module asks the vendor once and
records the outcome in the ledger:

- the vendor cancelled the order: the gift moves ``sent`` → ``cancelled``;
- the order had shipped, or the vendor refused for another permanent reason: the gift stays
  ``sent`` and an event with reason ``cancel_too_late: …`` or ``cancel_failed: …`` records it,
  so the next run does not ask again;
- the vendor was unreachable: nothing is recorded, and the next run asks again.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, exists, or_, select

from gifting import ledger
from gifting.errors import PermanentError, RetriableError
from gifting.vendors.base import GiftVendor, VendorErrorCode, VendorStatus
from gifting.warehouse.schema import Contract, Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "cancel_orders"
TOO_LATE = "cancel_too_late"
CANCEL_FAILED = "cancel_failed"


def _ordered_gifts_of_lost_contracts() -> Any:
    """Return the query of sent gifts of contracts no longer won, not yet asked about."""
    already_asked = exists().where(
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
            ~already_asked,
        )
        .order_by(Gift.id)
    )


def cancel_ordered_gifts(engine: Engine, vendor: GiftVendor, *, as_of: datetime) -> Counter[str]:
    """Ask the vendor to cancel each ordered gift of a lost or deleted contract.

    Returns counts of ``cancelled_at_vendor``, ``cancel_too_late``, ``cancel_failed`` and
    ``cancel_retry_later``.
    """
    with engine.connect() as connection:
        gifts = connection.execute(_ordered_gifts_of_lost_contracts()).all()
    outcome: Counter[str] = Counter()
    for gift in gifts:
        outcome[_cancel_one(engine, vendor, gift, as_of)] += 1
    if gifts:
        logger.info("asked the vendor to cancel %d gifts as of %s: %s", len(gifts), as_of, outcome)
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
        logger.info("gift %s: refused cancel not recorded: %s", gift_id, error)
