"""Counts of the gift ledger that a person can read at the end of a run."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from gifting.warehouse.schema import Contract, Gift


def ledger_summary(engine: Engine) -> dict[str, object]:
    """Return contract counts and gift counts by stage, status and reason."""
    with engine.connect() as connection:
        contracts = connection.scalar(select(func.count()).select_from(Contract)) or 0
        rows = connection.execute(
            select(Gift.stage, Gift.status, Gift.reason, func.count().label("gifts"))
            .group_by(Gift.stage, Gift.status, Gift.reason)
            .order_by(Gift.stage, Gift.status, Gift.reason)
        ).all()
    by_stage: dict[str, dict[str, int]] = {}
    for row in rows:
        label = row.status if row.status != "skipped" or not row.reason else f"skipped:{row.reason}"
        stage = by_stage.setdefault(row.stage, {})
        stage[label] = stage.get(label, 0) + row.gifts
    return {"contracts": contracts, "gifts": by_stage}
