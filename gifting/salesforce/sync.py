"""Incremental sync of Salesforce records into the warehouse.

Each object is read in ascending ``SystemModstamp`` order from its watermark minus a small
lookback, through ``queryAll`` so that deletions arrive as ``IsDeleted`` rows, and upserted by Id.
A record that breaks a data rule is quarantined with its reason while the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce, format_soql
from sqlalchemy import Connection, Engine, select, update

from gifting.errors import DataQualityError
from gifting.salesforce import mapping
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
from gifting.warehouse.upsert import upsert

logger = logging.getLogger(__name__)

SYNC_ORDER = ("Account", "Contact", "Opportunity", "Task", "Event", "Case")
CHUNK_SIZE = 200  # Ids per IN list, well under SOQL's 100,000-character query limit


@dataclass
class ObjectSyncResult:
    seen: int = 0
    stored: int = 0
    quarantined: int = 0


@dataclass
class SyncResult:
    """Counts per synced object, plus the number of contracts that got a primary contact."""

    objects: dict[str, ObjectSyncResult] = field(default_factory=dict)
    recipients_linked: int = 0

    @property
    def contracts_seen(self) -> int:
        return self.objects.get("Opportunity", ObjectSyncResult()).seen


def soql_datetime(value: datetime) -> str:
    """Format an aware datetime as SOQL's unquoted UTC literal ``2026-01-01T00:00:00Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_incremental_query(sobject: str, since: datetime | None) -> str:
    fields = ", ".join(mapping.FIELDS[sobject])
    if since is None:
        return f"SELECT {fields} FROM {sobject} ORDER BY SystemModstamp ASC"
    return format_soql(
        f"SELECT {fields} FROM {sobject} WHERE SystemModstamp > {{:literal}} "
        "ORDER BY SystemModstamp ASC",
        soql_datetime(since),
    )


