"""Write synced rows and the watermark that covers them in one transaction.

The watermark may only move past a record once that record's rows are stored. Writing both in
the same transaction makes a crash leave either the old watermark with the old rows, or the new
watermark with every row it covers.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, tuple_, update

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

Row = dict[str, Any]

# Upserted tables by the name handlers use. Contracts keep ``first_seen_at`` from their insert.
TABLES = {
    "accounts": Account,
    "contacts": Contact,
    "contracts": Contract,
    "activities": Activity,
    "cases": SupportCase,
    "outcomes": Outcome,
}
KEEP_ON_UPDATE = {"contracts": ["first_seen_at"]}
STATUS_TABLE = "contract_status"
# Rows naming outcomes to delete, such as the expansion of a deal that was deleted or lost.
REMOVED_OUTCOMES = "removed_outcomes"


class WatermarkTracker:
    """Follows the ``SystemModstamp`` of each handled record, in query order.

    The query sorts by ``SystemModstamp``, so once a record with stamp ``s`` arrives, every record
    with a smaller stamp has arrived too. Records sharing the newest stamp may still be on the next
    page, so a mid-query watermark stops one distinct stamp short of the newest.
    """

    def __init__(self, stored: datetime | None) -> None:
        self.stored = stored
        self._newest: datetime | None = None
        self._below_newest: datetime | None = None
        self._ordered = True

    def observe(self, stamp: datetime) -> None:
        if self._newest is None or stamp > self._newest:
            self._below_newest, self._newest = self._newest, stamp
        elif stamp < self._newest and self._ordered:
            # Without order no prefix is known, so only the end of the query moves the watermark.
            self._ordered = False
            logger.warning("query returned SystemModstamp %s after %s", stamp, self._newest)

    def mid_query(self) -> datetime | None:
        """Return a watermark covering only records already handled, while more may follow."""
        return _later(self.stored, self._below_newest if self._ordered else None)

    def complete(self) -> datetime | None:
        """Return the watermark after the query's last record was handled."""
        return _later(self.stored, self._newest)


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


