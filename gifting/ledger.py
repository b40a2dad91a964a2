"""The gift ledger: one row per contract × stage, moved only through legal transitions.

Every move is a compare-and-set on the current status, so two workers can never both move the same
gift, and every move appends a row to ``gift_events`` with its time, actor and reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gifting.errors import GiftingError
from gifting.warehouse.schema import Gift, GiftEvent

logger = logging.getLogger(__name__)

PLANNED, READY, NEEDS_REVIEW, SENDING, SENT, DELIVERED = (
    "planned",
    "ready",
    "needs_review",
    "sending",
    "sent",
    "delivered",
)
FAILED, SKIPPED, CANCELLED, REJECTED = "failed", "skipped", "cancelled", "rejected"

TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({PLANNED, SKIPPED}),
    PLANNED: frozenset({READY, SKIPPED, CANCELLED}),
    READY: frozenset({SENDING, NEEDS_REVIEW, SKIPPED, CANCELLED}),
    NEEDS_REVIEW: frozenset({READY, REJECTED, CANCELLED, SKIPPED}),
    SENDING: frozenset({SENT, FAILED, READY}),
    # sent -> cancelled only when the vendor confirmed it cancelled the order (not yet shipped).
    SENT: frozenset({DELIVERED, FAILED, CANCELLED}),
    FAILED: frozenset({READY}),
    DELIVERED: frozenset(),
    SKIPPED: frozenset(),
    CANCELLED: frozenset(),
    REJECTED: frozenset(),
}
UNSENT = (PLANNED, READY, NEEDS_REVIEW)


REASON_COLUMN_LENGTH = 64  # gifts.reason; the event row keeps the full text


def short_reason(reason: str | None) -> str | None:
    """Fit a reason into the gift's column, marking a cut with an ellipsis."""
    if reason is None or len(reason) <= REASON_COLUMN_LENGTH:
        return reason
    return reason[: REASON_COLUMN_LENGTH - 1] + "…"


class LedgerConflict(GiftingError):
    """The gift was not in the expected status: another worker moved it first."""


def check_transition(from_status: str | None, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise GiftingError(
            f"illegal gift transition {from_status} -> {to_status}; "
            f"from {from_status} a gift may move to {sorted(TRANSITIONS.get(from_status, ()))}"
        )


def create_gifts(
    connection: Connection, rows: list[dict[str, Any]], *, at: datetime, actor: str
) -> None:
    """Insert new gift rows and their first event; each row's ``status`` is its initial status."""
    if not rows:
        return
    for row in rows:
        check_transition(None, row["status"])
    stored = [{**row, "reason": short_reason(row.get("reason"))} for row in rows]
    connection.execute(insert(Gift), stored)
    connection.execute(
        insert(GiftEvent),
        [
            {
                "gift_id": row["id"],
                "occurred_at": at,
                "from_status": None,
                "to_status": row["status"],
                "actor": actor,
                "reason": row.get("reason"),
            }
            for row in rows
        ],
    )


def move(
    connection: Connection,
    gift_id: str,
    from_status: str,
    to_status: str,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    **values: Any,
) -> None:
    """Move one gift from ``from_status`` to ``to_status``, or raise ``LedgerConflict``.

    Args:
        connection: An open connection inside the caller's transaction.
        gift_id: The gift to move.
        from_status: The status the caller saw; the move fails if the row has another.
        to_status: The new status; must be legal from ``from_status``.
        at: When the move happened (the flow's ``as_of``).
        actor: Who moved it: a flow name, ``vendor`` or a reviewer.
        reason: Why, for skips, failures and manual moves.
        **values: Other columns to set in the same statement.
    """
    check_transition(from_status, to_status)
    result = connection.execute(
        update(Gift)
        .where(Gift.id == gift_id, Gift.status == from_status)
        .values(status=to_status, reason=short_reason(reason), updated_at=at, **values)
    )
    if result.rowcount != 1:
        current = connection.scalar(select(Gift.status).where(Gift.id == gift_id))
        raise LedgerConflict(f"gift {gift_id} is {current}, not {from_status}; left unchanged")
    connection.execute(
        insert(GiftEvent).values(
            gift_id=gift_id,
            occurred_at=at,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            reason=reason,
        )
    )
    logger.debug("gift %s: %s -> %s (%s)", gift_id, from_status, to_status, reason)


def record_event(
    connection: Connection,
    gift_id: str,
    status: str,
    *,
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    """Record something that happened to a gift without moving it, such as a refused cancel.

    The event row has the same ``from_status`` and ``to_status``, and the gift's ``reason`` is
    set to ``reason``. Raises ``LedgerConflict`` if the gift is no longer in ``status``.
    """
    result = connection.execute(
        update(Gift)
        .where(Gift.id == gift_id, Gift.status == status)
        .values(reason=short_reason(reason), updated_at=at)
    )
    if result.rowcount != 1:
        current = connection.scalar(select(Gift.status).where(Gift.id == gift_id))
        raise LedgerConflict(f"gift {gift_id} is {current}, not {status}; nothing recorded")
    connection.execute(
        insert(GiftEvent).values(
            gift_id=gift_id,
            occurred_at=at,
            from_status=status,
            to_status=status,
            actor=actor,
            reason=reason,
        )
    )


def claim_ready(connection: Connection, *, as_of: datetime, limit: int, actor: str) -> list[str]:
    """Atomically move up to ``limit`` due ``ready`` gifts to ``sending`` and return their ids.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``, so several workers
    share the queue without waiting on each other. On SQLite the single writer lock serialises
    claims. In both, the compare-and-set in ``move`` is what guarantees one claim per gift.
    """
    query = (
        select(Gift.id)
        .where(Gift.status == READY, Gift.due_at <= as_of)
        .order_by(Gift.due_at, Gift.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for gift_id in connection.scalars(query).all():
        try:
            move(
                connection,
                gift_id,
                READY,
                SENDING,
                at=as_of,
                actor=actor,
                attempts=Gift.attempts + 1,
            )
        except LedgerConflict:
            continue
        claimed.append(gift_id)
    return claimed
