"""Personal data is purged after the retention period and forgotten on request.

Forgetting must leave the report's counts and spend as they were, since the gifts stay in the
ledger without their recipient. Both run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from gifting import ledger
from gifting.dispatch import dispatch_due_gifts, track_deliveries
from gifting.privacy import ContactNotFound, forget_contact, purge_personal_data
from gifting.report import build_report
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse.schema import (
    Activity,
    Contact,
    Contract,
    Gift,
    GiftEvent,
    QuarantinedRecord,
)
from tests.integration.ledger_fixtures import AS_OF

REPORT_AS_OF = AS_OF + timedelta(days=1)


@pytest.fixture
def delivered(planned: Engine, vendor: SandboxVendorClient, kinds: dict[str, str]) -> Engine:
    """Send every due gift of the sample org and record its delivery."""
    dispatch_due_gifts(planned, vendor, kinds, as_of=AS_OF, backfill=True)
    track_deliveries(planned, vendor, as_of=AS_OF)
    return planned


def _contact_with_delivered_and_unsent(engine: Engine) -> str:
    delivered = select(Gift.contact_id).where(Gift.status == ledger.DELIVERED)
    unsent = select(Gift.contact_id).where(Gift.status.in_(ledger.UNSENT))
    with engine.connect() as connection:
        both = connection.scalars(delivered.intersect(unsent)).first()
        return str(both or connection.scalars(delivered).first())


def _add_personal_rows(engine: Engine, contact_id: str) -> None:
    """Link one more activity to the contact and quarantine one of its records."""
    with engine.begin() as connection:
        connection.execute(
            insert(QuarantinedRecord),
            [
                {
                    "source": "Contact",
                    "record_id": contact_id,
                    "reason": "invalid email",
                    "payload": {"Email": "someone@example"},
                    "quarantined_at": AS_OF,
                }
            ],
        )
        first_activity = select(Activity.id).order_by(Activity.id).limit(1).scalar_subquery()
        connection.execute(
            update(Activity)
            .where(Activity.id == first_activity)
            .values(contact_id=contact_id, description="Called about the launch")
        )


def _count(engine: Engine, column: Any, value: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(column.class_).where(column == value)
        return int(connection.scalar(query) or 0)


def test_forget_keeps_report_totals(delivered: Engine, tmp_path: Path) -> None:
    contact_id = _contact_with_delivered_and_unsent(delivered)
    _add_personal_rows(delivered, contact_id)
    gifts, activities = (
        _count(delivered, Gift.contact_id, contact_id),
        _count(delivered, Activity.contact_id, contact_id),
    )
    before = build_report(delivered, REPORT_AS_OF, tmp_path / "before").summary

    counts = forget_contact(delivered, contact_id, as_of=REPORT_AS_OF)

    after = build_report(delivered, REPORT_AS_OF, tmp_path / "after").summary
    assert after["accounts"] == before["accounts"]
    assert after["retention"] == before["retention"]
    assert after == before
    assert counts["contacts_deleted"] == 1
    assert counts["gifts_anonymized"] == gifts > 0
    assert counts["activities_cleared"] == activities > 0
    assert counts["quarantine_deleted"] == 1
    for column in (
        Contact.id,
        Gift.contact_id,
        Contract.contact_id,
        Activity.contact_id,
        QuarantinedRecord.record_id,
    ):
        assert _count(delivered, column, contact_id) == 0, column
    with delivered.connect() as connection:
        skipped = connection.scalar(
            select(func.count())
            .select_from(GiftEvent)
            .where(GiftEvent.reason == "recipient_forgotten", GiftEvent.to_status == ledger.SKIPPED)
        )
    assert skipped == counts["gifts_skipped"] > 0


def test_forget_unknown_contact_names_it(sqlite_engine: Engine) -> None:
    with pytest.raises(ContactNotFound, match="003000000000000AAA"):
        forget_contact(sqlite_engine, "003000000000000AAA", as_of=AS_OF)


def _gift_row(gift_id: str, contact_id: str, status: str, closed_at: datetime) -> dict[str, object]:
    delivered_at = closed_at if status == ledger.DELIVERED else None
    return {
        "id": gift_id,
        "contract_id": "006000000000001AAA",
        "stage": gift_id,
        "account_id": "001000000000001AAA",
        "contact_id": contact_id,
        "status": status,
        "due_at": closed_at,
        "window_ends_at": closed_at,
        "budget_min": 50,
        "budget_max": 150,
        "note": f"Thanks from us, card {gift_id}",
        "delivered_at": delivered_at,
        "created_at": closed_at,
        "updated_at": closed_at,
    }


def _contact_row(contact_id: str) -> dict[str, object]:
    return {
        "id": contact_id,
        "last_name": "Example",
        "email": "someone@example.com",
        "street": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
        "preferences": "likes tea",
        "system_modstamp": AS_OF,
        "synced_at": AS_OF,
    }


def test_purge_waits_for_retention_and_open_gifts(engine: Engine) -> None:
    old, recent = AS_OF - timedelta(days=91), AS_OF - timedelta(days=10)
    done, fresh, pending = "003000000000001AAA", "003000000000002AAA", "003000000000003AAA"
    with engine.begin() as connection:
        connection.execute(
            insert(Contract),
            [
                {
                    "id": "006000000000001AAA",
                    "account_id": "001000000000001AAA",
                    "name": "Deal",
                    "signed_on": old.date(),
                    "status": "won",
                    "first_seen_at": old,
                    "system_modstamp": old,
                    "synced_at": old,
                }
            ],
        )
        connection.execute(insert(Contact), [_contact_row(c) for c in (done, fresh, pending)])
        connection.execute(
            insert(Gift),
            [
                _gift_row("welcome", done, ledger.DELIVERED, old),
                _gift_row("first_week", done, ledger.SKIPPED, old),
                _gift_row("first_month", fresh, ledger.DELIVERED, recent),
                _gift_row("first_quarter", pending, ledger.DELIVERED, old),
                _gift_row("extra", pending, ledger.PLANNED, old),
            ],
        )
        connection.execute(
            insert(QuarantinedRecord),
            [
                {"source": "Contact", "reason": "r", "payload": {"a": 1}, "quarantined_at": old},
                {"source": "Contact", "reason": "r", "payload": {"a": 2}, "quarantined_at": recent},
            ],
        )

    counts = purge_personal_data(engine, as_of=AS_OF, retention_days=90)
    again = purge_personal_data(engine, as_of=AS_OF, retention_days=90)

    assert counts == {"contact_addresses": 1, "gift_notes": 3, "quarantine_payloads": 1}
    assert sum(again.values()) == 0
    with engine.connect() as connection:
        contacts = {row.id: row for row in connection.execute(select(Contact))}
        notes = dict(connection.execute(select(Gift.id, Gift.note)).all())
    assert contacts[done].street is None
    assert contacts[done].preferences is None
    assert contacts[done].last_name == "Example"
    assert contacts[done].country == "US"
    assert contacts[fresh].street == "1 Main St"
    assert contacts[pending].street == "1 Main St"
    assert notes["welcome"] is None
    assert notes["first_month"] is not None
    assert notes["extra"] is not None


def test_purge_logs_counts_not_data(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    old = AS_OF - timedelta(days=200)
    with engine.begin() as connection:
        connection.execute(insert(Contact), [_contact_row("003000000000009AAA")])
        connection.execute(
            insert(Contract),
            [
                {
                    "id": "006000000000001AAA",
                    "account_id": "001000000000001AAA",
                    "name": "Deal",
                    "signed_on": old.date(),
                    "status": "won",
                    "first_seen_at": old,
                    "system_modstamp": old,
                    "synced_at": old,
                }
            ],
        )
        connection.execute(
            insert(Gift), [_gift_row("welcome", "003000000000009AAA", ledger.DELIVERED, old)]
        )

    with caplog.at_level("INFO", logger="gifting.privacy"):
        purge_personal_data(engine, as_of=AS_OF, retention_days=90)
        forget_contact(engine, "003000000000009AAA", as_of=AS_OF)

    logged = caplog.text
    assert "contact_addresses': 1" in logged
    assert "contacts_deleted': 1" in logged
    for value in ("1 Main St", "Springfield", "likes tea", "Thanks from us", "003000000000009AAA"):
        assert value not in logged