class WriteBatch:
    """Rows from the records handled since the last flush, for one sObject.

    A flush hands its rows to one writer thread, so reading and mapping the next batch overlaps
    the database write. At most one write is in flight: ``flush`` first waits for the previous
    one, so batches and their watermarks land in order, and a failed write raises in the next
    ``flush`` or in ``close`` before another batch is queued.
    """

    def __init__(self, engine: Engine, sobject: str, size: int) -> None:
        self.engine = engine
        self.sobject = sobject
        self.size = size
        self.rows: dict[str, list[Row]] = {}
        self.removed_outcomes: set[str] = set()
        self.quarantine: list[Row] = []
        self.records = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-{sobject}")
        self._in_flight: Future[None] | None = None

    @property
    def full(self) -> bool:
        return self.records >= self.size

    def add_record(self, rows: list[tuple[str, Row]]) -> None:
        """Add the rows of one handled record; they are written together at the next flush."""
        for table, row in rows:
            if table == REMOVED_OUTCOMES:
                # The query runs oldest first, so this removal is newer than a pending upsert.
                pending = self.rows.get("outcomes", [])
                self.rows["outcomes"] = [kept for kept in pending if kept["id"] != row["id"]]
                self.removed_outcomes.add(row["id"])
                continue
            if table == "outcomes":
                self.removed_outcomes.discard(row["id"])
            self.rows.setdefault(table, []).append(row)
        self.records += 1

    def add_quarantined(self, row: Row) -> None:
        self.quarantine.append(row)
        self.records += 1

    def flush(self, watermark: datetime | None, *, at: datetime, seen: int) -> None:
        """Queue the pending rows and the sObject's watermark as one transaction."""
        self.wait()
        pending = _PendingWrite(
            self.engine,
            self.sobject,
            self.rows,
            self.removed_outcomes,
            self.quarantine,
            self.records,
        )
        self.rows, self.removed_outcomes, self.quarantine, self.records = {}, set(), [], 0
        self._in_flight = self._writer.submit(pending.write, watermark, at, seen)

    def wait(self) -> None:
        """Block until the write in flight is committed, raising its error if it failed."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def close(self) -> None:
        """Wait for the write in flight, then stop the writer thread."""
        try:
            self.wait()
        finally:
            self._writer.shutdown(wait=True)


class _PendingWrite:
    """The rows of one flush, written in one transaction by the writer thread."""

    def __init__(
        self,
        engine: Engine,
        sobject: str,
        rows: dict[str, list[Row]],
        removed_outcomes: set[str],
        quarantine: list[Row],
        records: int,
    ) -> None:
        self.engine = engine
        self.sobject = sobject
        self.rows = rows
        self.removed_outcomes = removed_outcomes
        self.quarantine = quarantine
        self.records = records

    def write(self, watermark: datetime | None, at: datetime, seen: int) -> None:
        """Write the rows and the sObject's watermark in one transaction."""
        with self.engine.begin() as connection:
            self._write_rows(connection)
            self._write_quarantine(connection)
            state = {
                "object_name": self.sobject,
                "watermark": watermark,
                "last_run_at": at,
                "records_seen": seen,
            }
            upsert(connection, SyncState.__table__, [state], ["object_name"])
        logger.debug("stored %d %s records; watermark %s", self.records, self.sobject, watermark)

    def _write_rows(self, connection: Connection) -> None:
        self._drop_superseded_contract_rows()
        if self.removed_outcomes:
            connection.execute(delete(Outcome).where(Outcome.id.in_(self.removed_outcomes)))
        for table, rows in self.rows.items():
            if table == STATUS_TABLE:
                for change in rows:
                    connection.execute(
                        update(Contract)
                        .where(Contract.id == change["id"])
                        .values({key: value for key, value in change.items() if key != "id"})
                    )
                continue
            model = TABLES[table]
            upsert(
                connection,
                model.__table__,
                _dedupe(rows),
                ["id"],
                keep=KEEP_ON_UPDATE.get(table, []),
            )

    def _drop_superseded_contract_rows(self) -> None:
        """Keep only the last change per contract when one batch read its record twice.

        A record edited while its query pages may come back twice, once won and once not. The
        upsert and the status update run as separate statements, so only the later one may stay.
        """
        latest: dict[str, tuple[str, datetime]] = {}
        for table in ("contracts", STATUS_TABLE):
            for row in self.rows.get(table, []):
                stamp = row["system_modstamp"]
                current = latest.get(row["id"])
                if current is None or stamp >= current[1]:
                    latest[row["id"]] = (table, stamp)
        for table in ("contracts", STATUS_TABLE):
            if table in self.rows:
                self.rows[table] = [
                    row for row in self.rows[table] if latest[row["id"]][0] == table
                ]

    def _write_quarantine(self, connection: Connection) -> None:
        """Insert quarantine rows not yet recorded: the lookback window re-reads bad records."""
        if not self.quarantine:
            return
        keys = {(row["record_id"], row["reason"]) for row in self.quarantine}
        stored = set(
            connection.execute(
                select(QuarantinedRecord.record_id, QuarantinedRecord.reason).where(
                    QuarantinedRecord.source == self.sobject,
                    tuple_(QuarantinedRecord.record_id, QuarantinedRecord.reason).in_(keys),
                )
            ).all()
        )
        fresh = {
            (row["record_id"], row["reason"]): row
            for row in self.quarantine
            if (row["record_id"], row["reason"]) not in stored
        }
        if fresh:
            connection.execute(QuarantinedRecord.__table__.insert(), list(fresh.values()))


def _dedupe(rows: list[Row]) -> list[Row]:
    """Keep the last row per Id: one INSERT … ON CONFLICT cannot touch a row twice."""
    return list({row["id"]: row for row in rows}.values())
