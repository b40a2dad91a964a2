"""Write each gift's CRM activity for its current state once, retrying until it is written.

A gift that is sent, delivered or failed gets one CRM Task for that state and send attempt.
``crm_activities`` records each Task written. The write-back step reads the gifts whose current
state has no row yet and looks their Tasks up in the CRM, because a run may have died after
Salesforce created a Task and before recording it. It creates only the missing Tasks and records
them. So the next run retries a failed write, and a lost record costs a lookup, never a second
Task.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, and_, exists, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gifting import ledger
from gifting.errors import GiftingError
from gifting.warehouse.schema import CrmActivity, Gift

logger = logging.getLogger(__name__)

STATES = (ledger.SENT, ledger.DELIVERED, ledger.FAILED)
DEFAULT_LIMIT = 500  # Tasks per run at most, so a long CRM outage drains over several runs
LOOKUP_CHUNK = 50  # activities per CRM lookup and per warehouse transaction
STOP_AFTER_FAILURES = 3  # creates failed in a row before the run leaves the rest for the next

# Advisory lock key of the write-back step on PostgreSQL ("crma" in ASCII).
_LOCK_KEY = 0x63726D61


@dataclass(frozen=True)
class GiftActivity:
    """One gift's activity in one state of one send attempt, with what its Task shows."""

    gift_id: str
    state: str
    attempt: int
    contract_id: str
    account_id: str | None
    contact_id: str | None
    stage: str
    item_name: str | None
    price: Decimal | None
    note: str | None
    reason: str | None
    transfer_of_value: bool

    @property
    def marker(self) -> str:
        """The text that names this activity in its Task, so a lookup finds the Task again."""
        return f"[gift {self.gift_id} {self.state} #{self.attempt}]"


class ActivityWriter(Protocol):
    """The CRM side of the write-back: find existing activity Tasks and create missing ones."""

    def find(self, activities: Sequence[GiftActivity]) -> dict[str, str]:
        """Return the Task Id of each activity already in the CRM, keyed by ``marker``."""
        ...

    def create(self, activity: GiftActivity) -> str:
        """Create the activity's Task and return its Id."""
        ...


def write_missing_activities(
    engine: Engine,
    writer: ActivityWriter,
    *,
    as_of: datetime,
    limit: int = DEFAULT_LIMIT,
    gift_ids: list[str] | None = None,
) -> Counter[str]:
    """Write the CRM activity of every sent, delivered or failed gift that lacks one.

    Args:
        engine: The warehouse.
        writer: Finds and creates the CRM Tasks.
        as_of: The run's time (naive UTC), recorded as the write time.
        limit: Activities to handle at most in this run; the rest wait for the next.
        gift_ids: Only these gifts; ``None`` means every gift.

    Returns:
        Counts keyed ``crm_written`` (Task created), ``crm_found`` (Task already in the CRM,
        now recorded), ``crm_unwritten`` (write failed, retried next run) and ``crm_busy``
        (another run is writing activity).
    """
    outcome: Counter[str] = Counter()
    with _write_lock(engine) as acquired:
        if not acquired:
            logger.info("CRM activity write-back skipped: another run is writing activity")
            outcome["crm_busy"] += 1
            return outcome
        activities = missing_activities(engine, limit=limit, gift_ids=gift_ids)
        failures_in_a_row = 0
        for start in range(0, len(activities), LOOKUP_CHUNK):
            chunk = activities[start : start + LOOKUP_CHUNK]
            if failures_in_a_row >= STOP_AFTER_FAILURES:
                outcome["crm_unwritten"] += len(chunk)
                continue
            written, failures_in_a_row = _write_chunk(writer, chunk, outcome, failures_in_a_row)
            _record(engine, chunk, written, as_of)
    if activities:
        logger.info(
            "CRM activity as of %s: %d missing, %d written, %d found in the CRM, "
            "%d left for the next run",
            as_of,
            len(activities),
            outcome["crm_written"],
            outcome["crm_found"],
            outcome["crm_unwritten"],
        )
    return outcome


