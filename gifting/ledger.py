"""The gift ledger: one row per contract × stage, moved only through legal transitions.

Every move is a compare-and-set on the current status, so two workers can never both move the same
gift, and every move appends a row to ``gift_events`` with its time, actor and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

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
# Ids per UPDATE in move_many, well below the 32,766 bind parameters of SQLite 3.32 and later.
MOVE_CHUNK = 1000


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


def ids_filter(connection: Connection, gift_ids: list[str]) -> ColumnElement[bool]:
    """Return ``gifts.id IN (…)``, on PostgreSQL as ``= ANY`` of one array parameter.

    PostgreSQL plans and binds one array faster than hundreds of separate parameters.
    """
    if connection.dialect.name == "postgresql":
        return Gift.id == any_(bindparam("gift_id_array", gift_ids, type_=ARRAY(String)))
    return Gift.id.in_(gift_ids)


def relax_durability(connection: Connection) -> None:
    """Let PostgreSQL acknowledge this transaction's commit before it reaches the disk.

    For claims and send records only. A database crash may then lose the last commits, which
    leaves gifts ready or in ``sending`` although the vendor has their orders. Recovery and the
    idempotency keys turn that into lookups and replayed orders, never a second order.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL synchronous_commit = off"))


def move_many(
    connection: Connection,
    gift_ids: Sequence[str],
    from_status: str,
    to_status: str,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    **values: Any,
) -> set[str]:
    """Move every listed gift that is still in ``from_status``, and return the ids moved.

    One ``UPDATE … RETURNING`` per chunk and one bulk event insert replace a statement pair per
    gift. A gift another worker moved first is left out of the result instead of raising.
    """
    check_transition(from_status, to_status)
    moved: set[str] = set()
    for start in range(0, len(gift_ids), MOVE_CHUNK):
        chunk = list(gift_ids[start : start + MOVE_CHUNK])
        result = connection.execute(
            update(Gift)
            .where(ids_filter(connection, chunk), Gift.status == from_status)
            .values(status=to_status, reason=short_reason(reason), updated_at=at, **values)
            .returning(Gift.id)
        )
        moved.update(result.scalars())
    if moved:
        connection.execute(
            insert(GiftEvent),
            [
                {
                    "gift_id": gift_id,
                    "occurred_at": at,
                    "from_status": from_status,
                    "to_status": to_status,
                    "actor": actor,
                    "reason": reason,
                }
                for gift_id in gift_ids
                if gift_id in moved
            ],
        )
    logger.debug("%d gifts: %s -> %s (%s)", len(moved), from_status, to_status, reason)
    return moved


def claim_ready(
    connection: Connection,
    *,
    as_of: datetime,
    limit: int,
    actor: str,
    lock: Callable[[list[str]], list[str]] | None = None,
) -> list[str]:
    """Atomically move up to ``limit`` due ``ready`` gifts to ``sending`` and return their ids.

    On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``, so several workers
    share the queue without waiting on each other. On SQLite the single writer lock serialises
    claims. In both, the compare-and-set in the update is what guarantees one claim per gift.

    Args:
        lock: Called with the candidate ids inside the transaction; returns those the caller
            could lease (see ``gifting.claims``). Only those are claimed.

    Returns:
        The claimed ids in due order, the order they should be sent in.
    """
    query = (
        select(Gift.id)
        .where(Gift.status == READY, Gift.due_at <= as_of)
        .order_by(Gift.due_at, Gift.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = list(connection.scalars(query).all())
    if lock is not None and candidates:
        candidates = lock(candidates)
    moved = move_many(
        connection, candidates, READY, SENDING, at=as_of, actor=actor, attempts=Gift.attempts + 1
    )
    return [gift_id for gift_id in candidates if gift_id in moved]
