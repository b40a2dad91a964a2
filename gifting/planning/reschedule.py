"""Recompute a planned gift's due time once its item, and so its real shipping time, is known.

Planning assumes the configured lead time because the item is chosen later. Personalization
calls ``reschedule_for_item`` after choosing an item, so a slow item is sent earlier and an
e-gift is sent on the milestone day itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from gifting import ledger
from gifting.config import ProgramConfig
from gifting.planning.alignment import load_events, milestone_day
from gifting.planning.milestones import contract_locale, contract_query
from gifting.planning.timing import DueTime, due_time_for_item
from gifting.warehouse.schema import Contract, Gift

logger = logging.getLogger(__name__)


def reschedule_for_item(
    connection: Connection,
    program: ProgramConfig,
    gift_id: str,
    *,
    lead_time_days: int,
    kind: str,
    as_of: datetime,
) -> DueTime | None:
    """Move a planned gift's due time to fit the chosen item's lead time, and return it.

    Returns ``None`` and changes nothing when the gift is no longer planned or its stage left
    the program. The budget reservation follows the new due month.

    NOTE: the move is not checked against the new month's caps, so a gift moved across a month
    boundary can push that month past its cap by at most its own price.
    """
    gift = connection.execute(
        select(Gift.contract_id, Gift.stage, Gift.status).where(Gift.id == gift_id)
    ).one()
    stage = next((s for s in program.stages if s.name == gift.stage), None)
    if gift.status != ledger.PLANNED or stage is None:
        return None
    contract = connection.execute(contract_query().where(Contract.id == gift.contract_id)).one()
    events = load_events(connection, [contract.account_id])[contract.account_id]
    milestone = milestone_day(stage, contract.signed_on, program.alignment, events)
    locale = contract_locale(contract)
    due = due_time_for_item(
        milestone.day,
        locale,
        program.schedule,
        lead_time_days=lead_time_days,
        kind=kind,
        same_day=stage.name in program.schedule.same_day_stages,
        earliest=contract.signed_on,
    )
    connection.execute(
        update(Gift)
        .where(Gift.id == gift_id, Gift.status == ledger.PLANNED)
        .values(
            due_at=due.at,
            window_ends_at=due.at + timedelta(hours=stage.window_hours),
            updated_at=as_of,
        )
    )
    logger.debug(
        "gift %s rescheduled to %s for a %d-day lead time", gift_id, due.at, lead_time_days
    )
    return due
