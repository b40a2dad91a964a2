"""Sync edge cases over real HTTPS to the sandbox, into SQLite and PostgreSQL.

These cover what the other sync test modules leave out. A record changes between two page
fetches, records are deleted and undeleted, and a deal leaves and re-enters Closed Won. Bursts
of 5xx answers and a request limit hit mid-object must lose and double nothing on resume, and
hostile names must arrive byte for byte.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select

from gifting.errors import RetriableError
from gifting.salesforce.client import SalesforceCredentials
from gifting.salesforce.config import FieldMapping
from gifting.salesforce.handlers import HANDLERS
from gifting.salesforce.session import ApiLimitReached, SalesforceSession
from gifting.salesforce.sync import sync_object, sync_org
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
    SyncState,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PAGE_SIZE = 50  # the ``salesforce_sandbox`` fixture's page size

HOSTILE_NAMES = [
    "O'Brien",
    "D'Angelo \\ Söhne",
    "back\\\\slash\\",
    'say "cheese"',
    "Gift 🎁 Emoji 😀",
    "family 👩‍👩‍👧 zwj",
    "山田 太郎",
    "株式会社東京テック",
    "شركة دبي للتقنية",
    "דוד כהן",
    "SELECT Id FROM Account WHERE Name LIKE '%' OR Name != null LIMIT 1",
    "x' OR Name != '",
    "line\nbreak",
    "tab\tand  two spaces ",
    unicodedata.normalize("NFD", "Zoë Chloé"),
]


@pytest.fixture
def session(salesforce_sandbox: SalesforceSandbox) -> SalesforceSession:
    credentials = SalesforceCredentials(
        login_url=salesforce_sandbox.login_url,
        ca_bundle=salesforce_sandbox.ca_pem_path,
        **SANDBOX_CREDENTIALS,
    )
    return SalesforceSession.login(credentials, sleep=lambda _: None)


def _count(engine: Engine, model: type, *conditions: object) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def _during_record(
    monkeypatch: pytest.MonkeyPatch, sobject: str, number: int, action: Callable[[], None]
) -> None:
    """Run ``action`` once, while the sync handles record ``number`` of ``sobject``."""
    handler = HANDLERS[sobject]
    calls = {"n": 0}

    def wrapped(record: dict[str, Any], now: datetime, fields: FieldMapping) -> Any:
        calls["n"] += 1
        if calls["n"] == number:
            action()
        return handler(record, now, fields)

    monkeypatch.setitem(HANDLERS, sobject, wrapped)


def _by_modstamp(store: OrgStore, sobject: str) -> list[dict[str, Any]]:
    return sorted(store.records(sobject), key=lambda record: record["SystemModstamp"])


def _won_new_business(store: OrgStore) -> list[dict[str, Any]]:
    return [
        record
        for record in store.records("Opportunity")
        if record.get("Type") == "New Business" and record.get("IsWon") and not record["IsDeleted"]
    ]


def _contract(engine: Engine, contract_id: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(Contract).where(Contract.id == contract_id)).one()


def test_record_changed_between_pages(
    engine: Engine,
    salesforce: Salesforce,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contacts = _by_modstamp(sample_org, "Contact")
    assert len(contacts) > 2 * PAGE_SIZE + 2
    target = contacts[2 * PAGE_SIZE + 2]  # served on the third page
    original_title = target["Title"]
    newest = contacts[-1]["SystemModstamp"]
    # The edit commits late: its SystemModstamp is older than the newest record the query reads,
    # as when a long transaction stamps a record before a faster one commits.
    late_stamp = newest - timedelta(minutes=2)

    def edit() -> None:
        sample_org.update("Contact", target["Id"], {"Title": "Changed mid-query"}, now=late_stamp)

    _during_record(monkeypatch, "Contact", PAGE_SIZE + 5, edit)
    first = sync_object(salesforce, engine, "Contact", now=NOW, batch_size=20)
    monkeypatch.undo()

    assert first.seen == len(contacts)
    assert _count(engine, Contact) == len(contacts)
    with engine.connect() as connection:
        watermark = connection.scalar(
            select(SyncState.watermark).where(SyncState.object_name == "Contact")
        )
    assert watermark == newest.replace(tzinfo=None)
    assert late_stamp.replace(tzinfo=None) < watermark

    def title() -> str | None:
        with engine.connect() as connection:
            return connection.scalar(select(Contact.title).where(Contact.id == target["Id"]))

    # The query's cursor serves the record as it was when the query ran.
    assert title() == original_title
    # Without the lookback the late change stays invisible; with the configured one it arrives.
    sync_object(salesforce, engine, "Contact", now=NOW + timedelta(hours=1), lookback=timedelta(0))
    assert title() == original_title
    again = sync_object(salesforce, engine, "Contact", now=NOW + timedelta(hours=2))
    assert title() == "Changed mid-query"
    assert 0 < again.seen < PAGE_SIZE
    assert _count(engine, Contact) == len(contacts)


def _sync(salesforce: Salesforce, engine: Engine, *objects: str, at: datetime) -> None:
    for sobject in objects:
        sync_object(salesforce, engine, sobject, now=at)


def test_deleted_and_undeleted_records(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    objects = ("Account", "Contact", "Opportunity", "Task")
    _sync(salesforce, engine, *objects, at=NOW)
    deal = _won_new_business(sample_org)[2]
    first_seen = _contract(engine, deal["Id"]).first_seen_at
    account = next(sample_org.records("Account"))
    contact = next(sample_org.records("Contact"))
    task = next(record for record in sample_org.records("Task") if not record["IsDeleted"])
    targets = [("Opportunity", deal), ("Account", account), ("Contact", contact), ("Task", task)]
    for sobject, record in targets:
        sample_org.delete(sobject, record["Id"], now=NOW + timedelta(hours=1))
    _sync(salesforce, engine, *objects, at=NOW + timedelta(hours=2))

    assert _contract(engine, deal["Id"]).status == "deleted"
    assert _count(engine, Account, Account.id == account["Id"], Account.is_deleted) == 1
    assert _count(engine, Contact, Contact.id == contact["Id"], Contact.is_deleted) == 1
    assert _count(engine, Activity, Activity.id == task["Id"], Activity.is_deleted) == 1

    for sobject, record in targets:
        sample_org.undelete(sobject, record["Id"], now=NOW + timedelta(hours=3))
    _sync(salesforce, engine, *objects, at=NOW + timedelta(hours=4))

    restored = _contract(engine, deal["Id"])
    assert restored.status == "won"
    assert restored.first_seen_at == first_seen
    assert _count(engine, Account, Account.id == account["Id"], Account.is_deleted) == 0
    assert _count(engine, Contact, Contact.id == contact["Id"], Contact.is_deleted) == 0
    assert _count(engine, Activity, Activity.id == task["Id"], Activity.is_deleted) == 0


def test_won_deal_moved_back_and_won_again(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_object(salesforce, engine, "Opportunity", now=NOW)
    deal = _won_new_business(sample_org)[3]
    first_seen = _contract(engine, deal["Id"]).first_seen_at
    sample_org.update(
        "Opportunity",
        deal["Id"],
        {"StageName": "Closed Lost", "IsWon": False},
        now=NOW + timedelta(hours=1),
    )
    sync_object(salesforce, engine, "Opportunity", now=NOW + timedelta(hours=2))
    assert _contract(engine, deal["Id"]).status == "lost"

    sample_org.update(
        "Opportunity",
        deal["Id"],
        {"StageName": "Closed Won", "IsWon": True},
        now=NOW + timedelta(hours=3),
    )
    sync_object(salesforce, engine, "Opportunity", now=NOW + timedelta(hours=4))
    contract = _contract(engine, deal["Id"])
    assert contract.status == "won"
    assert contract.first_seen_at == first_seen
    assert contract.signed_on == deal["CloseDate"]


def test_server_error_burst_mid_paging(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three 503s on the next page fetch: one short of the four attempts per request.
    burst = {"status": 503, "error_code": "SERVER_UNAVAILABLE", "count": 3}
    _during_record(
        monkeypatch, "Contact", PAGE_SIZE + 5, lambda: salesforce_sandbox.inject_fault(**burst)
    )
    result = sync_object(session, engine, "Contact", now=NOW, batch_size=20)
    assert result.seen == sample_org.count("Contact")
    assert _count(engine, Contact) == sample_org.count("Contact")
    assert session.reconnects == 0


def test_long_server_error_burst_resumes(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    burst = {"status": 500, "error_code": "UNKNOWN_EXCEPTION", "count": 4}
    _during_record(
        monkeypatch, "Contact", PAGE_SIZE + 5, lambda: salesforce_sandbox.inject_fault(**burst)
    )
    with pytest.raises(RetriableError, match="failed 4 times"):
        sync_object(session, engine, "Contact", now=NOW, batch_size=20)
    stored = _count(engine, Contact)
    assert 0 < stored < sample_org.count("Contact")
    monkeypatch.undo()

    result = sync_object(session, engine, "Contact", now=NOW + timedelta(hours=1), batch_size=20)
    assert _count(engine, Contact) == sample_org.count("Contact")
    assert result.seen < sample_org.count("Contact")
    assert _count(engine, QuarantinedRecord) == 0


def test_request_limit_mid_object_loses_and_doubles_nothing(
    engine: Engine,
    session: SalesforceSession,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault = {"status": 403, "error_code": "REQUEST_LIMIT_EXCEEDED", "count": 1}
    _during_record(
        monkeypatch, "Account", PAGE_SIZE - 10, lambda: salesforce_sandbox.inject_fault(**fault)
    )
    with pytest.raises(ApiLimitReached):
        sync_org(session, engine, now=NOW)
    monkeypatch.undo()
    sync_org(session, engine, now=NOW + timedelta(hours=1))

    live_accounts = [a for a in sample_org.records("Account") if not a["IsDeleted"]]
    assert _count(engine, Account) == sample_org.count("Account")
    with engine.connect() as connection:
        churn_rows = connection.execute(
            select(Outcome.account_id, func.count())
            .where(Outcome.kind == "churn")
            .group_by(Outcome.account_id)
        ).all()
    assert len(churn_rows) >= len(live_accounts)
    assert all(count == 1 for _, count in churn_rows)
    assert _count(engine, Contract, Contract.status == "won") == len(_won_new_business(sample_org))


def test_hostile_names_round_trip(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    accounts = {
        sample_org.insert("Account", {"Name": name, "Type": "Customer"}, now=NOW): name
        for name in HOSTILE_NAMES
    }
    account_id = next(iter(accounts))
    contacts = {
        sample_org.insert(
            "Contact",
            {"AccountId": account_id, "FirstName": name, "LastName": name[::-1]},
            now=NOW,
        ): name
        for name in HOSTILE_NAMES
    }
    _sync(salesforce, engine, "Account", "Contact", at=NOW)

    with engine.connect() as connection:
        account_names = dict(
            connection.execute(
                select(Account.id, Account.name).where(Account.id.in_(accounts))
            ).all()
        )
        people = {
            row.id: row
            for row in connection.execute(
                select(Contact.id, Contact.first_name, Contact.last_name).where(
                    Contact.id.in_(contacts)
                )
            )
        }
    for record_id, name in accounts.items():
        assert account_names[record_id].encode("utf-8") == name.encode("utf-8")
    for record_id, name in contacts.items():
        assert people[record_id].first_name.encode("utf-8") == name.encode("utf-8")
        assert people[record_id].last_name.encode("utf-8") == name[::-1].encode("utf-8")
    assert _count(engine, QuarantinedRecord) == 0


def test_deleted_expansion_is_no_outcome(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_object(salesforce, engine, "Opportunity", now=NOW)
    expansion = next(
        record
        for record in sample_org.records("Opportunity")
        if record.get("Type") == "Expansion" and record.get("IsWon") and not record["IsDeleted"]
    )
    outcome_id = f"expansion:{expansion['Id']}"
    assert _count(engine, Outcome, Outcome.id == outcome_id) == 1
    sample_org.delete("Opportunity", expansion["Id"], now=NOW + timedelta(hours=1))
    sync_object(salesforce, engine, "Opportunity", now=NOW + timedelta(hours=2))
    assert _count(engine, Outcome, Outcome.id == outcome_id) == 0
