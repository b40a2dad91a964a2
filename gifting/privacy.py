"""Keep recipients' personal data only while a gift needs it, and forget a contact on request.

Two operations, both logged with counts only, never with the data:

- ``purge_personal_data`` runs nightly. It clears the shipping address and free-text
  preferences of contacts whose gifts are all closed, with the last one closed more than
  ``privacy.retention_days_after_delivery`` days ago. It also clears the card notes of gifts
  closed that long ago and the payloads of quarantined records older than that.
- ``forget_contact`` removes one contact's personal data from every table that stores it. Gifts
  stay in the ledger without their recipient, note or selection reasons, so the report's counts
  and spend do not change.

Open gifts keep their recipient's data: a gift is open while it is planned, ready, in review,
sending or sent, and while it is failed and was moved less than the retention period ago,
because a failed gift can still be resent.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    exists,
    func,
    null,
    or_,
    select,
    update,
)

from gifting import ledger
from gifting.errors import GiftingError
from gifting.warehouse.schema import Activity, Contact, Contract, Gift, QuarantinedRecord

logger = logging.getLogger(__name__)

ACTOR = "privacy"
FORGOTTEN = "recipient_forgotten"

# Columns the nightly purge clears once a contact's gifts are closed. Names, e-mail and country
# stay, because the CRM relationship continues; the shipping address and notes are needed only
# to deliver a gift.
CONTACT_ADDRESS_COLUMNS = ("street", "city", "state", "postal_code", "preferences")

# Every (table, column) that stores a contact's personal data or the link to it, and what
# ``forget_contact`` does with it. A test checks that new columns of these kinds are listed.
FORGET_PLAN = {
    ("contacts", "*"): "row deleted",
    ("gifts", "contact_id"): "cleared",
    ("gifts", "note"): "cleared",
    ("gifts", "selection_reasons"): "cleared",
    ("contracts", "contact_id"): "cleared",
    ("activities", "contact_id"): "cleared",
    ("activities", "subject"): "cleared",
    ("activities", "description"): "cleared",
    ("quarantine", "payload"): "row deleted",
}

OPEN_STATUSES = (ledger.PLANNED, ledger.READY, ledger.NEEDS_REVIEW, ledger.SENDING, ledger.SENT)


class ContactNotFound(GiftingError):
    """The contact Id to forget is in no table of the warehouse."""


def _open_gift(cutoff: datetime) -> Any:
    """Return the condition 'this gift still needs its recipient's address and its note'."""
    return or_(
        Gift.status.in_(OPEN_STATUSES),
        and_(Gift.status == ledger.DELIVERED, Gift.delivered_at > cutoff),
        and_(Gift.status != ledger.DELIVERED, Gift.updated_at > cutoff),
    )


def purge_personal_data(engine: Engine, *, as_of: datetime, retention_days: int) -> Counter[str]:
    """Clear personal data that no open gift needs any more; return counts per kind.

    Args:
        engine: The warehouse.
        as_of: The purge time (naive UTC).
        retention_days: Days after a gift's delivery, or its last move for a gift that was not
            delivered, during which its recipient's address and its note are kept.
    """
    cutoff = as_of - timedelta(days=retention_days)
    counts: Counter[str] = Counter()
    with engine.begin() as connection:
        counts["contact_addresses"] = _purge_addresses(connection, cutoff)
        counts["gift_notes"] = _purge_notes(connection, cutoff)
        counts["quarantine_payloads"] = connection.execute(
            update(QuarantinedRecord)
            .where(
                QuarantinedRecord.quarantined_at <= cutoff, QuarantinedRecord.payload.is_not(None)
            )
            .values(payload=null())  # SQL NULL; None would store JSON null
        ).rowcount
    logger.info(
        "purged personal data closed before %s (%d days): %s", cutoff, retention_days, dict(counts)
    )
    return counts


def _purge_addresses(connection: Connection, cutoff: datetime) -> int:
    has_gift = exists().where(Gift.contact_id == Contact.id)
    has_open_gift = exists().where(Gift.contact_id == Contact.id, _open_gift(cutoff))
    holds_data = or_(*[getattr(Contact, column).is_not(None) for column in CONTACT_ADDRESS_COLUMNS])
    return connection.execute(
        update(Contact)
        .where(has_gift, ~has_open_gift, holds_data)
        .values({column: None for column in CONTACT_ADDRESS_COLUMNS})
    ).rowcount


def _purge_notes(connection: Connection, cutoff: datetime) -> int:
    return connection.execute(
        update(Gift).where(~_open_gift(cutoff), Gift.note.is_not(None)).values(note=None)
    ).rowcount


def forget_contact(engine: Engine, contact_id: str, *, as_of: datetime) -> Counter[str]:
    """Remove one contact's personal data from the warehouse; return counts per kind.

    Gifts not yet sent are skipped with reason ``recipient_forgotten``. A failed gift is first
    moved back to ready, because the ledger allows no direct move from failed to skipped. Gifts
    in flight stay in flight, since tracking them needs only the vendor's order id.

    Raises:
        ContactNotFound: No table contains ``contact_id``.
    """
    counts: Counter[str] = Counter()
    with engine.begin() as connection:
        if not _is_known(connection, contact_id):
            raise ContactNotFound(
                f"contact {contact_id!r} not found in the warehouse: pass the 18-character "
                "Salesforce Contact Id as shown in the contacts table"
            )
        counts["gifts_skipped"] = _skip_unsent(connection, contact_id, as_of)
        counts["gifts_anonymized"] = connection.execute(
            update(Gift)
            .where(Gift.contact_id == contact_id)
            .values(contact_id=None, note=None, selection_reasons=null())
        ).rowcount
        counts["contracts_unlinked"] = connection.execute(
            update(Contract).where(Contract.contact_id == contact_id).values(contact_id=None)
        ).rowcount
        counts["activities_cleared"] = connection.execute(
            update(Activity)
            .where(Activity.contact_id == contact_id)
            .values(contact_id=None, subject=None, description=None)
        ).rowcount
        counts["quarantine_deleted"] = connection.execute(
            delete(QuarantinedRecord).where(QuarantinedRecord.record_id == contact_id)
        ).rowcount
        counts["contacts_deleted"] = connection.execute(
            delete(Contact).where(Contact.id == contact_id)
        ).rowcount
    logger.info("forgot one contact: %s", dict(counts))
    return counts


def _is_known(connection: Connection, contact_id: str) -> bool:
    tables = [
        (Contact, Contact.id),
        (Gift, Gift.contact_id),
        (Contract, Contract.contact_id),
        (Activity, Activity.contact_id),
        (QuarantinedRecord, QuarantinedRecord.record_id),
    ]
    return any(
        connection.scalar(select(func.count()).select_from(table).where(column == contact_id))
        for table, column in tables
    )


def _skip_unsent(connection: Connection, contact_id: str, as_of: datetime) -> int:
    unsent = connection.execute(
        select(Gift.id, Gift.status).where(
            Gift.contact_id == contact_id, Gift.status.in_([*ledger.UNSENT, ledger.FAILED])
        )
    ).all()
    for gift in unsent:
        status = gift.status
        if status == ledger.FAILED:
            ledger.move(
                connection, gift.id, status, ledger.READY, at=as_of, actor=ACTOR, reason=FORGOTTEN
            )
            status = ledger.READY
        ledger.move(
            connection, gift.id, status, ledger.SKIPPED, at=as_of, actor=ACTOR, reason=FORGOTTEN
        )
    return len(unsent)
