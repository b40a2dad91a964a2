"""Counts of the gift ledger that a person can read at the end of a run."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from gifting import ledger
from gifting.warehouse.schema import Contract, Gift

STATUS_COLUMNS = (
    ledger.PLANNED, ledger.READY, ledger.NEEDS_REVIEW, ledger.SENDING, ledger.SENT,
    ledger.DELIVERED, ledger.FAILED, ledger.SKIPPED, ledger.CANCELLED, ledger.REJECTED,
)  # fmt: skip


def ledger_summary(engine: Engine, stage_order: list[str]) -> dict[str, object]:
    """Return contract counts, gift counts by stage and status, and by stage and reason.

    Args:
        engine: The warehouse.
        stage_order: Stage names in program order; stages no longer configured come last.

    Returns:
        ``{"contracts": n, "statuses": {stage: {status: n}}, "reasons": {reason: {stage: n}}}``,
        where reasons cover skipped, cancelled and failed gifts.
    """
    with engine.connect() as connection:
        contracts = connection.scalar(select(func.count()).select_from(Contract)) or 0
        rows = connection.execute(
            select(Gift.stage, Gift.status, Gift.reason, func.count().label("gifts")).group_by(
                Gift.stage, Gift.status, Gift.reason
            )
        ).all()
    stages = [*stage_order, *sorted({row.stage for row in rows} - set(stage_order))]
    statuses: dict[str, dict[str, int]] = {stage: {} for stage in stages}
    reasons: dict[str, dict[str, int]] = {}
    for row in rows:
        by_status = statuses[row.stage]
        by_status[row.status] = by_status.get(row.status, 0) + row.gifts
        if row.status in (ledger.SKIPPED, ledger.CANCELLED, ledger.FAILED) and row.reason:
            by_stage = reasons.setdefault(f"{row.status}: {row.reason}", {})
            by_stage[row.stage] = by_stage.get(row.stage, 0) + row.gifts
    return {"contracts": contracts, "statuses": statuses, "reasons": dict(sorted(reasons.items()))}
