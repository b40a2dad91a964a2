"""Tell the account owner, once per gift, that an open support case keeps a gift waiting.

A due gift waits in ``planned`` with reason ``support_case_open`` while its account has an open
high-priority case; it goes out by itself once the case closes inside the gift's window. The
owner hears about the hold through a CRM Task, so the gift is not a surprise after the case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy import Engine, and_, exists, insert, select
from sqlalchemy.orm import aliased

from gifting import ledger
from gifting.claims import run_lock
from gifting.errors import GiftingError, RetriableError
from gifting.warehouse.schema import Account, Gift, GiftEvent

logger = logging.getLogger(__name__)

ACTOR = "case-hold-notice"
HOLD_REASON = "support_case_open"

HoldNotifier = Callable[[dict[str, Any]], str]


class CaseHoldTaskWriter:
    """Creates an open CRM Task for the account owner about one held gift; returns its Id."""

    def __init__(self, sf: Salesforce, *, today: date) -> None:
        self.sf = sf
        self.today = today

    def __call__(self, held: dict[str, Any]) -> str:
        fields = {
            "WhoId": held["contact_id"],
            "WhatId": held["contract_id"],
            "AccountId": held["account_id"],
            "Subject": f"Gift on hold: {held['stage']} gift waits for an open high-priority case",
            "Description": (
                f"Gift id: {held['id']}. It is released by itself once the case closes, if that "
                f"happens before {held['window_ends_at']:%Y-%m-%d %H:%M} UTC; after that it is "
                "skipped. Close the case, or let the gift lapse."
            ),
            "Status": "Not Started",
            "Priority": "Normal",
            "Type": "Gift",
            "ActivityDate": self.today.isoformat(),
        }
        if held.get("owner_id"):
            fields["OwnerId"] = held["owner_id"]
        try:
            result = self.sf.Task.create(fields)
        except SalesforceError as error:
            raise RetriableError(
                f"creating the hold Task for gift {held['id']} failed: {error}"
            ) from error
        return str(result["id"])


def _unnotified_holds() -> Any:
    notice = aliased(GiftEvent)
    already_notified = exists().where(and_(notice.gift_id == Gift.id, notice.actor == ACTOR))
    return (
        select(
            Gift.id,
            Gift.stage,
            Gift.contract_id,
            Gift.account_id,
            Gift.contact_id,
            Gift.window_ends_at,
            Account.owner_id,
        )
        .join(Account, Account.id == Gift.account_id)
        .where(Gift.status == ledger.PLANNED, Gift.reason == HOLD_REASON, ~already_notified)
        .order_by(Gift.due_at, Gift.id)
    )


def notify_held_gifts(engine: Engine, notify: HoldNotifier, *, as_of: datetime) -> int:
    """Notify each held gift's account owner once; return how many owners were notified.

    Each notice is recorded as a ``gift_events`` row with actor ``case-hold-notice`` whose from
    and to status are both ``planned``, so a later run does not notify the owner again. Runs that
    overlap notify once: on PostgreSQL each gift's row stays locked while its notice is written
    and the other run re-checks it afterwards; a SQLite file serialises the runs with the
    dispatch lock.
    """
    with run_lock(engine), engine.connect() as connection:
        held = [dict(row._mapping) for row in connection.execute(_unnotified_holds())]
        connection.rollback()
        notified = sum(_notify_once(engine, notify, gift, as_of) for gift in held)
    if notified:
        logger.info("notified %d account owners of gifts held by support cases", notified)
    return notified


def _notify_once(
    engine: Engine, notify: HoldNotifier, gift: dict[str, Any], as_of: datetime
) -> bool:
    """Write one gift's hold notice unless another run has written it; return whether it did."""
    with engine.begin() as connection:
        # Lock the gift first, then look for a notice in a new statement, because under READ
        # COMMITTED only a new statement reads a notice committed by the run that held the lock.
        connection.execute(select(Gift.id).where(Gift.id == gift["id"]).with_for_update())
        still_unnotified = connection.scalar(
            _unnotified_holds().with_only_columns(Gift.id).where(Gift.id == gift["id"])
        )
        if still_unnotified is None:
            return False
        try:
            task_id = notify(gift)
        except GiftingError as error:
            # The gift still waits; the next run tries to tell the owner again.
            logger.warning("gift %s: hold notice not written: %s", gift["id"], error)
            return False
        connection.execute(
            insert(GiftEvent).values(
                gift_id=gift["id"],
                occurred_at=as_of,
                from_status=ledger.PLANNED,
                to_status=ledger.PLANNED,
                actor=ACTOR,
                reason=f"owner notified in CRM Task {task_id}",
            )
        )
    return True
