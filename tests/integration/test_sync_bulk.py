"""The sync's Bulk API 2.0 path must store exactly what its REST path stores.

Bulk results are CSV text, so every typed value (booleans, numbers, datetimes, nulls) and every
awkward string (emoji, CJK, right-to-left text, quotes, commas, line breaks) makes a round trip
through the sandbox's CSV writer and the sync's reader. These tests sync one small org both ways
over real HTTPS, on SQLite and on PostgreSQL, and compare the stored rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from gifting.salesforce.bulk import BulkQueryFailed
from gifting.salesforce.client import SalesforceCredentials
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.session import SalesforceSession
from gifting.salesforce.sync import sync_object, sync_objects, sync_org
from gifting.sandbox.launch import SANDBOX_CREDENTIALS
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.warehouse.schema import (
    Account,
    Activity,
    Contact,
    Contract,
    Outcome,
    QuarantinedRecord,
    SupportCase,
    SyncState,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SYNCED_TABLES = (Account, Contact, Contract, Activity, SupportCase, Outcome, QuarantinedRecord)

AWKWARD_TEXT = [
    "Geschenke & Co. 🎁🎉",
    "株式会社ギフト 東京支店",
    "شركة الهدايا المحدودة",
    "עברית ומספרים 123",
    'He said "thanks", then left',
    "Comma, Semicolon; Pipe| Caret^ Backquote`",
    "Line one\nLine two\r\nLine three",
    "  padded with spaces  ",
    "null",
    "true",
]


def _stamp(minutes: int) -> datetime:
    return datetime(2026, 5, 1, 9, tzinfo=UTC) + timedelta(minutes=minutes, milliseconds=123)


def build_org() -> OrgStore:
    """Build an org whose text and typed values stress the CSV round trip."""
    store = OrgStore()
    minute = 0
    for index, name in enumerate(AWKWARD_TEXT):
        minute += 1
        account_id = store.insert(
            "Account",
            {
                "Name": name,
                "Industry": None if index % 3 == 0 else "Software",
                "BillingCountry": "" if index % 4 == 0 else "日本",
                "BillingState": "東京都" if index % 2 else None,
                "Strategic__c": [True, False, None][index % 3],
                "Churn_Date__c": date(2026, 3, index + 1) if index % 2 else None,
                "NPS_Score__c": [0, 9, None, 7.5][index % 4],
                "Referrals__c": [0, 2, None][index % 3],
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
        minute += 1
        contact_id = store.insert(
            "Contact",
            {
                "AccountId": account_id,
                "FirstName": None if index % 2 else "Zoë",
                # A contact without LastName is quarantined with its payload.
                "LastName": name if index != 5 else "",
                "Title": "",
                "Email": f"contact{index}@example.com",
                "MailingStreet": name,
                "MailingCity": "القاهرة",
                "MailingState": None,
                "MailingPostalCode": "100-0001",
                "MailingCountry": "",
                "Time_Zone__c": "Asia/Tokyo",
                "Gift_Preferences__c": 'no "sweets", please\nvegan',
                "Gift_Opt_Out__c": index % 2 == 0,
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
        minute += 1
        opportunity_id = store.insert(
            "Opportunity",
            {
                "AccountId": account_id,
                "Name": f"{name} — New Business",
                "StageName": "Closed Won" if index % 5 else "Closed Lost",
                "IsWon": bool(index % 5),
                "CloseDate": date(2026, 4, index + 1),
                "Amount": [0, 1234.5, None, 50000][index % 4],
                "Type": "New Business" if index % 3 else "Expansion",
                "Use_Case__c": name,
                "Goals__c": None if index % 2 else "",
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
        store.insert(
            "OpportunityContactRole",
            {
                "OpportunityId": opportunity_id,
                "ContactId": contact_id,
                "Role": "Economic Buyer",
                "IsPrimary": True,
            },
            now=_stamp(minute),
        )
        if index == 7:
            store.delete("Opportunity", opportunity_id, now=_stamp(minute + 1))
        minute += 1
        store.insert(
            "Task",
            {
                "AccountId": account_id,
                "WhoId": contact_id,
                "Subject": name,
                "Description": name if index % 2 else None,
                "ActivityDate": date(2026, 4, 2),
                "Type": "Call",
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
        minute += 1
        store.insert(
            "Event",
            {
                "AccountId": account_id,
                "WhoId": contact_id,
                "Subject": "Kickoff",
                "Description": name,
                "ActivityDateTime": _stamp(minute) + timedelta(days=3),
                "Type": "Kickoff",
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
        minute += 1
        store.insert(
            "Case",
            {
                "AccountId": account_id,
                "Priority": "High",
                "Status": "Closed" if index % 2 else "New",
                "IsClosed": bool(index % 2),
                "ClosedDate": _stamp(minute) if index % 2 else None,
                "SystemModstamp": _stamp(minute),
            },
            now=_stamp(minute),
        )
    return store


@pytest.fixture
def awkward_sandbox(tmp_path: Path) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(
        build_org(), page_size=4, cert_dir=tmp_path / "certs", **SANDBOX_CREDENTIALS
    ) as sandbox:
        yield sandbox


@pytest.fixture
def awkward_session(awkward_sandbox: SalesforceSandbox) -> SalesforceSession:
    credentials = SalesforceCredentials(
        login_url=awkward_sandbox.login_url,
        ca_bundle=awkward_sandbox.ca_pem_path,
        **SANDBOX_CREDENTIALS,
    )
    return SalesforceSession.login(credentials)


def with_bulk(threshold: int | None, *, page_size: int = 3) -> FieldMapping:
    """Return the shipped mapping with the given Bulk threshold and a tiny results page."""
    base = FieldMapping()
    sync = base.sync.model_copy(
        update={
            "bulk_threshold": threshold,
            "bulk_page_size": page_size,
            "bulk_poll_interval_s": 0.01,
        }
    )
    return base.model_copy(update={"sync": sync})


def stored_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Return every synced table's rows, sorted, without the quarantine's serial key."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for model in SYNCED_TABLES:
            table = model.__table__
            found = [dict(row._mapping) for row in connection.execute(select(table))]
            for row in found:
                if model is QuarantinedRecord:
                    row.pop("id", None)
            rows[table.name] = sorted(found, key=repr)
    return rows


def clear_synced_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for model in (*SYNCED_TABLES, SyncState):
            connection.execute(model.__table__.delete())


def test_bulk_and_rest_store_same_rows(
    engine: Engine, awkward_session: SalesforceSession, awkward_sandbox: SalesforceSandbox
) -> None:
    rest = sync_org(awkward_session, engine, now=NOW, field_mapping=with_bulk(None))
    rest_rows = stored_rows(engine)
    clear_synced_tables(engine)
    usage_before = awkward_sandbox.api_usage
    bulk = sync_org(awkward_session, engine, now=NOW, field_mapping=with_bulk(0))
    bulk_rows = stored_rows(engine)

    for table, rows in rest_rows.items():
        assert bulk_rows[table] == rows, table
    assert len(rest_rows["accounts"]) == len(AWKWARD_TEXT)
    names = {row["name"] for row in bulk_rows["accounts"]}
    assert names == set(AWKWARD_TEXT)
    assert len(rest_rows["quarantine"]) == 1
    assert {name: counts.seen for name, counts in bulk.objects.items()} == {
        name: counts.seen for name, counts in rest.objects.items()
    }
    assert bulk.warnings == []
    # Every object went through a job: COUNT(), create, status, 4 result pages, delete.
    assert awkward_sandbox.api_usage - usage_before > 6 * 4


def test_bulk_values_keep_types(
    engine: Engine, awkward_session: SalesforceSession, awkward_sandbox: SalesforceSandbox
) -> None:
    sync_org(awkward_session, engine, now=NOW, field_mapping=with_bulk(0))
    with engine.connect() as connection:
        accounts = {row.name: row for row in connection.execute(select(Account.__table__))}
        contracts = {row.name: row for row in connection.execute(select(Contract.__table__))}
        contacts = list(connection.execute(select(Contact.__table__)))
    multiline = accounts["Line one\nLine two\r\nLine three"]
    assert multiline.country == "日本"
    assert accounts["Geschenke & Co. 🎁🎉"].country is None  # stored as "", served as null
    assert accounts["شركة الهدايا المحدودة"].is_strategic is False  # null checkbox
    assert accounts["עברית ומספרים 123"].is_strategic is True
    fractional = contracts["株式会社ギフト 東京支店 — New Business"]
    assert fractional.amount == 1234.5
    zero = contracts['He said "thanks", then left — New Business']
    assert zero.amount == 0
    assert zero.use_case == 'He said "thanks", then left'
    assert {row.title for row in contacts} == {None}
    assert {row.preferences for row in contacts} == {'no "sweets", please\nvegan'}


def test_failed_bulk_job_raises(
    sqlite_engine: Engine,
    awkward_session: SalesforceSession,
    awkward_sandbox: SalesforceSandbox,
) -> None:
    awkward_sandbox.bulk_jobs.fail_next_jobs("InternalServerError: query timed out")
    with pytest.raises(BulkQueryFailed) as raised:
        sync_object(awkward_session, sqlite_engine, "Account", now=NOW, field_mapping=with_bulk(0))
    message = str(raised.value)
    assert "ended in state Failed" in message
    assert "query timed out" in message
    assert "bulk_threshold" in message
    with sqlite_engine.connect() as connection:
        assert connection.scalar(select(SyncState.watermark)) is None
        assert connection.scalar(select(Account.id)) is None
    assert awkward_sandbox.bulk_jobs.job_count() == 0  # the failed job was deleted


def test_next_job_started_ahead_then_deleted(
    sqlite_engine: Engine,
    awkward_session: SalesforceSession,
    awkward_sandbox: SalesforceSandbox,
) -> None:
    objects = sync_objects(
        awkward_session,
        sqlite_engine,
        ["Account", "Contact"],
        now=NOW,
        field_mapping=with_bulk(0),
    )
    name, counts = next(objects)
    assert name == "Account"
    assert counts.seen == len(AWKWARD_TEXT)
    assert awkward_sandbox.bulk_jobs.job_count() == 1  # the Contact job, started ahead
    objects.close()
    assert awkward_sandbox.bulk_jobs.job_count() == 0


def test_failed_job_started_ahead_raises(
    sqlite_engine: Engine,
    awkward_session: SalesforceSession,
    awkward_sandbox: SalesforceSandbox,
) -> None:
    # Stored Accounts leave one in the lookback window, so only the Contacts need a job.
    sync_object(awkward_session, sqlite_engine, "Account", now=NOW, field_mapping=with_bulk(None))
    awkward_sandbox.bulk_jobs.fail_next_jobs("InternalServerError: query timed out")
    objects = sync_objects(
        awkward_session, sqlite_engine, ["Account", "Contact"], now=NOW, field_mapping=with_bulk(5)
    )
    assert next(objects)[0] == "Account"
    with pytest.raises(BulkQueryFailed, match="query timed out"):
        next(objects)
    with sqlite_engine.connect() as connection:
        marks = dict(connection.execute(select(SyncState.object_name, SyncState.watermark)).all())
    assert marks["Account"] is not None
    assert marks.get("Contact") is None
    assert awkward_sandbox.bulk_jobs.job_count() == 0


def test_below_threshold_reads_rest_pages(
    sqlite_engine: Engine,
    awkward_session: SalesforceSession,
    awkward_sandbox: SalesforceSandbox,
) -> None:
    fields = with_bulk(len(AWKWARD_TEXT))
    awkward_sandbox.bulk_jobs.fail_next_jobs("a Bulk job was not expected")
    result = sync_object(awkward_session, sqlite_engine, "Account", now=NOW, field_mapping=fields)
    assert result.seen == len(AWKWARD_TEXT)
    assert result.total_size == len(AWKWARD_TEXT)
