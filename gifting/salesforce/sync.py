"""Incremental sync of Salesforce records into the warehouse.

Each object is read in ascending ``SystemModstamp`` order from its watermark minus a small
lookback, through ``queryAll`` so that deletions arrive as ``IsDeleted`` rows, and upserted by Id.
When a ``COUNT()`` query finds more changed records than ``sync.bulk_threshold``, they are read
through a Bulk API 2.0 query job instead of REST pages, which costs a few API requests instead of
one per 2,000 records.
A record that breaks a data rule is quarantined with its reason while the rest go on. Rows and
the watermark that covers them are written in one transaction per batch, so a run that stops
early, whatever the reason, resumes where it stopped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce, format_soql
from sqlalchemy import Engine, select

from gifting import progress
from gifting.errors import DataQualityError, PermanentError, RetriableError
from gifting.salesforce import mapping
from gifting.salesforce.batch import WatermarkTracker, WriteBatch
from gifting.salesforce.config import FieldMapping, load_field_mapping
from gifting.salesforce.handlers import HANDLERS
from gifting.salesforce.query import QueryProgress
from gifting.salesforce.recipients import count_lookup_recipients, link_primary_contacts
from gifting.salesforce.session import QueryRejected, SalesforceSession, SessionExpired
from gifting.salesforce.source import (
    PreparedJob,
    discard_job,
    prepare_job,
    read_records,
    soql_datetime,
)
from gifting.settings import PROJECT_ROOT
from gifting.warehouse.schema import SyncState

logger = logging.getLogger(__name__)

SYNC_ORDER = ("Account", "Contact", "Opportunity", "Task", "Event", "Case")


@dataclass
class ObjectSyncResult:
    """Counts of one object's sync.

    Attributes:
        seen: Records read, re-reads after a reconnect included.
        stored: Records that passed the data rules and were written.
        quarantined: Records written to the quarantine table instead.
        total_size: Sum of the ``totalSize`` each finished query announced.
        received: Records those finished queries returned; differs from ``total_size`` only when
            Salesforce's pages disagree with their own count.
    """

    seen: int = 0
    stored: int = 0
    quarantined: int = 0
    total_size: int = 0
    received: int = 0


@dataclass
class SyncResult:
    """Counts per synced object, the contracts that got a recipient, and handled surprises."""

    objects: dict[str, ObjectSyncResult] = field(default_factory=dict)
    recipients_linked: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def contracts_seen(self) -> int:
        return self.objects.get("Opportunity", ObjectSyncResult()).seen


def default_field_mapping() -> FieldMapping:
    """Load the shipped ``config/salesforce.yaml``."""
    return load_field_mapping(PROJECT_ROOT / "config")


def sync_order(fields: FieldMapping) -> tuple[str, ...]:
    """Return the objects to sync; ``Contract`` only when contracts trigger the program."""
    if fields.trigger.object != "Contract":
        return SYNC_ORDER
    return (*SYNC_ORDER[:3], "Contract", *SYNC_ORDER[3:])


def as_session(sf: Salesforce | SalesforceSession, fields: FieldMapping) -> SalesforceSession:
    """Wrap a bare client; it cannot log in again, so an expired session stops the sync."""
    if isinstance(sf, SalesforceSession):
        return sf
    return SalesforceSession(sf, options=fields.sync)


def build_incremental_query(
    sobject: str, since: datetime | None, fields: FieldMapping | None = None
) -> str:
    """Build the query for records changed after ``since``, oldest first.

    Field names come from a validated mapping that only admits API names, because SOQL cannot
    quote identifiers; values go through ``format_soql``.
    """
    names = ", ".join(mapping.query_fields(sobject, fields or FieldMapping()))
    if since is None:
        return f"SELECT {names} FROM {sobject} ORDER BY SystemModstamp ASC"
    return format_soql(
        f"SELECT {names} FROM {sobject} WHERE SystemModstamp > {{:literal}} "
        "ORDER BY SystemModstamp ASC",
        soql_datetime(since),
    )


def sync_object(
    sf: Salesforce | SalesforceSession,
    engine: Engine,
    sobject: str,
    *,
    now: datetime,
    lookback: timedelta | None = None,
    batch_size: int | None = None,
    field_mapping: FieldMapping | None = None,
) -> ObjectSyncResult:
    """Sync one object from its watermark and move the watermark as batches are stored.

    An expired session is renewed once, and the object is read again from the watermark the
    stored batches reached.

    Raises:
        ApiLimitReached: The org's API allocation is used up or past the configured share.
        ConfigurationError: The query names a field the org lacks.
        RetriableError: Salesforce kept failing, or the session expired twice.
    """
    fields = field_mapping or default_field_mapping()
    options = _pass_options(sobject, now, fields, lookback=lookback, batch_size=batch_size)
    return _sync_object(as_session(sf, fields), engine, options)


def sync_objects(
    sf: Salesforce | SalesforceSession,
    engine: Engine,
    objects: Sequence[str],
    *,
    now: datetime,
    field_mapping: FieldMapping | None = None,
) -> Iterator[tuple[str, ObjectSyncResult]]:
    """Sync objects in order, yielding each one's counts, as ``sync_object`` does one by one.

    Once the records of one object arrive, the Bulk API job of the next object is started, so
    that Salesforce builds it while this process maps and stores the current object. A job that
    no pass reads, because a sync failed or the watermark moved, is deleted.

    Raises:
        The errors of ``sync_object``.
    """
    fields = field_mapping or default_field_mapping()
    session = as_session(sf, fields)
    started: dict[str, PreparedJob | None] = {}

    def start_job(following: Sequence[str]) -> None:
        if not following or following[0] in started:
            return
        sobject = following[0]
        options = _pass_options(sobject, now, fields)
        since = _since(_read_watermark(engine, sobject), options.lookback)
        soql = build_incremental_query(sobject, since, fields)
        try:
            started[sobject] = prepare_job(session, sobject, since, soql, fields)
        except (PermanentError, RetriableError) as error:
            # The pass over that object counts and starts its job again, and reports the error.
            logger.warning("could not start the %s query job ahead: %s", sobject, error)
            started[sobject] = None

    try:
        for position, sobject in enumerate(objects):
            following = objects[position + 1 : position + 2]
            options = _pass_options(sobject, now, fields)
            result = _sync_object(
                session,
                engine,
                options,
                prepared=started.pop(sobject, None),
                on_reading=functools.partial(start_job, following),
            )
            yield sobject, result
    finally:
        for prepared in started.values():
            if prepared is not None:
                discard_job(session, prepared)


def _pass_options(
    sobject: str,
    now: datetime,
    fields: FieldMapping,
    *,
    lookback: timedelta | None = None,
    batch_size: int | None = None,
) -> _PassOptions:
    return _PassOptions(
        sobject=sobject,
        synced_at=now.astimezone(UTC).replace(tzinfo=None),
        lookback=timedelta(minutes=fields.sync.lookback_minutes) if lookback is None else lookback,
        batch_size=batch_size or fields.sync.batch_size,
        fields=fields,
    )


def _sync_object(
    session: SalesforceSession,
    engine: Engine,
    options: _PassOptions,
    *,
    prepared: PreparedJob | None = None,
    on_reading: Callable[[], object] | None = None,
) -> ObjectSyncResult:
    sobject = options.sobject
    result = ObjectSyncResult()
    try:
        _sync_pass(session, engine, options, result, prepared=prepared, on_reading=on_reading)
    except SessionExpired:
        logger.warning("Salesforce session expired while syncing %s; logging in again", sobject)
        session.reconnect()
        _sync_pass(session, engine, options, result, on_reading=on_reading)
    result.stored = result.seen - result.quarantined
    logger.info("synced %s: %d seen, %d quarantined", sobject, result.seen, result.quarantined)
    return result


@dataclass(frozen=True)
class _PassOptions:
    sobject: str
    synced_at: datetime
    lookback: timedelta
    batch_size: int
    fields: FieldMapping


def _since(watermark: datetime | None, lookback: timedelta) -> datetime | None:
    return None if watermark is None else watermark.replace(tzinfo=UTC) - lookback


def _sync_pass(
    session: SalesforceSession,
    engine: Engine,
    options: _PassOptions,
    result: ObjectSyncResult,
    *,
    prepared: PreparedJob | None = None,
    on_reading: Callable[[], object] | None = None,
) -> None:
    """Read the object once from its stored watermark, storing each full batch on the way.

    ``on_reading`` runs once the first record arrives, or after the read when none did.
    """
    watermark = _read_watermark(engine, options.sobject)
    since = _since(watermark, options.lookback)
    logger.info("syncing %s since %s", options.sobject, since or "the beginning")
    soql = build_incremental_query(options.sobject, since, options.fields)
    tracker = WatermarkTracker(watermark)
    batch = WriteBatch(engine, options.sobject, options.batch_size)
    progress = QueryProgress()
    fields = options.fields

    def store(watermark: datetime | None) -> None:
        batch.flush(watermark, at=options.synced_at, seen=result.seen)

    try:
        records = read_records(session, options.sobject, since, soql, progress, fields, prepared)
        for record in records:
            if on_reading is not None:
                on_reading, notify = None, on_reading
                notify()
            _handle_record(record, options, batch, tracker, result)
            if batch.full:
                store(tracker.mid_query())
        if on_reading is not None:
            on_reading()
        store(tracker.complete())
    except QueryRejected as error:
        if error.error_code == "INVALID_FIELD":
            raise options.fields.invalid_field_error(options.sobject, error.detail) from error
        raise
    except RetriableError:
        # Store what this pass read before the request failed, so the next pass starts after it.
        store(tracker.mid_query())
        raise
    finally:
        batch.close()
    result.total_size += progress.total_size or 0
    result.received += progress.received


def _handle_record(
    record: dict[str, Any],
    options: _PassOptions,
    batch: WriteBatch,
    tracker: WatermarkTracker,
    result: ObjectSyncResult,
) -> None:
    result.seen += 1
    try:
        stamp = mapping.modstamp(record)
        rows = HANDLERS[options.sobject](record, options.synced_at, options.fields)
    except DataQualityError as error:
        result.quarantined += 1
        batch.add_quarantined(_quarantine_row(options.sobject, record, str(error), options))
        logger.warning("quarantined %s %s: %s", options.sobject, record.get("Id"), error)
        # A quarantined record is stored too, so the watermark may pass it.
        stamp = _modstamp_or_none(record)
        if stamp is not None:
            tracker.observe(stamp)
        return
    batch.add_record(rows)
    tracker.observe(stamp)


def _modstamp_or_none(record: dict[str, Any]) -> datetime | None:
    try:
        return mapping.modstamp(record)
    except DataQualityError:
        return None


def _normalised_id(value: object) -> object:
    """Return an Id in its 18-character form, or as sent when it is no valid Id."""
    try:
        return mapping.to_18(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def _quarantine_row(
    sobject: str, record: dict[str, Any], reason: str, options: _PassOptions
) -> dict[str, Any]:
    payload = {key: value for key, value in record.items() if key != "attributes"}
    return {
        "source": sobject,
        "record_id": _normalised_id(record.get("Id")),
        "reason": reason,
        "payload": payload,
        "quarantined_at": options.synced_at,
    }


def _read_watermark(engine: Engine, sobject: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(SyncState.watermark).where(SyncState.object_name == sobject)
        )


def sync_org(
    sf: Salesforce | SalesforceSession,
    engine: Engine,
    *,
    now: datetime,
    field_mapping: FieldMapping | None = None,
) -> SyncResult:
    """Sync every object the product reads, then link contracts to their recipients.

    Pass a ``SalesforceSession`` built with credentials so that an expired session is renewed.
    A bare ``Salesforce`` client works too, but then an expired session stops the sync.

    Raises:
        ApiLimitReached: The org's API allocation ran low; stored watermarks are kept.
        ConfigurationError: ``salesforce.yaml`` names a field the org lacks.
        RetriableError: Salesforce kept failing; the next run resumes.
    """
    fields = field_mapping or default_field_mapping()
    session = as_session(sf, fields)
    result = SyncResult()
    objects = sync_order(fields)
    progress.start("sync", total=len(objects))
    for sobject, counts in sync_objects(session, engine, objects, now=now, field_mapping=fields):
        result.objects[sobject] = counts
        progress.advance("sync", detail=f"{sobject}: {counts.seen} records")
        if counts.received != counts.total_size:
            result.warnings.append(
                f"{sobject}: the queries announced totalSize {counts.total_size} but returned "
                f"{counts.received} records"
            )
    if fields.recipient.rule == "primary_contact_role":
        result.recipients_linked = link_primary_contacts(session, engine)
    else:
        synced_at = now.astimezone(UTC).replace(tzinfo=None)
        result.recipients_linked = count_lookup_recipients(engine, synced_at)
    progress.finish("sync")
    return result