def _write_chunk(
    writer: ActivityWriter,
    chunk: list[GiftActivity],
    outcome: Counter[str],
    failures_in_a_row: int,
) -> tuple[dict[str, str], int]:
    """Find or create one chunk's Tasks, and return their Ids by marker and the failure streak."""
    try:
        found = writer.find(chunk)
    except GiftingError as error:
        logger.warning("CRM activity of %d gifts not written: %s", len(chunk), error)
        outcome["crm_unwritten"] += len(chunk)
        return {}, failures_in_a_row + 1
    written: dict[str, str] = {}
    for activity in chunk:
        if activity.marker in found:
            written[activity.marker] = found[activity.marker]
            outcome["crm_found"] += 1
        elif failures_in_a_row >= STOP_AFTER_FAILURES:
            outcome["crm_unwritten"] += 1
        else:
            try:
                written[activity.marker] = writer.create(activity)
            except GiftingError as error:
                # The gift keeps its state, so the next run finds the activity missing again.
                logger.warning("gift %s: CRM activity not written: %s", activity.gift_id, error)
                outcome["crm_unwritten"] += 1
                failures_in_a_row += 1
                continue
            outcome["crm_written"] += 1
            failures_in_a_row = 0
    return written, failures_in_a_row


def missing_activities(
    engine: Engine, *, limit: int = DEFAULT_LIMIT, gift_ids: list[str] | None = None
) -> list[GiftActivity]:
    """Read the gifts whose current state and attempt have no recorded CRM Task, oldest first."""
    # NOTE: the anti-join reads every sent, delivered and failed gift on each run. It is not
    # measured beyond the sample org. A cut-off on updated_at would bound it if it grows slow.
    recorded = exists().where(
        and_(
            CrmActivity.gift_id == Gift.id,
            CrmActivity.attempt == Gift.attempts,
            CrmActivity.state == Gift.status,
        )
    )
    query = (
        select(
            Gift.id,
            Gift.status,
            Gift.attempts,
            Gift.contract_id,
            Gift.account_id,
            Gift.contact_id,
            Gift.stage,
            Gift.item_name,
            Gift.price,
            Gift.note,
            Gift.reason,
            Gift.transfer_of_value,
        )
        .where(Gift.status.in_(STATES), ~recorded)
        .order_by(Gift.updated_at, Gift.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        if gift_ids is not None:
            query = query.where(ledger.ids_filter(connection, gift_ids))
        rows = connection.execute(query).all()
    return [_activity(row) for row in rows]


def _activity(row: Any) -> GiftActivity:
    return GiftActivity(
        gift_id=row.id,
        state=row.status,
        attempt=row.attempts,
        contract_id=row.contract_id,
        account_id=row.account_id,
        contact_id=row.contact_id,
        stage=row.stage,
        item_name=row.item_name,
        price=row.price,
        note=row.note,
        reason=row.reason,
        transfer_of_value=bool(row.transfer_of_value),
    )


def _record(
    engine: Engine, chunk: list[GiftActivity], written: dict[str, str], as_of: datetime
) -> None:
    """Record the written Tasks. A row another run recorded first is kept as it is."""
    rows = [
        {
            "gift_id": activity.gift_id,
            "attempt": activity.attempt,
            "state": activity.state,
            "crm_task_id": written[activity.marker],
            "written_at": as_of,
        }
        for activity in chunk
        if activity.marker in written
    ]
    if not rows:
        return
    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as connection:
        connection.execute(dialect_insert(CrmActivity).on_conflict_do_nothing(), rows)
        for activity in chunk:
            if activity.state == ledger.SENT and activity.marker in written:
                # gifts.crm_task_id keeps the "gift sent" Task for reports that read it.
                connection.execute(
                    update(Gift)
                    .where(Gift.id == activity.gift_id)
                    .values(crm_task_id=written[activity.marker])
                )


@contextmanager
def _write_lock(engine: Engine) -> Iterator[bool]:
    """Take the warehouse's write-back lock unless another run has it, and yield whether it did.

    Two runs writing at once could both miss a Task in the lookup and both create it. On
    PostgreSQL the lock is a session advisory lock, on a SQLite file an exclusive ``flock``.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            acquired = bool(
                connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY})
            )
            connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                    connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True
        return
    import fcntl  # POSIX only, like the process work pool that runs the flows

    with Path(f"{database}.crm-activity.lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