class _Batch:
    """Collects rows per table and writes them in one transaction when full."""

    def __init__(self, engine: Engine, size: int) -> None:
        self.engine = engine
        self.size = size
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.status_updates: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []
        self.pending = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)
        self.pending += 1
        if self.pending >= self.size:
            self.flush()

    def flush(self) -> None:
        with self.engine.begin() as connection:
            self._write(connection)
        self.rows, self.status_updates, self.quarantine, self.pending = {}, [], [], 0

    def _write(self, connection: Connection) -> None:
        models = {
            "accounts": Account,
            "contacts": Contact,
            "activities": Activity,
            "cases": SupportCase,
            "outcomes": Outcome,
        }
        for table, rows in self.rows.items():
            if table == "contracts":
                upsert(
                    connection,
                    Contract.__table__,
                    _dedupe(rows),
                    ["id"],
                    keep=["first_seen_at", "contact_id", "contact_role"],
                )
            else:
                upsert(connection, models[table].__table__, _dedupe(rows), ["id"])
        for change in self.status_updates:
            connection.execute(
                update(Contract)
                .where(Contract.id == change["id"])
                .values(
                    status=change["status"],
                    system_modstamp=change["system_modstamp"],
                    synced_at=change["synced_at"],
                )
            )
        if self.quarantine:
            connection.execute(QuarantinedRecord.__table__.insert(), self.quarantine)


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last row per Id: one INSERT … ON CONFLICT cannot touch a row twice."""
    return list({row["id"]: row for row in rows}.values())


Handler = Callable[[dict[str, Any], datetime, _Batch], None]


def _handle_account(record: dict[str, Any], now: datetime, batch: _Batch) -> None:
    batch.add("accounts", mapping.map_account(record, now))
    for row in mapping.map_account_outcomes(record, now):
        batch.add("outcomes", row)


def _handle_contact(record: dict[str, Any], now: datetime, batch: _Batch) -> None:
    batch.add("contacts", mapping.map_contact(record, now))


def _handle_opportunity(record: dict[str, Any], now: datetime, batch: _Batch) -> None:
    deal_type = record.get("Type")
    if deal_type == mapping.NEW_BUSINESS_TYPE:
        if record.get("IsWon") and not record.get("IsDeleted"):
            batch.add("contracts", mapping.map_contract(record, now))
        else:
            # A deal that left the won state, or never reached it: only a known contract changes.
            batch.status_updates.append(
                {
                    "id": mapping.salesforce_id(record, "Id", required=True),
                    "status": mapping.contract_status(record),
                    "system_modstamp": mapping.modstamp(record),
                    "synced_at": now,
                }
            )
    elif (
        deal_type == mapping.EXPANSION_TYPE and record.get("IsWon") and not record.get("IsDeleted")
    ):
        batch.add("outcomes", mapping.map_expansion(record, now))


HANDLERS: dict[str, Handler] = {
    "Account": _handle_account,
    "Contact": _handle_contact,
    "Opportunity": _handle_opportunity,
    "Task": lambda record, now, batch: batch.add("activities", mapping.map_task(record, now)),
    "Event": lambda record, now, batch: batch.add("activities", mapping.map_event(record, now)),
    "Case": lambda record, now, batch: batch.add("cases", mapping.map_case(record, now)),
}


def _read_watermark(engine: Engine, sobject: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(SyncState.watermark).where(SyncState.object_name == sobject)
        )


def sync_object(
    sf: Salesforce,
    engine: Engine,
    sobject: str,
    *,
    now: datetime,
    lookback: timedelta = timedelta(minutes=5),
    batch_size: int = 1000,
) -> ObjectSyncResult:
    """Sync one object from its watermark and move the watermark to the newest record seen."""
    watermark = _read_watermark(engine, sobject)
    since = None if watermark is None else watermark.replace(tzinfo=UTC) - lookback
    soql = build_incremental_query(sobject, since)
    logger.info("syncing %s since %s", sobject, since or "the beginning")
    result = ObjectSyncResult()
    batch = _Batch(engine, batch_size)
    newest = watermark
    synced_at = now.astimezone(UTC).replace(tzinfo=None)
    for record in _records(sf, soql):
        result.seen += 1
        try:
            HANDLERS[sobject](record, synced_at, batch)
            stamp = mapping.modstamp(record)
        except DataQualityError as error:
            result.quarantined += 1
            batch.quarantine.append(_quarantine_row(sobject, record, str(error), synced_at))
            logger.warning("quarantined %s %s: %s", sobject, record.get("Id"), error)
            continue
        newest = stamp if newest is None else max(newest, stamp)
    batch.flush()
    result.stored = result.seen - result.quarantined
    _write_watermark(engine, sobject, newest, synced_at, result.seen)
    logger.info("synced %s: %d seen, %d quarantined", sobject, result.seen, result.quarantined)
    return result


def _records(sf: Salesforce, soql: str) -> Iterator[dict[str, Any]]:
    for record in sf.query_all_iter(soql, include_deleted=True):
        yield dict(record)


def _quarantine_row(
    sobject: str, record: dict[str, Any], reason: str, at: datetime
) -> dict[str, Any]:
    payload = {key: value for key, value in record.items() if key != "attributes"}
    return {
        "source": sobject,
        "record_id": record.get("Id"),
        "reason": reason,
        "payload": payload,
        "quarantined_at": at,
    }


def _write_watermark(
    engine: Engine, sobject: str, watermark: datetime | None, at: datetime, seen: int
) -> None:
    row = {"object_name": sobject, "watermark": watermark, "last_run_at": at, "records_seen": seen}
    with engine.begin() as connection:
        upsert(connection, SyncState.__table__, [row], ["object_name"])


def link_primary_contacts(sf: Salesforce, engine: Engine) -> int:
    """Give every won contract without a recipient its primary OpportunityContactRole.

    Roles are looked up by contract Id rather than synced by watermark, so a role created before
    its deal was first seen is still found.
    """
    with engine.connect() as connection:
        pending = connection.scalars(
            select(Contract.id).where(Contract.contact_id.is_(None), Contract.status == "won")
        ).all()
    linked = 0
    for chunk in _chunks(pending, CHUNK_SIZE):
        soql = format_soql(
            "SELECT OpportunityId, ContactId, Role FROM OpportunityContactRole "
            "WHERE IsPrimary = true AND OpportunityId IN {}",
            chunk,
        )
        with engine.begin() as connection:
            for record in _records(sf, soql):
                connection.execute(
                    update(Contract)
                    .where(Contract.id == mapping.to_18(record["OpportunityId"]))
                    .values(
                        contact_id=mapping.to_18(record["ContactId"]),
                        contact_role=record.get("Role"),
                    )
                )
                linked += 1
    logger.info("linked %d contracts to their primary contact", linked)
    return linked


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def sync_org(sf: Salesforce, engine: Engine, *, now: datetime) -> SyncResult:
    """Sync every object the product reads, then link contracts to their recipients."""
    result = SyncResult()
    for sobject in SYNC_ORDER:
        result.objects[sobject] = sync_object(sf, engine, sobject, now=now)
    result.recipients_linked = link_primary_contacts(sf, engine)
    return result
