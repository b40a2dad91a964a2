"""Gifts that failed in one run, for alerts that name them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from gifting import ledger
from gifting.warehouse.schema import Gift, GiftEvent


@dataclass(frozen=True)
class FailedGift:
    gift_id: str
    stage: str
    reason: str | None


def gifts_failed_at(engine: Engine, at: datetime, actor: str) -> list[FailedGift]:
    """Return the gifts that ``actor`` moved to ``failed`` at ``at``, the ``as_of`` of its run.

    Every ledger event records the run's ``as_of``, so this finds the failures of one run.
    Dispatch and resend record theirs as ``dispatch_gifts``, delivery tracking as ``vendor``.
    """
    query = (
        select(Gift.id, Gift.stage, Gift.reason)
        .join(GiftEvent, GiftEvent.gift_id == Gift.id)
        .where(
            GiftEvent.to_status == ledger.FAILED,
            GiftEvent.occurred_at == at,
            GiftEvent.actor == actor,
        )
        .distinct()
        .order_by(Gift.id)
    )
    with engine.connect() as connection:
        return [FailedGift(row.id, row.stage, row.reason) for row in connection.execute(query)]
