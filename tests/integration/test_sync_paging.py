"""Paging, ``totalSize`` checks and Id forms, over real HTTPS to the sandbox.

Salesforce decides page sizes itself and a record edited while its query pages may come back
twice, so these tests make the sandbox serve such pages and check what the sync stores.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select

from gifting.salesforce.sync import sync_object, sync_org
from gifting.sandbox.org import OrgStore, to_18
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.warehouse.schema import Activity, Contact, Contract

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHORT_PAGE = 17


def _serve_pages(monkeypatch: pytest.MonkeyPatch, sandbox: SalesforceSandbox, change: Any) -> None:
    """Let ``change(page, start, cursor, version, endpoint, locator)`` edit each served page."""
    api = sandbox._api
    original = api._page

    def page(version: str, endpoint: str, locator: str, cursor: Any, start: int) -> Any:
        served = original(version, endpoint, locator, cursor, start)
        return change(served, start, cursor, version, endpoint, locator)

    monkeypatch.setattr(api, "_page", page)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model)) or 0


def test_short_pages_do_not_end_query(
    engine: Engine,
    salesforce: Salesforce,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def shorten(page: dict[str, Any], start: int, cursor: Any, *where: str) -> dict[str, Any]:
        version, endpoint, locator = where
        end = start + SHORT_PAGE
        done = end >= len(cursor.records)
        page = {"totalSize": cursor.total_size, "done": done, "records": cursor.records[start:end]}
        if not done:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        return page

    _serve_pages(monkeypatch, salesforce_sandbox, shorten)
    result = sync_object(salesforce, engine, "Contact", now=NOW)
    assert result.seen == sample_org.count("Contact")
    assert result.received == result.total_size
    assert _count(engine, Contact) == sample_org.count("Contact")


def test_total_size_mismatch_is_reported(
    engine: Engine,
    salesforce: Salesforce,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def overstate(page: dict[str, Any], *_: Any) -> dict[str, Any]:
        return {**page, "totalSize": page["totalSize"] + 5}

    _serve_pages(monkeypatch, salesforce_sandbox, overstate)
    with caplog.at_level(logging.WARNING, logger="gifting.salesforce.query"):
        result = sync_org(salesforce, engine, now=NOW)
    assert any("Contact" in warning and "totalSize" in warning for warning in result.warnings)
    assert len(result.warnings) == len(result.objects)
    assert "announced totalSize" in caplog.text
    assert _count(engine, Contact) == sample_org.count("Contact")


def test_record_on_two_pages_stored_once(
    engine: Engine,
    salesforce: Salesforce,
    salesforce_sandbox: SalesforceSandbox,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def repeat_previous(page: dict[str, Any], start: int, cursor: Any, *_: Any) -> dict[str, Any]:
        if start == 0:
            return page
        return {**page, "records": [cursor.records[start - 1], *page["records"]]}

    _serve_pages(monkeypatch, salesforce_sandbox, repeat_previous)
    result = sync_object(salesforce, engine, "Contact", now=NOW, batch_size=1000)
    assert result.seen == sample_org.count("Contact") + 2
    assert _count(engine, Contact) == sample_org.count("Contact")


def test_fifteen_character_ids_stored_as_18(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    account_id = next(sample_org.records("Account"))["Id"]
    contact_id = sample_org.insert(
        "Contact", {"AccountId": account_id[:15], "LastName": "Short Ids"}, now=NOW
    )
    deal_id = sample_org.insert(
        "Opportunity",
        {
            "AccountId": account_id[:15],
            "Name": "Short Id deal",
            "Type": "New Business",
            "StageName": "Closed Won",
            "IsWon": True,
            "IsClosed": True,
            "CloseDate": date(2026, 5, 30),
            "Amount": 1000.0,
        },
        now=NOW,
    )
    # The role is found by filtering on OpportunityId, which Salesforce stores in 18 characters.
    sample_org.insert(
        "OpportunityContactRole",
        {"OpportunityId": deal_id, "ContactId": contact_id[:15], "IsPrimary": True},
        now=NOW,
    )
    sample_org.insert(
        "Task", {"AccountId": account_id[:15], "WhoId": contact_id[:15], "Subject": "Call"}, now=NOW
    )

    sync_org(salesforce, engine, now=NOW)
    with engine.connect() as connection:
        contact = connection.execute(select(Contact).where(Contact.id == contact_id)).one()
        contract = connection.execute(select(Contract).where(Contract.id == deal_id)).one()
        task = connection.execute(select(Activity).where(Activity.subject == "Call")).one()
    assert contact.account_id == to_18(account_id)
    assert contract.account_id == account_id
    assert contract.contact_id == contact_id
    assert len(contract.contact_id) == 18
    assert task.contact_id == contact_id
    assert task.account_id == account_id
