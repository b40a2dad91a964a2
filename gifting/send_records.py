"""Record vendor send results in the gift ledger, many gifts per transaction.

A group of results is recorded in one transaction. A gift in it may have left ``sending`` since
it was claimed, because a delivery webhook recorded it or another worker's recovery requeued it.
Then the transaction is rolled back and each result is recorded on its own. So one conflict
costs the group a few extra statements, never a wrong status.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from gifting import ledger
from gifting.vendors.base import VendorOrder
from gifting.warehouse.schema import Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "dispatch_gifts"
DEFERRED_REASON = "vendor_unavailable: deferred to the next run"
VENDOR_UNAVAILABLE = "vendor_unavailable"


@dataclass(frozen=True)
class SendResult:
    """The result of one vendor call: an order, or a failure reason."""

    gift_id: str
    order: VendorOrder | None = None
    reason: str | None = None
    retriable: bool = False

    @property
    def outcome(self) -> str:
        return "sent" if self.order is not None else f"failed:{self.reason}"


class Recorder:
    """Collects send results and records them in one transaction per flush."""

    def __init__(self, engine: Engine, as_of: datetime) -> None:
        self.engine = engine
        self.as_of = as_of
        self.attempted: set[str] = set()
        self.sent: list[str] = []
        self._results: list[SendResult] = []

    @property
    def pending(self) -> int:
        return len(self._results)

    def add(self, result: SendResult) -> None:
        self.attempted.add(result.gift_id)
        self._results.append(result)

    def flush(self) -> Counter[str]:
        """Record every pending result; fall back to one transaction per gift on a conflict."""
        results, self._results = self._results, []
        if not results:
            return Counter()
        with self.engine.connect() as connection:
            transaction = connection.begin()
            ledger.relax_durability(connection)
            if _record_all(connection, results, self.as_of):
                transaction.commit()
                recorded = {result.gift_id for result in results}
            else:
                # A webhook or another worker moved one of these gifts since it was claimed.
                transaction.rollback()
                recorded = {
                    result.gift_id
                    for result in results
                    if _record_one(self.engine, result, self.as_of)
                }
        self.sent.extend(
            r.gift_id for r in results if r.order is not None and r.gift_id in recorded
        )
        return Counter(result.outcome for result in results)


def _record_all(connection: Connection, results: list[SendResult], as_of: datetime) -> bool:
    """Record every result in the caller's transaction; False if any gift left ``sending``."""
    sent = [result for result in results if result.order is not None]
    if sent:
        order_ids = {result.gift_id: result.order.id for result in sent if result.order is not None}
        if _mark_sent(connection, order_ids, as_of) != len(order_ids):
            return False
        connection.execute(
            insert(GiftEvent),
            [
                {
                    "gift_id": result.gift_id,
                    "occurred_at": as_of,
                    "from_status": ledger.SENDING,
                    "to_status": ledger.SENT,
                    "actor": ACTOR,
                    "reason": None,
                }
                for result in sent
            ],
        )
    failed: defaultdict[str, list[str]] = defaultdict(list)
    for result in results:
        if result.order is None:
            failed[str(result.reason)].append(result.gift_id)
    for reason, gift_ids in failed.items():
        moved = ledger.move_many(
            connection,
            gift_ids,
            ledger.SENDING,
            ledger.FAILED,
            at=as_of,
            actor=ACTOR,
            reason=reason,
        )
        if len(moved) != len(gift_ids):
            return False
    return True


_MARK_SENT_POSTGRESQL = text(
    "UPDATE gifts SET status = :sent, reason = NULL, updated_at = :at, sent_at = :at, "
    "vendor_order_id = sent.order_id "
    "FROM unnest(:gift_ids, :order_ids) AS sent(gift_id, order_id) "
    "WHERE gifts.id = sent.gift_id AND gifts.status = :sending"
).bindparams(bindparam("gift_ids", type_=ARRAY(Text)), bindparam("order_ids", type_=ARRAY(Text)))


def _mark_sent(connection: Connection, order_ids: dict[str, str], as_of: datetime) -> int:
    """Move gifts from sending to sent with their order ids; return the number moved."""
    if connection.dialect.name == "postgresql":
        # One statement for the whole group: an executemany sends one UPDATE per gift.
        parameters = {
            "gift_ids": list(order_ids),
            "order_ids": list(order_ids.values()),
            "sent": ledger.SENT,
            "sending": ledger.SENDING,
            "at": as_of,
        }
        return connection.execute(_MARK_SENT_POSTGRESQL, parameters).rowcount
    statement = (
        update(Gift)
        .where(Gift.id == bindparam("sent_gift_id"), Gift.status == ledger.SENDING)
        .values(
            status=ledger.SENT,
            reason=None,
            updated_at=as_of,
            sent_at=as_of,
            vendor_order_id=bindparam("sent_order_id"),
        )
    )
    rows = [{"sent_gift_id": key, "sent_order_id": value} for key, value in order_ids.items()]
    return connection.execute(statement, rows).rowcount


def _record_one(engine: Engine, result: SendResult, as_of: datetime) -> bool:
    """Record one result on its own; return True if this call recorded it."""
    values: dict[str, Any] = {}
    if result.order is not None:
        values = {"vendor_order_id": result.order.id, "sent_at": as_of}
    status = ledger.SENT if result.order is not None else ledger.FAILED
    try:
        with engine.begin() as connection:
            ledger.move(
                connection,
                result.gift_id,
                ledger.SENDING,
                status,
                at=as_of,
                actor=ACTOR,
                reason=result.reason,
                **values,
            )
    except ledger.LedgerConflict as error:
        if result.order is not None and _already_recorded(engine, result.gift_id, result.order.id):
            # A delivery webhook for this very order arrived while the vendor call was in flight.
            logger.info("gift %s: order %s was already recorded", result.gift_id, result.order.id)
        else:
            # Recovery in another worker requeued the gift. Its resend carries the same key,
            # so the vendor returns this order again and that send records it.
            logger.warning(
                "gift %s: outcome %s not recorded: %s", result.gift_id, result.outcome, error
            )
        return False
    return True


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


def defer(engine: Engine, gift_ids: list[str], as_of: datetime) -> Counter[str]:
    """Put claimed gifts that no vendor call was made for back to ``ready``."""
    if not gift_ids:
        return Counter()
    with engine.begin() as connection:
        moved = ledger.move_many(
            connection,
            gift_ids,
            ledger.SENDING,
            ledger.READY,
            at=as_of,
            actor=ACTOR,
            reason=DEFERRED_REASON,
            attempts=Gift.attempts - 1,  # the claim counted an attempt that never happened
        )
    logger.warning("vendor unavailable: %d claimed gifts go back to ready", len(moved))
    return Counter({f"deferred:{VENDOR_UNAVAILABLE}": len(moved)})
