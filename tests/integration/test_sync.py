"""Salesforce sync over real HTTPS to the sandbox, into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select

from gifting.salesforce.sync import build_incremental_query, sync_object, sync_org
from gifting.sandbox.org import OrgStore
from gifting.warehouse.schema import Account, Contact, Contract, Outcome, QuarantinedRecord

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _count(engine: Engine, model: type, *conditions: object) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def _won_new_business(store: OrgStore) -> list[dict[str, object]]:
    return [
        record
        for record in store.records("Opportunity")
        if record.get("Type") == "New Business" and record.get("IsWon") and not record["IsDeleted"]
    ]


def test_first_sync_reads_every_record(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    result = sync_org(salesforce, engine, now=NOW)
    assert result.objects["Account"].seen == sample_org.count("Account")
    assert _count(engine, Account) == sample_org.count("Account")
    assert _count(engine, Contact) == sample_org.count("Contact")
    assert _count(engine, Contract, Contract.status == "won") == len(_won_new_business(sample_org))
    assert _count(engine, QuarantinedRecord) == 0


def test_every_won_contract_gets_its_primary_contact(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_org(salesforce, engine, now=NOW)
    primary = {
        role["OpportunityId"]: role["ContactId"]
        for role in sample_org.records("OpportunityContactRole")
        if role["IsPrimary"] and not role["IsDeleted"]
    }
    with engine.connect() as connection:
        linked = dict(connection.execute(select(Contract.id, Contract.contact_id)).all())
    for contract_id, contact_id in linked.items():
        assert contact_id == primary[contract_id]


def test_second_sync_reads_only_changes(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_org(salesforce, engine, now=NOW)
    account = next(iter(sample_org.records("Account")))
    sample_org.update(
        "Account", account["Id"], {"Name": "Renamed Ltd"}, now=NOW + timedelta(hours=1)
    )
    result = sync_object(
        salesforce, engine, "Account", now=NOW + timedelta(hours=2), lookback=timedelta(0)
    )
    assert result.seen == 1
    with engine.connect() as connection:
        assert (
            connection.scalar(select(Account.name).where(Account.id == account["Id"]))
            == "Renamed Ltd"
        )


def test_deleted_deal_marks_contract_deleted(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_org(salesforce, engine, now=NOW)
    deal = _won_new_business(sample_org)[0]
    sample_org.delete("Opportunity", deal["Id"], now=NOW + timedelta(hours=1))
    sync_object(salesforce, engine, "Opportunity", now=NOW + timedelta(hours=2))
    with engine.connect() as connection:
        status = connection.scalar(select(Contract.status).where(Contract.id == deal["Id"]))
    assert status == "deleted"


def test_deal_moved_out_of_won_marks_contract_lost(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_org(salesforce, engine, now=NOW)
    deal = _won_new_business(sample_org)[1]
    sample_org.update(
        "Opportunity",
        deal["Id"],
        {"StageName": "Negotiation", "IsWon": False, "IsClosed": False},
        now=NOW + timedelta(hours=1),
    )
    sync_object(salesforce, engine, "Opportunity", now=NOW + timedelta(hours=2))
    with engine.connect() as connection:
        status = connection.scalar(select(Contract.status).where(Contract.id == deal["Id"]))
    assert status == "lost"


def test_bad_record_is_quarantined_and_rest_synced(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    account = next(iter(sample_org.records("Account")))
    sample_org.insert(
        "Opportunity",
        {
            "AccountId": account["Id"],
            "Name": "No close date",
            "Type": "New Business",
            "StageName": "Closed Won",
            "IsWon": True,
            "IsClosed": True,
            "CloseDate": None,
            "Amount": 1000.0,
        },
        now=NOW,
    )
    sync_org(salesforce, engine, now=NOW)
    with engine.connect() as connection:
        reasons = connection.scalars(select(QuarantinedRecord.reason)).all()
    assert len(reasons) == 1
    assert "CloseDate" in reasons[0]
    assert (
        _count(engine, Contract, Contract.status == "won") == len(_won_new_business(sample_org)) - 1
    )


def test_quotes_in_names_survive(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    account_id = sample_org.insert(
        "Account",
        {"Name": "O'Brien \\ Sons AND OR NOT", "Type": "Customer", "BillingCountry": "IE"},
        now=NOW,
    )
    sync_org(salesforce, engine, now=NOW)
    with engine.connect() as connection:
        name = connection.scalar(select(Account.name).where(Account.id == account_id))
    assert name == "O'Brien \\ Sons AND OR NOT"


def test_churn_and_expansion_become_outcomes(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_org(salesforce, engine, now=NOW)
    churned = sum(1 for a in sample_org.records("Account") if a.get("Churn_Date__c"))
    expansions = sum(
        1
        for o in sample_org.records("Opportunity")
        if o.get("Type") == "Expansion" and o.get("IsWon") and not o["IsDeleted"]
    )
    assert (
        _count(engine, Outcome, Outcome.kind == "churn", Outcome.occurred_on.is_not(None))
        == churned
    )
    assert _count(engine, Outcome, Outcome.kind == "expansion") == expansions


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, "ORDER BY SystemModstamp ASC"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "WHERE SystemModstamp > 2026-01-02T03:04:05Z"),
    ],
)
def test_incremental_query_uses_unquoted_utc(since: datetime | None, expected: str) -> None:
    assert expected in build_incremental_query("Account", since)


def test_dates_parse_as_dates(engine: Engine, salesforce: Salesforce) -> None:
    sync_org(salesforce, engine, now=NOW)
    with engine.connect() as connection:
        signed = connection.scalars(select(Contract.signed_on)).all()
    assert signed
    assert all(isinstance(value, date) for value in signed)
