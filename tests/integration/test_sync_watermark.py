"""Watermark safety: a sync that crashes mid-object loses no record on the next run.

The crash comes from a mapper that raises after a number of records, the way a bug or a killed
worker would stop a run between two batches.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, select

from gifting.salesforce import mapping
from gifting.salesforce.sync import sync_object
from gifting.sandbox.org import OrgStore
from gifting.warehouse.schema import Contact, Contract, SyncState

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
STAMP = datetime(2026, 5, 1, 9, tzinfo=UTC)


def _stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(Contact.id)).all())


def _watermark(engine: Engine) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(SyncState.watermark).where(SyncState.object_name == "Contact")
        )


def _crash_after(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    original = mapping.map_contact
    calls = {"n": 0}

    def crashing(record: dict[str, Any], *args: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] > count:
            raise RuntimeError("worker killed")
        return original(record, *args)

    monkeypatch.setattr(mapping, "map_contact", crashing)


def _add_contacts_with_one_stamp(store: OrgStore, count: int) -> None:
    """Add contacts that share one SystemModstamp, the second newest, across batch boundaries."""
    account_id = next(store.records("Account"))["Id"]
    for number in range(count):
        store.insert(
            "Contact",
            {"AccountId": account_id, "LastName": f"Tie {number}", "FirstName": "Same"},
            now=STAMP,
        )


@pytest.mark.parametrize("crash_after", [7, 45, 105, 115, 125])
def test_crash_keeps_safe_watermark(
    engine: Engine,
    salesforce: Salesforce,
    sample_org: OrgStore,
    monkeypatch: pytest.MonkeyPatch,
    crash_after: int,
) -> None:
    _add_contacts_with_one_stamp(sample_org, 30)
    _crash_after(monkeypatch, crash_after)
    with pytest.raises(RuntimeError, match="worker killed"):
        sync_object(salesforce, engine, "Contact", now=NOW, batch_size=10, lookback=timedelta(0))

    watermark = _watermark(engine)
    stored = _stored_ids(engine)
    if watermark is not None:
        covered = {
            record["Id"]
            for record in sample_org.records("Contact")
            if record["SystemModstamp"].replace(tzinfo=None) <= watermark
        }
        assert covered <= stored

    monkeypatch.undo()
    sync_object(
        salesforce,
        engine,
        "Contact",
        now=NOW + timedelta(hours=1),
        batch_size=10,
        lookback=timedelta(0),
    )
    assert _stored_ids(engine) == {record["Id"] for record in sample_org.records("Contact")}


def test_watermark_moves_with_each_batch(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_after(monkeypatch, 95)
    with pytest.raises(RuntimeError):
        sync_object(salesforce, engine, "Contact", now=NOW, batch_size=10)
    stamps = sorted(record["SystemModstamp"] for record in sample_org.records("Contact"))
    watermark = _watermark(engine)
    assert watermark is not None
    assert stamps[80].replace(tzinfo=None) <= watermark < stamps[-1].replace(tzinfo=None)


def test_reread_stores_each_record_once(
    engine: Engine, salesforce: Salesforce, sample_org: OrgStore
) -> None:
    sync_object(salesforce, engine, "Opportunity", now=NOW)
    with engine.connect() as connection:
        before = dict(connection.execute(select(Contract.id, Contract.first_seen_at)).all())
    # A lookback longer than the org's history reads every record again.
    result = sync_object(
        salesforce,
        engine,
        "Opportunity",
        now=NOW + timedelta(hours=1),
        lookback=timedelta(days=9999),
    )
    with engine.connect() as connection:
        after = dict(connection.execute(select(Contract.id, Contract.first_seen_at)).all())
    assert result.seen == sample_org.count("Opportunity")
    assert before
    assert after == before
